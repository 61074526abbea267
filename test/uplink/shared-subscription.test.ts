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
  dir = mkdtempSync(join(tmpdir(), 'motobio-share-'));
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
  rmSync(dir, { recursive: true, force: true });
});

describe('server scaling with an MQTT 5 shared subscription', () => {
  it('spreads batches over the group members, each batch to exactly one, together everything', async () => {
    const broker = await startMosquitto();
    cleanups.push(() => broker.close());
    const members = await Promise.all([1, 2].map(() => Receiver.start({ link: { url: broker.url }, group: 'ingest', start: 'first-seen' })));
    for (const m of members) cleanups.push(() => m.close());
    const seqs: number[][] = [[], []];
    members.forEach((m, i) => m.on('record', (r) => seqs[i].push(r.seq)));
    const outbox = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-1' });
    cleanups.push(() => outbox.close());
    const total = 5000;
    outbox.append(Array.from({ length: total }, (_, i) => featuresRecord(i, Date.now(), 0)));
    const uplink = new Uplink(outbox, { deviceId: 'bike-1', links: [{ name: 'lte', url: broker.url }], batchMaxRecords: { features: 100 } });
    cleanups.push(() => uplink.stop());
    uplink.start();
    await waitFor('all records at the group', () => seqs[0].length + seqs[1].length >= total, 30_000);
    expect(seqs[0].length).toBeGreaterThan(0);
    expect(seqs[1].length).toBeGreaterThan(0);
    const all = new Set([...seqs[0], ...seqs[1]]);
    expect(all.size).toBe(total);
    expect(seqs[0].length + seqs[1].length).toBe(total);
  });
});

describe('binding a link to a local address', () => {
  it('connects from the configured address (how a link is pinned to the LTE or WiFi interface)', async () => {
    const { startAedes } = await import('../helpers/brokers.js');
    const { LinkConnection } = await import('../../src/uplink/link.js');
    const b = await startAedes();
    cleanups.push(() => b.close());
    const seen: string[] = [];
    b.broker.on('client', (c) => seen.push(String((c as unknown as { conn: { remoteAddress?: string } }).conn.remoteAddress)));
    const conn = await LinkConnection.connect({ name: 'lte', url: b.url, localAddress: '127.0.0.2' }, { clientId: 'bind-test' });
    await waitFor('the broker to see the client', () => seen.length > 0);
    expect(seen[0]).toMatch(/127\.0\.0\.2$/);
    await conn.close();
  });
});
