/**
 * Reads a WFDB record (header plus signal files) into memory. A 30-minute two-lead
 * 360 Hz record is 2.6 MB of Int16, so whole-record reads keep replay and evaluation
 * simple; the signal chain itself only ever sees chunks.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { MotobioError } from '../../util/errors.js';
import { parseHeader, type WfdbHeader, type WfdbSignalSpec } from './header.js';

export interface WfdbSignal {
  readonly spec: WfdbSignalSpec;
  /** Sampling rate of this signal in Hz. */
  readonly fs: number;
  /** Raw ADC values. */
  readonly adc: Int16Array;
  /** ADC value that the format reserves for "no sample" (-32768 in format 16, -2048 in 212). */
  readonly invalidValue: number;
}

export interface WfdbRecord {
  readonly name: string;
  /** Path of the record without extension. */
  readonly base: string;
  readonly header: WfdbHeader;
  readonly signals: readonly WfdbSignal[];
}

/** Strips a trailing .hea/.dat/.atr so a record may be named by any of its files. */
export function recordBase(path: string): string {
  return path.replace(/\.(hea|dat|atr)$/i, '');
}

export function readHeader(path: string): WfdbHeader {
  const base = recordBase(path);
  const hea = `${base}.hea`;
  if (!existsSync(hea)) throw new MotobioError('RECORD_NOT_FOUND', `${hea}: no such header file; name a WFDB record by its path without extension, e.g. ../shared/data/mitdb/101`);
  return parseHeader(readFileSync(hea, 'latin1'), hea);
}

export function readRecord(path: string): WfdbRecord {
  const base = recordBase(path);
  const header = readHeader(base);
  const dir = dirname(base);
  const signals: WfdbSignal[] = new Array<WfdbSignal>(header.signals.length);

  // Signals that share a file are interleaved frame by frame, in header order.
  const byFile = new Map<string, number[]>();
  header.signals.forEach((s, i) => {
    const list = byFile.get(s.file) ?? [];
    list.push(i);
    byFile.set(s.file, list);
  });

  for (const [file, indices] of byFile) {
    const specs = indices.map((i) => header.signals[i]);
    const first = specs[0];
    for (const s of specs) {
      if (s.format !== first.format || s.byteOffset !== first.byteOffset) {
        throw new MotobioError('RECORD_INVALID', `${base}.hea: signals in ${file} mix formats or byte offsets, which is not supported`);
      }
    }
    const datPath = join(dir, basename(file));
    if (!existsSync(datPath)) throw new MotobioError('RECORD_NOT_FOUND', `${datPath}: the signal file named by ${base}.hea is missing`);
    const bytes = readFileSync(datPath).subarray(first.byteOffset);
    const perFrame = specs.reduce((n, s) => n + s.samplesPerFrame, 0);
    const totalSamples = first.format === 16 ? Math.floor(bytes.length / 2) : Math.floor((bytes.length * 2) / 3);
    const availableFrames = Math.floor(totalSamples / perFrame);
    let frames = header.frames ?? availableFrames;
    if (header.frames !== undefined && availableFrames < header.frames) {
      throw new MotobioError(
        'RECORD_INVALID',
        `${datPath}: truncated: the header promises ${header.frames} frames but the file holds ${availableFrames}; re-copy the record or fix the sample count in the header`,
      );
    }
    frames = Math.min(frames, availableFrames);
    const flat = first.format === 16 ? decode16(bytes, frames * perFrame) : decode212(bytes, frames * perFrame);
    const invalidValue = first.format === 16 ? -32768 : -2048;
    let offset = 0;
    for (const [k, i] of indices.entries()) {
      const spec = specs[k];
      const adc = new Int16Array(frames * spec.samplesPerFrame);
      for (let fr = 0, o = 0; fr < frames; fr++) {
        const start = fr * perFrame + offset;
        for (let j = 0; j < spec.samplesPerFrame; j++) adc[o++] = flat[start + j]!;
      }
      offset += spec.samplesPerFrame;
      signals[i] = { spec, fs: header.frameRate * spec.samplesPerFrame, adc, invalidValue };
    }
  }
  return { name: header.name, base, header, signals };
}

function decode16(bytes: Buffer, n: number): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = bytes.readInt16LE(2 * i);
  return out;
}

/** Format 212: two 12-bit two's-complement samples packed into three bytes. */
function decode212(bytes: Buffer, n: number): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0, b = 0; i < n; i += 2, b += 3) {
    const b0 = bytes[b];
    const b1 = bytes[b + 1];
    const s0 = b0 | ((b1 & 0x0f) << 8);
    out[i] = s0 > 2047 ? s0 - 4096 : s0;
    if (i + 1 < n) {
      const s1 = bytes[b + 2] | ((b1 & 0xf0) << 4);
      out[i + 1] = s1 > 2047 ? s1 - 4096 : s1;
    }
  }
  return out;
}

/** Physical units (usually mV) of one signal as Float64Array. */
export function toPhysical(signal: WfdbSignal): Float64Array {
  const { gain, baseline } = signal.spec;
  const out = new Float64Array(signal.adc.length);
  for (let i = 0; i < out.length; i++) out[i] = (signal.adc[i] - baseline) / gain;
  return out;
}

/** Picks the signal asked for, with an error that lists what the record has. */
export function channelOf(record: WfdbRecord, channel: number): WfdbSignal {
  const s = record.signals[channel];
  if (s === undefined || !Number.isInteger(channel)) {
    const names = record.signals.map((x, i) => `${i}=${x.spec.description || '?'}`).join(', ');
    throw new MotobioError('USAGE', `${record.base}: no channel ${channel}; this record has ${names}`);
  }
  return s;
}
