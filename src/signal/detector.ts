/**
 * Streaming R-peak detector.
 *
 *   mV ─┬▶ QRS band  |slope| (5-31 Hz) ─┐
 *       ├▶ edge band |slope| (14-74 Hz) ─┴▶ √(product) ─▶ moving-window integral ─▶ candidate peaks
 *       │                                                                              │
 *       └▶ localisation branch (light low-pass, baseline removal) ◀──────── refine ────┘─▶ Beat
 *
 * The feature is the geometric mean of two bands' slopes (bands at half amplitude), so a wave
 * scores high only when it is steep in both. A QRS is; electrode-motion artefact, the rider's
 * worst noise, carries its power low (on nstdb 118e_6 its ratio to the ECG is 5 dB worse at
 * 12-20 Hz than at 25-40 Hz). On 118e06 the second band alone took +P from 83.0 to 87.7 % with
 * Se rising too.
 *
 * Decision rules follow Pan & Tompkins (1985) with Hamilton & Tompkins' (1986) robust
 * threshold estimates: adaptive signal/noise levels, a refractory period, T-wave rejection
 * by slope, and search-back for beats missed under the threshold. All constants are in
 * seconds so the same code runs at 130 Hz (Polar H10) and 500 Hz.
 */
import { BaselineRemover, BoxcarLowpass, DelayLine, MovingAverage, oddLength } from './filters.js';
import { median } from './rr.js';
import { SlopeBand } from './slope-band.js';
import type { Beat } from './types.js';

export interface DetectorOptions {
  fs: number;
}

interface Candidate {
  /** Index on the feature (integrated) timeline. */
  fIndex: number;
  height: number;
  /** Largest |slope| in the integration window before the integral's peak: the QRS's steepness. */
  slope: number;
  /** Where that steepest slope was, on the feature timeline. */
  slopeAt: number;
  /** Samples the feature stayed above half the peak height: a QRS's hump is narrower than motion artefact's. */
  width: number;
}

const LEARN_S = 2;
/**
 * No second beat this soon (Pan & Tompkins use 0.2 s). At 0.25 s the detector still follows
 * 240 bpm, above any rider's maximum, and in electrode-motion noise a hump right after the QRS
 * is no longer a candidate (see the tuning note at THRESHOLD_FRACTION).
 */
const REFRACTORY_S = 0.25;
const T_WAVE_S = 0.36;
const SEARCHBACK_FACTOR = 1.66;
/** Intervals counted as regular for the search-back wait (Pan & Tompkins 1985). */
const RR_REGULAR_LOW = 0.92;
const RR_REGULAR_HIGH = 1.16;
/**
 * Search-back passes over a hump under SB_MIN_HEIGHT of the last beat's, and over one both
 * SB_WIDE times as wide as the recent beats and earlier than SB_EARLY of the mean RR. Before this
 * rule, of the 949 beats search-back found on the 22 non-paced mitdb records, 23 were such humps
 * and 21 of those were not beats (15 in record 203).
 */
const SB_MIN_HEIGHT = 0.25;
const SB_WIDE = 2;
const SB_EARLY = 0.7;
/**
 * A search-back that found nothing is armed again SB_REARM regular RRs later. In an irregular
 * rhythm it can fire before the missed beat's hump is even confirmed; left disarmed until the
 * next beat, it let mitdb 203 lose three beats in a row at 50.6-51.8 s, each one counted as
 * noise on the way. The second search sees only the humps that came after the first.
 */
const SB_REARM = 0.5;
/**
 * Second look when a beat ends a long interval: a hump just under the threshold (at least
 * LATE_LOOK_HEIGHT of it), about as narrow as the recent beats (LATE_LOOK_WIDE) and clear of the
 * last beat's T wave, is taken too when the interval reached LATE_LOOK_FACTOR regular RRs. This
 * is the premature beat with a compensatory pause, too short for search-back's 1.66 RR: mitdb
 * 201's aberrated atrial premature beats stand at 0.8-1.0 threshold (28 of its 30 misses). Only
 * outside noise (noise ratio at most WIDE_NOISE): in electrode-motion noise such humps were as
 * often artefact as beats.
 */
