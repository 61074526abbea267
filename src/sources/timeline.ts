/**
 * Turns sample chunks (which may skip ahead over lost samples) into one gap-free stream for
 * the signal chain: lost samples become NaN, which the chain treats as lead-off, so beat times
 * stay on the sensor's own timeline.
 */
import type { SampleChunk } from './types.js';

/** Longest gap filled with NaN; beyond it the caller should restart its chain. */
export const MAX_FILL_SAMPLES = 60 * 1000;

export class ChunkAligner {
  private next: number | undefined;

  /** Samples to append, starting at the stream index `this.position - result.length`. */
  push(c: SampleChunk): Float64Array {
    const next = this.next ?? c.start;
    if (c.start + c.mv.length <= next) return new Float64Array(0);
    if (c.start >= next) {
      const gap = Math.min(c.start - next, MAX_FILL_SAMPLES);
      this.next = c.start + c.mv.length;
      if (gap === 0) return c.mv;
      const out = new Float64Array(gap + c.mv.length).fill(NaN, 0, gap);
      out.set(c.mv, gap);
      return out;
    }
    // Overlap (a repeated frame): keep only what is new.
    this.next = c.start + c.mv.length;
    return c.mv.subarray(next - c.start);
  }

  get position(): number | undefined {
    return this.next;
  }
}
