/**
 * Atrial fibrillation from the RR series alone, so the same detector runs on detected beats and
 * on an RR-only strap. After Petrenas, Marozas & Sörnmo (2015), "Low-complexity detection of
 * atrial fibrillation in continuous long-term monitoring", Comput Biol Med 65:184-191: a short
 * window of RR irregularity, median-filtered so isolated ectopic beats do not count, normalised
 * by the heart rate, exponentially smoothed, and thresholded with hysteresis.
 *
 *   RR ─▶ drop premature+compensatory pairs ─▶ min over lags 1..3 |ΔRR| ─▶ 5th smallest of 16
 *      ─▶ ÷ mean RR ─▶ exp. smoothing ─▶ on / off after HOLD_BEATS ─▶ episode
 *
 * Ectopy: a premature interval followed by a compensatory one leaves the series, both of them
 * (on the ECG path also the intervals around a beat the classifier called V); a low order
 * statistic of the window (5th of 16, not the median) ignores the ectopy that is left.
 * Bigeminy (short-long alternation) and trigeminy repeat with a period of 2 or 3 intervals, so
 * the difference to the interval 2 or 3 back is small there and the minimum over lags 1..3
 * stays low; in AF every lag is large. This replaces Petrenas's separate bigeminy suppression.
 *
 * Sinus arrhythmia (the rate rising and falling with breathing, strong in a rider at rest or
 * under stress) is irregular too, but smooth: successive differences of the RR series keep
 * their sign for a few beats. In AF the intervals are close to independent, so a difference is
 * followed by one of the other sign (lag-1 correlation of ΔRR near -0.5). A window whose ΔRR
 * correlation is above SMOOTH_CORR counts at SMOOTH_WEIGHT of its irregularity. This is a rule
 * of physiology, not of a record: it took drive05's two false episodes (breathing at the wheel)
 * away and cost afdb 0.6 points of episode Se.
 *
 * Constants tuned on the MIT-BIH AF Database (afdb, RR from its reference beats) and checked
 * for false alarms on the non-AF MIT-BIH Arrhythmia records: ON_LEVEL, OFF_LEVEL, ALPHA,
 * WINDOW and RANK (Petrenas use 8 beats and the median), HOLD_BEATS, LAGS. PREMATURE and
 * COMPENSATORY are the usual 15 % / 20 % ectopic-beat rules, not fitted.
 */
import { median } from '../rr.js';
import type { RhythmEpisode } from './types.js';

const WINDOW = 16;
const LAGS = 3;
const RANK = 5;
const PREMATURE = 0.85;
const COMPENSATORY = 1.2;
const REF_BEATS = 9;
const HOLD_BEATS = 40;
/** Exponential smoothing of the windowed irregularity (per beat). */
const ALPHA = 0.1;
/** Smoothed irregularity (median |ΔRR| / mean RR) that opens an episode, and the lower one that closes it. */
const ON_LEVEL = 0.03;
const OFF_LEVEL = 0.018;
/** Beats needed after a reset before any decision: the window and the smoothing must fill. */
const WARMUP = 4;
/** Intervals outside this are not ventricular cycles (a missed or extra beat, a gap). */
const MIN_RR_MS = 200;
const MAX_RR_MS = 3000;
const TIMES = 64;
/** ΔRR lag-1 correlation above which the window is a smooth (respiratory) variation, and what it then counts for. */
const SMOOTH_CORR = -0.1;
const SMOOTH_WEIGHT = 0.5;

export interface AfOptions {
  /** Smallest |RR(n) - RR(n-k)| over k = 1..lags (2: bigeminy-proof, 3: trigeminy too). */
  readonly lags?: number;
  readonly alpha?: number;
  readonly onLevel?: number;
  readonly offLevel?: number;
  /** Beats in the window, and which order statistic of the window (0 = smallest) is the irregularity. */
  readonly window?: number;
  readonly rank?: number;
  /** An interval under `premature` x the recent median followed by one over `compensatory` x it is an ectopic pair. */
  readonly premature?: number;
  /** Beats in a row under OFF that end an episode. */
  readonly holdBeats?: number;
  readonly compensatory?: number;
}