const LATE_LOOK_FACTOR = 1.2;
const LATE_LOOK_HEIGHT = 0.8;
const LATE_LOOK_WIDE = 1.5;
/** Inside a beat's refractory period, a candidate this much taller and steeper is the real QRS (see classify). */
const OVERRIDE = 1.4;
/** Beats reported later than this after their R wave carry `late: true`. */
const REPORT_BUDGET_S = 0.3;
const HISTORY = 8;
/**
 * Threshold sits this far from the noise level towards the QRS level (Hamilton uses 0.3125).
 *
 * Tuning note. This value, REFRACTORY_S, NOISE_KNEE, MAX_FRACTION, WIDE_NOISE and WIDE_HEIGHT
 * were set together by a coordinate search scored on mitdb and on `eval --noise` (nstdb's
 * electrode-motion noise on the 21 other non-paced mitdb records at 12, 6 and 0 dB), under the
 * nstdb targets: 118 alone had let the detector look better in noise than it was (held-out +P
 * 93.96 at 6 dB and 98.62 at 12 dB, against 95 and 99). After: 95.35 and 99.01, with 0 dB Se
 * 86.44 -> 85.22 the price, and mitdb 99.704 / 99.743 -> 99.712 / 99.784.
 * Later THRESHOLD_FRACTION 0.39 -> 0.38 with NOISE_KNEE 0.23 -> 0.22: the same threshold once the
 * noise ratio passes 0.23, a lower one in clean signal (mitdb FN -2, every held-out noise figure
 * within 0.01).
 */
const THRESHOLD_FRACTION = 0.38;
/**
 * When the noise level climbs past NOISE_KNEE of the QRS level the threshold moves towards the
 * QRS level (by NOISE_GAIN per unit of the ratio above the knee, up to MAX_FRACTION): in a
 * noisy stretch the tail of the noise peaks, not their median, is what crosses the threshold.
 */
const NOISE_KNEE = 0.22;
const NOISE_GAIN = 1;
const MAX_FRACTION = 0.85;
/**
 * In noise (noise level above WIDE_NOISE of the QRS level) a candidate whose feature hump is
 * WIDE_RATIO times wider than the recent beats' and under WIDE_HEIGHT thresholds tall is taken
 * for motion artefact. It stays a search-back candidate, and a tall wide beat (a PVC) passes.
 */
const WIDE_NOISE = 0.18;
const WIDE_RATIO = 1.1;
const WIDE_HEIGHT = 1.5;
/**
 * Noise or not, a hump VERY_WIDE_RATIO times wider than the recent beats and under
 * VERY_WIDE_HEIGHT thresholds is artefact as well: the rule above misses it when the noise ratio
 * is low or the hump a little taller than WIDE_HEIGHT (mitdb 118 at 1624.3 s: three times the
 * beats' width, 1.6 thresholds). Such humps stay search-back candidates, so a wide beat the rule
 * passes over is still found, late. On mitdb: FP 109 -> 98 with FN unchanged.
 */
const VERY_WIDE_RATIO = 2;
const VERY_WIDE_HEIGHT = 2;
const WIDTH_MIN_BEATS = 4;
/** A candidate inside the T-wave window with less than this share of the last QRS's slope is a T wave. */
const T_WAVE_SLOPE_RATIO = 0.4;
/** VF-filter leakage below this marks flutter/fibrillation (Kuo & Dillman use 0.406 on 4 s). */
const VF_LEAKAGE = 0.45;
const VF_WINDOW_S = 4;
/**
 * Once in VF, leave only when the leakage over 4 s reaches VF_EXIT, or over the last 2 s reaches
 * VF_EXIT_RECENT. Within mitdb 207's 98-s flutter episode the 2-s leakage touches 0.62 between
 * bursts; at 0.6 the detector left VF there and counted 12 flutter waves as beats.
 */
const VF_EXIT = 0.55;
const VF_EXIT_RECENT = 0.65;
/**
 * Leaving VF takes 2-4 s of QRS-like signal, so the first beat after the episode is inside it as
 * far as the detector knew. On leaving, the last candidate passed over as a VF wave is taken
 * (late) if it came within VF_LAST_S, reaches the threshold and is as narrow as the beats before
 * the episode (LATE_LOOK_WIDE): on mitdb, three of 207's first beats after flutter (52.3, 262.3,
 * 281.7 s) and one of 205's after ventricular tachycardia (307.6 s), and no false beat.
 */
