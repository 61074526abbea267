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
  /**
   * The last MEDIAN_WINDOW measured intervals (physiological ones only), for the local median.
   * Not the corrected ones: a median of corrected values never follows a real, sustained change of
   * rate (72 to 130 bpm in a few beats), and every beat after the step would be "corrected" back
   * to the old rate for ever, hiding a tachycardia from the safety rules. An 11-beat median of the
   * measured series still ignores isolated artefacts, as in the paper.
   */
  private readonly measured: number[] = [];
  /** |dRR| of the last WINDOW intervals, kept sorted for the quartiles. */
  private readonly absDrr = new SortedWindow();
  /** |mRR| of each past interval against the median of the 11 up to it. */
  private readonly absMrr = new SortedWindow();
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
    this.measured.length = 0;
    this.absDrr.clear();
    this.absMrr.clear();
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
    const med = this.measured.length >= 3 ? median(this.measured) : cur.rrMs;

    if (cur.rrMs < MIN_RR_MS || cur.rrMs > MAX_RR_MS) {
      label = cur.rrMs < MIN_RR_MS ? 'extra' : 'missed';
      corrected = med;
    } else if (this.rr.length >= 10) {
      const th1 = Math.max(ALPHA * this.absDrr.quartileDeviation(), 1);
      const th2 = Math.max(ALPHA * this.absMrr.quartileDeviation(), 1);
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
    if (prevRr !== undefined) this.absDrr.push(Math.abs(corrected - prevRr));
    if (cur.rrMs >= MIN_RR_MS && cur.rrMs <= MAX_RR_MS) {
      this.measured.push(cur.rrMs);
      if (this.measured.length > MEDIAN_WINDOW) this.measured.shift();
    }
    this.absMrr.push(Math.abs(signedMrr(corrected, this.measured.length ? median(this.measured) : corrected)));
    if (this.absMrr.length > WINDOW) this.absMrr.shift();
    if (this.rr.length > WINDOW + MEDIAN_WINDOW) this.rr.shift();
    if (this.absDrr.length > WINDOW) this.absDrr.shift();
    return { timeS: cur.timeS, rrMs: cur.rrMs, label, correctedMs: corrected };
  }
}

function signedMrr(v: number, med: number): number {
  const m = v - med;
  return m < 0 ? 2 * m : m;
}

const SHORT = 32;
const scratch = new Float64Array(SHORT);

/**
 * Median. Short lists (the detector's levels and the RR window, per beat and per candidate)
 * are insertion-sorted into a reused buffer: no allocation on the hot path.
 */
export function median(a: readonly number[] | Float64Array): number {
  const n = a.length;
  if (n === 0) return NaN;
  if (n > SHORT || a.some(Number.isNaN)) {
    const sorted = Float64Array.from(a).sort();
    const m = n >> 1;
    return n % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
  }
  const s = scratch;
  for (let i = 0; i < n; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= 0 && s[j] > v) {
      s[j + 1] = s[j];
      j--;
    }
    s[j + 1] = v;
  }
  const m = n >> 1;
  return n % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function quantile(sorted: ArrayLike<number>, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * A FIFO window of values that is also kept sorted, so its quartiles cost a binary search per
 * beat instead of a sort of the whole window.
 */
class SortedWindow {
  private readonly fifo: number[] = [];
  private readonly sorted: number[] = [];

  get length(): number {
    return this.fifo.length;
  }

  push(v: number): void {
    this.fifo.push(v);
    this.sorted.splice(lowerBound(this.sorted, v), 0, v);
  }

  shift(): void {
    const v = this.fifo.shift();
    if (v !== undefined) this.sorted.splice(lowerBound(this.sorted, v), 1);
  }

  clear(): void {
    this.fifo.length = 0;
    this.sorted.length = 0;
  }

  quartileDeviation(): number {
    const s = this.sorted;
    if (s.length < 4) return 0;
    return (quantile(s, 0.75) - quantile(s, 0.25)) / 2;
  }
}

function lowerBound(a: readonly number[], v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
