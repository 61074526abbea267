import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../../src/store/outbox.js';
import { Uplink, type SwitchEvent } from '../../src/uplink/uplink.js';
import { Receiver } from '../../src/uplink/receiver.js';
import { SeqTracker } from '../../src/uplink/seq-tracker.js';
import { startMosquitto, startProxy, waitFor, type Mosquitto } from '../helpers/brokers.js';
import { featuresRecord } from './records.js';

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-failover-'));
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
  rmSync(dir, { recursive: true, force: true });
});

/** Two brokers (lte preferred, wifi second), a receiver on each, one merged seq tracker. */
async function rig(opts: { viaProxy: boolean }) {
  const lteBroker = await startMosquitto({ tls: true });
  cleanups.push(() => lteBroker.close());
  const wifiBroker = await startMosquitto({ tls: true, pki: lteBroker.pki });
  cleanups.push(() => wifiBroker.close());
  const pki = lteBroker.pki!;
  const tls = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey, servername: 'broker.test' };
  const proxy = opts.viaProxy ? await startProxy(lteBroker.port, { scheme: 'mqtts' }) : undefined;
  if (proxy) cleanups.push(() => proxy.close());
  const merged = new SeqTracker();
  const seenOn: Record<string, number> = { lte: 0, wifi: 0 };
  const lastArrival: Record<string, number> = { lte: 0, wifi: 0 };
  const receivers: Receiver[] = [];
  for (const [name, b] of [['lte', lteBroker], ['wifi', wifiBroker]] as [string, Mosquitto][]) {
    const r = await Receiver.start({ link: { url: b.url, ...tls }, sessionId: `server-${name}` });
    cleanups.push(() => r.close());
    r.on('record', (rec) => {
      merged.add(rec.seq);
      seenOn[name]++;
      lastArrival[name] = Date.now();
    });
    receivers.push(r);
  }
  const outbox = Outbox.open(join(dir, 'outbox.db'), { deviceId: 'bike-1' });
  cleanups.push(() => outbox.close());
  const uplink = new Uplink(outbox, {
    deviceId: 'bike-1',
    links: [
      { name: 'lte', url: proxy ? proxy.url : lteBroker.url, ...tls },
      { name: 'wifi', url: wifiBroker.url, ...tls },
    ],
    holdMs: 2000,
    retryMinMs: 200,
    retryMaxMs: 1000,
    batchMaxAgeMs: { decision: 100, features: 100, status: 100, raw: 100 },
  });
  cleanups.push(() => uplink.stop());
  const switches: SwitchEvent[] = [];
  uplink.on('switch', (e) => switches.push(e));
  // A rider producing a features record every 20 ms.
  let i = 0;
  const producer = setInterval(() => {
    outbox.append([featuresRecord(i++, Date.now(), performance.now())]);
    uplink.notify();
  }, 20);
  cleanups.push(() => clearInterval(producer));
  uplink.start();
  await waitFor('traffic on lte', () => seenOn.lte > 20);
  return { lteBroker, wifiBroker, proxy, uplink, outbox, merged, seenOn, lastArrival, switches, produced: () => i, stopProducer: () => clearInterval(producer) };
}

async function drainAndCheck(r: Awaited<ReturnType<typeof rig>>) {
  r.stopProducer();
  await waitFor('the outbox to drain', () => r.outbox.stats().records === 0, 30_000);
  const rep = r.merged.report();
  expect(rep.maxSeq).toBe(r.produced());
  expect(rep).toMatchObject({ received: r.produced(), missing: 0, lost: 0 });
}

describe('two brokers as two links', () => {
  it('moves traffic to wifi within 5 s of the lte broker being killed, and back after the hold time', async () => {
    const r = await rig({ viaProxy: false });
    expect(r.uplink.status().active).toBe('lte');
    const killedAt = Date.now();
    await r.lteBroker.stop('SIGKILL');
    await waitFor('traffic on wifi', () => r.seenOn.wifi > 20, 20_000);
    const sw = r.switches[0];
    expect(sw).toMatchObject({ from: 'lte', to: 'wifi' });
    // The bound: the next link carries traffic within 5 s of the first going dark.
    expect(sw.atMs - killedAt).toBeLessThan(5000);
    expect(r.uplink.status().switches).toBe(1);

    await r.lteBroker.start();
    await waitFor('the switch back to lte', () => r.uplink.status().active === 'lte', 30_000);
    const back = r.switches[1];
    expect(back).toMatchObject({ from: 'wifi', to: 'lte' });
    expect(back.reason).toMatch(/stayed up for 2000 ms/);
    const lteBefore = r.seenOn.lte;
    await waitFor('traffic on lte again', () => r.seenOn.lte > lteBefore + 20, 20_000);
    expect(r.uplink.status().switches).toBe(2);
    await drainAndCheck(r);
  });

  it('detects a link that goes dark without a reset (keepalive / PUBACK timeout) and fails over within 5 s', async () => {
    const r = await rig({ viaProxy: true });
    const frozenAt = Date.now();
    r.proxy!.freeze();
    await waitFor('the switch to wifi', () => r.uplink.status().active === 'wifi', 20_000);
    const sw = r.switches[0];
    expect(sw.atMs - frozenAt).toBeLessThan(5000);
    expect(r.uplink.status().links[0].lastError).toMatch(/PUBACK|Keepalive|closed/i);
    await waitFor('traffic on wifi', () => r.seenOn.wifi > 20, 20_000);
    // Path restored: back to lte after the hold time.
    await r.proxy!.down();
    await r.proxy!.up();
    await waitFor('the switch back to lte', () => r.uplink.status().active === 'lte', 30_000);
    await drainAndCheck(r);
  });
});
