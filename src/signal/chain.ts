/**
 * The whole streaming signal chain for one sensor, with no I/O: the daemon, the CLI and the
 * benchmarks all drive this one class.
 *
 *   raw mV ─▶ lead-off hold ─▶ RPeakDetector ─▶ beats ─▶ RrSeries ─▶ RR (labelled) ─▶ HRV
 *      │                                          │
 *      └──────────────────────▶ QualityIndex ◀────┘ (beat template)
 *   RR-only sensors enter at RrSeries through pushRr().
 */
import { RPeakDetector } from './detector.js';
import { computeHrv, recentHr, FREQ_DOMAIN_MIN_S, TIME_DOMAIN_MIN_S } from './hrv.js';
import { QualityIndex } from './quality.js';
import { RrSeries } from './rr.js';
import type { Beat, HrvWindow, QualityWindow, RrInterval, SignalFeatures } from './types.js';

export interface ChainOutput {
  beats: Beat[];
  rr: RrInterval[];
  quality: QualityWindow[];
}

export interface EcgChainOptions {
  /** Sampling rate of raw ECG; omit for an RR-only sensor. */
  fs?: number;
  /**
   * Multiplier applied to every sample: a technician's calibration (gain, and -1 for
   * electrodes that were swapped) so that R peaks point up at their true size.
   */
  scale?: number;
}

const HISTORY_S = 300;
/** A gap in the beats longer than this breaks the RR series (lead-off, sensor lost). */
const RR_BREAK_S = 3;

export class EcgChain {
  readonly fs: number | undefined;
  private readonly detector: RPeakDetector | undefined;
  private readonly qualityIndex: QualityIndex | undefined;
  private readonly rrSeries = new RrSeries();
  private readonly intervals: RrInterval[] = [];
  private readonly qualityHistory: QualityWindow[] = [];
  private samples = 0;
  private lastValid = 0;
  private lastBeatS: number | undefined;
  private nowS = 0;
  private leadOff = false;
  private rrContact: boolean | undefined;
  private readonly scale: number;

  constructor(options: EcgChainOptions = {}) {
    this.fs = options.fs;
    this.scale = options.scale ?? 1;
    if (!(Number.isFinite(this.scale) && this.scale !== 0)) throw new RangeError(`calibration scale must be a non-zero number, got ${this.scale}`);
    if (options.fs !== undefined) {
      this.detector = new RPeakDetector({ fs: options.fs });
      this.qualityIndex = new QualityIndex(options.fs);
    }
  }

  /** Raw ECG in mV; NaN marks samples the sensor flagged as lead-off. */
  push(mv: ArrayLike<number>): ChainOutput {
    const detector = this.detector;
    const qi = this.qualityIndex;
    if (!detector || !qi || this.fs === undefined) throw new Error('push() needs a chain built with a sampling rate; use pushRr() for RR-only sensors');
    // Hold the last good value through lead-off so the detector's filters do not ring or fill with NaN.
    let held: Float64Array | undefined;
    for (let i = 0; i < mv.length; i++) {
      const v = mv[i];
      if (!Number.isFinite(v)) {
        held ??= Float64Array.from(mv);
        held[i] = this.lastValid;
      } else this.lastValid = v;
    }
    const beats = detector.push(held ?? mv);
    const quality = qi.push(mv);
    this.samples += mv.length;
    this.nowS = this.samples / this.fs;
    const rr = this.takeBeats(beats, qi);
    for (const q of quality) {
      this.qualityHistory.push(q);
      this.leadOff = q.leadOff;
    }
    this.remember(rr);
    return { beats, rr, quality };
  }

  /**
   * End of stream (a recording ran out): the beats still inside the detector's filters, and the
   * RR intervals that were waiting for two more beats to be labelled. Nothing is pushed after.
   */
  flush(): ChainOutput {
    const beats = this.detector?.flush() ?? [];
    const rr = this.qualityIndex ? this.takeBeats(beats, this.qualityIndex) : [];
    rr.push(...this.rrSeries.flush());
    this.remember(rr);
    return { beats, rr, quality: [] };
  }