const VF_LAST_S = 1;
/**
 * With no beat for this long the expected QRS level halves, so a smaller complex is found again.
 * (2.5 s until the re-armed search-back took over the gaps of an irregular rhythm; at 3 s mitdb
 * FP fell by 2 with FN unchanged; held-out 0 dB Se 86.18 -> 85.74, +P 85.47 -> 85.51.)
 */
const LOST_S = 3;
const LOST_DECAY = 0.5;
/** A beat whose R peak is this close to the end of the stream is not reported by flush(): its downstroke was never seen. */
const FLUSH_TAIL_S = 0.1;
/** Samples filtered per typed-array pass. */
const BLOCK = 512;

export class RPeakDetector {
  readonly fs: number;
  /** Samples from an input sample to the same instant on the feature timeline. */
  readonly featureDelay: number;
  /** Samples from an input sample to the same instant on the localisation timeline. */
  readonly locDelay: number;

  private readonly qrsBand: SlopeBand;
  private readonly edgeBand: SlopeBand;
  /** Lines the (faster) edge band up with the QRS band. */
  private readonly edgeAlign: DelayLine;
  private readonly mwi: MovingAverage;

  private readonly locLp: BoxcarLowpass;
  private readonly locAvg: MovingAverage;
  private readonly locDelayLine: DelayLine;
  private readonly locRing: Float64Array;
  private readonly slopeRing: Float64Array;
  private readonly featureRing: Float64Array;
  private readonly vfRing: Float64Array;
  private readonly vfLinear: Float64Array;
  private readonly vfDecimation: number;
  private vfPos = 0;
  private vfCountdown = 1;
  private ringPos = 0;
  private readonly vfFilter: BaselineRemover;
  // Per-block scratch: input, low-passed, |slope|, feature, localisation, VF branch, temporary.
  private readonly xBuf = new Float64Array(BLOCK);
  private readonly lBuf = new Float64Array(BLOCK);
  private readonly sBuf = new Float64Array(BLOCK);
  private readonly fBuf = new Float64Array(BLOCK);
  private readonly yBuf = new Float64Array(BLOCK);
  private readonly vBuf = new Float64Array(BLOCK);
  private readonly tBuf = new Float64Array(BLOCK);
  private readonly eBuf = new Float64Array(BLOCK);

  private n = 0; // input samples consumed
  private primed = false;
  private lastInput = 0;
  private flushed = false;

  // Peak picking on the integral.
  private prevF = 0;
  private rising = false;
  private peakF = 0;
  private peakFIndex = -1;

  // Adaptive levels.
  private readonly qrsPeaks: number[] = [];
  private readonly noisePeaks: number[] = [];
  private readonly rrHistory: number[] = [];
  private threshold = 0;
  /** Noise level over QRS level (medians of the last peaks of each), set with the threshold. */
  private noiseRatio = 0;
  private learning = true;
  private readonly learnCandidates: Candidate[] = [];
  private lastBeatF = -Infinity;
  private lastBeatSlope = 0;
  private lastBeatHeight = 0;
  /** Feature widths of the last beats taken on their own merit (search-back finds aside). */
  private readonly widths: number[] = [];
  /** Candidates under the threshold since the last beat, for search-back. */
  private pendingNoise: Candidate[] = [];
  private searchBackAt = Infinity;
  private lostCheckAt = Infinity;

  /** Ventricular flutter/fibrillation: the ECG is a near-sinusoid and its waves are not beats. */
  private inVf = false;
  /** The latest candidate passed over as a VF wave (see VF_LAST_S). */
  private lastVfWave: Candidate | undefined;
  private nextVfCheck = 0;
  private readonly refractory: number;
  private readonly tWave: number;
  private readonly learnSamples: number;
  private readonly locHalfWindow: number;
  private readonly reportBudget: number;

