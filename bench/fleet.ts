/**
 * Fleet ingest benchmark, every part real: N simulated units publish real v1 batches (the
 * unit's own encoder, features the signal chain computed from the bundled drive05 recording)
 * to a local mosquitto (loopback, no TLS); `Ingest` (in this process, several connections of
 * one $share group) stores them in a PostgreSQL 15 cluster started here. Prints:
 *   - drain of a queued backlog: records/s wall, records/s per ingest CPU core (this process's
 *     user+system time while draining, the publisher having finished), PostgreSQL CPU alongside;
 *   - live: p50/p99 lag (commit time - record wall time) at a steady publish rate;
 *   - PostgreSQL bytes per record (all fleet tables and indexes / records);
 *   - exactly once: rows = distinct (device, seq) = records published.
 * Printed, never asserted. Needs mosquitto and postgresql-15.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readRecord, toPhysical } from '../src/sources/wfdb/record.js';
import { runChain } from '../src/offline/signal-eval/run-record.js';
import type { StoredRecord } from '../src/store/types.js';
import { encodeBatch } from '../src/uplink/codec.js';
import { PgClient } from '../src/fleet/db-pg.js';
import { SqlFleetStore, type FleetStore, type IngestBatch } from '../src/fleet/store.js';
import { Ingest } from '../src/fleet/ingest.js';
import { num } from '../src/fleet/sql.js';
import { silentLogger } from '../src/util/log.js';
import { startMosquitto } from '../test/helpers/brokers.js';
import { startPostgres } from '../test/fleet/helpers/postgres.js';
import { connectAsync } from 'mqtt';

const UNITS = Number(process.env['MOTOBIO_BENCH_FLEET_UNITS'] ?? 40);
const BATCHES = Number(process.env['MOTOBIO_BENCH_FLEET_BATCHES'] ?? 6);
const PER_BATCH = 500;
const CONNECTIONS = Number(process.env['MOTOBIO_BENCH_FLEET_CONNECTIONS'] ?? 4);

/** Cumulative CPU seconds of the postgres user's processes (the cluster's server and backends), from /proc. */
function postgresCpuS(): number {
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (statSync(`/proc/${pid}`).uid !== uid) continue;
      // Fields after the "(comm)": state is 3rd, utime 14th, stime 15th.
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* the process ended meanwhile */
    }
  }
  return ticks / 100;
}

function featureBodies(): string[] {
  const rec = readRecord(join(process.cwd(), 'src/sources/recordings/drive05-ecg-5min'));
  const sig = rec.signals[0];
  const run = runChain(toPhysical(sig), sig.fs, { hrvEveryS: 5, hrvWindowS: 60 });
  return run.hrv.map((h) => JSON.stringify(h));
}

function unitBatch(device: string, firstSeq: number, n: number, bodies: readonly string[], wallMs: number): Buffer {
  const recs: StoredRecord[] = [];
  for (let i = 0; i < n; i++) {
    const seq = firstSeq + i;
    const body = Buffer.from(bodies[seq % bodies.length]);
    recs.push({ id: seq, deviceId: device, seq, bootId: `${device}-boot`, monoMs: seq * 5000, wallMs, clockSynced: true, priority: 'features', type: 'features', encoding: 'json', body, size: body.length });
  }
  return encodeBatch(device, `${device}-${firstSeq}`, recs, [], wallMs);
}

/** Measures commit time - record wall time of every record the store takes. */
function lagTap(store: FleetStore, lags: number[]): FleetStore {
  const write = store.writeBatch.bind(store);
  store.writeBatch = async (b: IngestBatch) => {
    const r = await write(b);
    const now = Date.now();
    for (const rec of r.fresh) lags.push(now - rec.wall);
    return r;
  };
  return store;
}

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};