export class AfDetector {
  private readonly lags: number;
  private readonly alpha: number;
  private readonly on: number;
  private readonly off: number;
  private readonly rr = new Float64Array(8);
  private rrCount = 0;
  private readonly window: number;
  private readonly rank: number;
  private readonly irr: Float64Array;
  private readonly rrWin: Float64Array;
  private readonly sortBuf: Float64Array;
  private w = 0;
  private filled = 0;
  private level = 0;
  private beats = 0;
  /** Beat times, newest last (ring), to date an onset back to the start of the window that showed it. */
  private readonly times = new Float64Array(TIMES);
  private tw = 0;
  private open: { startS: number; endS: number; detectedS: number; peak: number; beats: number } | undefined;
  /** Time of the window start when the smoothed level last rose through OFF_LEVEL. */
  private riseS: number | undefined;
  private lastHighS = 0;
  /** End of the last episode: the next one cannot start before it. */
  private lastEndS = 0;
  private below = 0;
  private dropNext = false;
  private readonly hold: number;
  private readonly prem: number;
  private readonly comp: number;
  /** The newest interval, waiting one beat to learn whether a compensatory pause follows it. */
  private held: { timeS: number; rrMs: number; ref: number } | undefined;
  private readonly refRing = new Float64Array(REF_BEATS);
  private refW = 0;
  private refN = 0;

  constructor(options: AfOptions = {}) {
    this.lags = options.lags ?? LAGS;
    this.alpha = options.alpha ?? ALPHA;
    this.on = options.onLevel ?? ON_LEVEL;
    this.off = options.offLevel ?? OFF_LEVEL;
    this.hold = options.holdBeats ?? HOLD_BEATS;
    this.prem = options.premature ?? PREMATURE;
    this.comp = options.compensatory ?? COMPENSATORY;
    this.window = options.window ?? WINDOW;
    this.rank = options.rank ?? RANK;
    this.irr = new Float64Array(this.window);
    this.rrWin = new Float64Array(this.window);
    this.sortBuf = new Float64Array(this.window);
  }

  /** Current smoothed irregularity (for features and tests). */
  get irregularity(): number {
    return this.level;
  }

  get inAf(): boolean {
    return this.open !== undefined;
  }

  /**
   * One RR interval ending at `timeS`; `ectopic` when a beat classifier called the beat that
   * ends it ventricular (the ECG path): that interval and the next leave the series. Returns the
   * episode when it opened or closed at this beat.
   */
  push(timeS: number, rrMs: number, ectopic = false): RhythmEpisode | undefined {
    if (this.dropNext) {
      // The interval after a beat the classifier called ectopic is its (compensatory) pause.
      this.dropNext = ectopic;
      this.reference(rrMs);
      this.held = undefined;
      return undefined;
    }
    if (ectopic) {
      this.dropNext = true;
      this.reference(rrMs);
      const h = this.held;
      this.held = undefined;
      return h ? this.step(h.timeS, h.rrMs) : undefined;
    }
    if (!(rrMs >= MIN_RR_MS && rrMs <= MAX_RR_MS)) {
      // Not a cycle: drop the continuity, keep the level (one artefact is not a rhythm change).
      this.rrCount = 0;
      this.held = undefined;
      return undefined;
    }
    const ref = this.reference(rrMs);
    const h = this.held;
    this.held = { timeS, rrMs, ref };
    if (h === undefined) return undefined;
    // A premature beat and its compensatory pause: out of the series, both intervals.
    if (h.rrMs < this.prem * h.ref && rrMs > this.comp * h.rrMs) {
      this.held = undefined;
      return undefined;
    }
    return this.step(h.timeS, h.rrMs);
  }

  /** Median of the last REF_BEATS intervals (raw): the rate a premature beat is premature against. */
  private reference(rrMs: number): number {
    this.refRing[this.refW] = rrMs;
    this.refW = (this.refW + 1) % REF_BEATS;
    if (this.refN < REF_BEATS) this.refN++;
    return median(this.refN < REF_BEATS ? Array.from(this.refRing.subarray(0, this.refN)) : this.refRing);
  }

