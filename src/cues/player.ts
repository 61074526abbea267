/**
 * Feeds one prompt to a CueOutput a little ahead of real time, so that stopping (a safety
 * alert cutting in) takes effect within `leadMs` plus the device buffer, never after the
 * whole prompt.
 *
 *   t0: write ceil(lead / period) periods ─▶ every period: top up to (elapsed + lead) ─▶ last period
 *        └ startMonoMs = when the first write is taken            endMonoMs = start + duration ┘
 *   abort: no more writes; endMonoMs = now
 */
import { errorMessage } from '../util/errors.js';
import { sleep } from '../sources/backoff.js';
import { padToPeriods, pcmBytes } from './pcm.js';
import { CUE_RATE_HZ, type CueOutput } from './types.js';

export interface PlayResult {
  /** First frame taken by the output, monotonic ms; undefined when nothing was taken. */
  readonly startMonoMs?: number;
  readonly endMonoMs: number;
  readonly completed: boolean;
  /** The output failed (its error), as opposed to an abort. */
  readonly failed?: string;
  /** Frames handed over, padding included. */
  readonly frames: number;
}

export interface PlayerOptions {
  leadMs: number;
  monoMs: () => number;
}

export class CuePlayer {
  constructor(
    private readonly output: CueOutput,
    private readonly o: PlayerOptions,
  ) {}

  async play(pcm: Int16Array, signal: AbortSignal): Promise<PlayResult> {
    const period = this.output.periodFrames;
    const padded = padToPeriods(pcm, period);
    const periods = padded.length / period;
    const periodMs = (period * 1000) / CUE_RATE_HZ;
    const leadPeriods = Math.max(1, Math.ceil(this.o.leadMs / periodMs));
    const durationMs = (padded.length * 1000) / CUE_RATE_HZ;
    let sent = 0;
    let startMonoMs: number | undefined;
    let t0 = 0;
    const writeUpTo = async (n: number): Promise<void> => {
      const to = Math.min(periods, n);
      if (to <= sent) return;
      const chunk = pcmBytes(padded.subarray(sent * period, to * period));
      const first = sent === 0;
      sent = to;
      if (first) {
        // The moment the device's process has the first frame: the latency's end point.
        const p = this.output.write(chunk);
        startMonoMs = this.o.monoMs();
        t0 = performance.now();
        await p;
      } else {
        await this.output.write(chunk);
      }
    };
    try {
      await writeUpTo(leadPeriods);
      while (sent < periods) {
        if (signal.aborted) return { startMonoMs, endMonoMs: this.o.monoMs(), completed: false, frames: sent * period };
        const elapsed = performance.now() - t0;
        const due = Math.ceil((elapsed + this.o.leadMs) / periodMs);
        if (due > sent) await writeUpTo(due);
        else await sleep(Math.max(1, sent * periodMs - this.o.leadMs - elapsed), signal);
      }
      // Everything is handed over; the rider hears the rest over the next `lead` ms.
      const left = durationMs - (performance.now() - t0);
      if (left > 0) await sleep(left, signal);
      const end = this.o.monoMs();
      if (signal.aborted) return { startMonoMs, endMonoMs: end, completed: false, frames: sent * period };
      return { startMonoMs, endMonoMs: Math.max(end, (startMonoMs ?? end) + durationMs), completed: true, frames: sent * period };
    } catch (e) {
      return { startMonoMs, endMonoMs: this.o.monoMs(), completed: false, failed: errorMessage(e), frames: sent * period };
    }
  }
}
