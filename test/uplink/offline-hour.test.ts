import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../../src/store/outbox.js';
import { Uplink } from '../../src/uplink/uplink.js';
import { Receiver, type ReceivedRecord } from '../../src/uplink/receiver.js';
import type { LinkConfig } from '../../src/uplink/link.js';
import { startAedes, startMosquitto, startProxy, waitFor, type LinkProxy } from '../helpers/brokers.js';
import { hourOfRecords } from './records.js';

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-uplink-'));
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
  rmSync(dir, { recursive: true, force: true });
});

interface BrokerUnderTest {
  port: number;
  receiverLink: Omit<LinkConfig, 'name'>;
  uplinkLink: (proxy: LinkProxy) => LinkConfig;
}

const brokers: [string, () => Promise<BrokerUnderTest>][] = [
  [
    'aedes (in-process, MQTT 3.1.1 fallback)',
    async () => {
      const b = await startAedes();
      cleanups.push(() => b.close());
      return { port: b.port, receiverLink: { url: b.url }, uplinkLink: (p) => ({ name: 'lte', url: p.url }) };
    },
  ],
  [
    'mosquitto (MQTT 5, TLS with client certificates)',
    async () => {
      const m = await startMosquitto({ tls: true });
      cleanups.push(() => m.close());
      const pki = m.pki!;
      const tls = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey, servername: 'broker.test' };
      return { port: m.port, receiverLink: { url: m.url, ...tls }, uplinkLink: (p) => ({ name: 'lte', url: p.url.replace('mqtt:', 'mqtts:'), ...tls }) };
    },
  ],
];

describe.each(brokers)('an hour offline, then the link comes up: %s', (_name, make) => {
  it('delivers every record exactly once after de-duplication, safety first, and empties the outbox', async () => {
    const b = await make();
    const receiver = await Receiver.start({ link: b.receiverLink });
    cleanups.push(() => receiver.close());
    const arrivals: ReceivedRecord[] = [];
    receiver.on('record', (r) => arrivals.push(r));

    // The network path is down while the unit records for an hour.
    const proxy = await startProxy(b.port, { startUp: false });
    cleanups.push(() => proxy.close());
    const outbox = Outbox.open(join(dir, 'outbox.db'), { deviceId: 'bike-1' });
    cleanups.push(() => outbox.close());
    const uplink = new Uplink(outbox, { deviceId: 'bike-1', links: [b.uplinkLink(proxy)], retryMinMs: 100, retryMaxMs: 500, batchMaxAgeMs: { decision: 200, features: 200, status: 200, raw: 200 } });
    cleanups.push(() => uplink.stop());
    uplink.start();
    const hour = hourOfRecords(true);
    for (let i = 0; i < hour.length; i += 50) outbox.append(hour.slice(i, i + 50));
    await new Promise((r) => setTimeout(r, 300));
    expect(uplink.status().active).toBeNull();
    expect(uplink.status().links[0].consecutiveFailures).toBeGreaterThan(0);

    await proxy.up();
    await waitFor('the outbox to drain', () => outbox.stats().records === 0, 60_000);
    await waitFor('the receiver to see every record', () => (receiver.stats().devices['bike-1']?.received ?? 0) >= hour.length, 30_000);
    const rep = receiver.stats().devices['bike-1'];
    expect(rep).toMatchObject({ received: hour.length, maxSeq: hour.length, missing: 0, lost: 0 });
    expect(receiver.stats().badMessages).toBe(0);
    expect(uplink.status().ackedRecords).toBe(hour.length);

    // Higher priorities went first.
    const lastSafety = arrivals.map((r) => r.prio).lastIndexOf('safety');
    const firstRaw = arrivals.findIndex((r) => r.prio === 'raw');
    expect(lastSafety).toBeLessThan(firstRaw);
    // Records carry everything the server needs to repair time.
    const f = arrivals.find((r) => r.type === 'features')!;
    expect(f).toMatchObject({ device: 'bike-1', boot: outbox.bootId, sync: false });
    expect(typeof f.mono).toBe('number');
    expect(f.data).toMatchObject({ windowS: 60 });
  });
});
