/**
 * The record model every stage shares: what a stage hands to the store, and how each type
 * maps onto the store's priorities. The stamp (src/core/clock.ts) carries the times; the
 * store adds the persistent per-device sequence.
 */
import type { Stamp } from './clock.js';
import type { EcgChunk } from './ecg-chunk.js';

/**
 * Priorities, highest first: a safety event outranks a coaching decision, which outranks
 * derived features, then device status, then raw ECG (bulky and least valuable per byte).
 */
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


export type RecordType = 'features' | 'decision' | 'safety' | 'quality' | 'clock' | 'status' | 'update' | 'cue' | 'cue_outcome' | 'ecg';

export interface OutboundRecord {
  readonly type: RecordType;
  readonly stamp: Stamp;
  readonly body: Readonly<Record<string, unknown>>;
  /** Raw ECG (type `ecg`): stored as one compressed chunk instead of the JSON body. */
  readonly ecg?: EcgChunk;
}

/** Where a stage puts its records: the daemon's store stage (src/store/stage.ts). */
export interface RecordSink {
  /** The record's per-device sequence, or nothing while it waits in memory (a full disk). */
  append(record: OutboundRecord): number | void;
}

export const PRIORITY_OF: Readonly<Record<RecordType, Priority>> = {
  safety: 'safety',
  decision: 'decision',
  features: 'features',
  quality: 'status',
  clock: 'status',
  status: 'status',
  update: 'status',
  // What the rider heard, and what it did: the server trains the next policy on these.
  cue: 'decision',
  cue_outcome: 'decision',
  // Strips around safety alerts and once an hour: bulky, sent when there is room, evicted first.
  ecg: 'raw',
};