  constructor(options: DetectorOptions) {
    const fs = options.fs;
    if (!(fs >= 50 && fs <= 10_000)) throw new RangeError(`sampling rate ${fs} Hz is outside 50..10000 Hz`);
    this.fs = fs;
    this.qrsBand = new SlopeBand(fs, { lowpassS: 0.02, highpassS: 0.1, lagS: 0.005 });
    this.edgeBand = new SlopeBand(fs, { lowpassS: 0.008, highpassS: 0.03, lagS: 0.003 });
    // The edge band's filters are shorter at every rate from 50 Hz up, so it is the one delayed.
    this.edgeAlign = new DelayLine(Math.max(0, this.qrsBand.delay - this.edgeBand.delay));
    this.mwi = new MovingAverage(oddLength(0.12, fs, 3));
    this.featureDelay = this.qrsBand.delay + this.mwi.delay;

    this.locLp = new BoxcarLowpass(oddLength(0.012, fs, 1), 1);
    this.locAvg = new MovingAverage(oddLength(0.2, fs, 3));
    this.locDelayLine = new DelayLine(this.locAvg.delay);
    this.locDelay = this.locLp.delay + this.locAvg.delay;
    const ringLen = Math.ceil(4.5 * fs);
    this.locRing = new Float64Array(ringLen);
    this.slopeRing = new Float64Array(ringLen);
    this.featureRing = new Float64Array(ringLen);
    this.vfDecimation = Math.max(1, Math.floor(fs / 90));
    this.vfRing = new Float64Array(Math.round((VF_WINDOW_S * fs) / this.vfDecimation));
    this.vfLinear = new Float64Array(this.vfRing.length);
    this.vfFilter = new BaselineRemover(oddLength(0.3, fs, 3));

    this.refractory = Math.round(REFRACTORY_S * fs);
    this.tWave = Math.round(T_WAVE_S * fs);
    this.learnSamples = Math.round(LEARN_S * fs);
    this.locHalfWindow = Math.round(0.1 * fs);
    this.reportBudget = Math.round(REPORT_BUDGET_S * fs);
  }

  /** Feeds samples (mV); returns the beats whose decision became final. */
  /** True while the ECG looks like ventricular flutter or fibrillation (the VF check below). */
  get ventricularFibrillation(): boolean {
    return this.inVf;
  }

  push(chunk: ArrayLike<number>): Beat[] {
    if (this.flushed) throw new Error('this detector was flushed at the end of its stream; make a new one for new samples');
    if (chunk.length) this.lastInput = chunk[chunk.length - 1];
    const out: Beat[] = [];
    for (let from = 0; from < chunk.length; from += BLOCK) this.block(chunk, from, Math.min(BLOCK, chunk.length - from), out);
    return out;
  }

  /**
   * End of stream (a recording's last sample): runs the filters out on the last sample held, so
   * that a QRS in the final few hundred milliseconds, still inside the filters' delay, is decided
   * too. Beats whose R peak lies within FLUSH_TAIL_S of the end are not reported. On mitdb this
   * finds the last beat of records 109, 115, 116 and 208, and nothing else. No input is taken after.
   */
  flush(): Beat[] {
    if (this.flushed) return [];
    const end = this.n;
    const out = this.push(new Float64Array(this.featureDelay + this.mwi.length + Math.round(0.05 * this.fs)).fill(this.lastInput));
    this.flushed = true;
    if (this.rising) {
      this.rising = false;
      this.onCandidate(this.candidateAt(this.peakFIndex, this.peakF), out);
    }
    const last = end - FLUSH_TAIL_S * this.fs;
    return out.filter((b) => b.sample < last);
  }

  /**
   * The filters are feed-forward, so each runs over the whole block in one typed-array loop
   * (no call per sample); only the decisions, which read the rings, go sample by sample.
   */
  private block(chunk: ArrayLike<number>, from: number, len: number, out: Beat[]): void {
    const xb = this.xBuf;
    for (let i = 0; i < len; i++) xb[i] = chunk[from + i];
    if (!this.primed) {
      const x = xb[0];
      this.locAvg.prime(x);
      this.locDelayLine.prime(x);
      this.primed = true;
    }
    // Detection branch: each band's |slope|, their geometric mean, and its integral.
    const lb = this.lBuf;
    const fb = this.fBuf;
    const sb = this.sBuf;
    const t = this.tBuf;
    const eb = this.eBuf;
    this.qrsBand.run(xb, lb, sb, len);
    this.edgeBand.run(xb, t, eb, len);
    this.edgeAlign.run(eb, t, len);
    for (let i = 0; i < len; i++) sb[i] = Math.sqrt(sb[i] * t[i]);
    this.mwi.run(sb, fb, len);
    // Localisation branch.
    const yb = this.yBuf;
    this.locLp.run(xb, xb, len);
    this.locAvg.run(xb, t, len);
    this.locDelayLine.run(xb, yb, len);
    for (let i = 0; i < len; i++) yb[i] -= t[i];
    // The VF check needs only the slow waves (of l).
    const vb = this.vBuf;
    this.vfFilter.run(lb, vb, len);
    this.decide(len, out);
  }

