/**
 * Fault suite, disk full. The store's directory is on a real small filesystem (tmpfs with a
 * size limit, mounted by the test; root needed).
 *
 * 1. The real daemon, its disk budget (512 MB) far above what the filesystem holds, the broker
 *    refusing it (offline). A filler leaves 12 MB; the store grows into the 8 MB reserve, the
 *    free-space watch raises DISK_LOW (/status, /metrics, log with what to do) and the store
 *    evicts by priority (status and features first, safety events never). Then the filesystem
 *    is filled to the last byte: the daemon keeps running. Then space returns (fillers deleted):
 *    the alarm clears. Then the broker lets it in: the backlog drains. The record (100 minutes of
 *    signal) is replayed once, so what the run must produce follows from its length and the
 *    configuration (helpers/count.ts); every one of those records is received or announced as
 *    evicted: none lost.
 * 2. The store itself at SQLITE_FULL (a 1 MB tmpfs, no free-space watch, so SQLite really runs
 *    out): every append either returns (and is then kept) or throws DISK_FULL; nothing the store
 *    acknowledged is lost, it reopens intact, and appends work again once the tmpfs is grown.
 *    This is the path the daemon's free-space watch normally keeps it away from, so it is
 *    driven directly; what it acknowledged is then drained by the real uplink and counted by a
 *    receiver.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuthenticateError, Client } from 'aedes';
import Database from 'better-sqlite3';
import { startAedes, type AedesBroker } from '../helpers/brokers.js';
import { getText, killAll, tempDir } from '../daemon/helpers.js';
import { Receiver } from '../../src/uplink/receiver.js';
import { Outbox } from '../../src/store/outbox.js';
import { Uplink } from '../../src/uplink/uplink.js';
import { Tally, ecgStripRecords, expectedRecords, healthRecordsIn } from './helpers/count.js';
import { isMotobioError } from '../../src/util/errors.js';
import { recordFaultResult } from './report.js';
import { readStore, replayConfig, requireBuild, startDaemon, waitFor } from './helpers/daemon.js';
import { fill, mountTmpfs, type Tmpfs } from './helpers/tmpfs.js';
import { writeSegmentedRecord } from './helpers/record.js';

const MB = 1024 * 1024;
/** 40 s of beats then 10 s without (sensor_lost fires once per stretch), 120 times: 100 minutes of signal. */
const PASSES = 120;
const PERIOD_S = 1;
const cleanups: (() => void | Promise<void>)[] = [];

beforeAll(() => requireBuild());
afterEach(() => killAll());
afterAll(async () => {
  killAll();
  // Mounts last: the daemon holding files must be gone first (cleanups run in reverse order).
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function mount(size: number): Tmpfs {
  const t = mountTmpfs(size);
  cleanups.push(() => t.cleanup());
  return t;
}

/** Seqs in the live store, read through a second (read-only) connection. */
function storedSeqs(path: string): { seq: number; type: string }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT seq, type FROM records').all() as { seq: number; type: string }[];
  } finally {
    db.close();
  }
}

