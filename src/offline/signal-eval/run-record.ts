/**
 * Streams one recorded signal through the chain in fixed chunks, exactly as a live source
 * would deliver it, and collects everything the chain reports.
 */
import { EcgChain, type ChainOutput } from '../../signal/chain.js';
import type { ClassifiedBeat } from '../../signal/rhythm/beat-class.js';
import type { RhythmEpisode } from '../../signal/rhythm/types.js';
import type { Beat, HrvWindow, QualityWindow, RrInterval } from '../../signal/types.js';

export interface ChainRun {
  fs: number;
  beats: Beat[];
  rr: RrInterval[];
  quality: QualityWindow[];
  /** HRV every `hrvEveryS` seconds over the trailing `hrvWindowS`. */
  hrv: HrvWindow[];
  /** Largest delay between a beat's R peak and the chunk end at which it was reported, s (search-back beats aside). */
  maxReportDelayS: number;
  /** Beats recovered by search-back, reported late by design. */
  lateBeats: number;
  /** Rhythm episodes as finally closed, in the order they closed. */
  rhythm: RhythmEpisode[];
  /** Class of every beat (same order as beats). */
  beatClasses: ClassifiedBeat[];
}

export interface RunOptions {
  chunk?: number;
  hrvEveryS?: number;
  hrvWindowS?: number;
}

export function runChain(mv: Float64Array, fs: number, options: RunOptions = {}): ChainRun {
  const chain = new EcgChain({ fs });
  const chunk = options.chunk ?? Math.max(1, Math.round(fs / 8));
  const every = options.hrvEveryS ?? 0;
  const windowS = options.hrvWindowS ?? 120;
  const beats: Beat[] = [];
  const rr: RrInterval[] = [];
  const quality: QualityWindow[] = [];
  const hrv: HrvWindow[] = [];
  const rhythm: RhythmEpisode[] = [];
  const beatClasses: ClassifiedBeat[] = [];
  let nextHrv = every > 0 ? every : Infinity;
  let maxDelay = 0;
  let late = 0;
  // Everything the chain reported at input sample `end`.
  const collect = (out: ChainOutput, end: number): void => {
    for (const b of out.beats) {
      beats.push(b);
      const d = end / fs - b.timeS;
      if (b.late) late++;
      else if (b.timeS > 3 && d > maxDelay) maxDelay = d;
    }
    for (const r of out.rr) rr.push(r);
    for (const q of out.quality) quality.push(q);
    for (const e of out.rhythm) if (e.closed) rhythm.push(e);
    for (const c of out.beatClasses) beatClasses.push(c);
  };
  for (let i = 0; i < mv.length; i += chunk) {
    const end = Math.min(mv.length, i + chunk);
    collect(chain.push(mv.subarray(i, end)), end);
    if (end / fs >= nextHrv) {
      hrv.push(chain.hrv(windowS));
      nextHrv += every;
    }
  }
  // The record ends here: its last beats are still inside the detector's filters.
  collect(chain.flush(), mv.length);
  return { fs, beats, rr, quality, hrv, maxReportDelayS: maxDelay, lateBeats: late, rhythm, beatClasses };
}

export interface RrRun {
  rr: RrInterval[];
  rhythm: RhythmEpisode[];
}

/**
 * Beat times (s) from a beat-reporting sensor, or a record's beat annotations, through the
 * chain's RR-only entry, one interval per call as a strap's notifications deliver them.
 */
export function runRr(beatTimesS: readonly number[]): RrRun {
  const chain = new EcgChain();
  const rr: RrInterval[] = [];
  const rhythm: RhythmEpisode[] = [];
  const collect = (out: ChainOutput): void => {
    for (const r of out.rr) rr.push(r);
    for (const e of out.rhythm) if (e.closed) rhythm.push(e);
  };
  for (let i = 1; i < beatTimesS.length; i++) collect(chain.pushRr([(beatTimesS[i] - beatTimesS[i - 1]) * 1000], beatTimesS[i], true));
  collect(chain.flush());
  return { rr, rhythm };
}
