/**
 * One contract every FleetStore engine passes (like MQTT.js's abstract_store): PGlite
 * (store-pglite.test.ts) and a real PostgreSQL 15 (store-pg.test.ts) run exactly this, with
 * real batches from the unit's encoder going through the fleet decoder.
 */
import { describe, expect, it } from 'vitest';
import { decodeEcgChunk } from '../../src/store/ecg-codec.js';
import { decodeMessage } from '../../src/fleet/decode.js';
import type { FleetStore } from '../../src/fleet/store.js';
import { num } from '../../src/fleet/sql.js';
import { FleetMetrics } from '../../src/fleet/metrics.js';
import { readStrip, writeWfdb } from '../../src/fleet/ecg-export.js';
import { readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batch, range, topicOf, type Rec } from './helpers/batches.js';

/** Decodes like the ingest does and writes the result (records + quarantine). */
export async function ingest(store: FleetStore, device: string, recs: Rec[], evicted: Parameters<typeof batch>[2] = [], topicDevice = device) {
  const d = decodeMessage(topicOf(topicDevice), batch(device, recs, evicted));
  if (d.kind === 'quarantine') {
    await store.quarantine(d.quarantine);
    return { stored: 0, duplicates: 0, quarantined: d.quarantine.length };
  }
  if (d.kind !== 'batch') throw new Error(`unexpected ${d.kind}`);
  const r = await store.writeBatch({ ...d.batch, quarantine: d.quarantine });
  return { ...r, quarantined: d.quarantine.length };
}

const feats = (a: number, b: number): Rec[] => range(a, b).map((seq) => ({ seq }));

