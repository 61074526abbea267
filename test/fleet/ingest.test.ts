/**
 * `Ingest` against real parts: mosquitto with the docs/mosquitto TLS + ACL configuration (the
 * worker authenticates as CN fleet-ingest and reads through $share), a real PostgreSQL 15, and
 * units publishing real batches with their own certificates. Proves: exactly once with repeats
 * and two connections in the group; garbage and hostile batches quarantined while the worker
 * goes on; messages held unacknowledged while PostgreSQL is down and stored once it is back;
 * /metrics with the counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { connectAsync, type MqttClient } from 'mqtt';
import { waitFor } from '../helpers/brokers.js';
import { startFleetBroker, type FleetBroker } from './helpers/fleet-broker.js';
import { pgTool, startPostgres, type PgCluster } from './helpers/postgres.js';
import { batch, range } from './helpers/batches.js';
import { PgClient } from '../../src/fleet/db-pg.js';
import { SqlFleetStore, type FleetStore } from '../../src/fleet/store.js';
import { Ingest } from '../../src/fleet/ingest.js';
import { BATCH_DICTIONARY } from '../../src/uplink/codec.js';
import { silentLogger } from '../../src/util/log.js';
import { num } from '../../src/fleet/sql.js';

let dir: string;
let broker: FleetBroker;
let pg: PgCluster;
let dbN = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-fleet-ingest-'));
  [broker, pg] = await Promise.all([startFleetBroker(dir, ['bike-a', 'bike-b', 'fleet-ingest']), startPostgres()]);
}, 120_000);
afterAll(async () => {
  await broker?.close();
  pg?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function freshStore(): Promise<FleetStore> {
  const name = `ingest_${++dbN}`;
  pgTool(pg, 'psql', ['-q', '-c', `CREATE DATABASE ${name} OWNER fleet`]);
  const s = new SqlFleetStore(await PgClient.open(pg.url.replace(/\/fleet$/, `/${name}`)));
  await s.migrate();
  return s;
}

const brokerFor = (who: string) => ({ url: broker.url, ca: broker.pki.ca, cert: broker.pki.certs[who].cert, key: broker.pki.certs[who].key });

async function unit(who: string): Promise<MqttClient> {
  const b = brokerFor(who);
  const { readFileSync } = await import('node:fs');
  return connectAsync(b.url, { protocolVersion: 5, clientId: `${who}.test`, ca: readFileSync(b.ca), cert: readFileSync(b.cert), key: readFileSync(b.key), rejectUnauthorized: true, reconnectPeriod: 0 });
}

const pub = (c: MqttClient, device: string, payload: Buffer, prio = 'features') => c.publishAsync(`motobio/v1/${device}/data/${prio}`, payload, { qos: 1 });

describe('fleet ingest on mosquitto (TLS, ACL) and PostgreSQL 15', () => {
  it('two connections in the $share group store every record once, repeats and overlaps included; status to link_status; /metrics counts', async () => {
    const store = await freshStore();
    const ingest = await Ingest.start({ broker: brokerFor('fleet-ingest'), store, log: silentLogger, workerId: 'w1', group: 'ingest-a', connections: 2, refreshMs: 200, gapAgeLimitS: 1, metricsListen: { host: '127.0.0.1', port: 0 } });
    const a = await unit('bike-a');
    const b = await unit('bike-b');
    try {
      for (let k = 0; k < 20; k++) await pub(a, 'bike-a', batch('bike-a', range(k * 50 + 1, k * 50 + 50).map((seq) => ({ seq }))));
      // The same batches again, and overlapping ones: a lost PUBACK, a link switch.
      for (let k = 0; k < 20; k += 3) await pub(a, 'bike-a', batch('bike-a', range(k * 50 + 1, k * 50 + 50).map((seq) => ({ seq }))));
      await pub(a, 'bike-a', batch('bike-a', range(25, 75).map((seq) => ({ seq }))));
      await pub(b, 'bike-b', batch('bike-b', [{ seq: 1, type: 'safety', data: { rule: 'hr-high', value: 190, threshold: 170 } }, { seq: 2 }]), 'safety');
      await b.publishAsync('motobio/v1/bike-b/status/lte', Buffer.from(JSON.stringify({ v: 1, state: 'online', device: 'bike-b', link: 'lte', boot: 'b1', at: Date.now() })), { qos: 1, retain: true });
      await waitFor('1002 records stored', async () => (await store.count('records')) === 1002, 30_000);
      await waitFor('the status', async () => (await store.count('link_status')) === 1, 10_000);
      expect(await store.seqs('bike-a')).toEqual(range(1, 1000));
      expect(await store.seqs('bike-b')).toEqual([1, 2]);
      await ingest.refresh();
      expect(await store.openGaps()).toEqual([]);
      const s = ingest.stats();
      expect(s.stored).toBe(1002);
      expect(s.duplicates).toBe(7 * 50 + 51);
      expect(s.quarantined).toBe(0);
      const text = await (await fetch(`http://127.0.0.1:${ingest.metricsPort}/metrics`)).text();
      expect(text).toMatch(/motobio_fleet_records_stored_total\{type="features"\} 1001/);
      expect(text).toMatch(/motobio_fleet_records_stored_total\{type="safety"\} 1/);
      expect(text).toMatch(/motobio_fleet_safety_events_total\{rule="hr-high"\} 1/);
      expect(text).toMatch(/motobio_fleet_build_info\{version="[^"]+",node="v20/);
      expect(text).toMatch(/motobio_fleet_ingest_lag_seconds_count 1002/);
      expect(text).toMatch(/motobio_fleet_devices_seen 2/);
      expect(text).not.toMatch(/bike-a/);
      // A hole (bike-b 3-4) older than the age limit (1 s here) is an alarm.
      await pub(b, 'bike-b', batch('bike-b', [{ seq: 5 }]));
      await waitFor('the gap past its age limit', () => ingest.stats().gapsOverLimit === 1, 20_000);
      expect(await store.openGaps()).toMatchObject([{ device: 'bike-b', kind: 'missing', first: 3, last: 4 }]);
      const after = await (await fetch(`http://127.0.0.1:${ingest.metricsPort}/metrics`)).text();
      expect(after).toMatch(/motobio_fleet_gaps_open\{age="over_limit"\} 1/);
    } finally {
      await a.endAsync();
      await b.endAsync();
      await ingest.close();
      await store.close();
    }
  }, 90_000);

  it('garbage and hostile batches go to quarantine with the reason; the worker keeps storing good ones', async () => {
    const store = await freshStore();
    const ingest = await Ingest.start({ broker: brokerFor('fleet-ingest'), store, log: silentLogger, workerId: 'w2', group: 'ingest-b', connections: 1 });
    const a = await unit('bike-a');
    try {
      const header = (json: string) => {
        const z = deflateRawSync(Buffer.from(json), { dictionary: BATCH_DICTIONARY });
        const len = Buffer.alloc(4);
        len.writeUInt32BE(z.length);
        return Buffer.concat([Buffer.from('MBB1'), len, z]);
      };
      const bomb = (() => {
        const z = deflateRawSync(Buffer.alloc(64 * 1024 * 1024, 0x20), { level: 9 });
        const len = Buffer.alloc(4);
        len.writeUInt32BE(z.length);
        return Buffer.concat([Buffer.from('MBB1'), len, z]);
      })();
      const hostile: [string, Buffer][] = [
        ['random bytes', Buffer.from('not a batch at all')],
        ['a deflate bomb (64 MiB of spaces)', bomb],
        ['a header length past the end', Buffer.concat([Buffer.from('MBB1'), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.alloc(10)])],
        ['version 2', header('{"v":2,"device":"bike-a","records":[]}')],
        ['a negative seq', header('{"v":1,"device":"bike-a","batch":"x","sent":1,"boot":"b","records":[{"seq":-5,"type":"features","prio":"features","mono":1,"wall":1,"sync":true,"data":{}}]}')],
        ['a blob pointer past the blob section', header('{"v":1,"device":"bike-a","batch":"x","sent":1,"boot":"b","records":[{"seq":9,"type":"ecg","prio":"raw","mono":1,"wall":1,"sync":true,"ecg":[0,9999]}]}')],
        ['another device in the header', batch('bike-b', [{ seq: 1 }])],
        ['__proto__ pollution in data', header('{"v":1,"device":"bike-a","batch":"x","sent":1,"boot":"b","records":[{"seq":3,"type":"BAD","prio":"features","mono":1,"wall":1,"sync":true,"data":{"__proto__":{"x":1}}}]}')],
      ];
      for (const [, p] of hostile) await pub(a, 'bike-a', p);
      await a.publishAsync('motobio/v1/bike-a/status/lte', Buffer.from('{not json'), { qos: 1 });
      await pub(a, 'bike-a', batch('bike-a', [{ seq: 1 }, { seq: 2 }]));
      await waitFor('the good batch after the hostile ones', async () => (await store.count('records')) === 2, 30_000);
      await waitFor('every hostile message quarantined', async () => (await store.count('quarantine')) === hostile.length + 1, 10_000);
      const q = await store.sql.query<{ reason: string; payload: Uint8Array | null }>('SELECT reason, payload FROM quarantine ORDER BY id');
      expect(q.rows.map((r) => r.reason)).toEqual([
        expect.stringMatching(/not a motobio v1 batch/),
        expect.stringMatching(/does not inflate to JSON of at most/),
        expect.stringMatching(/runs past the/),
        expect.stringMatching(/version 2 is not 1/),
        expect.stringMatching(/seq -5, not a positive whole number/),
        expect.stringMatching(/beyond the 0-byte blob section/),
        expect.stringMatching(/names device "bike-b" but came on the topic of bike-a/),
        expect.stringMatching(/record seq 3: type "BAD"/),
        expect.stringMatching(/^status: not JSON/),
      ]);
      // Kept, but bounded: a bomb does not fill the database.
      expect(Math.max(...q.rows.map((r) => r.payload?.length ?? 0))).toBeLessThanOrEqual(256 * 1024);
      expect(ingest.stats().quarantined).toBe(hostile.length + 1);
      const m = await ingest.metrics.registry.getSingleMetricAsString('motobio_fleet_quarantined_total');
      expect(m).toMatch(/reason="decode"\} 6/);
      expect(m).toMatch(/reason="device_mismatch"\} 1/);
      expect(m).toMatch(/reason="record_schema"\} 1/);
      expect(m).toMatch(/reason="status"\} 1/);
    } finally {
      await a.endAsync();
      await ingest.close();
      await store.close();
    }
  }, 90_000);

  it('holds messages unacknowledged while PostgreSQL is down and stores them once it is back: nothing lost, nothing twice', async () => {
    const store = await freshStore();
    const ingest = await Ingest.start({ broker: brokerFor('fleet-ingest'), store, log: silentLogger, workerId: 'w3', group: 'ingest-c', connections: 2 });
    const a = await unit('bike-a');
    try {
      await pub(a, 'bike-a', batch('bike-a', range(1, 10).map((seq) => ({ seq }))));
      await waitFor('first batch', async () => (await store.count('records')) === 10, 20_000);
      // Retained status messages of earlier cases may be acked too: count from here.
      const ackedBefore = ingest.stats().acked;
      pg.stop('immediate');
      for (let k = 1; k < 10; k++) await pub(a, 'bike-a', batch('bike-a', range(k * 10 + 1, k * 10 + 10).map((seq) => ({ seq }))));
      await waitFor('failed writes while the database is down', () => ingest.stats().dbErrors >= 2, 20_000);
      const ackedWhileDown = ingest.stats().acked;
      pg.start();
      await waitFor('all 100 records after the database returned', async () => (await store.count('records').catch(() => 0)) === 100, 60_000);
      expect(ackedWhileDown).toBe(ackedBefore);
      await waitFor('the 9 held messages acknowledged after their commit', () => ingest.stats().acked === ackedBefore + 9, 10_000);
      expect(await store.seqs('bike-a')).toEqual(range(1, 100));
      const n = await store.sql.query<{ n: unknown }>('SELECT count(*) AS n FROM features');
      expect(num(n.rows[0].n)).toBe(100);
    } finally {
      await a.endAsync();
      await ingest.close();
      await store.close();
    }
  }, 120_000);
});