  /**
   * Decisions for the block's samples. The per-sample work (the rings, peak picking) runs on
   * locals; fields are written back before anything that reads them (a candidate, the VF check,
   * search-back), so the methods called from here see the same state as a per-sample loop.
   */
  private decide(len: number, out: Beat[]): void {
    const yb = this.yBuf;
    const sb = this.sBuf;
    const fb = this.fBuf;
    const vb = this.vBuf;
    const locRing = this.locRing;
    const slopeRing = this.slopeRing;
    const featureRing = this.featureRing;
    const ringLen = locRing.length;
    const vfRing = this.vfRing;
    const vfLen = vfRing.length;
    const vfDecimation = this.vfDecimation;
    let w = this.ringPos;
    let vfCountdown = this.vfCountdown;
    let vfPos = this.vfPos;
    let prevF = this.prevF;
    let rising = this.rising;
    let peakF = this.peakF;
    let peakFIndex = this.peakFIndex;
    for (let i = 0; i < len; i++) {
      const n = this.n++;
      locRing[w] = yb[i];
      slopeRing[w] = sb[i];
      const f = fb[i];
      featureRing[w] = f;
      w = w + 1 === ringLen ? 0 : w + 1;
      // The VF check keeps every vfDecimation-th sample.
      if (--vfCountdown === 0) {
        vfCountdown = vfDecimation;
        vfRing[vfPos] = vb[i];
        vfPos = vfPos + 1 === vfLen ? 0 : vfPos + 1;
      }
      // Peak picking on the feature: a local maximum confirmed once it has fallen to half.
      if (f > prevF) {
        if (!rising || f > peakF) {
          rising = true;
          peakF = f;
          peakFIndex = n;
        }
      } else if (rising && f < 0.5 * peakF) {
        rising = false;
        this.ringPos = w;
        this.onCandidate(this.candidateAt(peakFIndex, peakF), out);
      }
      prevF = f;
      if (n >= this.nextVfCheck) {
        this.vfPos = vfPos;
        this.checkVf(n, out);
      }
      if (this.learning) {
        if (n >= this.learnSamples) {
          this.ringPos = w;
          this.endLearning(out);
        }
      } else if (n > this.searchBackAt || n > this.lostCheckAt) {
        this.ringPos = w;
        if (n > this.searchBackAt) this.searchBack(n, out);
        if (n > this.lostCheckAt) this.adaptToLoss(n);
      }
    }
    this.ringPos = w;
    this.vfCountdown = vfCountdown;
    this.vfPos = vfPos;
    this.prevF = prevF;
    this.rising = rising;
    this.peakF = peakF;
    this.peakFIndex = peakFIndex;
  }

  private checkVf(n: number, out: Beat[]): void {
    this.nextVfCheck = n + Math.round(0.5 * this.fs);
    if (n < VF_WINDOW_S * this.fs) return;
    // Hysteresis: during flutter the 4-s leakage wanders up to 0.5-0.7 between bursts of
    // sinusoidal waves, so leaving VF takes a clearly QRS-like window: 4 s above VF_EXIT,
    // or the last 2 s above VF_EXIT_RECENT (which ends VF soon after complexes return).
    const whole = this.leakage(this.vfRing.length);
    const wasVf = this.inVf;
    this.inVf = this.inVf ? whole < VF_EXIT && this.leakage(Math.round(this.vfRing.length / 2)) < VF_EXIT_RECENT : whole < VF_LEAKAGE;
    if (!wasVf || this.inVf) return;
    const c = this.lastVfWave;
    this.lastVfWave = undefined;
    if (!c || n - c.fIndex >= VF_LAST_S * this.fs || c.fIndex - this.lastBeatF < this.refractory) return;
    if (c.height >= this.threshold && c.width <= LATE_LOOK_WIDE * this.recentWidth()) this.accept(c, out, true);
  }