export function fleetStoreContract(engine: string, open: () => Promise<FleetStore>, opts: { concurrentClients?: () => Promise<FleetStore[]> } = {}): void {
  describe(`FleetStore contract: ${engine}`, () => {
    it('migrations apply once: a second and a concurrent run find nothing to do', async () => {
      const s = await open();
      try {
        expect(await s.migrate()).toEqual([]);
        const again = await Promise.all([s.migrate(), s.migrate()]);
        expect(again).toEqual([[], []]);
        const v = await s.sql.query<{ version: unknown }>('SELECT version FROM fleet_migrations');
        expect(v.rows.map((r) => num(r.version)).sort((a, b) => a - b)).toEqual([1, 19]);
      } finally {
        await s.close();
      }
    });

    it('stores each (device, seq) once: a repeated batch and an overlapping one add only the new records', async () => {
      const s = await open();
      try {
        expect((await ingest(s, 'bike-1', feats(1, 100))).stored).toBe(100);
        const rep = await ingest(s, 'bike-1', feats(1, 100));
        expect(rep).toMatchObject({ stored: 0, duplicates: 100 });
        const over = await ingest(s, 'bike-1', feats(51, 150));
        expect(over).toMatchObject({ stored: 50, duplicates: 50 });
        // Another device's seqs are its own.
        expect((await ingest(s, 'bike-2', feats(1, 10))).stored).toBe(10);
        expect(await s.seqs('bike-1')).toEqual(range(1, 150));
        expect(await s.count('features')).toBe(160);
        const f = await s.sql.query<{ hr_bpm: number; quality: number }>('SELECT hr_bpm, quality FROM features WHERE device = $1 AND seq = 7', ['bike-1']);
        expect(f.rows[0].hr_bpm).toBe(67);
        expect(f.rows[0].quality).toBeCloseTo(0.9, 5);
        // A features body the typed row holds whole keeps no raw JSON; unknown fields stay.
        const raw = await s.sql.query<{ data: unknown }>('SELECT data FROM records WHERE device = $1 AND seq = 7', ['bike-1']);
        expect(raw.rows[0].data).toBeNull();
        await ingest(s, 'bike-1', [{ seq: 151, data: { hrBpm: 80, lfMs2: 310.5, endS: 3600.25, zone: 'city', quality: 'n/a' } }]);
        const kept = await s.sql.query<{ data: unknown; lf_ms2: number; end_s: number; quality: number | null }>('SELECT r.data, f.lf_ms2, f.end_s, f.quality FROM records r JOIN features f USING (device, seq) WHERE device = $1 AND seq = 151', ['bike-1']);
        expect(kept.rows[0]).toEqual({ data: { zone: 'city', quality: 'n/a' }, lf_ms2: 310.5, end_s: 3600.25, quality: null });
      } finally {
        await s.close();
      }
    });

    it('fills the typed tables: decisions with whether the cue was heard, safety, health status, update reports, ECG chunks as bytea', async () => {
      const s = await open();
      try {
        const recs: Rec[] = [
          { seq: 1, type: 'decision', data: { name: 'breathe', action: 'breathe', source: 'model', probabilities: { breathe: 0.8 }, model: { name: 'policy-int8', version: '3' }, featuresSeq: 0, latencyMs: { total: 12.5 } } },
          { seq: 2, type: 'cue', data: { decisionSeq: 1, state: 'heard' } },
          { seq: 3, type: 'safety', data: { name: 'hr-high', rule: 'hr-high', value: 182, threshold: 170, message: 'HR 182 over 170' } },
          { seq: 4, type: 'status', data: { kind: 'health', version: '0.1.0', model: { name: 'policy-int8', version: '3' }, outbox: { records: 12, ageS: 30 }, diskFreeBytes: 1e9, link: 'lte', cpu: 0.42, memory: 0.3, rssBytes: 80e6, battery: 0.77, socTempC: 51.5, decisionP95Ms: 14, qualityGood: 0.97 } },
          { seq: 5, type: 'update', data: { event: 'applied', kind: 'model', version: '3', reason: null } },
          { seq: 6, type: 'ecg', ecg: true },
          { seq: 7, type: 'decision', data: { name: 'hold', action: 'hold', source: 'none' } },
          { seq: 8, type: 'mystery', prio: 'status', data: { anything: [1, 2] } },
        ];
        expect((await ingest(s, 'bike-t', recs)).stored).toBe(8);
        const d = await s.sql.query<{ seq: unknown; action: string; confidence: number; model: string; latency_ms: number; heard: boolean | null; cue_state: string | null }>('SELECT seq, action, confidence, model, latency_ms, heard, cue_state FROM decisions_heard WHERE device = $1 ORDER BY seq', ['bike-t']);
        expect(d.rows.map((r) => [num(r.seq), r.action, r.model, r.heard, r.cue_state])).toEqual([
          [1, 'breathe', 'policy-int8@3', true, 'heard'],
          [7, 'hold', null, null, null],
        ]);
        expect(d.rows[0].confidence).toBeCloseTo(0.8, 5);
        expect(d.rows[0].latency_ms).toBeCloseTo(12.5, 5);
        const sf = await s.sql.query<{ rule: string; value: number; threshold: number }>('SELECT rule, value, threshold FROM safety_events WHERE device = $1', ['bike-t']);
        expect(sf.rows).toEqual([{ rule: 'hr-high', value: 182, threshold: 170 }]);
        const st = await s.sql.query<Record<string, unknown>>('SELECT kind, version, model, link, outbox_records, disk_free_bytes, decision_p95_ms, quality_good, temp_c FROM unit_status WHERE device = $1', ['bike-t']);
        expect({ ...st.rows[0], outbox_records: num(st.rows[0]['outbox_records']), disk_free_bytes: num(st.rows[0]['disk_free_bytes']) }).toMatchObject({ kind: 'health', version: '0.1.0', model: 'policy-int8@3', link: 'lte', outbox_records: 12, disk_free_bytes: 1e9, decision_p95_ms: 14, temp_c: 51.5 });
        const up = await s.sql.query('SELECT event, kind, version FROM update_reports WHERE device = $1', ['bike-t']);
        expect(up.rows).toEqual([{ event: 'applied', kind: 'model', version: '3' }]);
        const ecg = await s.sql.query<{ chunk: Uint8Array; fs: number; n: number }>('SELECT chunk, fs, n FROM ecg_chunks WHERE device = $1', ['bike-t']);
        expect(ecg.rows[0].fs).toBe(360);
        expect(ecg.rows[0].n).toBe(360);
        const c = decodeEcgChunk(ecg.rows[0].chunk);
        expect(c.startSample).toBe(6 * 360);
        expect(c.counts.length).toBe(360);
        // The unknown type is kept as raw JSON, opaque.
        const raw = await s.sql.query<{ data: unknown }>("SELECT data FROM records WHERE device = $1 AND type = 'mystery'", ['bike-t']);
        expect(raw.rows[0].data).toEqual({ anything: [1, 2] });
      } finally {
        await s.close();
      }
    });

    it('gap ledger: a hole is missing until it arrives; announced evictions are evicted, not gaps; the watermark only moves up', async () => {
      const s = await open();
      try {
        await ingest(s, 'bike-g', feats(1, 10));
        await ingest(s, 'bike-g', feats(21, 30));
        await ingest(s, 'bike-g', feats(41, 50), [{ firstSeq: 31, lastSeq: 40, priority: 'raw', count: 10, wallMs: 1_764_000_000_000 }]);
        await s.refreshLedger();
        const missing = (await s.ledger('bike-g')).filter((e) => e.kind === 'missing');
        expect(missing.map((e) => [e.first, e.last])).toEqual([[11, 20]]);
        expect((await s.ledger('bike-g')).filter((e) => e.kind === 'evicted').map((e) => [e.first, e.last])).toEqual([[31, 40]]);
        const wm = async () => num((await s.sql.query<{ watermark: unknown }>('SELECT watermark FROM devices WHERE device = $1', ['bike-g'])).rows[0].watermark);
        expect(await wm()).toBe(10);
        await ingest(s, 'bike-g', feats(11, 20));
        await s.refreshLedger();
        expect((await s.ledger('bike-g')).filter((e) => e.kind === 'missing')).toEqual([]);
        expect(await wm()).toBe(50);
        // A unit whose first batch starts above 1 has a leading hole.
        await ingest(s, 'bike-late', feats(5, 6));
        expect((await s.ledger('bike-late')).map((e) => [e.kind, e.first, e.last])).toEqual([['missing', 1, 4]]);
      } finally {
        await s.close();
      }
    });

    it('quarantine: an undecodable batch, a device that does not match its topic and a record failing its schema are kept with the reason; the rest of the batch is stored', async () => {
      const s = await open();
      try {
        const garbage = decodeMessage(topicOf('bike-q'), Buffer.from('MBB1\u0000\u0000\u0000\u0004junkjunk'));
        expect(garbage.kind).toBe('quarantine');
        if (garbage.kind === 'quarantine') await s.quarantine(garbage.quarantine);
        expect((await ingest(s, 'bike-q', feats(1, 3), [], 'bike-other')).quarantined).toBe(1);
        const r = await ingest(s, 'bike-q', [{ seq: 1 }, { seq: 2, type: 'BAD TYPE!' }, { seq: 3 }]);
        expect(r).toMatchObject({ stored: 2, quarantined: 1 });
        const q = await s.sql.query<{ reason: string; device: string | null; seq: unknown; payload: Uint8Array | null }>('SELECT reason, device, seq, payload FROM quarantine ORDER BY id');
        expect(q.rows.map((x) => x.reason)).toEqual([expect.stringMatching(/header does not inflate/), expect.stringMatching(/names device "bike-q" but came on the topic of bike-other/), expect.stringMatching(/record seq 2: type "BAD TYPE!"/)]);
        expect(q.rows[0].payload?.length).toBe(16);
        expect(num(q.rows[2].seq)).toBe(2);
        // The quarantined seq is explained in the ledger, not a gap.
        await s.refreshLedger();
        expect((await s.ledger('bike-q')).map((e) => [e.kind, e.first])).toEqual([['quarantined', 2]]);
      } finally {
        await s.close();
      }
    });

    it('link status keeps the latest per link and one event per change (retained repeats are not events)', async () => {
      const s = await open();
      try {
        const u = { device: 'bike-l', link: 'lte', boot: 'b', atMs: 1 };
        await s.linkStatus({ ...u, state: 'online' });
        await s.linkStatus({ ...u, state: 'online' });
        await s.linkStatus({ ...u, state: 'offline' });
        expect(await s.count('link_events')).toBe(2);
        const l = await s.sql.query('SELECT state FROM link_status');
        expect(l.rows).toEqual([{ state: 'offline' }]);
      } finally {
        await s.close();
      }
    });

    it('fleet gauges from the tables: units over CPU/memory thresholds, units by model, decision latency across units, signal quality', async () => {
      const s = await open();
      try {
        const now = Date.now();
        const health = (seq: number, cpu: number, memory: number, p95: number, model: string) => ({ seq, type: 'status', wall: now - 60_000 + seq, data: { kind: 'health', cpu, memory, decisionP95Ms: p95, model } });
        await ingest(s, 'u1', [health(1, 0.95, 0.5, 20, 'policy-int8@3'), ...range(2, 11).map((seq) => ({ seq, wall: now - 30_000, data: { hrBpm: 70, quality: seq <= 10 ? 0.9 : 0.1 } }))]);
        await ingest(s, 'u2', [health(1, 0.85, 0.88, 40, 'policy-int8@3')]);
        // An old health record of u3 (an hour ago) does not count as its state now.
        await ingest(s, 'u3', [health(1, 0.99, 0.99, 900, 'policy-int8@2'), { seq: 2, type: 'status', wall: now - 10_000, data: { kind: 'health', cpu: 0.1, memory: 0.1, decisionP95Ms: 10, model: 'policy-int8@2' } }].map((r, i) => (i === 0 ? { ...r, wall: now - 3600_000 } : r)));
        const m = new FleetMetrics('test');
        await m.refreshFleetGauges(s.sql, 2, 1);
        const val = async (name: string) => Object.fromEntries(((await m.registry.getSingleMetric(name)!.get()).values as { labels: Record<string, string>; value: number }[]).map((v) => [Object.values(v.labels).join('/'), v.value]));
        expect(await val('motobio_fleet_units_over_threshold')).toEqual({ 'cpu/critical': 1, 'cpu/major': 2, 'memory/critical': 0, 'memory/major': 1 });
        expect(await val('motobio_fleet_units_by_model')).toEqual({ 'policy-int8@3': 2, 'policy-int8@2': 1 });
        const p95 = await val('motobio_fleet_decision_latency_p95_seconds');
        expect(p95['1']).toBeCloseTo(0.04, 6);
        expect(p95['0.5']).toBeCloseTo(0.02, 6);
        expect((await val('motobio_fleet_signal_quality_good_ratio'))['']).toBeCloseTo(0.9, 6);
        expect((await val('motobio_fleet_devices_seen'))['']).toBe(3);
        expect(await val('motobio_fleet_gaps_open')).toEqual({ any: 2, over_limit: 1 });
      } finally {
        await s.close();
      }
    });

    it('ECG strip export: the chunks of one boot around a time, lined up by startSample (a lost chunk is "no sample"), as WFDB the unit reads', async () => {
      const s = await open();
      const dir = mkdtempSync(join(tmpdir(), 'motobio-fleet-ecg-'));
      try {
        const base = 1_764_000_000_000;
        // Chunks 10..20 of one boot, chunk 15 missing; another boot's chunk at the same time is left out.
        await ingest(s, 'bike-e', [...range(10, 20).filter((q) => q !== 15).map((seq) => ({ seq, type: 'ecg', ecg: true })), { seq: 21, type: 'ecg', ecg: true, boot: 'boot-2', wall: base + 14_000 }]);
        const strip = await readStrip(s.sql, { device: 'bike-e', at: new Date(base + 15_000), beforeS: 30, afterS: 30 });
        expect(strip).toMatchObject({ boot: 'boot-1', fs: 360, startSample: 10 * 360, chunks: 10 });
        expect(strip.counts.length).toBe(11 * 360);
        writeWfdb(strip, join(dir, 'strip'));
        const rec = readRecord(join(dir, 'strip'));
        expect(rec.signals[0].fs).toBe(360);
        const mv = toPhysical(rec.signals[0]);
        expect(mv[0]).toBeCloseTo(Math.sin(0), 2);
        expect(mv[100]).toBeCloseTo(Math.sin(100 / 20), 2);
        expect(rec.signals[0].adc[5 * 360 + 10]).toBe(rec.signals[0].invalidValue);
        expect(mv[6 * 360 + 10]).toBeCloseTo(Math.sin(10 / 20), 2);
        await expect(readStrip(s.sql, { device: 'bike-e', at: new Date(base + 3600_000) })).rejects.toThrow(/no ECG of bike-e within/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await s.close();
      }
    });

    if (opts.concurrentClients) {
      it('several clients writing overlapping batches of one device at once store each seq exactly once', async () => {
        const clients = await opts.concurrentClients!();
        try {
          await Promise.all(clients.map((c, i) => Promise.all(range(0, 9).map((k) => ingest(c, 'bike-c', feats(1 + k * 40 + i * 7, 60 + k * 40 + i * 7))))));
          const seqs = await clients[0].seqs('bike-c');
          expect(new Set(seqs).size).toBe(seqs.length);
          expect(seqs[0]).toBe(1);
          expect(seqs.at(-1)).toBe(60 + 9 * 40 + (clients.length - 1) * 7);
          expect(await clients[0].count('features')).toBe(seqs.length);
        } finally {
          for (const c of clients) await c.close();
        }
      });
    }
  });
}
