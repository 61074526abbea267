/**
 * The unit's own reports end to end, with real parts: the built daemon (`motobio run`) replays
 * a recording that trips hr_high twice, over a real mosquitto into the fleet ingest on PGlite;
 * then `motobio fleet ecg` exports the strip of each alert from the database.
 *
 * Asserts: health records every period of signal (the count follows from the signal and the
 * setting) with sane figures; for each safety alert, ecg chunks covering exactly
 * [alert - 30 s, alert + 30 s) (clipped to the stream), no sample twice, each sample as
 * recorded; the WFDB export holds the same samples.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMosquitto, type Mosquitto } from '../helpers/brokers.js';
import { killAll, spawnNode, tempDir, waitFor, writeSyntheticRecord } from '../daemon/helpers.js';
import { MAIN, readStore, replayConfig, requireBuild, startDaemon } from '../faults/helpers/daemon.js';
import { periodsIn } from '../faults/helpers/count.js';
import { openFleetStore } from '../../src/fleet/open.js';
import { Ingest } from '../../src/fleet/ingest.js';
import type { FleetStore } from '../../src/fleet/store.js';
import { decodeEcgChunk, quantise } from '../../src/store/ecg-codec.js';
import { channelOf, readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import { num } from '../../src/fleet/sql.js';
import { packageVersion } from '../../src/core/package.js';
import { silentLogger } from '../../src/util/log.js';

const RECORD_S = 200;
const FS = 360;
const HEALTH_S = 20;
const BEFORE_S = 30;
const AFTER_S = 30;
const DEVICE = 'bike-report';
/** records.data is jsonb (an object) on one engine and may come back as text on another. */
const json = <T = Record<string, unknown>>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;

let dir: { path: string; cleanup: () => void };
let broker: Mosquitto;
beforeAll(async () => {
  requireBuild();
  dir = tempDir('motobio-report-');
  broker = await startMosquitto();
}, 60_000);
afterAll(async () => {
  killAll();
  await broker?.close();
  dir?.cleanup();
});

