/**
 * Rhythm episodes and beat classes, as the chain reports them. Times are on the input's own
 * timeline (seconds from the start of the stream); the CLI turns them into sample numbers.
 */

export type RhythmType = 'AF' | 'VT' | 'VF' | 'pause';

/** AAMI beat classes the classifier tells apart: N (normal and bundle-branch), V (ventricular), S (supraventricular). */
export type BeatClass = 'N' | 'V' | 'S';

export interface RhythmEpisode {
  readonly type: RhythmType;
  /** First beat (or last beat before the pause) of the episode, s. */
  readonly startS: number;
  /** Last beat of the episode (or the beat that ended the pause), s; grows while the episode is open. */
  readonly endS: number;
  /** When the chain first reported the episode (its detection delay is detectedS - the true onset), s. */
  readonly detectedS: number;
  /** False while the episode is still going on. */
  readonly closed: boolean;
  /** 0..1: how far past its decision threshold the evidence went. */
  readonly confidence: number;
  /** VT only: 30 s or more, or haemodynamically relevant rate held (the alarm); otherwise non-sustained (a record). */
  readonly sustained?: boolean;
  /** What the decision rested on, for the record and a technician. */
  readonly evidence: RhythmEvidence;
}

export interface RhythmEvidence {
  /** AF: the smoothed RR irregularity at its peak (normalised, see af.ts). */
  readonly irregularity?: number;
  /** Beats inside the episode. */
  readonly beats?: number;
  /** VT: mean rate of the run, bpm. */
  readonly rateBpm?: number;
  /** Pause: its length, s. */
  readonly pauseS?: number;
}

/** What the chain says about the rhythm now (SignalFeatures.rhythm). */
export interface RhythmState {
  /** Episodes going on now. */
  readonly open: RhythmEpisode[];
  /** Episodes that closed in the last 10 s (a pause or a run that came and went between decisions). */
  readonly recent: RhythmEpisode[];
  /** False while the signal cannot tell a rhythm (noise, lead-off): no rhythm alarm may be raised on it. */
  readonly judgeable: boolean;
  /** False while noise or lead-off hide the ECG, whatever the beats look like (wide VT beats fail the template match, not this). */
  readonly quiet?: boolean;
}
