import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../../src/store/outbox.js';
import { Uplink } from '../../src/uplink/uplink.js';
import { Receiver } from '../../src/uplink/receiver.js';
import { LinkConnection } from '../../src/uplink/link.js';
import { startMosquitto, startProxy, waitFor } from '../helpers/brokers.js';
import { featuresRecord, hourOfRecords } from './records.js';

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-restart-'));
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
  rmSync(dir, { recursive: true, force: true });
});

describe('broker restart in the middle of a batch', () => {
  it('resends what was not acknowledged; the receiver ends with every record once', async () => {
    const broker = await startMosquitto({ persistence: true });
    cleanups.push(() => broker.close());
    const receiver = await Receiver.start({ link: { url: broker.url }, sessionId: 'server-restart' });
    cleanups.push(() => receiver.close());
    const outbox = Outbox.open(join(dir, 'outbox.db'), { deviceId: 'bike-1' });
    cleanups.push(() => outbox.close());
    const total = 20_000;
    for (let i = 0; i < total; i += 1000) outbox.append(Array.from({ length: 1000 }, (_, k) => featuresRecord(i + k, Date.now(), 0)));
    // Small batches, many in flight: a restart is sure to catch some mid-flight.
    const uplink = new Uplink(outbox, { deviceId: 'bike-1', links: [{ name: 'lte', url: broker.url }], batchMaxRecords: { features: 50 }, maxInFlight: 16, retryMinMs: 100, retryMaxMs: 400 });
    cleanups.push(() => uplink.stop());
    uplink.start();
    await waitFor('the drain to be under way', () => uplink.status().ackedBatches >= 5);
    const inFlightAtStop = uplink.status().inFlightBatches;
    await broker.stop('SIGTERM');
    await waitFor('the uplink to notice', () => uplink.status().active === null);
    expect(outbox.stats().records).toBeGreaterThan(0);
    await broker.start();
    await waitFor('the outbox to drain', () => outbox.stats().records === 0, 60_000);
    await waitFor('the receiver to see everything', () => (receiver.stats().devices['bike-1']?.received ?? 0) >= total, 30_000);
    expect(receiver.stats().devices['bike-1']).toMatchObject({ received: total, maxSeq: total, missing: 0, lost: 0 });
    expect(inFlightAtStop + uplink.status().failedBatches).toBeGreaterThan(0);
    expect(uplink.status().links[0].connects).toBeGreaterThanOrEqual(2);
  });
});

describe('disk budget reached while offline', () => {
  it('evicts raw ECG first, keeps safety, and the receiver reports the gaps as evicted, not lost', async () => {
    const broker = await startMosquitto();
    cleanups.push(() => broker.close());
    const receiver = await Receiver.start({ link: { url: broker.url } });
    cleanups.push(() => receiver.close());
    const proxy = await startProxy(broker.port, { startUp: false });
    cleanups.push(() => proxy.close());
    const outbox = Outbox.open(join(dir, 'outbox.db'), { deviceId: 'bike-1', diskBudgetBytes: 256 * 1024 });
    cleanups.push(() => outbox.close());
    const uplink = new Uplink(outbox, { deviceId: 'bike-1', links: [{ name: 'lte', url: proxy.url }], retryMinMs: 100, retryMaxMs: 300, batchMaxAgeMs: { decision: 200, features: 200, status: 200, raw: 200 } });
    cleanups.push(() => uplink.stop());
    uplink.start();
    const hour = hourOfRecords(true);
    for (let i = 0; i < hour.length; i += 20) outbox.append(hour.slice(i, i + 20));
    const s = outbox.stats();
    expect(s.evicted.raw).toBeGreaterThan(0);
    expect(s.evicted.safety).toBe(0);
    expect(s.depth.safety).toBe(hour.filter((r) => r.priority === 'safety').length);
    await proxy.up();
    await waitFor('the outbox to drain', () => outbox.stats().records === 0, 60_000);
    const kept = hour.length - s.evictedTotal;
    await waitFor('the receiver to see what was kept', () => (receiver.stats().devices['bike-1']?.received ?? 0) >= kept, 30_000);
    const rep = receiver.stats().devices['bike-1'];
    expect(rep.received).toBe(kept);
    expect(rep.lost).toBe(0);
    // Gaps below the highest received seq are all announced evictions.
    expect(rep.evicted).toBe(rep.missing);
    expect(rep.missing).toBeGreaterThan(0);
  });
});

describe('TLS', () => {
  it('refuses a broker whose certificate is not from the configured CA, and a broker refuses a foreign client certificate', async () => {
    const broker = await startMosquitto({ tls: true });
    cleanups.push(() => broker.close());
    const pki = broker.pki!;
    const good = { name: 'lte', url: broker.url, ca: pki.ca, cert: pki.clientCert, key: pki.clientKey, servername: 'broker.test' };
    const ok = await LinkConnection.connect(good, { clientId: 'probe-ok' });
    expect(ok.tls).toMatchObject({ authorized: true, peerSubject: 'CN=broker.test' });
    await ok.close();
    // Broker certificate checked against the wrong CA: refused by us.
    await expect(LinkConnection.connect({ ...good, ca: join(pki.dir, 'rogue-ca.pem') }, { clientId: 'probe-ca' })).rejects.toThrow(/link lte .*(certificate|self.signed)/i);
    // Wrong name: refused by us.
    await expect(LinkConnection.connect({ ...good, servername: 'evil.test' }, { clientId: 'probe-name' })).rejects.toThrow(/evil\.test|altnames|does not match/i);
    // Client certificate from another CA: refused by the broker.
    await expect(LinkConnection.connect({ ...good, cert: pki.rogueCert, key: pki.rogueKey }, { clientId: 'probe-rogue' })).rejects.toThrow(/link lte/);
    // A missing key file is a configuration error that names the setting.
    await expect(LinkConnection.connect({ ...good, key: join(dir, 'nope.key') }, { clientId: 'probe-missing' })).rejects.toThrow(/cannot read key file .*nope\.key.*uplink\.links\[\]\.key/);
  });
});
