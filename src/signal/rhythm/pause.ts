/**
 * Pauses: no beat for longer than `pauseS` (default 3 s) while the signal was good the whole
 * time, so a lead-off or a burst of noise that hid the beats is never called a pause.
 *
 *   beat times ─┐
 *   clock, signal good? ─▶ open pause (last beat + pauseS passed, all good) ─▶ closed at the next beat
 */
import type { RhythmEpisode } from './types.js';

export const DEFAULT_PAUSE_S = 3;

export class PauseWatch {
  private lastBeatS: number | undefined;
  private goodSinceBeat = true;
  private open: { startS: number; detectedS: number } | undefined;

  constructor(private readonly pauseS = DEFAULT_PAUSE_S) {}

  /** A beat (or the end of an RR interval). Closes an open pause, or reports one an RR strap measured. */
  beat(timeS: number, rrMs?: number, judged = true): RhythmEpisode | undefined {
    let ep: RhythmEpisode | undefined;
    const o = this.open;
    // Without an open pause the interval is measured at the beat: the clock may not have passed
    // pauseS before the beat that ends the pause came in (decisions are seconds apart).
    const len = rrMs !== undefined ? rrMs / 1000 : this.lastBeatS !== undefined ? timeS - this.lastBeatS : 0;
    // The beat before a pause must have come on a signal that could be judged: in noise the
    // detector loses beats for seconds while the noise itself looks quiet to the HF check. (The
    // window holding the pause reads noisy for want of a beat, so the beat ending it cannot be held to that.)
    if (o) ep = this.episode(o.startS, timeS, o.detectedS, true);
    else if (len > this.pauseS && this.goodSinceBeat) ep = this.episode(timeS - len, timeS, timeS, true);
    this.open = undefined;
    this.lastBeatS = timeS;
    this.goodSinceBeat = judged;
    return ep;
  }

  /**
   * The stream reached `knownS` (everything before it has been searched for beats) and the
   * signal over the last stretch was `good` or not. Returns the pause when it opens.
   */
  tick(knownS: number, good: boolean): RhythmEpisode | undefined {
    if (!good) {
      this.goodSinceBeat = false;
      // Bad signal in the middle of a pause: it can no longer be told from a hidden beat.
      this.open = undefined;
      return undefined;
    }
    const last = this.lastBeatS;
    if (this.open || last === undefined || !this.goodSinceBeat || knownS - last <= this.pauseS) return undefined;
    this.open = { startS: last, detectedS: knownS };
    return this.episode(last, knownS, knownS, false);
  }

  current(nowS: number): RhythmEpisode | undefined {
    return this.open ? this.episode(this.open.startS, nowS, this.open.detectedS, false) : undefined;
  }

  /** A gap the chain broke the series at (sensor lost): no pause spans it. */
  reset(): void {
    this.open = undefined;
    this.lastBeatS = undefined;
  }

  private episode(startS: number, endS: number, detectedS: number, closed: boolean): RhythmEpisode {
    const len = endS - startS;
    return { type: 'pause', startS, endS, detectedS, closed, confidence: Math.round(Math.min(1, len / (2 * this.pauseS)) * 1000) / 1000, evidence: { pauseS: Math.round(len * 1000) / 1000 } };
  }
}
