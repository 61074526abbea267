/**
 * Noise stress on any annotated record, built the way the MIT-BIH Noise Stress Test Database
 * was (Moody, Muldrow & Mark 1984): calibrated noise added to a clean record at a chosen SNR.
 *
 * The nstdb copy here has no separate electrode-motion noise record (`em`); the noise is the
 * difference between a noisy record and its clean source, nstdb 118e_6 minus mitdb 118. Taken that
 * way it keeps nstdb's own timing (clean for 5 minutes, then alternating 2-minute segments) and its
 * calibration, so the same arithmetic rebuilds nstdb: mitdb 118 plus that noise at 0, 6 or 12 dB
 * matches 118e00, 118e06 and 118e12 within 1 ADC unit (5 uV) inside every 2-minute segment,
 * apart from a constant of up to 3 units per segment (a DC step a baseline filter never sees);
 * fitted gains are within 0.04 dB of nominal. On another record the noise is scaled by the ratio
 * of the two records' QRS amplitudes, as nstdb's SNR is defined on the QRS amplitude: the detector
 * then meets the same noise, at the same SNR, on records it was never tuned on.
 */
import { resolve } from 'node:path';
import { MotobioError } from '../../util/errors.js';
import { beatSamples, readAnnotations } from '../../sources/wfdb/annotations.js';
import { readRecord, toPhysical } from '../../sources/wfdb/record.js';
import { median } from '../../signal/rr.js';

export interface NoiseSource {
  /** The clean record the noise was taken against: stressing it again would only rebuild nstdb. */
  readonly cleanBase: string;
  /** The noise alone, mV, at `fs`. */
  readonly noise: Float64Array;
  readonly fs: number;
  /** QRS amplitude of the clean record the noise was calibrated on, mV (see qrsAmplitudeMv). */
  readonly refAmplitudeMv: number;
  /** The SNR the noise has against that record, dB. */
  readonly refSnrDb: number;
}

/** nstdb names records after the SNR: 118e24 ... 118e00, and 118e_6 for -6 dB. */
export function snrFromName(name: string): number | undefined {
  const m = /\d+e(_?)(\d+)/.exec(name);
  if (!m) return undefined;
  return (m[1] === '_' ? -1 : 1) * Number(m[2]);
}

/**
 * QRS amplitude as nstdb's SNR uses it: the peak-to-peak amplitude within 50 ms of each
 * reference beat, averaged with the largest and smallest 5 % left out (so a few artefacts or
 * missing complexes do not set the scale).
 */
export function qrsAmplitudeMv(mv: Float64Array, fs: number, beats: readonly number[]): number {
  const half = Math.max(1, Math.round(0.05 * fs));
  const p2p: number[] = [];
  for (const b of beats) {
    if (b - half < 0 || b + half >= mv.length) continue;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = b - half; i <= b + half; i++) {
      const v = mv[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    p2p.push(hi - lo);
  }
  if (p2p.length === 0) return NaN;
  p2p.sort((a, b) => a - b);
  const cut = Math.floor(p2p.length * 0.05);
  const kept = p2p.slice(cut, p2p.length - cut);
  return kept.reduce((a, b) => a + b, 0) / kept.length;
}

/**
 * The noise in `noisy` (an nstdb record) as the difference from `clean` (its mitdb source),
 * channel `channel` of both. The two databases store the same samples against different
 * baselines (nstdb's headers put them 5.12 mV lower), so the median difference is taken out:
 * a constant shifts nothing a detector sees.
 */
export function noiseFromPair(noisy: string, clean: string, channel = 0): NoiseSource {
  const n = readRecord(noisy);
  const c = readRecord(clean);
  const ns = n.signals[channel];
  const cs = c.signals[channel];
  if (!ns || !cs) throw new MotobioError('USAGE', `--noise ${noisy}:${clean}: both records need a channel ${channel}`);
  if (ns.fs !== cs.fs) throw new MotobioError('USAGE', `--noise ${noisy}:${clean}: the records differ in sampling rate (${ns.fs} and ${cs.fs} Hz); the noisy one must be made from the clean one`);
  const refSnrDb = snrFromName(n.name);
  if (refSnrDb === undefined) {
    throw new MotobioError('USAGE', `--noise ${noisy}:${clean}: cannot tell the noise's SNR from the name "${n.name}"; name the noisy record as nstdb does (118e06 for 6 dB, 118e_6 for -6 dB)`);
  }
  const x = toPhysical(ns);
  const y = toPhysical(cs);
  const len = Math.min(x.length, y.length);
  const noise = new Float64Array(len);
  for (let i = 0; i < len; i++) noise[i] = x[i] - y[i];
  const offset = median(noise);
  for (let i = 0; i < len; i++) noise[i] -= offset;
  const beats = beatSamples(readAnnotations(c.base)).map((s) => Math.round((s / c.header.frameRate) * cs.fs));
  const refAmplitudeMv = qrsAmplitudeMv(y, cs.fs, beats);
  if (!(refAmplitudeMv > 0)) throw new MotobioError('USAGE', `--noise ${noisy}:${clean}: ${clean} has no reference beats to measure its QRS amplitude by`);
  return { cleanBase: resolve(c.base), noise, fs: ns.fs, refAmplitudeMv, refSnrDb };
}

/**
 * `mv` plus the noise at `snrDb`, scaled to this record's QRS amplitude. The noise is resampled
 * (linearly) when the rates differ and repeats when the record is longer than it.
 */
export function addNoise(mv: Float64Array, fs: number, beats: readonly number[], src: NoiseSource, snrDb: number): Float64Array {
  const amplitude = qrsAmplitudeMv(mv, fs, beats);
  if (!(amplitude > 0)) throw new MotobioError('USAGE', 'noise stress needs reference beats to measure the record\'s QRS amplitude by');
  const gain = (amplitude / src.refAmplitudeMv) * 10 ** ((src.refSnrDb - snrDb) / 20);
  const out = new Float64Array(mv.length);
  const step = src.fs / fs;
  const n = src.noise.length;
  for (let i = 0; i < mv.length; i++) {
    const t = (i * step) % n;
    const k = Math.floor(t);
    const frac = t - k;
    const v = frac === 0 ? src.noise[k] : src.noise[k] + frac * (src.noise[(k + 1) % n] - src.noise[k]);
    out[i] = mv[i] + gain * v;
  }
  return out;
}
