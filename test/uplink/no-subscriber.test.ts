/**
 * PUBACK reason 16 ("no matching subscribers") on a real mosquitto: the broker accepted the
 * batch but nobody has it (no ingest subscribed, no persistent session). The unit must keep
 * the records, retry with backoff (no hot loop), and deliver everything once a subscriber joins.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../../src/store/outbox.js';
import { Uplink } from '../../src/uplink/uplink.js';
import { Receiver } from '../../src/uplink/receiver.js';
import { startMosquitto, waitFor } from '../helpers/brokers.js';
import { featuresRecord } from './records.js';

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-nosub-'));
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
  rmSync(dir, { recursive: true, force: true });
});

describe('a broker with no subscriber (PUBACK 16)', () => {
  it('keeps the records, backs off, and delivers all of them once a subscriber joins', async () => {
    const m = await startMosquitto();
    cleanups.push(() => m.close());
    const outbox = Outbox.open(join(dir, 'outbox.db'), { deviceId: 'bike-16' });
    cleanups.push(() => outbox.close());
    const uplink = new Uplink(outbox, {
      deviceId: 'bike-16',
      links: [{ name: 'lte', url: m.url }],
      retryMinMs: 300,
      retryMaxMs: 1000,
      batchMaxRecords: { features: 10 },
      batchMaxAgeMs: { features: 0 },
    });
    cleanups.push(() => uplink.stop());
    const now = Date.now();
    const N = 40;
    outbox.append(Array.from({ length: N }, (_, i) => featuresRecord(i, now + i, 1000 + i)));
    uplink.start();

    await waitFor('a batch answered with PUBACK 16', () => uplink.status().unroutedBatches >= 1, 15_000);
    // Nothing is acknowledged and deleted while nobody listens, and the uplink does not hot-loop.
    const before = uplink.status().sentBatches;
    await new Promise((r) => setTimeout(r, 3000));
    const s = uplink.status();
    expect(s.ackedRecords).toBe(0);
    expect(outbox.stats().records).toBe(N);
    // With backoff capped at 1 s and one probe at a time: at most ~4 probes in 3 s (a hot loop sends hundreds).
    expect(s.sentBatches - before).toBeLessThanOrEqual(5);
    expect(s.links[0].lastError).toMatch(/PUBACK reason 16/);

    const receiver = await Receiver.start({ link: { url: m.url } });
    cleanups.push(() => receiver.close());
    await waitFor('the receiver to get every record', () => (receiver.stats().devices['bike-16']?.received ?? 0) >= N, 20_000);
    await waitFor('the outbox to drain', () => outbox.stats().records === 0, 10_000);
    expect(receiver.stats().devices['bike-16']).toMatchObject({ received: N, maxSeq: N, missing: 0, lost: 0 });
    expect(uplink.status().ackedRecords).toBe(N);
  }, 60_000);
});
