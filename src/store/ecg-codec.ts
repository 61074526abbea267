/**
 * Raw ECG chunk codec: quantise to 16-bit, first-order delta, zigzag, LEB128 varint, then
 * raw deflate. ECG moves slowly between samples, so most deltas fit one varint byte and
 * deflate then folds the repeating beat shapes; a real MIT-BIH lead ends up well under 40 %
 * of its 16-bit size (bench/store.ts prints the figure).
 *
 * Layout (little-endian), version 1:
 *   u8 version=1 | u8 codec=1 | f64 startSample | f32 fs | f32 lsbUv | u32 n | deflateRaw(varints)
 * Sample value -32768 means "no sample" (lead-off, NaN on input).
 */
import type { EcgChunk } from '../core/ecg-chunk.js';
import { deflateRawSync, inflateRawSync, constants as zc } from 'node:zlib';
import { MotobioError } from '../util/errors.js';

export const ECG_CHUNK_VERSION = 1;
const HEADER_BYTES = 22;
const NO_SAMPLE = -32768;

export type { EcgChunk } from '../core/ecg-chunk.js';

export function quantise(mv: Float64Array, lsbUv: number): Int16Array {
  const out = new Int16Array(mv.length);
  const scale = 1000 / lsbUv;
  for (let i = 0; i < mv.length; i++) {
    const v = mv[i];
    if (!Number.isFinite(v)) {
      out[i] = NO_SAMPLE;
      continue;
    }
    const q = Math.round(v * scale);
    out[i] = q > 32767 ? 32767 : q < -32767 ? -32767 : q;
  }
  return out;
}

export function encodeEcgChunk(chunk: EcgChunk): Buffer {
  const { startSample, fs, lsbUv, mv } = chunk;
  if (!(fs > 0) || !(lsbUv > 0) || !Number.isFinite(startSample)) {
    throw new MotobioError('RECORD_INVALID', `ECG chunk needs fs > 0, lsbUv > 0 and a finite startSample (got fs=${fs}, lsbUv=${lsbUv}, startSample=${startSample})`);
  }
  const q = quantise(mv, lsbUv);
  // Worst case 3 bytes per zigzagged 17-bit delta.
  const varints = Buffer.allocUnsafe(q.length * 3);
  let o = 0;
  let prev = 0;
  for (let i = 0; i < q.length; i++) {
    const d = q[i] - prev;
    prev = q[i];
    let z = d >= 0 ? d * 2 : -d * 2 - 1;
    while (z >= 0x80) {
      varints[o++] = (z & 0x7f) | 0x80;
      z >>>= 7;
    }
    varints[o++] = z;
  }
  const body = deflateRawSync(varints.subarray(0, o), { level: 9, strategy: zc.Z_DEFAULT_STRATEGY });
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out.writeUInt8(ECG_CHUNK_VERSION, 0);
  out.writeUInt8(1, 1);
  out.writeDoubleLE(startSample, 2);
  out.writeFloatLE(fs, 10);
  out.writeFloatLE(lsbUv, 14);
  out.writeUInt32LE(q.length, 18);
  body.copy(out, HEADER_BYTES);
  return out;
}

export interface DecodedEcgChunk {
  readonly startSample: number;
  readonly fs: number;
  readonly lsbUv: number;
  /** Quantised samples; -32768 = no sample. */
  readonly counts: Int16Array;
  /** Millivolts; NaN = no sample. */
  readonly mv: Float64Array;
}

export function decodeEcgChunk(buf: Uint8Array): DecodedEcgChunk {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < HEADER_BYTES || b[0] !== ECG_CHUNK_VERSION || b[1] !== 1) {
    throw new MotobioError('RECORD_INVALID', `ECG chunk: unknown version/codec ${b[0]}/${b[1]} or truncated (${b.length} bytes); upgrade the consumer or drop the record`);
  }
  const startSample = b.readDoubleLE(2);
  const fs = b.readFloatLE(10);
  const lsbUv = b.readFloatLE(14);
  const n = b.readUInt32LE(18);
  const varints = inflateRawSync(b.subarray(HEADER_BYTES));
  const counts = new Int16Array(n);
  const mv = new Float64Array(n);
  let p = 0;
  let prev = 0;
  const scale = lsbUv / 1000;
  for (let i = 0; i < n; i++) {
    let z = 0;
    let shift = 0;
    for (;;) {
      if (p >= varints.length) throw new MotobioError('RECORD_INVALID', `ECG chunk: sample stream ends at sample ${i} of ${n}; the chunk is truncated`);
      const byte = varints[p++];
      z |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
      shift += 7;
    }
    const d = z & 1 ? -((z + 1) >>> 1) : z >>> 1;
    prev += d;
    counts[i] = prev;
    mv[i] = prev === NO_SAMPLE ? NaN : prev * scale;
  }
  return { startSample, fs, lsbUv, counts, mv };
}
