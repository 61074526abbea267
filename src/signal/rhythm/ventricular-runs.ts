/**
 * Runs of ventricular beats: three or more in a row at over 100 bpm is ventricular tachycardia,
 * non-sustained until the run has lasted `sustainedS` (the alarm), sustained after.
 *
 *   classified beats ─▶ run of V (count, first/last time, mean RR) ─▶ VT episode (open, sustained, closed)
 */
import type { BeatClass, RhythmEpisode } from './types.js';

/** Beats in a row that make a run (the clinical definition of NSVT). */
const MIN_BEATS = 3;
/** A run is tachycardia when its rate is over this. */
const MIN_RATE_BPM = 100;
/** Default run length after which VT counts as sustained: short enough to raise the alarm within 10 s of onset. */
export const SUSTAINED_VT_S = 8;

export class VentricularRuns {
  private first = 0;
  private last = 0;
  private count = 0;
  private detectedS = 0;
  private open = false;
  private sustained = false;

  constructor(private readonly sustainedS = SUSTAINED_VT_S) {}

  /** One classified beat; returns the episode when it opened, became sustained or closed. */
  push(timeS: number, cls: BeatClass): RhythmEpisode | undefined {
    if (cls !== 'V') return this.end();
    // Beats of a run are consecutive: a gap of more than 1.5 s (40 bpm) is no longer one run.
    if (this.count > 0 && timeS - this.last > 1.5) {
      const closed = this.end();
      this.begin(timeS);
      return closed;
    }
    if (this.count === 0) this.begin(timeS);
    else {
      this.last = timeS;
      this.count++;
    }
    if (this.count < MIN_BEATS) return undefined;
    const rate = this.rateBpm();
    if (!this.open) {
      if (rate <= MIN_RATE_BPM) return undefined;
      this.open = true;
      this.detectedS = timeS;
      return this.episode(false);
    }
    if (!this.sustained && this.last - this.first >= this.sustainedS) {
      this.sustained = true;
      return this.episode(false);
    }
    return undefined;
  }

  /** The signal stopped being judgeable, or the stream ended: a run cannot go on across it. */
  end(): RhythmEpisode | undefined {
    const ep = this.open ? this.episode(true) : undefined;
    this.count = 0;
    this.open = false;
    this.sustained = false;
    return ep;
  }

  current(): RhythmEpisode | undefined {
    return this.open ? this.episode(false) : undefined;
  }

  private begin(timeS: number): void {
    this.first = timeS;
    this.last = timeS;
    this.count = 1;
    this.open = false;
    this.sustained = false;
  }

  private rateBpm(): number {
    return this.count > 1 && this.last > this.first ? (60 * (this.count - 1)) / (this.last - this.first) : 0;
  }

  private episode(closed: boolean): RhythmEpisode {
    const rate = this.rateBpm();
    const confidence = Math.min(1, (this.count - MIN_BEATS + 1) / 5) * Math.min(1, (rate - MIN_RATE_BPM) / 40 + 0.5);
    return {
      type: 'VT',
      startS: this.first,
      endS: this.last,
      detectedS: this.detectedS,
      closed,
      confidence: Math.round(Math.max(0, confidence) * 1000) / 1000,
      sustained: this.sustained,
      evidence: { beats: this.count, rateBpm: Math.round(rate * 10) / 10 },
    };
  }
}
