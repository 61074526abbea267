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

export class RhythmMonitor {
  private readonly af: AfDetector;
  private readonly runs: VentricularRuns;
  private readonly pause: PauseWatch;
  private lastBeatS: number | undefined;
  private vf: { startS: number; detectedS: number } | undefined;
  private judgeable = true;
  private nowS = 0;

  constructor(options: RhythmOptions = {}) {
    this.af = new AfDetector(options.af);
    this.runs = new VentricularRuns(options.sustainedVtS ?? SUSTAINED_VT_S);
    this.pause = new PauseWatch(options.pauseS ?? DEFAULT_PAUSE_S);
  }

  /** A beat from the ECG with its class; `judged` when the signal around it was good. */
  beat(timeS: number, cls: BeatClass, judged: boolean, out: RhythmEpisode[]): void {
    const prev = this.lastBeatS;
    this.lastBeatS = timeS;
    add(out, this.pause.beat(timeS));
    if (!judged) {
      add(out, this.runs.end());
      this.af.skip();
      return;
    }
    add(out, this.runs.push(timeS, cls));
    if (prev !== undefined) add(out, this.af.push(timeS, (timeS - prev) * 1000, cls === 'V'));
  }

  /** An RR interval from a beat-reporting sensor, ending at `timeS`. */
  interval(timeS: number, rrMs: number, judged: boolean, out: RhythmEpisode[]): void {
    this.lastBeatS = timeS;
    add(out, this.pause.beat(timeS, judged ? rrMs : undefined));
    if (judged) add(out, this.af.push(timeS, rrMs));
    else this.af.skip();
  }

  /** The clock: everything before `knownS` has been searched for beats; `good` is the signal's state. */
  tick(knownS: number, good: boolean, out: RhythmEpisode[]): void {
    this.nowS = knownS;
    this.judgeable = good;
    add(out, this.pause.tick(knownS, good));
  }

  /** The detector's VF state at `timeS`. */
  vfState(inVf: boolean, timeS: number, out: RhythmEpisode[]): void {
    if (inVf && !this.vf) this.vf = { startS: Math.max(0, timeS - VF_LAG_S), detectedS: timeS };
    else if (!inVf && this.vf) {
      const v = this.vf;
      this.vf = undefined;
      const endS = Math.max(v.startS, timeS - VF_LAG_S);
      if (endS - v.startS >= VF_MIN_S) out.push(vfEpisode(v.startS, endS, v.detectedS, true));
    }
  }

  /** A break in the stream (sensor lost, lead-off gap): nothing runs across it. */
  gap(out: RhythmEpisode[]): void {
    add(out, this.runs.end());
    add(out, this.af.reset());
    this.pause.reset();
    this.lastBeatS = undefined;
  }

  /** End of stream: every open episode closed. */
  flush(out: RhythmEpisode[]): void {
    add(out, this.runs.end());
    add(out, this.af.flush());
    if (this.vf) this.vfState(false, this.nowS + VF_LAG_S, out);
  }

  state(): RhythmState {
    const open: RhythmEpisode[] = [];
    add(open, this.af.current());
    add(open, this.runs.current());
    add(open, this.pause.current(this.nowS));
    if (this.vf && this.nowS - this.vf.startS >= VF_MIN_S) open.push(vfEpisode(this.vf.startS, this.nowS, this.vf.detectedS, false));
    return { open, judgeable: this.judgeable };
  }
}

function vfEpisode(startS: number, endS: number, detectedS: number, closed: boolean): RhythmEpisode {
  return { type: 'VF', startS, endS, detectedS, closed, confidence: 1, evidence: {} };
}

function add(out: RhythmEpisode[], ep: RhythmEpisode | undefined): void {
  if (ep) out.push(ep);
}