  private step(timeS: number, rrMs: number): RhythmEpisode | undefined {
    this.times[this.tw] = timeS;
    this.tw = (this.tw + 1) % TIMES;
    const r = this.rr;
    for (let k = this.lags; k > 0; k--) r[k] = r[k - 1];
    r[0] = rrMs;
    this.rrCount++;
    if (this.rrCount <= this.lags) return undefined;
    let d = Infinity;
    for (let k = 1; k <= this.lags; k++) d = Math.min(d, Math.abs(rrMs - r[k]));
    this.irr[this.w] = d;
    this.rrWin[this.w] = rrMs;
    const W = this.window;
    this.w = (this.w + 1) % W;
    if (this.filled < W) this.filled++;
    this.beats++;
    if (this.filled < W) return undefined;
    let mean = 0;
    for (let i = 0; i < W; i++) mean += this.rrWin[i];
    mean /= W;
    const smooth = deltaCorrelation(this.rrWin, this.w) > SMOOTH_CORR;
    const m = (orderStatistic(this.irr, this.sortBuf, this.rank) / mean) * (smooth ? SMOOTH_WEIGHT : 1);
    this.level += this.alpha * (m - this.level);
    if (m > this.off) this.lastHighS = timeS;
    if (this.beats < W + WARMUP) return undefined;

    if (this.level > this.off && this.riseS === undefined) this.riseS = this.timeBack(this.window);
    if (this.level <= this.off) this.riseS = undefined;
    const o = this.open;
    if (!o) {
      if (this.level >= this.on) {
        this.below = 0;
        this.open = { startS: Math.max(this.lastEndS, this.riseS ?? this.timeBack(this.window)), endS: timeS, detectedS: timeS, peak: this.level, beats: 0 };
        return this.episode(false);
      }
      return undefined;
    }
    o.endS = timeS;
    o.beats++;
    if (this.level > o.peak) o.peak = this.level;
    // Closing takes `hold` beats in a row under OFF: AF's irregularity comes and goes, and one
    // episode reported in pieces is a string of false onsets for the rider.
    if (this.level >= this.off) this.below = 0;
    else if (++this.below >= this.hold) return this.close();
    return undefined;
  }

  /** A gap in the beats (lead-off, noise, sensor lost): intervals across it mean nothing. */
  reset(): RhythmEpisode | undefined {
    this.rrCount = 0;
    this.held = undefined;
    this.dropNext = false;
    this.refN = 0;
    this.refW = 0;
    this.filled = 0;
    this.w = 0;
    this.beats = 0;
    this.level = 0;
    this.riseS = undefined;
    return this.open ? this.close() : undefined;
  }

  /** An interval that cannot be judged (noise, lead-off): the series loses its continuity, the level stays. */
  skip(): void {
    this.rrCount = 0;
    this.held = undefined;
    this.dropNext = false;
  }

  /** End of stream: the open episode, closed where the irregularity was last seen. */
  flush(): RhythmEpisode | undefined {
    return this.open ? this.close() : undefined;
  }

  /** The open episode, if any. */
  current(): RhythmEpisode | undefined {
    return this.open ? this.episode(false) : undefined;
  }

  private close(): RhythmEpisode {
    const o = this.open!;
    // The smoothed level lags the rhythm: the episode ended about where the window last saw irregularity.
    o.endS = Math.max(o.startS, Math.min(o.endS, this.lastHighS));
    const ep = this.episode(true);
    this.lastEndS = o.endS;
    this.open = undefined;
    return ep;
  }

  private episode(closed: boolean): RhythmEpisode {
    const o = this.open!;
    const confidence = Math.min(1, (o.peak - this.off) / (2 * (this.on - this.off)));
    return { type: 'AF', startS: o.startS, endS: o.endS, detectedS: o.detectedS, closed, confidence: Math.round(confidence * 1000) / 1000, evidence: { irregularity: Math.round(o.peak * 1000) / 1000, beats: o.beats } };
  }

  /** Time of the beat `k` beats back (0 = the newest). */
  private timeBack(k: number): number {
    const back = Math.min(k, Math.min(this.beats + 3, TIMES) - 1);
    return this.times[(this.tw - 1 - back + 2 * TIMES) % TIMES];
  }
}

/**
 * Lag-1 correlation of the successive differences of a ring of intervals (oldest at `start`):
 * near -0.5 for independent intervals, positive for a smooth oscillation.
 */
function deltaCorrelation(ring: Float64Array, start: number): number {
  const n = ring.length;
  let num = 0;
  let den = 0;
  let prev = ring[start % n];
  let prevD: number | undefined;
  for (let i = 1; i < n; i++) {
    const cur = ring[(start + i) % n];
    const d = cur - prev;
    if (prevD !== undefined) num += d * prevD;
    den += d * d;
    prev = cur;
    prevD = d;
  }
  return den > 0 ? num / den : 0;
}

/** The k-th smallest value of a short window, through a reused buffer (insertion sort, no allocation). */
function orderStatistic(a: Float64Array, s: Float64Array, k: number): number {
  const n = a.length;
  for (let i = 0; i < n; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= 0 && s[j] > v) {
      s[j + 1] = s[j];
      j--;
    }
    s[j + 1] = v;
  }
  return s[k];
}
