/**
 * A link that dies while idle (radio gone, no RST: a loopback proxy that stops forwarding and
 * keeps its sockets open) with the field's 30 s keepalive, and a safety record made then: it
 * must reach the server over the other link long before the keepalive would notice. The time
 * itself is a figure for bench/failover.ts, not a timed assertion: the bound here is the
 * keepalive's.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../../src/store/outbox.js';
import { Uplink } from '../../src/uplink/uplink.js';
import { Receiver } from '../../src/uplink/receiver.js';
import { startMosquitto, startProxy, waitFor } from '../helpers/brokers.js';
import { featuresRecord } from './records.js';

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-idle-'));
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
  rmSync(dir, { recursive: true, force: true });
});

const KEEPALIVE_S = 30;

describe('a safety record on an idle link that died', () => {
  it('reaches the server over the other link before the 30 s keepalive notices', async () => {
    const lteBroker = await startMosquitto({ tls: true });
    cleanups.push(() => lteBroker.close());
    const wifiBroker = await startMosquitto({ tls: true, pki: lteBroker.pki });
    cleanups.push(() => wifiBroker.close());
    const pki = lteBroker.pki!;
    const tls = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey, servername: 'broker.test' };
    const proxy = await startProxy(lteBroker.port, { scheme: 'mqtts' });
    cleanups.push(() => proxy.close());
    const arrived: Record<string, Map<number, number>> = { lte: new Map(), wifi: new Map() };
    for (const [name, b] of [['lte', lteBroker], ['wifi', wifiBroker]] as const) {
      const r = await Receiver.start({ link: { url: b.url, ...tls }, sessionId: `server-${name}` });
      cleanups.push(() => r.close());
      r.on('record', (rec) => arrived[name].set(rec.seq, Date.now()));
    }
    const outbox = Outbox.open(join(dir, 'outbox.db'), { deviceId: 'bike-1' });
    cleanups.push(() => outbox.close());
    const uplink = new Uplink(outbox, {
      deviceId: 'bike-1',
      links: [
        { name: 'lte', url: proxy.url, keepaliveS: KEEPALIVE_S, ...tls },
        { name: 'wifi', url: wifiBroker.url, keepaliveS: KEEPALIVE_S, ...tls },
      ],
      batchMaxAgeMs: { features: 50 },
    });
    cleanups.push(() => uplink.stop());
    const acked: { priority: string; at: number }[] = [];
    uplink.on('acked', (a) => acked.push({ priority: a.priority, at: Date.now() }));
    uplink.start();
    await waitFor('lte up', () => uplink.status().active === 'lte', 15_000);
    outbox.append([featuresRecord(0, Date.now(), performance.now())]);
    uplink.notify();
    await waitFor('the features record acknowledged on lte', () => arrived.lte.size === 1 && outbox.stats().records === 0, 15_000);

    // The link dies while nothing is in flight, then a safety event happens.
    proxy.freeze();
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    const { firstSeq } = outbox.append([{ type: 'safety', priority: 'safety', payload: { rule: 'hr_high' } }]);
    uplink.notify();
    await waitFor('the safety record at the wifi broker', () => arrived.wifi.has(firstSeq), KEEPALIVE_S * 1000);
    await waitFor('its PUBACK', () => acked.some((a) => a.priority === 'safety'), 5000);
    const deliveredMs = arrived.wifi.get(firstSeq)! - t0;
    const ackedMs = acked.find((a) => a.priority === 'safety')!.at - t0;
    console.log(`safety record on an idle dead link: at the wifi broker's subscriber after ${deliveredMs} ms, PUBACK after ${ackedMs} ms`);
    expect(deliveredMs).toBeLessThan(KEEPALIVE_S * 1000);
    expect(outbox.stats().records).toBe(0);
  }, 90_000);
});
