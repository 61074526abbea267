/**
 * The filesystem under the store, watched with statfs. store.disk_budget_mb is what the store
 * may use, but the partition can fill before that (logs, another program, a budget set larger
 * than the card), and then SQLite fails appends with SQLITE_FULL. So the store also keeps its
 * growth within what the filesystem still holds:
 *
 *   cap = bytes + (max(0, free - reserve) + reusable) / FILE_FACTOR
 *
 * `free` is what statfs gives an unprivileged writer, `reusable` the freed pages inside the
 * database file (SQLite fills those before it grows the file), `reserve` room kept for the WAL
 * and checkpoints. Once the cap is below the budget the store evicts by priority as it would at
 * its budget, and `low` fires (the daemon raises DISK_LOW); `ok` fires when space returns.
 * The cap never falls below what the store holds: on a full disk each append evicts about
 * its own size (plus the store's headroom), so the file stops growing without emptying it.
 */
import { EventEmitter } from 'node:events';
import { statfsSync } from 'node:fs';

/** Room kept free for the WAL (up to ~4 MB between checkpoints) and SQLite's temporary pages. */
export const DEFAULT_RESERVE_BYTES = 8 * 1024 * 1024;
/** Bytes of file (pages, index, WAL copies) per byte the store counts; on the safe side. */
export const FILE_FACTOR = 2;
/** Low clears only once free space is this much above the reserve, so the alarm does not flap. */
const CLEAR_FACTOR = 1.25;
/** statfs is cheap, but appends come in bursts: reuse a reading this long. */
const CACHE_MS = 200;

export interface DiskSpace {
  readonly freeBytes: number;
  readonly totalBytes: number;
}

export function spaceOf(dir: string): DiskSpace {
  const s = statfsSync(dir);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

/** The most the store may count now, given the filesystem's free space. */
export function spaceCap(s: { bytes: number; reusableBytes: number; freeBytes: number; reserveBytes: number }): number {
  return s.bytes + (Math.max(0, s.freeBytes - s.reserveBytes) + s.reusableBytes) / FILE_FACTOR;
}

export interface DiskWatchOptions {
  readonly reserveBytes?: number;
  readonly intervalMs?: number;
  /** Stand-in for statfs (tests of the arithmetic). */
  readonly space?: (dir: string) => DiskSpace;
}

export class DiskWatch extends EventEmitter<{ low: [DiskSpace]; ok: [DiskSpace] }> {
  readonly reserveBytes: number;
  private readonly space: (dir: string) => DiskSpace;
  private readonly intervalMs: number;
  private last: { at: number; s: DiskSpace } | undefined;
  private low = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly dir: string,
    options: DiskWatchOptions = {},
  ) {
    super();
    this.reserveBytes = options.reserveBytes ?? DEFAULT_RESERVE_BYTES;
    this.space = options.space ?? spaceOf;
    this.intervalMs = options.intervalMs ?? 1000;
  }

  /** Free space now (cached for CACHE_MS); undefined when statfs fails (then no cap applies). */
  read(): DiskSpace | undefined {
    const now = performance.now();
    if (this.last && now - this.last.at < CACHE_MS) return this.last.s;
    try {
      this.last = { at: now, s: this.space(this.dir) };
    } catch {
      return undefined;
    }
    return this.last.s;
  }

  /** For Outbox's spaceCap option. */
  readonly cap = (s: { bytes: number; reusableBytes: number }): number => {
    const d = this.read();
    return d === undefined ? Number.POSITIVE_INFINITY : spaceCap({ ...s, freeBytes: d.freeBytes, reserveBytes: this.reserveBytes });
  };

  get isLow(): boolean {
    return this.low;
  }

  /** Re-reads statfs and emits `low` / `ok` on a change. Called by the timer; public for tests. */
  check(): void {
    this.last = undefined;
    const d = this.read();
    if (d === undefined) return;
    if (!this.low && d.freeBytes < this.reserveBytes) {
      this.low = true;
      this.emit('low', d);
    } else if (this.low && d.freeBytes >= this.reserveBytes * CLEAR_FACTOR) {
      this.low = false;
      this.emit('ok', d);
    }
  }

  start(): void {
    if (this.timer) return;
    this.check();
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
