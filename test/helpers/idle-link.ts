/**
 * Two TLS mosquitto brokers as two links (lte preferred, through a loopback proxy; wifi
 * direct), an outbox and an uplink with the field's keepalive, idle after one acknowledged
 * batch. `safetyOnDeadLink()` freezes the proxy (a radio link gone without a reset), waits,
 * makes a safety record and returns when the wifi broker's subscriber has it and it is
 * acknowledged. Used by test/uplink/idle-failover.test.ts and bench/failover.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Outbox } from '../../src/store/outbox.js';
import { Uplink, type UplinkOptions } from '../../src/uplink/uplink.js';
import { Receiver } from '../../src/uplink/receiver.js';
import { startMosquitto, startProxy, waitFor } from './brokers.js';

export interface IdleLinkResult {
  /** Safety record made -> at the wifi broker's subscriber, ms. */
  readonly deliveredMs: number;
  /** Safety record made -> its PUBACK (the unit deletes it), ms. */
  readonly ackedMs: number;
  /** Whether lte was still counted up when the record reached wifi (the hedge, not the timeout, moved it). */
  readonly lteStillUp: boolean;
  /** Bytes the uplink wrote and read on the wifi link while the rig ran. */
  readonly wifiBytes: number;
}

export async function safetyOnDeadLink(opts: { keepaliveS: number; idleMs: number; uplink?: Partial<UplinkOptions> }): Promise<IdleLinkResult> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'motobio-idle-'));
  try {
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
      r.on('record', (rec) => arrived[name].set(rec.seq, performance.now()));
    }
    const outbox = Outbox.open(join(dir, 'outbox.db'), { deviceId: 'bike-1' });
    cleanups.push(() => outbox.close());
    const uplink = new Uplink(outbox, {
      deviceId: 'bike-1',
      links: [
        { name: 'lte', url: proxy.url, keepaliveS: opts.keepaliveS, ...tls },
        { name: 'wifi', url: wifiBroker.url, keepaliveS: opts.keepaliveS, ...tls },
      ],
      batchMaxAgeMs: { features: 50 },
      ...opts.uplink,
    });
    cleanups.push(() => uplink.stop());
    let ackedAt: number | undefined;
    uplink.on('acked', (a) => {
      if (a.priority === 'safety') ackedAt ??= performance.now();
    });
    uplink.start();
    await waitFor('lte up', () => uplink.status().active === 'lte', 15_000);
    outbox.append([{ type: 'features', priority: 'features', payload: { hrBpm: 72 } }]);
    uplink.notify();
    await waitFor('the features record acknowledged on lte', () => arrived.lte.size === 1 && outbox.stats().records === 0, 15_000);

    proxy.freeze();
    await new Promise((r) => setTimeout(r, opts.idleMs));
    const t0 = performance.now();
    const { firstSeq } = outbox.append([{ type: 'safety', priority: 'safety', payload: { rule: 'hr_high' } }]);
    uplink.notify();
    let lteStillUp = false;
    await waitFor(
      'the safety record at the wifi broker',
      () => {
        if (!arrived.wifi.has(firstSeq)) return false;
        lteStillUp = uplink.status().links[0].state === 'up';
        return true;
      },
      opts.keepaliveS * 1500,
      5,
    );
    await waitFor('its PUBACK', () => ackedAt !== undefined && outbox.stats().records === 0, 10_000, 5);
    const wifi = uplink.status().links[1];
    return { deliveredMs: arrived.wifi.get(firstSeq)! - t0, ackedMs: ackedAt! - t0, lteStillUp, wifiBytes: wifi.bytesOut + wifi.bytesIn };
  } finally {
    for (const c of cleanups.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  }
}
