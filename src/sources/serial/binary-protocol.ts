/**
 * The compact binary framing for better firmwares (specified in docs/serial-protocol.md):
 *
 *   A5 5A | type | flags | seq (u16 LE) | len | payload (len bytes) | CRC-16 (u16 LE)
 *
 * type 0x01 carries len/2 ADC counts as u16 LE; seq is the sample counter of the first one
 * (mod 2^16), so the receiver sees every lost sample; flags bit 0 is lead-off. The CRC
 * (CRC-16/CCITT-FALSE) covers type through payload. On a bad header or CRC the parser steps
 * one byte past the sync word and looks again, so a frame hidden behind garbage is still found.
 */
import { crc16 } from './crc16.js';
import { newCounters, type FrameParser, type ParsedFrame, type ParserCounters } from './parser.js';

export const SYNC0 = 0xa5;
export const SYNC1 = 0x5a;
export const TYPE_SAMPLES = 0x01;
export const FLAG_LEAD_OFF = 0x01;
export const HEADER_BYTES = 7;
export const CRC_BYTES = 2;
/** 64 samples per frame at most: 137 bytes, well inside an HC-05's buffer. */
export const MAX_PAYLOAD = 128;
export const MAX_FRAME = HEADER_BYTES + MAX_PAYLOAD + CRC_BYTES;

export interface BinaryFrameInput {
  readonly seq: number;
  readonly values: readonly number[];
  readonly leadOff?: boolean;
}

/** Reference encoder, as firmware must produce it (tests and docs/serial-protocol.md use it). */
export function encodeBinaryFrame(frame: BinaryFrameInput): Uint8Array {
  const n = frame.values.length;
  if (n < 1 || 2 * n > MAX_PAYLOAD) throw new RangeError(`a frame carries 1..${MAX_PAYLOAD / 2} samples, got ${n}`);
  const out = new Uint8Array(HEADER_BYTES + 2 * n + CRC_BYTES);
  out[0] = SYNC0;
  out[1] = SYNC1;
  out[2] = TYPE_SAMPLES;
  out[3] = frame.leadOff ? FLAG_LEAD_OFF : 0;
  out[4] = frame.seq & 0xff;
  out[5] = (frame.seq >>> 8) & 0xff;
  out[6] = 2 * n;
  for (let i = 0; i < n; i++) {
    const v = frame.values[i] & 0xffff;
    out[HEADER_BYTES + 2 * i] = v & 0xff;
    out[HEADER_BYTES + 2 * i + 1] = v >>> 8;
  }
  const crc = crc16(out, 2, HEADER_BYTES + 2 * n);
  out[HEADER_BYTES + 2 * n] = crc & 0xff;
  out[HEADER_BYTES + 2 * n + 1] = crc >>> 8;
  return out;
}

export class BinaryParser implements FrameParser {
  readonly counters: ParserCounters = newCounters();
  private buf = new Uint8Array(0);

  constructor(private readonly maxCount: number) {}

  push(bytes: Uint8Array): ParsedFrame[] {
    this.counters.bytesIn += bytes.length;
    const buf = this.buf.length === 0 ? bytes : concat(this.buf, bytes);
    const out: ParsedFrame[] = [];
    let i = 0;
    for (;;) {
      const j = findSync(buf, i);
      if (j < 0) {
        // Keep a trailing first sync byte: the second may be in the next chunk.
        const keep = buf.length > i && buf[buf.length - 1] === SYNC0 ? 1 : 0;
        this.counters.bytesDropped += buf.length - i - keep;
        i = buf.length - keep;
        break;
      }
      this.counters.bytesDropped += j - i;
      i = j;
      if (buf.length - i < HEADER_BYTES) break;
      const type = buf[i + 2];
      const len = buf[i + 6];
      if (type !== TYPE_SAMPLES || len === 0 || len > MAX_PAYLOAD || len % 2 !== 0 || (buf[i + 3] & ~FLAG_LEAD_OFF) !== 0) {
        this.reject();
        i++;
        continue;
      }
      const total = HEADER_BYTES + len + CRC_BYTES;
      if (buf.length - i < total) break;
      const crc = buf[i + HEADER_BYTES + len] | (buf[i + HEADER_BYTES + len + 1] << 8);
      if (crc !== crc16(buf, i + 2, i + HEADER_BYTES + len)) {
        this.reject();
        i++;
        continue;
      }
      const frame = this.decode(buf, i, len);
      if (!frame) {
        // A frame that passed its CRC but holds impossible values: the firmware is wrong, not
        // the link, so drop the whole frame rather than rescanning inside it.
        this.counters.framesBad++;
        this.counters.bytesDropped += total;
      } else {
        this.counters.framesGood++;
        out.push(frame);
      }
      i += total;
    }
    this.buf = i >= buf.length ? new Uint8Array(0) : buf.slice(i);
    return out;
  }

  private reject(): void {
    this.counters.framesBad++;
    this.counters.bytesDropped++;
  }

  private decode(buf: Uint8Array, at: number, len: number): ParsedFrame | undefined {
    const leadOff = (buf[at + 3] & FLAG_LEAD_OFF) !== 0;
    const seq = buf[at + 4] | (buf[at + 5] << 8);
    const values: number[] = new Array<number>(len / 2);
    for (let k = 0; k < len / 2; k++) {
      const v = buf[at + HEADER_BYTES + 2 * k] | (buf[at + HEADER_BYTES + 2 * k + 1] << 8);
      if (v > this.maxCount) return undefined;
      values[k] = leadOff ? NaN : v;
    }
    return { values, leadOff, seq };
  }
}

function findSync(buf: Uint8Array, from: number): number {
  for (let k = from; k + 1 < buf.length; k++) if (buf[k] === SYNC0 && buf[k + 1] === SYNC1) return k;
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
