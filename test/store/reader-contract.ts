/**
 * The contract every store the uplink drains must keep (src/store/reader.ts OutboxReader), run
 * over each implementation the way MQTT.js runs one abstract store suite over every store.
 * A harness gives a fresh reader and a way to write records into it (and to overfill it, for
 * the eviction notices).
 */
import { describe, expect, it } from 'vitest';
import type { OutboxReader } from '../../src/store/reader.js';
import type { Priority } from '../../src/store/types.js';

export interface ReaderHarness {
  /** A fresh, empty store. */
  open(): OutboxReader & { close(): void };
  /** Appends records of `priority`, each with a body of about `bytes`, with monotonic times monoMs[i]; returns their seqs. */
  write(r: OutboxReader, priority: Priority, n: number, opts?: { bytes?: number; monoMs?: number[] }): number[];
  /** Writes far past the store's budget so it evicts and announces ranges. */
  overfill(r: OutboxReader): void;
}

export function readerContract(name: string, h: ReaderHarness): void {
  describe(`${name}: the OutboxReader contract`, () => {
    it('names the boot its records belong to', () => {
      const r = h.open();
      expect(typeof r.bootId).toBe('string');
      expect(r.bootId.length).toBeGreaterThan(0);
      r.close();
    });

    it('counts pending records per priority and leases the oldest first, in seq order', () => {
      const r = h.open();
      const f = h.write(r, 'features', 5);
      const s = h.write(r, 'safety', 2);
      expect(r.pending('features')).toBe(5);
      expect(r.pending('safety')).toBe(2);
      expect(r.pending('raw')).toBe(0);
      const a = r.lease('features', 3, 1 << 20);
      expect(a.map((x) => x.seq)).toEqual(f.slice(0, 3));
      expect(r.pending('features')).toBe(2);
      expect(r.lease('safety', 10, 1 << 20).map((x) => x.seq)).toEqual(s);
      r.close();
    });

    it('never hands a leased record out twice, and bounds a lease by bytes (at least one record)', () => {
      const r = h.open();
      h.write(r, 'decision', 10, { bytes: 1000 });
      const a = r.lease('decision', 10, 2500);
      expect(a.length).toBeGreaterThanOrEqual(1);
      expect(a.length).toBeLessThan(10);
      const b = r.lease('decision', 100, 1 << 20);
      expect(new Set([...a, ...b].map((x) => x.seq)).size).toBe(10);
      expect(r.lease('decision', 100, 1 << 20)).toEqual([]);
      r.close();
    });

    it('release puts records back with the same seq; ack removes them for good', () => {
      const r = h.open();
      const seqs = h.write(r, 'features', 4);
      const a = r.lease('features', 4, 1 << 20);
      r.release(a.slice(0, 2).map((x) => x.id));
      r.ack(a.slice(2).map((x) => x.id));
      expect(r.pending('features')).toBe(2);
      const again = r.lease('features', 10, 1 << 20);
      expect(again.map((x) => x.seq)).toEqual(seqs.slice(0, 2));
      r.ack(again.map((x) => x.id));
      expect(r.pending('features')).toBe(0);
      expect(r.lease('features', 10, 1 << 20)).toEqual([]);
      // Acking twice is harmless (a PUBACK that arrives after a resend).
      expect(() => r.ack(again.map((x) => x.id))).not.toThrow();
      r.close();
    });

    it('tells the boot and monotonic time of the oldest pending record, and nothing when none is', () => {
      const r = h.open();
      expect(r.oldestPending('status')).toBeUndefined();
      h.write(r, 'status', 3, { monoMs: [1000, 2000, 3000] });
      expect(r.oldestPending('status')).toEqual({ bootId: r.bootId, monoMs: 1000 });
      const [first] = r.lease('status', 1, 1 << 20);
      r.ack([first.id]);
      expect(r.oldestPending('status')?.monoMs).toBe(2000);
      r.close();
    });

    it('announces evicted ranges as notices that are leased, released and acked like records', () => {
      const r = h.open();
      h.overfill(r);
      const n = r.leaseNotices(1000);
      expect(n.length).toBeGreaterThan(0);
      for (const x of n) {
        expect(x.lastSeq).toBeGreaterThanOrEqual(x.firstSeq);
        expect(x.count).toBeGreaterThan(0);
      }
      expect(r.leaseNotices(1000)).toEqual([]);
      r.releaseNotices(n.map((x) => x.id));
      const again = r.leaseNotices(1000);
      expect(again.map((x) => x.id)).toEqual(n.map((x) => x.id));
      r.ackNotices(again.map((x) => x.id));
      r.releaseNotices(again.map((x) => x.id));
      expect(r.leaseNotices(1000)).toEqual([]);
      r.close();
    });
  });
}
