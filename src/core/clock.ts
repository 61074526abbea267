/**
 * Time for records. Units without a real-time clock boot in 1970 and set the wall clock
 * later (NTP over LTE, GPS), possibly by a large jump. So every record carries
 *
 *   seq      a per-process counter: the order records were made, whatever the clocks do
 *   monoMs   CLOCK_MONOTONIC in ms (time since boot, never jumps)
 *   bootId   /proc/sys/kernel/random/boot_id: which boot monoMs belongs to
 *   wallMs   the wall clock at that instant, possibly wrong
 *   clock    whether the wall clock was known to be synchronised at that instant
 *
 * and the daemon writes an anchor (wall and monotonic time of the same instant) when the
 * clock becomes synchronised or jumps. The server repairs a record of the same boot with
 * wall = anchor.wallMs - (anchor.monoMs - record.monoMs). Nothing is ever ordered by wall time.
 */
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

export type ClockSync = 'synchronized' | 'unsynchronized' | 'unknown';

export interface Stamp {
  readonly seq: number;
  readonly monoMs: number;
  readonly bootId: string;
  readonly wallMs: number;
  readonly clock: ClockSync;
}

export interface ClockAnchor {
  readonly reason: 'start' | 'synchronized' | 'jump';
  readonly monoMs: number;
  readonly wallMs: number;
  readonly bootId: string;
  readonly clock: ClockSync;
  /** For a jump: how far the wall clock moved against the monotonic one, ms. */
  readonly jumpMs?: number;
}

/**
 * No release of this code ran before this instant, so a wall clock earlier than it has not
 * been set. Bump it with each release (it only needs to be roughly right).
 */
export const BUILD_EPOCH_MS = Date.UTC(2026, 10, 1);
export const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';
/** systemd-timesyncd creates this file once the clock is synchronised. */
export const TIMESYNC_FLAG_PATH = '/run/systemd/timesync/synchronized';
export const TIMESYNC_DIR = '/run/systemd/timesync';
/** A wall clock moving this much more or less than the monotonic one is a jump. */
export const JUMP_THRESHOLD_MS = 1000;
const SYNC_RECHECK_MS = 5000;

/** The kernel's boot id (which boot a monotonic time belongs to); a per-process stand-in when it cannot be read. */
export function readBootId(path: string = BOOT_ID_PATH): { id: string; synthetic: boolean } {
  let id: string | undefined;
  try {
    id = readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    id = undefined;
  }
  return id === undefined ? { id: `synthetic-${randomUUID()}`, synthetic: true } : { id, synthetic: false };
}

/** CLOCK_MONOTONIC in ms: time since boot, never jumps. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export interface ClockOptions {
  bootIdPath?: string;
  syncFlagPath?: string;
  timesyncDir?: string;
  buildEpochMs?: number;
  wallNow?: () => number;
  monoNowNs?: () => bigint;
}

export interface ClockEvents {
  anchor: [ClockAnchor];
}

export class Clock extends EventEmitter<ClockEvents> {
  readonly bootId: string;
  /** True when the boot id could not be read and a random one stands in for this process. */
  readonly bootIdSynthetic: boolean;
  private seq = 0;
  private readonly wallNow: () => number;
  private readonly monoNowNs: () => bigint;
  private readonly syncFlagPath: string;
  private readonly timesyncDir: string;
  private readonly buildEpochMs: number;
  private syncCache: { state: ClockSync; atMono: number } | undefined;
  private lastOffsetMs: number | undefined;
  private lastSync: ClockSync | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: ClockOptions = {}) {
    super();
    this.wallNow = options.wallNow ?? Date.now;
    this.monoNowNs = options.monoNowNs ?? (() => process.hrtime.bigint());
    this.syncFlagPath = options.syncFlagPath ?? TIMESYNC_FLAG_PATH;
    this.timesyncDir = options.timesyncDir ?? TIMESYNC_DIR;
    this.buildEpochMs = options.buildEpochMs ?? BUILD_EPOCH_MS;
    const boot = readBootId(options.bootIdPath);
    this.bootIdSynthetic = boot.synthetic;
    this.bootId = boot.id;
  }

  monoMs(): number {
    return Number(this.monoNowNs()) / 1e6;
  }

  sync(): ClockSync {
    const mono = this.monoMs();
    if (this.syncCache && mono - this.syncCache.atMono < SYNC_RECHECK_MS) return this.syncCache.state;
    let state: ClockSync;
    if (this.wallNow() < this.buildEpochMs) state = 'unsynchronized';
    else if (existsSync(this.syncFlagPath)) state = 'synchronized';
    // timesyncd runs but has not synchronised yet.
    else if (existsSync(this.timesyncDir)) state = 'unsynchronized';
    else state = 'unknown';
    this.syncCache = { state, atMono: mono };
    return state;
  }

  stamp(): Stamp {
    return { seq: ++this.seq, monoMs: this.monoMs(), bootId: this.bootId, wallMs: this.wallNow(), clock: this.sync() };
  }

  anchor(reason: ClockAnchor['reason'], jumpMs?: number): ClockAnchor {
    const a: ClockAnchor = { reason, monoMs: this.monoMs(), wallMs: this.wallNow(), bootId: this.bootId, clock: this.sync() };
    return jumpMs === undefined ? a : { ...a, jumpMs };
  }

  /**
   * Compares the wall clock with the monotonic one and emits an anchor on a jump or when the
   * clock becomes synchronised. Called by the watch timer; public so tests can drive it.
   */
  check(): void {
    const wall = this.wallNow();
    const mono = this.monoMs();
    const offset = wall - mono;
    const before = this.lastSync;
    this.syncCache = undefined;
    const now = this.sync();
    this.lastSync = now;
    if (this.lastOffsetMs !== undefined && Math.abs(offset - this.lastOffsetMs) > JUMP_THRESHOLD_MS) {
      this.emit('anchor', this.anchor('jump', offset - this.lastOffsetMs));
    } else if (before !== undefined && before !== 'synchronized' && now === 'synchronized') {
      this.emit('anchor', this.anchor('synchronized'));
    }
    this.lastOffsetMs = offset;
  }

  /** Starts watching (and emits the start anchor). */
  watch(intervalMs = 1000): void {
    if (this.timer) return;
    this.check();
    this.emit('anchor', this.anchor('start'));
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  unwatch(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
