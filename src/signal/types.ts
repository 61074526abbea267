/**
 * What the signal chain hands to the rest of the unit. Times are on the input's own sample
 * timeline (sample index / fs), so they stay correct whatever the wall clock does.
 */
import type { RhythmState } from './rhythm/types.js';

/** One detected heartbeat. */
export interface Beat {
  /** Sample index of the R peak on the input timeline (filter delay already removed). */
  readonly sample: number;
  /** The R peak in seconds from the start of the stream, interpolated between samples. */
  readonly timeS: number;
  /** Peak amplitude in the filtered signal, mV. */
  readonly amplitude: number;
  /**
   * Reported more than 300 ms after its R wave: found by search-back (a beat under the
   * threshold, recovered once 1.66 RR passed without one) or confirmed late in heavy noise.
   * Every other beat meets the 300 ms budget.
   */
  readonly late?: true;
}

export type RrLabel = 'normal' | 'ectopic' | 'missed' | 'extra' | 'long' | 'short';

/** One RR interval after artefact handling. */
export interface RrInterval {
  /** Time of the beat that ends the interval, s. */
  readonly timeS: number;
  readonly rrMs: number;
  readonly label: RrLabel;
  /** Interval used for HRV: the raw one when normal, a corrected one otherwise. */
  readonly correctedMs: number;
}

/** HRV and rate over a window ending at `endS`; a metric is null when it cannot be trusted. */
export interface HrvWindow {
  readonly endS: number;
  readonly windowS: number;
  readonly hrBpm: number | null;
  readonly rmssdMs: number | null;
  readonly sdnnMs: number | null;
  readonly pnn50: number | null;
  readonly lfMs2: number | null;
  readonly hfMs2: number | null;
  readonly lfHf: number | null;
  /** Share of intervals in the window that needed correction, 0..1. */
  readonly ectopicShare: number;
  /** Mean signal-quality index over the window, 0..1. */
  readonly quality: number;
}

/** Signal-quality index of one short window. */
export interface QualityWindow {
  readonly endS: number;
  /** 0 (unusable) .. 1 (clean). */
  readonly sqi: number;
  readonly leadOff: boolean;
  readonly flat: boolean;
  readonly clipped: boolean;
  readonly noisy: boolean;
  /**
   * The high-frequency noise check alone, 0 (noise) .. 1 (clean): unlike sqi it does not fall
   * in a window with no beat, so a pause (asystole) can be told from noise.
   */
  readonly noiseScore?: number;
}

/**
 * The features the chain publishes every decision period; inference builds its model input
 * from these plus the rider's calibration and ride context.
 */
export interface SignalFeatures {
  readonly endS: number;
  /** Heart rate over the last 10 s. */
  readonly hrBpm: number | null;
  /** Heart-rate slope over the last 60 s, bpm per minute. */
  readonly hrSlopeBpmPerMin: number | null;
  readonly rmssdMs: number | null;
  readonly sdnnMs: number | null;
  readonly pnn50: number | null;
  readonly lfHf: number | null;
  readonly quality: number;
  readonly ectopicShare: number;
  readonly leadOff: boolean;
  /** Seconds since the last beat was seen (sensor lost / asystole watch). */
  readonly secondsSinceBeat: number | null;
  /** Rhythm episodes going on now (AF, VT, VF, pause) and whether the signal can tell; absent from older chains. */
  readonly rhythm?: RhythmState;
}
