/**
 * RR series with artefact handling after Lipponen & Tarvainen (2019), "A robust algorithm for
 * heart rate variability time series artefact correction using novel beat classification",
 * J Med Eng Technol 43(3):173-181. Thresholds come from the quartile deviation of the last 91
 * intervals (5.2 x QD); each interval is labelled once the two after it are known, so the
 * series lags the beats by two beats. Differences are forward
 * (RR(j+1) - RR(j)) as in the paper, so a premature beat is flagged on its short interval and
 * its compensatory pause is corrected with it. Corrected values replace labelled intervals for HRV.
 */
import type { RrInterval, RrLabel } from './types.js';

const WINDOW = 91;
const MEDIAN_WINDOW = 11;
const ALPHA = 5.2;
const C1 = 0.13;
const C2 = 0.17;
/** Physiological bounds (220 bpm .. 20 bpm): anything outside is an artefact whatever the statistics say. */
const MIN_RR_MS = 272;
const MAX_RR_MS = 3000;

interface Pending {
  timeS: number;
  rrMs: number;
}

export class RrSeries {
  private readonly rr: number[] = [];
  private readonly drr: number[] = [];
  /** |mRR| of each past interval against the median of the 11 up to it. */
  private readonly absMrr: number[] = [];
  private readonly pending: Pending[] = [];
  private lastBeatS: number | undefined;
  private compensate = false;

  /** Adds a beat time; returns intervals whose label became final. */
  pushBeat(timeS: number): RrInterval[] {
    const prev = this.lastBeatS;
    this.lastBeatS = timeS;
    if (prev === undefined) return [];
    return this.pushInterval(timeS, (timeS - prev) * 1000);
  }

  /** Adds an RR interval measured by the sensor (BLE Heart Rate Service). */
  pushInterval(timeS: number, rrMs: number): RrInterval[] {
    this.pending.push({ timeS, rrMs });
    const out: RrInterval[] = [];
    // Label interval i when i+1 and i+2 are known.
    while (this.pending.length >= 3) {
      out.push(this.labelFirst());
      this.pending.shift();
    }
    return out;
  }

  /** Labels the remaining intervals without lookahead (end of stream). */
  flush(): RrInterval[] {
    const out: RrInterval[] = [];
    while (this.pending.length > 0) {
      out.push(this.labelFirst());
      this.pending.shift();
    }
    return out;
  }

  /** Forgets history (after a gap in the signal, intervals across it mean nothing). */
  reset(): void {
    this.rr.length = 0;
    this.drr.length = 0;
    this.absMrr.length = 0;
    this.pending.length = 0;
    this.lastBeatS = undefined;
    this.compensate = false;
  }

  private labelFirst(): RrInterval {
    const cur = this.pending[0];
    const next = this.pending[1];
    const next2 = this.pending[2];
    const prevRr = this.rr[this.rr.length - 1];

    let label: RrLabel = 'normal';
    let corrected = cur.rrMs;
    const med = this.rr.length >= 3 ? median(this.rr.slice(-MEDIAN_WINDOW)) : cur.rrMs;

    if (cur.rrMs < MIN_RR_MS || cur.rrMs > MAX_RR_MS) {
      label = cur.rrMs < MIN_RR_MS ? 'extra' : 'missed';
      corrected = med;
    } else if (this.rr.length >= 10) {
      const th1 = Math.max(ALPHA * quartileDeviation(this.drr.map(Math.abs)), 1);
      const th2 = Math.max(ALPHA * quartileDeviation(this.absMrr), 1);
      // Forward differences, as in the paper: dRR(j) = RR(j+1) - RR(j).
      const dn = next ? (next.rrMs - cur.rrMs) / th1 : 0;
      const dnPrev = prevRr === undefined ? 0 : (cur.rrMs - prevRr) / th1;
      const dnNext = next && next2 ? (next2.rrMs - next.rrMs) / th1 : 0;
      const mn = signedMrr(cur.rrMs, med) / th2;
      const s12 = dn > 0 ? Math.max(dnPrev, dnNext) : Math.min(dnPrev, dnNext);

      // A premature beat: a short interval then a compensatory long one (or the reverse).
      if ((dn > 1 && s12 < -C1 * dn - C2) || (dn < -1 && s12 > -C1 * dn + C2)) label = 'ectopic';
      else if (this.compensate && Math.abs(mn) > 1) label = 'ectopic';
      else if (Math.abs(mn) > 3) label = cur.rrMs < med ? 'short' : 'long';
      if (label === 'long' && Math.abs(cur.rrMs / 2 - med) < th2) label = 'missed';
      if (label === 'short' && next && Math.abs(cur.rrMs + next.rrMs - med) < th2) label = 'extra';
      if (label !== 'normal') corrected = label === 'missed' ? cur.rrMs / 2 : med;
    }
    // The interval after a premature beat is its compensatory pause: corrected with it.
    this.compensate = label === 'ectopic' && !this.compensate;
    // Statistics are kept on the corrected series so one artefact does not widen the thresholds.
    this.rr.push(corrected);
    if (prevRr !== undefined) this.drr.push(corrected - prevRr);
    this.absMrr.push(Math.abs(signedMrr(corrected, median(this.rr.slice(-MEDIAN_WINDOW)))));
    if (this.absMrr.length > WINDOW) this.absMrr.shift();
    if (this.rr.length > WINDOW + MEDIAN_WINDOW) this.rr.shift();
    if (this.drr.length > WINDOW) this.drr.shift();
    return { timeS: cur.timeS, rrMs: cur.rrMs, label, correctedMs: corrected };
  }
}

function signedMrr(v: number, med: number): number {
  const m = v - med;
  return m < 0 ? 2 * m : m;
}

export function median(a: readonly number[]): number {
  if (a.length === 0) return NaN;
  const s = Float64Array.from(a).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function quantile(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function quartileDeviation(a: readonly number[]): number {
  if (a.length < 4) return 0;
  const s = Float64Array.from(a).sort();
  return (quantile(s, 0.75) - quantile(s, 0.25)) / 2;
}
