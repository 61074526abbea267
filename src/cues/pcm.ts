/**
 * PCM helpers for prompts: WAV in (any rate, 8/16/24-bit or float, mono or stereo, as a
 * technician's recorder writes it), mono S16 at CUE_RATE_HZ out; volume; the plain tones a
 * missing prompt falls back to; padding to whole device periods.
 *
 * No sox at run time: the unit needs only aplay and (for rendering) espeak-ng.
 */
import { CUE_RATE_HZ } from './types.js';

/** Longer than this is not a cue a rider should hear at speed; a file this long is a mistake. */
export const MAX_PROMPT_S = 15;

export class WavError extends Error {}

/** Decodes a RIFF/WAVE file to mono S16 samples at CUE_RATE_HZ. Throws WavError saying what is wrong. */
export function decodeWav(buf: Buffer): Int16Array {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new WavError('not a WAV file (no RIFF/WAVE header)');
  let off = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  let data: Buffer | undefined;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) throw new WavError('fmt chunk is truncated');
      let format = buf.readUInt16LE(body);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
      if (format === 0xfffe && size >= 40 && body + 26 <= buf.length) format = buf.readUInt16LE(body + 24);
      fmt = { format, channels: buf.readUInt16LE(body + 2), rate: buf.readUInt32LE(body + 4), bits: buf.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (body + size > buf.length) throw new WavError(`data chunk is truncated (${buf.length - body} of ${size} bytes)`);
      data = buf.subarray(body, body + size);
      break;
    }
    off = body + size + (size & 1);
  }
  if (!fmt) throw new WavError('no fmt chunk');
  if (!data) throw new WavError('no data chunk');
  const { format, channels, rate, bits } = fmt;
  if (channels < 1 || channels > 8) throw new WavError(`${channels} channels`);
  if (rate < 4000 || rate > 192_000) throw new WavError(`sample rate ${rate} Hz`);
  const read = sampleReader(format, bits);
  if (!read) throw new WavError(`unsupported encoding (format ${format}, ${bits} bits); save as 16-bit PCM WAV`);
  const step = (bits / 8) * channels;
  const frames = Math.floor(data.length / step);
  if (frames === 0) throw new WavError('no samples');
  if (frames / rate > MAX_PROMPT_S) throw new WavError(`${(frames / rate).toFixed(1)} s long; a prompt must be under ${MAX_PROMPT_S} s`);
  const mono = new Float64Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += read(data, i * step + (c * bits) / 8);
    mono[i] = sum / channels;
  }
  return toS16(resample(mono, rate, CUE_RATE_HZ));
}

/** Reads one sample as -1..1. */
function sampleReader(format: number, bits: number): ((b: Buffer, at: number) => number) | undefined {
  if (format === 1 && bits === 16) return (b, at) => b.readInt16LE(at) / 32768;
  if (format === 1 && bits === 8) return (b, at) => (b[at] - 128) / 128;
  if (format === 1 && bits === 24) return (b, at) => b.readIntLE(at, 3) / 8_388_608;
  if (format === 1 && bits === 32) return (b, at) => b.readInt32LE(at) / 2_147_483_648;
  if (format === 3 && bits === 32) return (b, at) => b.readFloatLE(at);
  return undefined;
}

/** Linear interpolation: speech prompts only, where its slight high-frequency loss does not matter. */
function resample(x: Float64Array, from: number, to: number): Float64Array {
  if (from === to) return x;
  const n = Math.max(1, Math.round((x.length * to) / from));
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = (i * from) / to;
    const k = Math.floor(t);
    const f = t - k;
    y[i] = k + 1 < x.length ? x[k] * (1 - f) + x[k + 1] * f : x[x.length - 1];
  }
  return y;
}

function toS16(x: Float64Array): Int16Array {
  const out = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(x[i] * 32768)));
  return out;
}

/** A mono S16 WAV (what the cache stores and `motobio`'s tests read back). */
export function encodeWav(pcm: Int16Array, rate = CUE_RATE_HZ): Buffer {
  const data = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/**
 * The fallback when a prompt is missing or corrupt: beeps a rider cannot mistake for each
 * other. Safety: three short high beeps (1 kHz); coaching: one soft low beep (440 Hz).
 * 5 ms ramps so the beeps do not click.
 */
export function tone(kind: 'safety' | 'coaching'): Int16Array {
  const beeps = kind === 'safety' ? 3 : 1;
  const hz = kind === 'safety' ? 1000 : 440;
  const onS = kind === 'safety' ? 0.15 : 0.3;
  const offS = 0.1;
  const amp = kind === 'safety' ? 0.6 : 0.35;
  const on = Math.round(onS * CUE_RATE_HZ);
  const off = Math.round(offS * CUE_RATE_HZ);
  const ramp = Math.round(0.005 * CUE_RATE_HZ);
  const out = new Int16Array(beeps * on + (beeps - 1) * off);
  for (let b = 0; b < beeps; b++) {
    const at = b * (on + off);
    for (let i = 0; i < on; i++) {
      const env = Math.min(1, i / ramp, (on - 1 - i) / ramp);
      out[at + i] = Math.round(amp * env * 32767 * Math.sin((2 * Math.PI * hz * i) / CUE_RATE_HZ));
    }
  }
  return out;
}

/** Linear gain (0..1); returns a new array. */
export function scale(pcm: Int16Array, volume: number): Int16Array {
  const out = new Int16Array(pcm.length);
  if (volume <= 0) return out;
  for (let i = 0; i < pcm.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(pcm[i] * volume)));
  return out;
}

/** Pads with silence to whole periods: aplay reads its input a period at a time, so a partial last period would wait for the next prompt. */
export function padToPeriods(pcm: Int16Array, periodFrames: number): Int16Array {
  const n = Math.ceil(pcm.length / periodFrames) * periodFrames;
  if (n === pcm.length) return pcm;
  const out = new Int16Array(n);
  out.set(pcm);
  return out;
}

export function pcmBytes(pcm: Int16Array): Buffer {
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}