export async function run(): Promise<void> {
  const bodies = featureBodies();
  const [broker, pg] = await Promise.all([startMosquitto(), startPostgres()]);
  const store = new SqlFleetStore(await PgClient.open(pg.url, { maxConnections: CONNECTIONS + 2 }));
  try {
    await store.migrate();
    const lags: number[] = [];
    const tapped = lagTap(store, lags);
    const opts = { broker: { url: broker.url }, store: tapped, log: silentLogger, workerId: 'bench', group: 'bench', connections: CONNECTIONS, refreshMs: 3600_000 };
    // Subscribe once (persistent sessions), leave: the broker queues the backlog for the group.
    await (await Ingest.start(opts)).close();
    const pubs = await Promise.all(Array.from({ length: 4 }, (_, i) => connectAsync(broker.url, { protocolVersion: 5, clientId: `bench-pub-${i}` })));
    const total = UNITS * BATCHES * PER_BATCH;
    let payloadBytes = 0;
    const t0 = Date.now();
    for (let b = 0; b < BATCHES; b++) {
      await Promise.all(
        Array.from({ length: UNITS }, (_, u) => {
          const p = unitBatch(`bike-${u}`, b * PER_BATCH + 1, PER_BATCH, bodies, t0);
          payloadBytes += p.length;
          return pubs[u % pubs.length].publishAsync(`motobio/v1/bike-${u}/data/features`, p, { qos: 1 });
        }),
      );
    }
    const pubS = (Date.now() - t0) / 1000;

    // Drain the backlog: this process does nothing but ingest now.
    const cpu0 = process.cpuUsage();
    const pg0 = postgresCpuS();
    const w0 = performance.now();
    const ing = await Ingest.start(opts);
    while (ing.stats().stored < total) await new Promise((r) => setTimeout(r, 20));
    const wallS = (performance.now() - w0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const pgS = postgresCpuS() - pg0;

    // Live: a steady rate, lag from the record's wall time to its commit.
    lags.length = 0;
    const liveS = 5;
    const perTick = 20;
    const tickMs = 100;
    // Well below the drain rate: the lag of a worker that keeps up, not of a queue.
    const liveUnits = Math.min(UNITS, 20);
    const seqBase = BATCHES * PER_BATCH + 1;
    for (let t = 0; t < (liveS * 1000) / tickMs; t++) {
      const tick = Date.now();
      await Promise.all(
        Array.from({ length: liveUnits }, (_, u) => pubs[u % pubs.length].publishAsync(`motobio/v1/bike-${u}/data/features`, unitBatch(`bike-${u}`, seqBase + t * perTick, perTick, bodies, Date.now()), { qos: 1 })),
      );
      const spent = Date.now() - tick;
      if (spent < tickMs) await new Promise((r) => setTimeout(r, tickMs - spent));
    }
    const liveTotal = total + liveUnits * perTick * ((liveS * 1000) / tickMs);
    while (ing.stats().stored < liveTotal) await new Promise((r) => setTimeout(r, 20));
    await ing.close();
    for (const p of pubs) await p.endAsync();

    const rows = await store.sql.query<{ n: unknown; d: unknown }>('SELECT count(*) AS n, count(DISTINCT (device, seq)) AS d FROM records');
    const size = await store.sql.query<{ b: unknown }>("SELECT sum(pg_total_relation_size(c.oid)) AS b FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace");
    const recSize = await store.sql.query<{ r: unknown; f: unknown }>("SELECT pg_total_relation_size('records') AS r, pg_total_relation_size('features') AS f");
    const n = num(rows.rows[0].n);
    console.log(`fleet ingest: ${UNITS} units x ${BATCHES} batches x ${PER_BATCH} features (backlog ${total} records, ${(payloadBytes / total).toFixed(1)} wire bytes/record, published in ${pubS.toFixed(1)} s), ${CONNECTIONS} connections, PostgreSQL 15 on loopback`);
    console.log(`  drain: ${(total / wallS).toFixed(0)} records/s wall; ingest CPU ${cpuS.toFixed(2)} s -> ${(total / cpuS).toFixed(0)} records/s per ingest core; PostgreSQL CPU ${pgS.toFixed(2)} s -> ${(total / Math.max(pgS, 0.01)).toFixed(0)} records/s per PostgreSQL core; ${(total / (cpuS + pgS)).toFixed(0)} records/s per core, both together`);
    console.log(`  live: ${(liveUnits * perTick * (1000 / tickMs)).toFixed(0)} records/s offered for ${liveS} s; lag p50 ${q(lags, 0.5)} ms, p99 ${q(lags, 0.99)} ms, max ${lags.reduce((a, b) => Math.max(a, b), 0)} ms`);
    console.log(`  PostgreSQL: ${(num(size.rows[0].b) / n).toFixed(0)} bytes/record (all tables + indexes; records ${(num(recSize.rows[0].r) / n).toFixed(0)}, features ${(num(recSize.rows[0].f) / n).toFixed(0)})`);
    console.log(`  exactly once: ${n} rows, ${num(rows.rows[0].d)} distinct (device, seq), ${liveTotal} published`);
  } finally {
    await store.close();
    await broker.close();
    pg.close();
  }
}
