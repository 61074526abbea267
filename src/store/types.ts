/**
 * Record model shared by the outbox, the uplink and the reference receiver.
 * Priorities, highest first: a safety event outranks a coaching decision, which outranks
 * derived features, then device status, then raw ECG (bulky and least valuable per byte).
 */
import type { EcgChunk } from './ecg-codec.js';

export type Priority = 'safety' | 'decision' | 'features' | 'status' | 'raw';

/** Highest first: the uplink drains in this order, eviction walks it backwards. */
export const PRIORITIES: readonly Priority[] = ['safety', 'decision', 'features', 'status', 'raw'];

/** Stored as an integer so eviction can `ORDER BY prio` (0 = evicted first). */
export const PRIORITY_RANK: Readonly<Record<Priority, number>> = { safety: 4, decision: 3, features: 2, status: 1, raw: 0 };

export function priorityOfRank(rank: number): Priority {
  const p = PRIORITIES[PRIORITIES.length - 1 - rank];
  if (p === undefined) throw new RangeError(`no priority with rank ${rank}`);
  return p;
}

export function isPriority(x: unknown): x is Priority {
  return typeof x === 'string' && (PRIORITIES as readonly string[]).includes(x);
}

/** How a stored body is encoded: JSON text, or a binary raw-ECG chunk (ecg-codec.ts). */
export type BodyEncoding = 'json' | 'ecg1';

/** What the daemon hands to `Outbox.append`. */
export interface RecordInput {
  /** Record type, e.g. `features`, `decision`, `safety`, `status`, `ecg`; `[a-z0-9._-]{1,40}`. */
  readonly type: string;
  readonly priority: Priority;
  /** JSON-serialisable body (anything but raw ECG). */
  readonly payload?: unknown;
  /** Raw ECG; stored as one compressed chunk. */
  readonly ecg?: EcgChunk;
  /** CLOCK_MONOTONIC ms (time since boot); defaults to now. */
  readonly monoMs?: number;
  /** Wall-clock ms since epoch; defaults to Date.now(). */
  readonly wallMs?: number;
  /** Whether the wall clock was synchronised (NTP/GNSS) when the record was made. */
  readonly clockSynced?: boolean;
}

/** One record as it sits in the outbox. */
export interface StoredRecord {
  /** Local row id; the uplink acks by it. */
  readonly id: number;
  readonly deviceId: string;
  /** Per-device sequence: grows by exactly one per record, never reused. */
  readonly seq: number;
  readonly bootId: string;
  readonly monoMs: number;
  readonly wallMs: number;
  readonly clockSynced: boolean;
  readonly priority: Priority;
  readonly type: string;
  readonly encoding: BodyEncoding;
  readonly body: Buffer;
  /** Bytes this record counts against the disk budget. */
  readonly size: number;
}

/** A run of sequence numbers the device dropped (disk budget), so the server can tell loss from delay. */
export interface EvictionNotice {
  readonly id: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly priority: Priority;
  readonly count: number;
  readonly wallMs: number;
}

export interface OutboxStats {
  readonly path: string;
  readonly deviceId: string;
  readonly records: number;
  readonly bytes: number;
  readonly budgetBytes: number;
  readonly depth: Readonly<Record<Priority, number>>;
  readonly evicted: Readonly<Record<Priority, number>>;
  readonly evictedTotal: number;
  readonly nextSeq: number;
  readonly oldestWallMs: number | null;
  readonly leased: number;
  /** Set when the store was found corrupt at open and moved aside. */
  readonly recoveredFrom: string | null;
  readonly fileBytes: number;
}
