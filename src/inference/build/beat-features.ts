/**
 * SignalFeatures from reference beat annotations (.atr), for building the bootstrap policy's
 * data set before the live signal chain existed. Uses the same definitions as the chain:
 * HR over 10 s, HRV (RMSSD, SDNN, pNN50) over 60 s of normal-to-normal intervals, HR slope
 * over 60 s, LF/HF by Lomb-Scargle over 120 s.
 */
import type { SignalFeatures } from '../../signal/types.js';

/** MIT annotation codes of ectopic beats: a, V, F, J, A, S, E. */
const ECTOPIC = new Set([4, 5, 6, 7, 8, 9, 10]);
/** Noise (~) and isolated artefact (|) annotations lower the quality estimate. */
const ARTEFACT = new Set([14, 16]);

export interface AnnotatedBeat {
  readonly timeS: number;
  readonly ectopic: boolean;
}

export interface Interval {
  readonly endS: number;
  readonly rrMs: number;
  /** Both ends normal and plausible: usable for HRV. */
  readonly nn: boolean;
}

export function intervals(beats: readonly AnnotatedBeat[]): Interval[] {
  const out: Interval[] = [];
  for (let i = 1; i < beats.length; i++) {
    const rr = (beats[i].timeS - beats[i - 1].timeS) * 1000;
    if (rr < 250 || rr > 2500) continue;
    out.push({ endS: beats[i].timeS, rrMs: rr, nn: !beats[i].ectopic && !beats[i - 1].ectopic });
  }
  return out;
}

function inWindow(iv: readonly Interval[], endS: number, windowS: number): Interval[] {
  return iv.filter((x) => x.endS > endS - windowS && x.endS <= endS);
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** LF (0.04-0.15 Hz) over HF (0.15-0.4 Hz) power of the NN series, Lomb-Scargle (uneven sampling). */
export function lfHf(nn: readonly Interval[]): number | null {
  if (nn.length < 60) return null;
  const t = nn.map((x) => x.endS);
  const m = mean(nn.map((x) => x.rrMs));
  const y = nn.map((x) => x.rrMs - m);
  let lf = 0;
  let hf = 0;
  for (let f = 0.04; f < 0.4; f += 0.005) {
    const w = 2 * Math.PI * f;
    let s2 = 0;
    let c2 = 0;
    for (const ti of t) {
      s2 += Math.sin(2 * w * ti);
      c2 += Math.cos(2 * w * ti);
    }
    const tau = Math.atan2(s2, c2) / (2 * w);
    let yc = 0;
    let ys = 0;
    let cc = 0;
    let ss = 0;
    for (let i = 0; i < t.length; i++) {
      const c = Math.cos(w * (t[i] - tau));
      const s = Math.sin(w * (t[i] - tau));
      yc += y[i] * c;
      ys += y[i] * s;
      cc += c * c;
      ss += s * s;
    }
    const p = 0.5 * ((yc * yc) / cc + (ys * ys) / ss);
    if (f < 0.15) lf += p;
    else hf += p;
  }
  return hf > 0 ? lf / hf : null;
}

export interface WindowOptions {
  /** Signal quality 0..1 at time t (from the known noise schedule of a record). */
  readonly baseQuality: (t: number) => number;
}

/** Features for the decision window ending at `endS`. */
export function featuresAt(beats: readonly AnnotatedBeat[], iv: readonly Interval[], artefacts: readonly number[], endS: number, opts: WindowOptions): SignalFeatures {
  const w10 = inWindow(iv, endS, 10);
  const w60 = inWindow(iv, endS, 60);
  const nn60 = w60.filter((x) => x.nn);
  const nn120 = inWindow(iv, endS, 120).filter((x) => x.nn);
  const hrBpm = w10.length >= 3 ? 60000 / mean(w10.map((x) => x.rrMs)) : null;
  let rmssd: number | null = null;
  let sdnn: number | null = null;
  let pnn50: number | null = null;
  if (nn60.length >= 20) {
    const rr = nn60.map((x) => x.rrMs);
    const d: number[] = [];
    for (let i = 1; i < rr.length; i++) d.push(rr[i] - rr[i - 1]);
    rmssd = Math.sqrt(mean(d.map((x) => x * x)));
    const m = mean(rr);
    sdnn = Math.sqrt(rr.reduce((a, x) => a + (x - m) ** 2, 0) / (rr.length - 1));
    pnn50 = d.filter((x) => Math.abs(x) > 50).length / d.length;
  }
  let slope: number | null = null;
  if (w60.length >= 10) {
    const xs = w60.map((x) => x.endS / 60);
    const ys = w60.map((x) => 60000 / x.rrMs);
    const mx = mean(xs);
    const my = mean(ys);
    let num = 0;
    let den = 0;
    for (let i = 0; i < xs.length; i++) {
      num += (xs[i] - mx) * (ys[i] - my);
      den += (xs[i] - mx) ** 2;
    }
    slope = den > 0 ? num / den : null;
  }
  const artefactCount = artefacts.filter((a) => a > endS - 10 && a <= endS).length;
  const quality = Math.max(0, Math.min(1, opts.baseQuality(endS) * (1 - Math.min(1, 0.25 * artefactCount))));
  let lastBeat: number | null = null;
  for (const b of beats) {
    if (b.timeS > endS) break;
    lastBeat = b.timeS;
  }
  return {
    endS,
    hrBpm,
    hrSlopeBpmPerMin: slope,
    rmssdMs: rmssd,
    sdnnMs: sdnn,
    pnn50,
    lfHf: lfHf(nn120),
    quality,
    ectopicShare: w60.length ? w60.filter((x) => !x.nn).length / w60.length : 0,
    leadOff: false,
    secondsSinceBeat: lastBeat === null ? null : endS - lastBeat,
  };
}

export function annotatedBeats(annotations: readonly { sample: number; code: number }[], fs: number, beatCodes: ReadonlySet<number>): { beats: AnnotatedBeat[]; artefacts: number[] } {
  const beats: AnnotatedBeat[] = [];
  const artefacts: number[] = [];
  for (const a of annotations) {
    if (beatCodes.has(a.code)) beats.push({ timeS: a.sample / fs, ectopic: ECTOPIC.has(a.code) });
    else if (ARTEFACT.has(a.code)) artefacts.push(a.sample / fs);
  }
  return { beats, artefacts };
}

/**
 * nstdb records add electrode-motion noise from minute 5 in alternating 2-minute segments
 * (noisy, clean, noisy, ...) at the SNR in the record name (118e06 = 6 dB, 118e_6 = -6 dB).
 */
export function nstdbQuality(recordName: string): ((t: number) => number) | null {
  const m = /^118e(_?)(\d\d)$/.exec(recordName);
  if (!m) return null;
  const snr = (m[1] ? -1 : 1) * Number(m[2]);
  const noisy = Math.max(0.05, Math.min(0.95, 0.45 + snr / 40));
  return (t) => {
    if (t < 300) return 1;
    return Math.floor((t - 300) / 120) % 2 === 0 ? noisy : 1;
  };
}