describe('fault: disk full', () => {
  it('the daemon on a small filesystem: keeps running, evicts by priority, alarms, recovers, loses nothing', async () => {
    const work = tempDir('motobio-fault-disk-');
    cleanups.push(work.cleanup);
    const fsys = mount(32 * MB);
    const record = writeSegmentedRecord(
      work.path,
      Array.from({ length: PASSES }, () => [
        { bpm: 72, seconds: 40 },
        { bpm: 0, seconds: 10 },
      ]).flat(),
    );
    const signalS = PASSES * 50;
    const store = join(fsys.path, 'state', 'motobio.db');
    fill(join(fsys.path, 'filler-1'), fsys.freeBytes() - 10 * MB);
    const t0 = Date.now();
    const phaseS: Record<string, number> = {};
    const mark = (phase: string) => (phaseS[`${phase}_s`] = Math.round((Date.now() - t0) / 100) / 10);

    // The broker lets the receiver in but refuses the unit until the gate opens.
    let gateOpen = false;
    const broker: AedesBroker = await startAedes();
    cleanups.push(() => broker.close());
    broker.broker.authenticate = (client: Client, _u: Readonly<string> | undefined, _p: Readonly<Buffer> | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void) =>
      done(null, gateOpen || client.id.startsWith('motobio-receive'));
    const receiver = await Receiver.start({ link: { url: broker.url, mqttVersion: 4 }, start: 1 });
    cleanups.push(() => receiver.close());
    const tally = new Tally(receiver, 'fault-disk');
    const got = new Map<number, string>();
    const alarmRecords: string[] = [];
    receiver.on('record', (r) => {
      got.set(r.seq, r.type);
      const data = r.data as { alarm?: string; state?: string } | undefined;
      if (r.type === 'status' && data?.alarm) alarmRecords.push(`${data.alarm} ${data.state}`);
    });

    const d = await startDaemon(
      work.path,
      replayConfig({ device: 'fault-disk', record, store, speed: 400, periodS: PERIOD_S, loop: false, batchMaxAgeS: 0.5, rules: { no_beat_s: 5 }, links: [{ name: 'lte', url: broker.url, keepalive_s: 5 }] }),
    );
    const evictionLines = () => d.proc.logs().filter((l) => String(l['msg']).startsWith('store over its disk budget'));

    // 1. Nearly full: DISK_LOW, evictions, still running.
    const low = await waitFor(
      'DISK_LOW and evictions',
      async () => {
        const s = await d.status();
        return s.alarms.some((a) => a.code === 'DISK_LOW') && evictionLines().length >= 3 ? s : undefined;
      },
      60_000,
      100,
    );
    mark('low');
    const lowAlarm = low.alarms.find((a) => a.code === 'DISK_LOW')!;
    expect(lowAlarm.message).toMatch(/Free space on that filesystem or lower store\.disk_budget_mb/);
    expect(await d.metrics()).toMatch(/^motobio_alarm\{code="DISK_LOW"\} 1$/m);
    expect(d.proc.logs().some((l) => l['code'] === 'DISK_LOW' && /^disk nearly full: .*Free space on that filesystem/.test(String(l['msg'])))).toBe(true);
    const firstEviction = String(evictionLines()[0]['msg']);
    expect(firstEviction).not.toMatch(/safety|decision/);

    // 2. Full to the last byte: the daemon keeps running and keeps its records.
    const beforeFull = (await d.status()).counters.decisions;
    fill(join(fsys.path, 'filler-2'));
    expect(fsys.freeBytes()).toBeLessThan(64 * 1024);
    await waitFor('decisions to go on with the disk full', async () => (await d.status()).counters.decisions >= beforeFull + 100, 60_000, 100);
    mark('full');
    expect((await getText(`${d.base}/healthz`)).status).toBe(200);
    const whileFull = await d.status();
    const diskFullRaised = d.proc.logs().some((l) => l['code'] === 'DISK_FULL');

    // 3. Space returns: the alarms clear.
    rmSync(join(fsys.path, 'filler-2'));
    rmSync(join(fsys.path, 'filler-1'));
    await waitFor('DISK_LOW and DISK_FULL to clear', async () => (await d.status()).alarms.length === 0, 30_000, 100);
    mark('cleared');
    expect(await d.metrics()).toMatch(/^motobio_alarm\{code="DISK_LOW"\} 0$/m);
    expect(d.proc.logs().some((l) => String(l['msg']).startsWith('disk has room again'))).toBe(true);

    // 4. The broker lets the unit in: the backlog drains. First every safety event and decision
    // stored when the gate opened (read from the live store through a second SQLite connection),
    // then, once the replay has ended, everything.
    const atGate = storedSeqs(store);
    const backlog = atGate.length;
    const urgent = atGate.filter((r) => r.type === 'safety' || r.type === 'decision').map((r) => r.seq);
    gateOpen = true;
    await waitFor('the first batch after the gate opened', () => got.size > 0, 45_000, 200);
    mark('connected');
    await waitFor(`the ${urgent.length} safety and decision records stored when the gate opened to arrive`, () => urgent.every((q) => got.has(q)), 45_000, 200);
    mark('drained');
    const drained = await d.status();
    await waitFor('the replay to end and the outbox to drain', async () => {
      const s = await d.status();
      return s.components['source']?.state === 'ended' && s.outbox.records === 0;
    }, 90_000, 200);
    mark('ended');
    expect(await d.stop()).toBe(0);

    // The count: what 100 minutes of signal must produce, against what the receiver got and what
    // the unit announced it evicted (eviction notices in its batches).
    const alarmChanges = diskFullRaised ? 4 : 2;
    // Safety records are never evicted: their endS places each alert's ECG strip (ecg records may be evicted, and are announced).
    await waitFor('every safety record', () => (tally.byType['safety'] ?? 0) >= PASSES, 30_000, 100);
    const alertsS = tally.records.filter((r) => r.type === 'safety').map((r) => Number((r.data as { endS?: unknown }).endS));
    const strips = ecgStripRecords({ alertsS, signalS, fs: 360 });
    const health = healthRecordsIn(signalS);
    const want = expectedRecords({
      signalS,
      periodS: PERIOD_S,
      extra: {
        clock: { n: 1, why: 'the start anchor' },
        safety: { n: PASSES, why: 'sensor_lost once per 10-s stretch without a beat' },
        cue: { n: PASSES, why: 'one delivery record per safety record (no audio output: muted)' },
        status: { n: alarmChanges + health, why: `${diskFullRaised ? 'DISK_LOW and DISK_FULL raised and cleared' : 'DISK_LOW raised and cleared'}, ${health} health records (one per 60 s of signal)` },
        ecg: { n: strips.records, why: `strips of ${(strips.samples / 360).toFixed(0)} s of ECG around the ${PASSES} alerts (30 s each side, never a sample twice) and at the riding hour, in 10-s chunks` },
      },
    });
    await waitFor(`the receiver to account for the ${want.total} records the run must produce`, () => tally.received + tally.evicted >= want.total, 30_000, 100);
    const { rows, nextSeq, evicted } = readStore(store);
    const evictedTotal = Object.values(evicted).reduce((a, b) => a + b, 0);
    expect(rows, 'records left in the store after the drain').toEqual([]);
    expect(tally.evicted, 'evictions announced to the receiver = the store\'s eviction counters').toBe(evictedTotal);
    expect(nextSeq - 1, 'cross-check: seqs the store issued').toBe(want.total);
    expect(tally.missing, 'gaps nobody announced').toBe(0);
    expect(evicted['safety'] ?? 0).toBe(0);
    expect(evicted['features'] ?? 0).toBeGreaterThan(0);
    expect(tally.byType['safety'], 'every safety event arrived').toBe(want.byType['safety']);
    const lost = want.total - tally.received - tally.evicted;
    expect(lost).toBe(0);
    // The alarm's clearing went to the server as a status record; the raise was written too,
    // though as a status record it may have been evicted.
    expect(alarmRecords).toContain('DISK_LOW cleared');
    recordFaultResult({
      group: 'disk',
      fault: 'State directory on a 32 MB tmpfs (budget 512 MB): filled to 8 MB reserve, then to the last byte, then space returns',
      behaviour: `kept running (healthz 200 at 0 bytes free${diskFullRaised ? ', DISK_FULL raised and records held in memory' : ', appends reused freed pages'}); DISK_LOW on /status, /metrics and log, cleared when space returned; evicted ${Object.entries(evicted).map(([p, n]) => `${n} ${p}`).join(', ')} (lowest priority first, no safety events, each announced to the server); the ${urgent.length} safety and decision records of the ${backlog} stored when the broker let it in arrived first, then the rest`,
      expected: want.total,
      expectedFrom: want.rule,
      received: tally.received,
      evicted: tally.evicted,
      lost,
      duplicates: tally.duplicates,
      figures: { backlog_at_gate: backlog, urgent_at_gate: urgent.length, safety_records: tally.byType['safety'] ?? 0, decisions_while_full: whileFull.counters.decisions - beforeFull, safety_triggers_at_drain: drained.counters.safetyTriggers, ...phaseS },
    });
  }, 180_000);

  it('the store at SQLITE_FULL: appends fail with DISK_FULL, nothing acknowledged is lost, writes resume when space returns', async () => {
    const fsys = mount(1 * MB);
    const path = join(fsys.path, 'outbox.db');
    const open = () => Outbox.open(path, { deviceId: 'fault-full', diskBudgetBytes: 64 * MB, integrityCheck: 'quick' });
    let box = open();
    const acked: number[] = [];
    const payload = { pad: 'x'.repeat(900) };
    let fullErrors = 0;
    let otherErrors = 0;
    let evictedByRetry = 0;
    for (let i = 0; i < 4000 && fullErrors < 20; i++) {
      try {
        const r = box.append([{ type: 'features', priority: i % 50 === 0 ? 'safety' : 'features', payload: { i, ...payload } }]);
        for (let s = r.firstSeq; s <= r.lastSeq; s++) acked.push(s);
        evictedByRetry += r.evicted;
      } catch (e) {
        if (isMotobioError(e, 'DISK_FULL')) fullErrors++;
        else otherErrors++;
      }
    }
    expect(otherErrors).toBe(0);
    expect(fullErrors + evictedByRetry).toBeGreaterThan(0);
    const evictedSafety = box.stats().evicted.safety;
    box.close();

    // It reopens on the still-full disk, intact (quick_check), not mistaken for corrupt (a
    // checkpoint cut short by the full disk leaves the file short and the WAL holding the rest),
    // with every acknowledged seq that was not evicted.
    box = open();
    expect(readdirSync(fsys.path).filter((f) => f.includes('corrupt')), readdirSync(fsys.path).join(' ')).toEqual([]);
    const present = new Set([...box.iterate()].map((r) => r.seq));
    const stats = box.stats();
    const missing = acked.filter((s) => !present.has(s));
    expect(missing.length).toBe(stats.evictedTotal);
    expect(stats.recoveredFrom).toBeNull();
    // Space returns: writes go on.
    fsys.remount(8 * MB);
    const after = box.append([{ type: 'features', priority: 'features', payload }]);
    expect(after.firstSeq).toBeGreaterThan(acked[acked.length - 1]);
    acked.push(after.firstSeq);

    // What the store acknowledged (counted by the test from append's answers) goes out through
    // the real uplink; a receiver counts it, with the evictions the store announces.
    const broker = await startAedes();
    cleanups.push(() => broker.close());
    const receiver = await Receiver.start({ link: { url: broker.url, mqttVersion: 4 }, start: 1 });
    cleanups.push(() => receiver.close());
    const tally = new Tally(receiver, 'fault-full');
    const uplink = new Uplink(box, { deviceId: 'fault-full', links: [{ name: 'lo', url: broker.url, mqttVersion: 4 }], batchMaxAgeMs: { safety: 0, decision: 0, features: 0, status: 0, raw: 0 } });
    uplink.start();
    try {
      await waitFor(`the receiver to account for the ${acked.length} acknowledged records`, () => tally.received + tally.evicted >= acked.length, 60_000, 100);
    } finally {
      await uplink.stop(1500);
      box.close();
    }
    const lost = acked.length - tally.received - tally.evicted;
    expect(tally.missing, 'gaps nobody announced').toBe(0);
    expect(tally.evicted).toBe(stats.evictedTotal);
    expect(lost).toBe(0);
    recordFaultResult({
      group: 'disk',
      fault: 'Store at SQLITE_FULL on a 1 MB tmpfs (no free-space watch; store level)',
      behaviour: `${fullErrors} appends refused with DISK_FULL (never another error), ${evictedByRetry} records evicted by the SQLITE_FULL retry (${evictedSafety} safety); reopened on the still-full disk intact (not taken for corruption) with every acknowledged record not evicted; writes resumed after remount to 8 MB; then drained by the uplink`,
      expected: acked.length,
      expectedFrom: `appends the store acknowledged (counted by the test from append's answers; ${fullErrors} refused with DISK_FULL are not owed)`,
      received: tally.received,
      evicted: tally.evicted,
      lost,
      duplicates: tally.duplicates,
      figures: { disk_full_errors: fullErrors, evicted: stats.evictedTotal },
    });
  }, 90_000);
});