  private takeBeats(beats: readonly Beat[], qi: QualityIndex): RrInterval[] {
    const rr: RrInterval[] = [];
    for (const b of beats) {
      qi.addBeat(b.sample);
      if (this.lastBeatS !== undefined && b.timeS - this.lastBeatS > RR_BREAK_S) this.rrSeries.reset();
      this.lastBeatS = b.timeS;
      rr.push(...this.rrSeries.pushBeat(b.timeS));
    }
    return rr;
  }

  /** RR intervals from a beat-reporting sensor, ending at `timeS` on the sensor's timeline. */
  pushRr(rrMs: readonly number[], timeS: number, contact?: boolean): ChainOutput {
    const rr: RrInterval[] = [];
    let t = timeS - rrMs.slice(1).reduce((a, b) => a + b, 0) / 1000;
    for (let i = 0; i < rrMs.length; i++) {
      if (i > 0) t += rrMs[i] / 1000;
      const v = rrMs[i];
      // Zero or absurd values are what straps send with no skin contact; they are not intervals.
      if (!(v > 0) || !Number.isFinite(v)) continue;
      if (this.lastBeatS !== undefined && t - this.lastBeatS > RR_BREAK_S + v / 1000) this.rrSeries.reset();
      this.lastBeatS = t;
      rr.push(...this.rrSeries.pushInterval(t, v));
    }
    this.nowS = Math.max(this.nowS, timeS);
    if (contact !== undefined) this.rrContact = contact;
    this.leadOff = this.rrContact === false;
    this.remember(rr);
    return { beats: [], rr, quality: [] };
  }

  private remember(rr: readonly RrInterval[]): void {
    this.intervals.push(...rr);
    const cut = this.nowS - HISTORY_S;
    while (this.intervals.length && this.intervals[0].timeS < cut) this.intervals.shift();
    while (this.qualityHistory.length && this.qualityHistory[0].endS < cut) this.qualityHistory.shift();
  }

  /** Mean SQI over the last `seconds`; RR-only sensors rate 1 with contact, 0 without. */
  meanQuality(seconds: number): number {
    if (!this.qualityIndex) return this.rrContact === false ? 0 : this.intervals.length ? 1 : 0;
    let sum = 0;
    let n = 0;
    for (let i = this.qualityHistory.length - 1; i >= 0; i--) {
      const q = this.qualityHistory[i];
      if (q.endS <= this.nowS - seconds) break;
      sum += q.sqi;
      n++;
    }
    return n ? sum / n : 0;
  }

  hrv(windowS: number): HrvWindow {
    return computeHrv(this.intervals, this.nowS, windowS, this.meanQuality(windowS));
  }

  get timeS(): number {
    return this.nowS;
  }

  features(): SignalFeatures {
    const td = this.hrv(TIME_DOMAIN_MIN_S);
    const fd = this.hrv(FREQ_DOMAIN_MIN_S);
    return {
      endS: this.nowS,
      hrBpm: recentHr(this.intervals, this.nowS, 10),
      hrSlopeBpmPerMin: this.hrSlope(60),
      rmssdMs: td.rmssdMs,
      sdnnMs: td.sdnnMs,
      pnn50: td.pnn50,
      lfHf: fd.lfHf,
      quality: this.meanQuality(10),
      ectopicShare: td.ectopicShare,
      leadOff: this.leadOff,
      secondsSinceBeat: this.lastBeatS === undefined ? null : Math.max(0, this.nowS - this.lastBeatS),
    };
  }

  /** Least-squares slope of instantaneous heart rate over the last `seconds`, bpm per minute. */
  private hrSlope(seconds: number): number | null {
    const pts = this.intervals.filter((r) => r.timeS > this.nowS - seconds);
    if (pts.length < 10 || pts[pts.length - 1].timeS - pts[0].timeS < seconds / 2) return null;
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let sxy = 0;
    for (const p of pts) {
      const y = 60_000 / p.correctedMs;
      sx += p.timeS;
      sy += y;
      sxx += p.timeS * p.timeS;
      sxy += p.timeS * y;
    }
    const n = pts.length;
    const den = n * sxx - sx * sx;
    return den === 0 ? null : ((n * sxy - sx * sy) / den) * 60;
  }
}
