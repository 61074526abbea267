/**
 * Per-device sequence bookkeeping for a consumer: drops duplicates by (device, seq) and finds
 * gaps. Memory stays small: everything up to `upTo` has been seen, and only seqs above it
 * (arrived out of order, or beyond a gap) are kept in a set. A missing seq inside a range the
 * device announced as evicted is reported as evicted, not lost.
 */
export interface GapReport {
  readonly received: number;
  readonly duplicates: number;
  readonly maxSeq: number;
  /** Missing seqs between the start and maxSeq. */
  readonly missing: number;
  /** Of those, the ones the device said it evicted (disk budget). */
  readonly evicted: number;
  /** Missing and not explained: data lost or still on its way. */
  readonly lost: number;
  /** First few missing ranges, [first, last]. */
  readonly gaps: readonly [number, number][];
}

export class SeqTracker {
  private upTo: number;
  private readonly above = new Set<number>();
  private received = 0;
  private duplicates = 0;
  private maxSeq = 0;
  private readonly evictedRanges: [number, number][] = [];

  /** `start` is the first seq expected (1 for a device seen from its first record). */
  constructor(start = 1) {
    this.upTo = start - 1;
  }

  /** Returns true when `seq` is new, false for a duplicate. */
  add(seq: number): boolean {
    if (seq <= this.upTo || this.above.has(seq)) {
      this.duplicates++;
      return false;
    }
    this.received++;
    if (seq > this.maxSeq) this.maxSeq = seq;
    if (seq === this.upTo + 1) {
      this.upTo = seq;
      while (this.above.delete(this.upTo + 1)) this.upTo++;
    } else this.above.add(seq);
    return true;
  }

  noteEvicted(first: number, last: number): void {
    this.evictedRanges.push([first, last]);
  }

  private isEvicted(seq: number): boolean {
    return this.evictedRanges.some(([a, b]) => seq >= a && seq <= b);
  }

  report(maxGaps = 20): GapReport {
    const gaps: [number, number][] = [];
    let missing = 0;
    let evicted = 0;
    const sorted = [...this.above].sort((a, b) => a - b);
    let prev = this.upTo;
    for (const s of sorted) {
      if (s > prev + 1) {
        if (gaps.length < maxGaps) gaps.push([prev + 1, s - 1]);
        missing += s - prev - 1;
        for (let x = prev + 1; x < s; x++) if (this.isEvicted(x)) evicted++;
      }
      prev = s;
    }
    return { received: this.received, duplicates: this.duplicates, maxSeq: this.maxSeq, missing, evicted, lost: missing - evicted, gaps };
  }
}