  /**
   * Kuo & Dillman's VF-filter leakage over the last `len` decimated samples: near 0 for a sinusoid
   * (flutter, fibrillation), 0.6-0.9 for QRS complexes separated by an isoelectric line.
   */
  private leakage(len: number): number {
    const ring = this.vfRing;
    const size = ring.length;
    // The last `len` samples, oldest first, unwrapped so the loops below index directly.
    const w = this.vfLinear;
    const start = (this.vfPos + size - len) % size;
    const first = Math.min(len, size - start);
    w.set(ring.subarray(start, start + first), 0);
    if (first < len) w.set(ring.subarray(0, len - first), first);
    let sa = 0;
    let sd = 0;
    let prev = w[0];
    for (let k = 1; k < len; k++) {
      const v = w[k];
      sa += Math.abs(v);
      sd += Math.abs(v - prev);
      prev = v;
    }
    if (sd === 0) return 1;
    const half = Math.max(1, Math.round((Math.PI * sa) / sd));
    let num = 0;
    let den = 0;
    for (let k = half; k < len; k++) {
      const a = w[k];
      const b = w[k - half];
      num += Math.abs(a + b);
      den += Math.abs(a) + Math.abs(b);
    }
    return den === 0 ? 1 : num / den;
  }

  private candidateAt(fIndex: number, height: number): Candidate {
    const ring = this.slopeRing.length;
    const span = this.mwi.length;
    let slope = 0;
    let slopeAt = fIndex;
    for (let j = fIndex - span; j <= fIndex; j++) {
      if (j < 0 || j <= this.n - ring) continue;
      const v = this.slopeRing[j % ring];
      if (v > slope) {
        slope = v;
        slopeAt = j;
      }
    }
    // Back from the peak to where the hump rose through half its height; it fell through half just now.
    const oldest = Math.max(0, this.n - ring + 1);
    let start = fIndex;
    while (start > oldest && this.featureRing[start % ring] >= 0.5 * height) start--;
    return { fIndex, height, slope, slopeAt, width: this.n - start };
  }

  private endLearning(out: Beat[]): void {
    this.learning = false;
    const heights = this.learnCandidates.map((c) => c.height).sort((a, b) => b - a);
    const top = heights[0] ?? 0;
    // Initial levels from the learning window: the tallest third are taken for QRS complexes.
    const qrs = heights.filter((h) => h >= 0.3 * top);
    const noise = heights.filter((h) => h < 0.3 * top);
    for (const h of qrs.slice(0, HISTORY)) this.qrsPeaks.push(h);
    for (const h of noise.slice(0, HISTORY)) this.noisePeaks.push(h);
    this.updateThreshold();
    const pending = this.learnCandidates.splice(0);
    for (const c of pending) this.classify(c, out);
  }

  private onCandidate(c: Candidate, out: Beat[]): void {
    if (this.learning) {
      this.learnCandidates.push(c);
      return;
    }
    this.classify(c, out);
  }

  private classify(c: Candidate, out: Beat[]): void {
    const since = c.fIndex - this.lastBeatF;
    if (since < this.refractory) {
      // Much taller and steeper than the beat just taken: that one was a P wave (or noise)
      // and this is the QRS. Report this one too, and count the other as noise so the
      // threshold rises above such waves instead of locking onto them every cycle.
      if (c.height > OVERRIDE * this.lastBeatHeight && c.slope > OVERRIDE * this.lastBeatSlope && !this.inVf) {
        this.qrsPeaks.pop();
        this.addNoise(this.lastBeatHeight);
        this.accept(c, out);
        return;
      }
      this.addNoise(c.height);
      return;
    }
    if (this.inVf) {
      this.lastVfWave = c;
      this.addNoise(c.height);
      return;
    }
    if (c.height >= this.threshold) {
      if (since < this.tWave && c.slope < T_WAVE_SLOPE_RATIO * this.lastBeatSlope) {
        this.addNoise(c.height);
        return;
      }
      if (this.looksLikeArtefact(c)) {
        // Not counted as noise: a run of beats slightly wider than the last ones (mitdb 203 at
        // 1140 s) would raise the noise level to the QRS level and lock out those very beats.
        this.pendingNoise.push(c);
        return;
      }
      this.lookBackFrom(c, out);
      this.accept(c, out);
    } else {
      this.addNoise(c.height);
      this.pendingNoise.push(c);
    }
  }

