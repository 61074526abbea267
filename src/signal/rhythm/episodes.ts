/**
 * The rhythm monitor: one per sensor, driven by the chain. It owns the episode detectors and
 * says which episodes are going on now.
 *
 *   classified beat (ECG) ──┬─▶ AfDetector (RR; ventricular beats out) ─┐
 *   RR interval (strap) ────┤                                          │
 *                           ├─▶ VentricularRuns (V beats) ─────────────┼─▶ episode events, open episodes
 *                           └─▶ PauseWatch (beats, clock, quality) ────┤
 *   detector's VF state ───────────────────────────────────────────────┘
 *
 * Beats that arrive while the signal cannot be judged (noise, lead-off) feed nothing but the
 * pause clock: the AF window skips them and a ventricular run ends at them.
 */
import { AfDetector, type AfOptions } from './af.js';
import { DEFAULT_PAUSE_S, PauseWatch } from './pause.js';
import type { BeatClass, RhythmEpisode, RhythmState } from './types.js';
import { SUSTAINED_VT_S, VentricularRuns } from './ventricular-runs.js';

export interface RhythmOptions {
  /** No beat for longer than this (s) with good signal is a pause. */
  readonly pauseS?: number;
  /** A ventricular run this long (s) is sustained VT. */
  readonly sustainedVtS?: number;
  readonly af?: AfOptions;
}

/**
 * The detector's VF check decides on 4-s windows and leaves VF 2-4 s after complexes return:
 * an episode is dated back by half of that on both ends.
 */
const VF_LAG_S = 2;
/** VF shorter than this is a burst of artefact more often than fibrillation. */
const VF_MIN_S = 2;
/**
 * Closed episodes stay in the state this long: a pause or a VT run can open and close between two
 * decisions of the unit (one every few seconds), and it must still reach the safety rules.
 */
const RECENT_S = 10;
const RECENT_MAX = 16;

export class RhythmMonitor {
  private readonly af: AfDetector;
  private readonly runs: VentricularRuns;
  private readonly pause: PauseWatch;
  private lastBeatS: number | undefined;
  private vf: { startS: number; detectedS: number } | undefined;
  private judgeable = true;
  private quiet = true;
  private nowS = 0;
  private readonly recent: RhythmEpisode[] = [];

  constructor(options: RhythmOptions = {}) {
    this.af = new AfDetector(options.af);
    this.runs = new VentricularRuns(options.sustainedVtS ?? SUSTAINED_VT_S);
    this.pause = new PauseWatch(options.pauseS ?? DEFAULT_PAUSE_S);
  }

  /**
   * A beat from the ECG with its class; `judged` when the signal around it was good, `quiet` when
   * it was free of noise and contact trouble whatever the beats looked like. Ventricular runs
   * need only `quiet`: a run of wide beats is exactly what makes the quality index's template
   * match fail, so gating VT on it hid every run of mitdb 205.
   */
  beat(timeS: number, cls: BeatClass, judged: boolean, out: RhythmEpisode[], quiet = judged): void {
    const prev = this.lastBeatS;
    this.lastBeatS = timeS;
    this.add(out, this.pause.beat(timeS, undefined, judged));
    this.add(out, quiet ? this.runs.push(timeS, cls) : this.runs.end());
    if (!judged) {
      this.af.skip();
      return;
    }
    if (prev !== undefined) this.add(out, this.af.push(timeS, (timeS - prev) * 1000, cls === 'V'));
  }

  /** An RR interval from a beat-reporting sensor, ending at `timeS`. */
  interval(timeS: number, rrMs: number, judged: boolean, out: RhythmEpisode[]): void {
    this.lastBeatS = timeS;
    this.add(out, this.pause.beat(timeS, judged ? rrMs : undefined));
    if (judged) this.add(out, this.af.push(timeS, rrMs));
    else this.af.skip();
  }

  /**
   * The clock: everything before `knownS` has been searched for beats. `judgeable`: the signal can
   * tell a rhythm; `quiet`: no lead-off and no noise, beats or not (what a pause needs).
   */
  tick(knownS: number, judgeable: boolean, quiet: boolean, out: RhythmEpisode[]): void {
    this.nowS = knownS;
    this.judgeable = judgeable;
    this.quiet = quiet;
    this.add(out, this.pause.tick(knownS, quiet));
  }

  /** The detector's VF state at `timeS`. */
  vfState(inVf: boolean, timeS: number, out: RhythmEpisode[]): void {
    // In flutter the detector counts no beats by design: that silence is VF, not a pause.
    if (inVf) this.pause.tick(timeS, false);
    if (inVf && !this.vf) this.vf = { startS: Math.max(0, timeS - VF_LAG_S), detectedS: timeS };
    else if (!inVf && this.vf) {
      const v = this.vf;
      this.vf = undefined;
      const endS = Math.max(v.startS, timeS - VF_LAG_S);
      if (endS - v.startS >= VF_MIN_S) this.add(out, vfEpisode(v.startS, endS, v.detectedS, true));
    }
  }

  /** A break in the stream (sensor lost, lead-off gap): nothing runs across it. */
  gap(out: RhythmEpisode[]): void {
    this.add(out, this.runs.end());
    this.add(out, this.af.reset());
    this.pause.reset();
    this.lastBeatS = undefined;
  }

  /** End of stream: every open episode closed. */
  flush(out: RhythmEpisode[]): void {
    this.add(out, this.runs.end());
    this.add(out, this.af.flush());
    if (this.vf) this.vfState(false, this.nowS + VF_LAG_S, out);
  }

  state(): RhythmState {
    const open: RhythmEpisode[] = [];
    const put = (e: RhythmEpisode | undefined): void => {
      if (e) open.push(e);
    };
    put(this.af.current());
    put(this.runs.current());
    put(this.pause.current(this.nowS));
    if (this.vf && this.nowS - this.vf.startS >= VF_MIN_S) open.push(vfEpisode(this.vf.startS, this.nowS, this.vf.detectedS, false));
    while (this.recent.length > 0 && this.recent[0].endS < this.nowS - RECENT_S) this.recent.shift();
    return { open, recent: [...this.recent], judgeable: this.judgeable, quiet: this.quiet };
  }

  /** Every event goes out through here; closed episodes are kept RECENT_S for the next decision. */
  private add(out: RhythmEpisode[], ep: RhythmEpisode | undefined): void {
    if (!ep) return;
    out.push(ep);
    if (ep.closed) {
      this.recent.push(ep);
      if (this.recent.length > RECENT_MAX) this.recent.shift();
    }
  }
}

function vfEpisode(startS: number, endS: number, detectedS: number, closed: boolean): RhythmEpisode {
  return { type: 'VF', startS, endS, detectedS, closed, confidence: 1, evidence: {} };
}

