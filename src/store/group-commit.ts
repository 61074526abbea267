/**
 * Group commit for the daemon's store: the records of several decision periods go to SQLite
 * in one transaction instead of one transaction each, because flash wear is set by the pages
 * a transaction writes, not by the bytes of the records.
 *
 *   append(record) ──▶ GroupCommit (in memory, seq reserved) ──commit──▶ write(records) = Outbox.append
 *        urgent (safety) ─┘ commits at once, before append returns
 *   periodDone() x periods ─┐ (the pipeline, on the data's own timeline)
 *   stallMs without a completed period (the source stalled or ended), maxWaitMs after the group's first record
 *   maxItems, flush, close ─┘
 *
 * Why: one WAL transaction writes every b-tree page it touches as a full page image (4 KiB)
 * plus an fsync, whatever the record's size. One ~400-byte record per transaction touched five
 * pages (records, seq index, priority index, AUTOINCREMENT counter, meta): 20 KiB in the WAL
 * per record, 40 MB per hour of riding (bench/flash.ts). Twelve periods (60 s) per transaction
 * write those pages once: 3.5 MB per hour.
 *
 * What "written" means, and so what a crash costs: a record is written when its group has
 * committed (WAL, synchronous=FULL: fsync'd, survives kill -9 and power loss); only then does
 * the uplink see it, `db export` list it and flush() return. append() returns the sequence the
 * record will have when committed, so the cue of a decision can name it; it is a reservation,
 * not a receipt. A kill or power cut before the commit loses the open group (at most
 * `periods` decision periods of features, decisions, cues and status records, never a safety
 * record) and those reserved seqs are issued again after the restart: the server never saw them.
 */

export interface GroupCommitOptions<T> {
  /** Writes the records in one durable transaction and returns the first seq it gave them. */
  readonly write: (items: readonly T[]) => { firstSeq: number };
  /** The seq the store gives the next record written. */
  readonly nextSeq: () => number;
  /** Decision periods per transaction; 0 = every record commits on its own (no grouping). */
  readonly periods: number;
  /** A group commits at the latest this long after its first record (wall time). */
  readonly maxWaitMs: number;
  /** A group commits when no decision period completed for this long (wall time): the data stopped. */
  readonly stallMs?: number;
  /** A group commits once it holds this many records. */
  readonly maxItems?: number;
  /** Called when a commit throws: the caller keeps or reports the records (nothing is retried here). */
  readonly onError: (e: unknown, items: T[]) => void;
  /** Called after a commit (the uplink sends sooner), and when the reserved seqs did not hold. */
  readonly onCommit?: (count: number) => void;
  readonly onSeqDrift?: (reserved: number, got: number) => void;
}

export const DEFAULT_GROUP_MAX_ITEMS = 1000;

export class GroupCommit<T> {
  private items: T[] = [];
  private firstSeq = 0;
  private periodsSeen = 0;
  private timer: NodeJS.Timeout | undefined;
  private stall: NodeJS.Timeout | undefined;

  constructor(private readonly opts: GroupCommitOptions<T>) {}

  /** Records waiting for the commit. */
  get size(): number {
    return this.items.length;
  }

  /** Adds a record and returns its reserved seq; an urgent one commits the group before returning. */
  add(item: T, urgent: boolean): number {
    if (this.items.length === 0) {
      this.firstSeq = this.opts.nextSeq();
      if (!urgent && this.opts.periods >= 1) {
        this.timer = setTimeout(() => this.commit(), this.opts.maxWaitMs);
        this.timer.unref();
        this.armStall();
      }
    }
    const seq = this.firstSeq + this.items.length;
    this.items.push(item);
    if (urgent || this.opts.periods < 1 || this.items.length >= (this.opts.maxItems ?? DEFAULT_GROUP_MAX_ITEMS)) this.commit();
    return seq;
  }

  /** One decision period is complete; every `periods` of them the group commits. */
  periodDone(): void {
    if (this.items.length > 0) this.armStall();
    if (++this.periodsSeen < this.opts.periods) return;
    this.periodsSeen = 0;
    this.commit();
  }

  /** Writes what is waiting, now (flush, close, a timer). Never throws: errors go to onError. */
  commit(): void {
    clearTimeout(this.timer);
    clearTimeout(this.stall);
    this.timer = undefined;
    this.stall = undefined;
    if (this.items.length === 0) return;
    const items = this.items;
    const reserved = this.firstSeq;
    this.items = [];
    let got: number;
    try {
      got = this.opts.write(items).firstSeq;
    } catch (e) {
      this.opts.onError(e, items);
      return;
    }
    if (got !== reserved) this.opts.onSeqDrift?.(reserved, got);
    this.opts.onCommit?.(items.length);
  }

  private armStall(): void {
    if (this.opts.stallMs === undefined) return;
    clearTimeout(this.stall);
    this.stall = setTimeout(() => this.commit(), this.opts.stallMs);
    this.stall.unref();
  }
}
