/**
 * Record model shared by the outbox, the uplink and the reference receiver.
 * Priorities, highest first: a safety event outranks a coaching decision, which outranks
 * derived features, then device status, then raw ECG (bulky and least valuable per byte).
 */
import type { EcgChunk } from './ecg-codec.js';

export { PRIORITIES, PRIORITY_RANK, isPriority, priorityOfRank, type Priority } from '../core/record.js';
import type { Priority } from '../core/record.js';

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
