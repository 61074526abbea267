/**
 * The sensor side of the serial tests: turns a real record excerpt into the bytes an AD8232
 * board would send, in either protocol, and writes them into a pty at the record's own pace.
 */
import { fileURLToPath } from 'node:url';
import { AdcScale, type AdcScaleOptions } from '../../src/sources/serial/adc.js';
import { encodeBinaryFrame } from '../../src/sources/serial/binary-protocol.js';
import { encodeTextLine } from '../../src/sources/serial/text-protocol.js';
import { readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import type { PtyWriter } from '../helpers/pty.js';

export const MITDB_118 = fileURLToPath(new URL('../fixtures/mitdb-118-5min', import.meta.url));
export const QTDB_302 = fileURLToPath(new URL('../fixtures/qtdb-sel302-2min', import.meta.url));

/** A 12-bit ADC and a gain that keeps the records' few-mV QRS complexes inside the range. */
export const TEST_ADC: AdcScaleOptions = { bits: 12, vrefV: 3.3, gain: 300 };

export interface Recording {
  readonly fs: number;
  readonly mv: Float64Array;
  /** What the board's ADC reports for each sample. */
  readonly counts: Int32Array;
  /** `counts` back in mV: what a perfect receiver reconstructs. */
  readonly expectedMv: Float64Array;
}

export function loadRecording(path = MITDB_118, adc: AdcScaleOptions = TEST_ADC): Recording {
  const sig = readRecord(path).signals[0];
  const mv = toPhysical(sig);
  const scale = new AdcScale(adc);
  const counts = Int32Array.from(mv, (v) => scale.toCount(v));
  return { fs: sig.fs, mv, counts, expectedMv: Float64Array.from(counts, (c) => scale.toMv(c)) };
}

export type Protocol = 'text' | 'text-millis' | 'binary';

/** Encodes counts[from, to) as the sensor would send them; `seq0`/`ms0` continue a stream. */
export function encode(counts: ArrayLike<number>, from: number, to: number, protocol: Protocol, fs: number, framesize = 8): Buffer {
  const parts: Buffer[] = [];
  if (protocol === 'binary') {
    for (let i = from; i < to; i += framesize) {
      const values = Array.from({ length: Math.min(framesize, to - i) }, (_, k) => counts[i + k]);
      parts.push(Buffer.from(encodeBinaryFrame({ seq: i & 0xffff, values })));
    }
  } else {
    for (let i = from; i < to; i++) {
      const ms = protocol === 'text-millis' ? Math.round((i * 1000) / fs) : undefined;
      parts.push(Buffer.from(encodeTextLine(counts[i], ms), 'latin1'));
    }
  }
  return Buffer.concat(parts);
}

export interface FeedOptions {
  readonly protocol: Protocol;
  readonly fs: number;
  readonly from?: number;
  readonly to?: number;
  /** 1 = the record's own rate; Infinity = as fast as the pty takes it. */
  readonly speed?: number;
  /** Samples per write (the HC-05 delivers in bursts anyway). */
  readonly burst?: number;
  readonly signal?: AbortSignal;
}

/** Writes counts[from, to) in bursts at the record's pace; resolves with the index reached. */
export async function feed(writer: PtyWriter, counts: ArrayLike<number>, o: FeedOptions): Promise<number> {
  const from = o.from ?? 0;
  const to = o.to ?? counts.length;
  const speed = o.speed ?? 1;
  const burst = o.burst ?? Math.max(1, Math.round(o.fs / 50));
  const t0 = performance.now();
  for (let i = from; i < to; i += burst) {
    if (o.signal?.aborted) return i;
    const end = Math.min(to, i + burst);
    if (Number.isFinite(speed)) {
      const due = t0 + (((end - from) / o.fs) * 1000) / speed;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    if (!(await writer.write(encode(counts, i, end, o.protocol, o.fs, 8)))) return i;
  }
  return to;
}
