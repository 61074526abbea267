/**
 * The whole streaming signal chain for one sensor, with no I/O: the daemon, the CLI and the
 * benchmarks all drive this one class.
 *
 *   raw mV ─▶ lead-off hold ─▶ RPeakDetector ─▶ beats ─▶ RrSeries ─▶ RR (labelled) ─▶ HRV
 *      │                                          │
 *      └──────────────────────▶ QualityIndex ◀────┘ (beat template)
 *   RR-only sensors enter at RrSeries through pushRr().
 *
 *   raw + beats ─▶ BeatClassifier (N/V/S) ─▶ RhythmMonitor ◀── detector's VF state, quality
 *   RR (pushRr) ─────────────────────────────▶ RhythmMonitor ─▶ rhythm episodes (AF, VT, VF, pause)
 */
import { RPeakDetector } from './detector.js';
import { computeHrv, recentHr, FREQ_DOMAIN_MIN_S, TIME_DOMAIN_MIN_S } from './hrv.js';
import { QualityIndex } from './quality.js';
import { RrSeries } from './rr.js';
import { BeatClassifier, type ClassifiedBeat } from './rhythm/beat-class.js';
import { RhythmMonitor, type RhythmOptions } from './rhythm/episodes.js';
import type { RhythmEpisode } from './rhythm/types.js';
import type { Beat, HrvWindow, QualityWindow, RrInterval, SignalFeatures } from './types.js';

export interface ChainOutput {
  beats: Beat[];
  rr: RrInterval[];
  quality: QualityWindow[];
  /** Rhythm episodes that opened, became sustained or closed in this push (closed: true is final). */
  rhythm: RhythmEpisode[];
  /** Classes of beats whose complex is complete (a beat or two after the beat itself). */
  beatClasses: ClassifiedBeat[];
}

export interface EcgChainOptions {
  /** Sampling rate of raw ECG; omit for an RR-only sensor. */
  fs?: number;
  /**
   * Multiplier applied to every sample: a technician's calibration (gain, and -1 for
   * electrodes that were swapped) so that R peaks point up at their true size.
   */
  scale?: number;
  /** Rhythm analysis settings (pause length, sustained-VT length). */
  rhythm?: RhythmOptions;
}

/**
 * Beats reach the rhythm monitor up to this long after their R peak (the detector's 300-ms budget
 * plus the classifier waiting for the end of the complex): a pause is timed up to here only.
 */
const RHYTHM_KNOWN_LAG_S = 0.6;
/** HF noise score at or above which a window without beats still counts as a pause, not noise. */
const PAUSE_NOISE_SCORE = 0.5;
/**
 * HF noise score at or above which a run of ventricular beats is judged. A run of wide beats
 * fails the quality index's template match by its nature, so VT cannot be gated on the index as
 * AF is; without that check the noise gate must be stricter than a pause's: at 0.5, noise alone
 * (nstdb ma, 118 at 0 dB and below) made 41 runs in 4 h; at 0.95, 3 short ones and no sustained.
 */
const RUN_NOISE_SCORE = 0.95;

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
  private readonly classifier: BeatClassifier | undefined;
  private readonly rhythmMonitor: RhythmMonitor;
  /** The latest quality window says the rhythm can be judged (not lead-off, not noise). */
  private signalGood = true;
  /** The latest window is free of lead-off and noise, whether or not it held a beat (pauses). */
  private pauseGood = true;
  /** The latest window is clean enough to judge a run of ventricular beats (RUN_NOISE_SCORE). */
  private runGood = true;

  constructor(options: EcgChainOptions = {}) {
    this.fs = options.fs;
    this.scale = options.scale ?? 1;
    if (!(Number.isFinite(this.scale) && this.scale !== 0)) throw new RangeError(`calibration scale must be a non-zero number, got ${this.scale}`);
    if (options.fs !== undefined) {
      this.detector = new RPeakDetector({ fs: options.fs });
      this.qualityIndex = new QualityIndex(options.fs);
      this.classifier = new BeatClassifier(options.fs);
    }
    this.rhythmMonitor = new RhythmMonitor(options.rhythm);
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
      this.signalGood = !q.leadOff && !q.noisy;
      this.pauseGood = !q.leadOff && !q.clipped && (q.noiseScore ?? q.sqi) >= PAUSE_NOISE_SCORE;
      this.runGood = !q.leadOff && !q.clipped && (q.noiseScore ?? q.sqi) >= RUN_NOISE_SCORE;
    }
    this.remember(rr);
    const rhythm: RhythmEpisode[] = [];
    const beatClasses = this.rhythmOf(held ?? mv, beats, false, rhythm);
    return { beats, rr, quality, rhythm, beatClasses };
  }

  /** Classifies the beats once their complexes are in and feeds the rhythm monitor. */
  private rhythmOf(samples: ArrayLike<number> | undefined, beats: readonly Beat[], end: boolean, rhythm: RhythmEpisode[]): ClassifiedBeat[] {
    const c = this.classifier!;
    if (samples) c.pushSamples(samples);
    for (const b of beats) c.addBeat(b);
    const classes = c.take(end);
    const m = this.rhythmMonitor;
    for (const b of classes) m.beat(b.timeS, b.cls, this.signalGood, rhythm, this.runGood);
    m.vfState(this.detector!.ventricularFibrillation, this.nowS, rhythm);
    if (end) m.flush(rhythm);
    else m.tick(this.nowS - RHYTHM_KNOWN_LAG_S, this.signalGood, this.pauseGood, rhythm);
    return classes;
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
    const rhythm: RhythmEpisode[] = [];
    let beatClasses: ClassifiedBeat[] = [];
    if (this.classifier) beatClasses = this.rhythmOf(undefined, beats, true, rhythm);
    else this.rhythmMonitor.flush(rhythm);
    return { beats, rr, quality: [], rhythm, beatClasses };
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
    const rhythm: RhythmEpisode[] = [];
    if (contact !== undefined) this.rrContact = contact;
    const judged = this.rrContact !== false;
    let t = timeS - rrMs.slice(1).reduce((a, b) => a + b, 0) / 1000;
    for (let i = 0; i < rrMs.length; i++) {
      if (i > 0) t += rrMs[i] / 1000;
      const v = rrMs[i];
      // Zero or absurd values are what straps send with no skin contact; they are not intervals.
      if (!(v > 0) || !Number.isFinite(v)) continue;
      if (this.lastBeatS !== undefined && t - this.lastBeatS > RR_BREAK_S + v / 1000) {
        this.rrSeries.reset();
        this.rhythmMonitor.gap(rhythm);
      }
      this.lastBeatS = t;
      rr.push(...this.rrSeries.pushInterval(t, v));
      this.rhythmMonitor.interval(t, v, judged, rhythm);
    }
    this.nowS = Math.max(this.nowS, timeS);
    this.leadOff = this.rrContact === false;
    this.rhythmMonitor.tick(this.nowS, judged, judged, rhythm);
    this.remember(rr);
    return { beats: [], rr, quality: [], rhythm, beatClasses: [] };
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
      rhythm: this.rhythmMonitor.state(),
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