describe('health records and ECG strips from the real daemon into the fleet database', () => {
  it('sends a health record every period and the raw ECG around each safety alert, sample-exact; fleet ecg exports it', async () => {
    const record = writeSyntheticRecord(dir.path, { seconds: RECORD_S, bpm: 130, fs: FS });
    const store = join(dir.path, 'state', 'motobio.db');
    const fleet: FleetStore = await openFleetStore({ pgliteDir: join(dir.path, 'fleet-db') });
    let fleetOpen = true;
    const ingest = await Ingest.start({ broker: { url: broker.url }, store: fleet, log: silentLogger, connections: 1, refreshMs: 60_000 });
    try {
      const config = {
        ...replayConfig({ device: DEVICE, record, store, speed: 40, rules: { hr_high_bpm: 100 }, periodS: 5, loop: false, links: [{ name: 'lo', url: broker.url }], batchMaxAgeS: 0.5 }),
        report: { health_period_s: HEALTH_S, strip_before_s: BEFORE_S, strip_after_s: AFTER_S },
      };
      const d = await startDaemon(dir.path, config);
      await waitFor(
        'the replay to end and the outbox to drain',
        async () => {
          const s = await d.status();
          return s.components['source']?.state === 'ended' && s.outbox.records === 0;
        },
        90_000,
        100,
      );
      expect(await d.stop()).toBe(0);
      const issued = readStore(store).nextSeq - 1;
      await waitFor('the ingest to store every record the unit issued', () => ingest.stats().stored >= issued, 30_000, 100);
      expect(ingest.stats()).toMatchObject({ stored: issued, quarantined: 0 });
      const db = fleet.sql;

      // Health: one per HEALTH_S of signal, on the data's timeline (the replay runs 40x).
      const health = (await db.query<Record<string, unknown>>("SELECT r.data, u.* FROM unit_status u JOIN records r USING (device, seq) WHERE u.device = $1 AND u.kind = 'health' ORDER BY u.seq", [DEVICE])).rows;
      expect(health).toHaveLength(periodsIn(RECORD_S, HEALTH_S));
      for (const h of health) {
        const body = json(h['data']);
        expect(body['timeline']).toBe('data');
        expect(h['version']).toBe(packageVersion());
        expect(num(h['disk_free_bytes'])).toBeGreaterThan(0);
        expect(num(h['rss_bytes'])).toBeGreaterThan(10 * 1024 * 1024);
        expect(h['cpu']).toBeGreaterThanOrEqual(0);
        expect(h['cpu']).toBeLessThanOrEqual(1);
        expect(h['memory']).toBeGreaterThan(0);
        expect(h['memory']).toBeLessThan(1);
        expect(h['battery']).toBeNull(); // a replay knows no strap battery
        expect(num(h['outbox_records'])).toBeGreaterThanOrEqual(0);
        // 4 decision periods of 5 s per 20 s of signal (the one on the boundary counts in the next record), each a decision with a latency.
        expect(body['windows']).toBeGreaterThanOrEqual(HEALTH_S / 5 - 1);
        expect(body['windows']).toBeLessThanOrEqual(HEALTH_S / 5);
        expect(body['decisions']).toBeGreaterThanOrEqual(3);
        expect(h['decision_p95_ms']).toBeGreaterThan(0);
        expect(h['quality_good']).toBeGreaterThanOrEqual(0);
        expect(h['quality_good']).toBeLessThanOrEqual(1);
        expect(typeof body['socTempC'] === 'number' || body['socTempC'] === null).toBe(true);
      }
      // The link carried traffic, counted per link since start and growing.
      const sent = health.map((h) => json<{ links: Record<string, { bytesSent: number }> }>(h['data']).links['lo']?.bytesSent ?? 0);
      expect(health.at(-1)!['link']).toBe('lo');
      expect(sent.at(-1)).toBeGreaterThan(0);
      expect([...sent].sort((a, b) => a - b)).toEqual(sent);

      // ECG: for each alert, the chunks cover [alert - 30 s, alert + 30 s) exactly, clipped to the stream.
      const alerts = (await db.query<{ seq: unknown; at: Date; data: unknown }>("SELECT s.seq, s.at, r.data FROM safety_events s JOIN records r USING (device, seq) WHERE s.device = $1 ORDER BY s.seq", [DEVICE])).rows;
      expect(alerts.length).toBe(2);
      const features = (await db.query<{ data: unknown; end_s: number }>("SELECT r.data, f.end_s FROM features f JOIN records r USING (device, seq) WHERE f.device = $1", [DEVICE])).rows;
      const endOfLocal = new Map(features.map((f) => [json<{ localSeq: number }>(f.data).localSeq, f.end_s]));
      const chunks = (await db.query<{ chunk: Uint8Array; start_sample: number; n: number }>('SELECT chunk, start_sample, n FROM ecg_chunks WHERE device = $1 ORDER BY start_sample', [DEVICE])).rows.map((c) => decodeEcgChunk(c.chunk));
      const n = RECORD_S * FS;
      const wanted = alerts.map((a) => {
        const endS = endOfLocal.get(json<{ featuresSeq: number }>(a.data).featuresSeq)!;
        expect(endS).toBeGreaterThan(0);
        const at = Math.round(endS * FS);
        return [Math.max(0, at - BEFORE_S * FS), Math.min(n, at + AFTER_S * FS)] as const;
      });
      // The two alerts are 120 s apart: two strips that do not touch.
      expect(wanted[1][0]).toBeGreaterThan(wanted[0][1]);
      expect(wanted[1][1] - wanted[1][0]).toBe((BEFORE_S + AFTER_S) * FS);
      const covered: [number, number][] = [];
      for (const [i, c] of chunks.entries()) {
        if (i > 0) expect(c.startSample, 'no sample sent twice').toBeGreaterThanOrEqual(chunks[i - 1].startSample + chunks[i - 1].counts.length);
        const last = covered.at(-1);
        if (last && last[1] === c.startSample) last[1] += c.counts.length;
        else covered.push([c.startSample, c.startSample + c.counts.length]);
      }
      expect(covered).toEqual(wanted.map((w) => [...w]));
      const recorded = quantise(toPhysical(channelOf(readRecord(record), 0)), 1);
      for (const c of chunks) expect(Array.from(c.counts)).toEqual(Array.from(recorded.subarray(c.startSample, c.startSample + c.counts.length)));

      // `motobio fleet ecg` at the second alert's time exports exactly its strip. The window is wall
      // time: at 40x, the strip's 60 s of signal took 1.5 s and the alerts came 3 s apart.
      await ingest.close();
      await fleet.close();
      fleetOpen = false;
      const out = join(dir.path, 'strip');
      const at = new Date(alerts[1].at).toISOString();
      const p = spawnNode([MAIN, 'fleet', 'ecg', DEVICE, '--at', at, '--out', out, '--before', '1.2', '--after', '1.2', '--pglite-dir', join(dir.path, 'fleet-db')], { cwd: dir.path });
      const e = await p.exited;
      expect(e.code, p.stderr.join('\n')).toBe(0);
      const summary = JSON.parse(p.stdout.at(-1)!) as { fs: number; samples: number; startSample: number };
      expect(summary).toMatchObject({ fs: FS, samples: (BEFORE_S + AFTER_S) * FS, startSample: wanted[1][0] });
      const dat = readFileSync(`${out}.dat`);
      const exported = new Int16Array(dat.buffer, dat.byteOffset, dat.length / 2);
      expect(Array.from(exported)).toEqual(Array.from(recorded.subarray(wanted[1][0], wanted[1][1])));
    } finally {
      if (fleetOpen) {
        await ingest.close();
        await fleet.close();
      }
    }
  }, 180_000);
});
