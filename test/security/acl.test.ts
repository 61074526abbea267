/**
 * The example broker configuration (docs/mosquitto/) on a real mosquitto, rewritten only for
 * paths, the port and the user to run as: each unit writes only its own topics, a unit
 * claiming another's device id is refused (PUBACK 135) and our uplink keeps the batch, says
 * why and backs off instead of looping; a shared-subscription consumer reads every unit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../helpers/brokers.js';
import { makeFleetPki, type FleetPki } from './pki.js';
import { runMosquitto, type RunningMosquitto } from './mosq.js';
import { LinkConnection, refusalCode, type LinkConfig } from '../../src/uplink/link.js';
import { Uplink } from '../../src/uplink/uplink.js';
import { Receiver, type ReceivedRecord } from '../../src/uplink/receiver.js';
import { Outbox } from '../../src/store/outbox.js';
import { REPO } from '../daemon/helpers.js';
import { recordFaultResult } from '../faults/report.js';

let dir: string;
let pki: FleetPki;
let mosq: RunningMosquitto;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-sec-acl-'));
  pki = makeFleetPki(dir, ['bike-a', 'bike-b', 'fleet-ingest']);
  port = await freePort();
  copyFileSync(join(REPO, 'docs/mosquitto/motobio.acl'), join(dir, 'motobio.acl'));
  const conf = readFileSync(join(REPO, 'docs/mosquitto/mosquitto.conf'), 'utf8');
  const rewritten = [
    // As root mosquitto would drop to user "mosquitto", who cannot read our 0700 temp dir.
    `user ${userInfo().username}`,
    conf
      .replace('/etc/mosquitto/motobio.acl', join(dir, 'motobio.acl'))
      .replace('/var/lib/mosquitto/', `${dir}/`)
      .replace('/etc/mosquitto/certs/fleet-ca.pem', pki.ca)
      .replace('/etc/mosquitto/certs/broker.pem', pki.certs.server.cert)
      .replace('/etc/mosquitto/certs/broker.key', pki.certs.server.key)
      .replace('log_dest syslog', 'log_dest stderr')
      .replace(/^listener 8883$/m, `listener ${port} 127.0.0.1`),
  ].join('\n');
  expect(rewritten).toContain(`listener ${port} 127.0.0.1`);
  mosq = await runMosquitto(dir, rewritten, [port]);
}, 120_000);

afterAll(async () => {
  await mosq?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const link = (who: string): LinkConfig => ({ name: 'lte', url: `mqtts://127.0.0.1:${port}`, ca: pki.ca, cert: pki.certs[who].cert, key: pki.certs[who].key, connectTimeoutMs: 10_000 });
const feature = (i: number) => ({ type: 'features', priority: 'features' as const, payload: { hrBpm: 70 + i, i } });

async function unit(deviceId: string, cert: string, n: number) {
  const sdir = mkdtempSync(join(dir, `store-${deviceId}-`));
  const box = Outbox.open(join(sdir, 'o.db'), { deviceId });
  box.append(Array.from({ length: n }, (_, i) => feature(i)));
  const up = new Uplink(box, { deviceId, links: [link(cert)], batchMaxAgeMs: { features: 0 }, batchMaxRecords: { features: 10 }, retryMinMs: 500, retryMaxMs: 4000 });
  return {
    box,
    up,
    close: async () => {
      await up.stop(0);
      box.close();
    },
  };
}

describe('docs/mosquitto: each unit writes only its own topics', () => {
  it('a shared-subscription consumer reads every unit; each unit publishes its own data and status', async () => {
    const consumers = await Promise.all([0, 1].map(() => Receiver.start({ link: link('fleet-ingest'), group: 'ingest' })));
    const got: ReceivedRecord[] = [];
    for (const c of consumers) c.on('record', (r) => got.push(r));
    const a = await unit('bike-a', 'bike-a', 30);
    const b = await unit('bike-b', 'bike-b', 30);
    try {
      a.up.start();
      b.up.start();
      await waitFor('60 records from two units at the consumers', () => got.length >= 60, 30_000);
      await waitFor('both outboxes empty', () => a.box.stats().records === 0 && b.box.stats().records === 0, 30_000);
      const by = (d: string) => got.filter((r) => r.device === d).map((r) => r.seq).sort((x, y) => x - y);
      const all = Array.from({ length: 30 }, (_, i) => i + 1);
      expect(by('bike-a')).toEqual(all);
      expect(by('bike-b')).toEqual(all);
      expect(a.up.status().refusedBatches).toBe(0);
      recordFaultResult({
        group: 'acl',
        fault: 'two units and a $share consumer group on the docs/mosquitto ACL',
        behaviour: 'each unit wrote its own data and status topics; the shared-subscription group (2 consumers) read both units completely',
        expected: 60,
        expectedFrom: '30 records appended by the test to each of two units',
        received: new Set(got.map((r) => `${r.device}/${r.seq}`)).size,
        lost: 60 - new Set(got.map((r) => `${r.device}/${r.seq}`)).size,
        duplicates: got.length - new Set(got.map((r) => `${r.device}/${r.seq}`)).size,
      });
    } finally {
      await a.close();
      await b.close();
      for (const c of consumers) await c.close();
    }
  }, 90_000);

  it("a unit publishing to another unit's data topic is refused with PUBACK 135; the uplink keeps the batch, reports it and does not loop", async () => {
    // Raw: bike-a's certificate, bike-b's topic, QoS 1.
    const conn = await LinkConnection.connect(link('bike-a'), { clientId: 'bike-a.raw' });
    const err = await conn.publish('motobio/v1/bike-b/data/features', Buffer.from('{}'), {}, 5000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refusalCode(err)).toBe(135);
    // Reading another unit's commands: the broker does not deliver them.
    const seen: string[] = [];
    const spy = await LinkConnection.connect(link('bike-a'), { clientId: 'bike-a.spy', onMessage: (t) => seen.push(t) });
    await spy.subscribe('motobio/v1/bike-b/cmd/#');
    await spy.subscribe('motobio/v1/bike-a/cmd/#');
    const server = await LinkConnection.connect(link('fleet-ingest'), { clientId: 'fleet-ingest.cmd' });
    await server.publish('motobio/v1/bike-b/cmd/ping', Buffer.from('x'), {}, 5000);
    await server.publish('motobio/v1/bike-a/cmd/ping', Buffer.from('y'), {}, 5000);
    await waitFor("bike-a's own command (sent after bike-b's)", () => seen.includes('motobio/v1/bike-a/cmd/ping'), 10_000);
    expect(seen.filter((t) => t.includes('bike-b'))).toEqual([]);
    await spy.close();
    await conn.close();
    await server.close();

    // The uplink of a unit configured with the wrong device id (bike-a's certificate, device bike-b).
    const liar = await unit('bike-b', 'bike-a', 25);
    try {
      liar.up.start();
      await waitFor('a refused batch', () => liar.up.status().refusedBatches > 0, 30_000);
      const t0 = Date.now();
      const sent0 = liar.up.status().sentBatches;
      await new Promise((r) => setTimeout(r, 6000));
      const s = liar.up.status();
      const sentIn6s = s.sentBatches - sent0;
      // Backoff 0.5, 1, 2, 4 s with one probe batch each: a handful, where a hot loop makes thousands.
      expect(sentIn6s, `batches sent in ${Date.now() - t0} ms while refused`).toBeLessThanOrEqual(8);
      expect(s.ackedRecords).toBe(0);
      expect(liar.box.stats().records).toBe(25);
      expect(s.links[0].state).toBe('up');
      expect(s.links[0].lastError).toMatch(/PUBACK reason 135, not authorized.*ACL.*device\.id.*records stay stored/);
      recordFaultResult({
        group: 'acl',
        fault: "unit publishes to another unit's data topic (certificate bike-a, device id bike-b)",
        behaviour: `PUBACK 135 from mosquitto; batch kept in the outbox (25/25), error on /status, ${sentIn6s} probe batches in 6 s (backoff, no hot loop); another unit's cmd/# not delivered`,
        expected: null,
        received: null,
        lost: null,
        duplicates: null,
        figures: { records_kept: 25, refused_batches: s.refusedBatches, batches_in_6s: sentIn6s },
      });
    } finally {
      await liar.close();
    }
  }, 90_000);
});