  private looksLikeArtefact(c: Candidate): boolean {
    const width = this.recentWidth();
    if (c.width > VERY_WIDE_RATIO * width && c.height < VERY_WIDE_HEIGHT * this.threshold) return true;
    return this.noiseRatio > WIDE_NOISE && c.width > WIDE_RATIO * width && c.height < WIDE_HEIGHT * this.threshold;
  }

  /** Median feature width of the recent beats; Infinity until WIDTH_MIN_BEATS of them are known. */
  private recentWidth(): number {
    return this.widths.length >= WIDTH_MIN_BEATS ? median(this.widths) : Infinity;
  }

  /** The tallest candidate waiting since the last beat that `fits`. */
  private tallestPending(fits: (c: Candidate) => boolean): Candidate | undefined {
    let best: Candidate | undefined;
    for (const c of this.pendingNoise) if (fits(c) && (!best || c.height > best.height)) best = c;
    return best;
  }

  /**
   * With no beat for LOST_S, the QRS may have shrunk (electrode moved, lead re-attached):
   * lower the expected QRS level once per expected RR until beats are found again.
   */
  private scheduleSearchBack(): void {
    this.searchBackAt =
      this.rrHistory.length < 2 || this.lastBeatF === -Infinity ? Infinity : this.lastBeatF + SEARCHBACK_FACTOR * regularRr(this.rrHistory);
  }

  /**
   * Pan-Tompkins search-back: 1.66 RR without a beat means one was missed under the threshold;
   * take the largest candidate since the last beat above half the threshold. Such a beat is
   * reported late (flagged), which beats not reporting it: one missed beat corrupts two RR
   * intervals and every HRV window that holds them.
   */
  private searchBack(n: number, out: Beat[]): void {
    this.searchBackAt = Infinity;
    const rr = mean(this.rrHistory);
    const width = this.recentWidth();
    const best = this.tallestPending((c) => {
      const since = c.fIndex - this.lastBeatF;
      if (since < this.refractory || c.height < SB_MIN_HEIGHT * this.lastBeatHeight) return false;
      if (c.width >= SB_WIDE * width && since < SB_EARLY * rr) return false;
      return c.height >= 0.5 * this.threshold;
    });
    this.pendingNoise = [];
    if (best) this.accept(best, out, true);
    else this.searchBackAt = n + SB_REARM * regularRr(this.rrHistory);
  }

  /** The second look (see LATE_LOOK_FACTOR), made as `next` is about to be taken. */
  private lookBackFrom(next: Candidate, out: Beat[]): void {
    if (this.noiseRatio > WIDE_NOISE || this.rrHistory.length < 2) return;
    if (next.fIndex - this.lastBeatF < LATE_LOOK_FACTOR * regularRr(this.rrHistory)) return;
    const width = this.recentWidth();
    if (width === Infinity) return;
    const best = this.tallestPending(
      (c) =>
        c.fIndex - this.lastBeatF >= this.tWave &&
        next.fIndex - c.fIndex >= this.refractory &&
        c.height >= LATE_LOOK_HEIGHT * this.threshold &&
        c.width <= LATE_LOOK_WIDE * width,
    );
    if (best) this.accept(best, out, true);
  }

  private adaptToLoss(n: number): void {
    const rr = this.rrHistory.length ? mean(this.rrHistory) : this.fs;
    this.lostCheckAt = n + rr;
    // In flutter or fibrillation no beat is expected. Decaying there, once per RR through mitdb
    // 207's 98-s episode, left the QRS level 40 orders of magnitude under the noise level.
    if (n - this.lastBeatF < LOST_S * this.fs || this.inVf) return;
    for (let i = 0; i < this.qrsPeaks.length; i++) this.qrsPeaks[i] = this.qrsPeaks[i] * LOST_DECAY;
    this.updateThreshold();
  }

