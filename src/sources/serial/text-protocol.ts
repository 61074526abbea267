/**
 * The common Arduino text protocol: one reading per line, `\n` or `\r\n` terminated.
 *   `512`         an ADC count
 *   `!`           lead-off (the AD8232's LO+/LO- pin is high) in place of a reading
 *   `123456,512`  the board's millis() and a reading (or `123456,!`)
 * A line that is anything else, too long, or out of range is dropped and counted; the parser is
 * back in step at the next line end, so garbage costs at most the line it runs into.
 */
import { newCounters, type FrameParser, type ParsedFrame, type ParserCounters } from './parser.js';

/** Longest valid line is `4294967295,65535\r` (17 bytes); anything longer is garbage. */
export const TEXT_MAX_LINE = 24;

const NL = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;
const BANG = 0x21;

export class TextParser implements FrameParser {
  readonly counters: ParserCounters = newCounters();
  private readonly line = new Uint8Array(TEXT_MAX_LINE);
  private len = 0;
  private overflow = false;

  constructor(private readonly maxCount: number) {}

  push(bytes: Uint8Array): ParsedFrame[] {
    const out: ParsedFrame[] = [];
    this.counters.bytesIn += bytes.length;
    for (const b of bytes) {
      if (b !== NL) {
        if (this.len < TEXT_MAX_LINE) this.line[this.len++] = b;
        else {
          this.overflow = true;
          this.counters.bytesDropped++;
        }
        continue;
      }
      const n = this.len;
      this.len = 0;
      if (this.overflow) {
        this.overflow = false;
        this.counters.framesBad++;
        this.counters.bytesDropped += n + 1;
        continue;
      }
      const end = n > 0 && this.line[n - 1] === CR ? n - 1 : n;
      if (end === 0) continue; // blank line: sketches print them at start-up
      const frame = this.parseLine(end);
      if (frame) {
        this.counters.framesGood++;
        out.push(frame);
      } else {
        this.counters.framesBad++;
        this.counters.bytesDropped += n + 1;
      }
    }
    return out;
  }

  private parseLine(end: number): ParsedFrame | undefined {
    let comma = -1;
    for (let i = 0; i < end; i++) {
      if (this.line[i] === COMMA) {
        if (comma >= 0) return undefined;
        comma = i;
      }
    }
    let deviceMs: number | undefined;
    let from = 0;
    if (comma >= 0) {
      deviceMs = this.digits(0, comma, 0xffffffff);
      if (deviceMs === undefined) return undefined;
      from = comma + 1;
    }
    if (end - from === 1 && this.line[from] === BANG) {
      return deviceMs === undefined ? { values: [NaN], leadOff: true } : { values: [NaN], leadOff: true, deviceMs };
    }
    const value = this.digits(from, end, this.maxCount);
    if (value === undefined) return undefined;
    return deviceMs === undefined ? { values: [value], leadOff: false } : { values: [value], leadOff: false, deviceMs };
  }

  /** Unsigned decimal in line[from, to), at most `max`, else undefined. */
  private digits(from: number, to: number, max: number): number | undefined {
    if (to <= from || to - from > 10) return undefined;
    let v = 0;
    for (let i = from; i < to; i++) {
      const d = this.line[i] - 0x30;
      if (d < 0 || d > 9) return undefined;
      v = v * 10 + d;
    }
    return v <= max ? v : undefined;
  }
}

/** Reference encoder (tests, simulators): one reading as the Arduino sketch prints it. */
export function encodeTextLine(value: number | 'leadoff', deviceMs?: number, crlf = true): string {
  const v = value === 'leadoff' ? '!' : String(value);
  return `${deviceMs === undefined ? '' : `${deviceMs >>> 0},`}${v}${crlf ? '\r\n' : '\n'}`;
}
