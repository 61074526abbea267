/**
 * What the uplink needs from the store, and nothing more: lease records a priority at a time,
 * then ack them (the broker has them) or release them (send again later); the same for the
 * notices that announce evicted ranges. Every implementation passes the one contract suite in
 * test/store/reader-contract.ts (the SQLite Outbox does).
 *
 *   Outbox ──lease(p, n, bytes)──▶ uplink ──PUBACK──▶ ack(ids)      (gone for good)
 *                                        └─no ack──▶ release(ids)   (leased again, same seq)
 */
import type { EvictionNotice, Priority, StoredRecord } from './types.js';

export interface OutboxReader {
  /** The boot the records being written now belong to (the uplink's status reports it). */
  readonly bootId: string;
  /** Records of this priority neither acknowledged nor leased. */
  pending(priority: Priority): number;
  /** The oldest such record's boot and monotonic time, to bound how long a batch may wait. */
  oldestPending(priority: Priority): { bootId: string; monoMs: number } | undefined;
  /** Takes up to maxRecords (and about maxBytes) of the oldest pending records, in seq order. */
  lease(priority: Priority, maxRecords: number, maxBytes: number): StoredRecord[];
  /** Leased records go back to pending, keeping their seq. */
  release(ids: readonly number[]): void;
  /** Acknowledged records are deleted: they never come back. */
  ack(ids: readonly number[]): void;
  leaseNotices(max?: number): EvictionNotice[];
  releaseNotices(ids: readonly number[]): void;
  ackNotices(ids: readonly number[]): void;
}