  private accept(c: Candidate, out: Beat[], late = false): void {
    if (this.lastBeatF !== -Infinity && c.fIndex - this.lastBeatF < 3 * this.fs) {
      this.rrHistory.push(c.fIndex - this.lastBeatF);
      if (this.rrHistory.length > HISTORY) this.rrHistory.shift();
    }
    this.lastBeatF = c.fIndex;
    if (!late) {
      this.widths.push(c.width);
      if (this.widths.length > HISTORY) this.widths.shift();
    }
    this.lastBeatSlope = c.slope;
    this.lastBeatHeight = c.height;
    this.qrsPeaks.push(c.height);
    if (this.qrsPeaks.length > HISTORY) this.qrsPeaks.shift();
    this.updateThreshold();
    this.lostCheckAt = c.fIndex + LOST_S * this.fs;
    this.pendingNoise = this.pendingNoise.filter((p) => p.fIndex > c.fIndex);
    this.scheduleSearchBack();
    const beat = this.locate(c);
    if (!beat) return;
    // Search-back finds beats late by design; a long noisy hump can delay confirmation too.
    out.push(late || this.n - beat.sample > this.reportBudget ? { ...beat, late: true } : beat);
  }

  private addNoise(h: number): void {
    this.noisePeaks.push(h);
    if (this.noisePeaks.length > HISTORY) this.noisePeaks.shift();
    this.updateThreshold();
  }

  private updateThreshold(): void {
    const q = this.qrsPeaks.length ? median(this.qrsPeaks) : 0;
    const nz = this.noisePeaks.length ? median(this.noisePeaks) : 0;
    this.noiseRatio = q > 0 ? nz / q : 0;
    const fraction = Math.min(MAX_FRACTION, THRESHOLD_FRACTION + NOISE_GAIN * Math.max(0, this.noiseRatio - NOISE_KNEE));
    this.threshold = nz + fraction * (q - nz);
  }

  /** Maps a feature-timeline candidate to the R peak on the input timeline. */
  private locate(c: Candidate): Beat | undefined {
    // Search around the steepest slope, not the integral's peak: a hump widened by noise can peak
    // well after its QRS, and a ±100 ms window around that peak then misses the R wave.
    const centre = c.slopeAt - this.qrsBand.delay + this.locDelay; // on the ring's (localisation) timeline
    const ring = this.locRing.length;
    const lo = Math.max(centre - this.locHalfWindow, this.n - ring + 1, 0);
    const hi = Math.min(centre + this.locHalfWindow, this.n - 1);
    let best = -1;
    let bestAbs = -1;
    for (let j = lo; j <= hi; j++) {
      const v = Math.abs(this.locRing[j % ring]);
      if (v > bestAbs) {
        bestAbs = v;
        best = j;
      }
    }
    if (best < 0) return undefined;
    const sample = best - this.locDelay;
    // A parabola through the peak and its neighbours places it between samples: at 130 Hz
    // (Polar H10) one sample is 7.7 ms, more than the whole timing budget for HRV.
    let frac = 0;
    if (best > lo && best < hi) {
      const a = Math.abs(this.locRing[(best - 1) % ring]);
      const c2 = Math.abs(this.locRing[(best + 1) % ring]);
      const den = a - 2 * bestAbs + c2;
      if (den < 0) frac = Math.max(-0.5, Math.min(0.5, (0.5 * (a - c2)) / den));
    }
    return { sample, timeS: (sample + frac) / this.fs, amplitude: this.locRing[best % ring] };
  }
}

/**
 * Pan & Tompkins' "RR average 2": the mean of the recent intervals within 92-116 % of their mean
 * (all of them when fewer than two are). Search-back waits for it, not the plain mean: a noise
 * hump taken for a beat mid-interval, or an ectopic pair, pulls the plain mean down and
 * search-back then fires early and picks another hump. On mitdb: FN 153 -> 151, FP 141 -> 131.
 */
function regularRr(a: readonly number[]): number {
  const m = mean(a);
  let sum = 0;
  let n = 0;
  for (const v of a) {
    if (v >= RR_REGULAR_LOW * m && v <= RR_REGULAR_HIGH * m) {
      sum += v;
      n++;
    }
  }
  return n >= 2 ? sum / n : m;
}

function mean(a: readonly number[]): number {
  let s = 0;
  for (const v of a) s += v;
  return a.length ? s / a.length : 0;
}

