/**
 * Fault suite, clock: the real daemon under libfaketime (Debian package `faketime`), which
 * moves only the process's wall clock (FAKETIME_DONT_FAKE_MONOTONIC=1) and re-reads its offset
 * from a file on every call (FAKETIME_NO_CACHE=1), so the test moves the clock while the daemon
 * runs without touching the machine's. The daemon boots in 1970, the clock jumps to now, then
 * +1 day, then back -1 day.
 *
 * Checked in the store afterwards: every seq from the first to the last is there once; seq,
 * the per-process stamp order and monotonic time all agree; records stamped before the clock
 * was set are marked `unsynchronized`; the `clock` anchors (start, then one per jump, with the
 * jump's size) let the server repair the 1970 records to the real time (issue 6:
 * wall = anchor.wallMs - (anchor.monoMs - record.monoMs)). Counted by a receiver on a real
 * mosquitto against what the record, replayed once, must produce (helpers/count.ts).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAll, tempDir, writeSyntheticRecord } from '../daemon/helpers.js';
import { recordFaultResult } from './report.js';
import { firstGap, replayConfig, requireBuild, startDaemon, waitFor, type DaemonRun } from './helpers/daemon.js';
import { Tally, expectedRecords, healthRecordsIn } from './helpers/count.js';
import { startMosquitto } from '../helpers/brokers.js';
import { Receiver } from '../../src/uplink/receiver.js';

const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
/** Mirrors src/daemon/clock.ts BUILD_EPOCH_MS: a wall clock before it has not been set. */
const BUILD_EPOCH_MS = Date.UTC(2026, 10, 1);
const DAY_MS = 86_400_000;

const cleanups: (() => void | Promise<void>)[] = [];
/** Long enough to outlast the three jumps at speed 20 (about 4 s of them in the runs so far). */
const RECORD_S = 600;
const PERIOD_S = 1;
beforeAll(() => {
  requireBuild();
  if (!existsSync(FAKETIME_LIB)) throw new Error(`${FAKETIME_LIB} is missing: install the Debian package "faketime" (apt-get install faketime)`);
});
afterEach(() => killAll());
afterAll(async () => {
  killAll();
  while (cleanups.length > 0) await cleanups.pop()?.();
});

interface Anchor {
  reason: string;
  monoMs: number;
  wallMs: number;
  bootId: string;
  clock: string;
  jumpMs?: number;
}

function jumpsLogged(d: DaemonRun): Anchor[] {
  return d.proc.logs().flatMap((l) => {
    const a = l['anchor'] as Anchor | undefined;
    return a?.reason === 'jump' ? [a] : [];
  });
}

describe('fault: wall clock in 1970 at boot, then jumps', () => {
  it('boots in 1970, jumps to now, +1 day, -1 day: order and completeness kept, records marked, anchors repair them', async () => {
    const t = tempDir('motobio-fault-clock-');
    cleanups.push(t.cleanup);
    const dir = t.path;
    const record = writeSyntheticRecord(dir, { seconds: RECORD_S, bpm: 72 });
    const broker = await startMosquitto();
    cleanups.push(() => broker.close());
    const rx = await Receiver.start({ link: { url: broker.url } });
    cleanups.push(() => rx.close());
    const tally = new Tally(rx, 'fault-clock');
    const store = join(dir, 'state', 'motobio.db');
    const offsetFile = join(dir, 'faketime');
    const setOffset = (seconds: number) => writeFileSync(offsetFile, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
    // 1970-01-02 00:00 UTC, as a unit without a real-time clock boots.
    const to1970 = -Math.floor((Date.now() - Date.UTC(1970, 0, 2)) / 1000);
    setOffset(to1970);
    const realStart = Date.now();
    const d = await startDaemon(dir, replayConfig({ device: 'fault-clock', record, store, speed: 20, periodS: PERIOD_S, loop: false, links: [{ name: 'lo', url: broker.url }], batchMaxAgeS: 0.5 }), {
      LD_PRELOAD: FAKETIME_LIB,
      FAKETIME_TIMESTAMP_FILE: offsetFile,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    });
    const s0 = await d.status();
    expect(new Date(s0.clock.wallMs).getUTCFullYear()).toBe(1970);
    expect(s0.clock.sync).toBe('unsynchronized');
    // Records made so far, as the server sees them (the outbox drains as they are made).
    const recordsNow = async () => Promise.resolve(tally.received);
    const afterMore = async (what: string, n: number) => {
      const from = await recordsNow();
      await waitFor(what, async () => (await recordsNow()) >= from + n, 60_000, 100);
    };
    await afterMore('records made in 1970', 20);

    const phases: [string, number][] = [
      ['jump to now', 0],
      ['jump +1 day', DAY_MS / 1000],
      ['jump -1 day (back to now)', 0],
    ];
    for (const [i, [what, offset]] of phases.entries()) {
      setOffset(offset);
      await waitFor(`the daemon to notice the ${what}`, () => jumpsLogged(d).length >= i + 1, 30_000, 100);
      await afterMore(`records after the ${what}`, 20);
    }
    const s1 = await d.status();
    expect(Math.abs(s1.clock.wallMs - Date.now())).toBeLessThan(60_000);
    // A plausible clock without timesyncd is "unknown", no longer "unsynchronized".
    expect(s1.clock.sync).toBe('unknown');
    const want = expectedRecords({ signalS: RECORD_S, periodS: PERIOD_S, extra: { clock: { n: 4, why: 'anchors: the start and 3 jumps' }, status: { n: healthRecordsIn(RECORD_S), why: 'health records, one per 60 s of signal' } } });
    await waitFor('the replay to end and the outbox to drain', async () => {
      const s = await d.status();
      return s.components['source']?.state === 'ended' && s.outbox.records === 0;
    }, 90_000, 100);
    expect(await d.stop()).toBe(0);
    const realEnd = Date.now();
    await waitFor(`the receiver to get the ${want.total} records the run must produce`, () => tally.received >= want.total, 15_000, 50);

    // What the server got, in seq order, in the shape the checks below read.
    const rows = [...tally.records]
      .sort((a, b) => a.seq - b.seq)
      .map((r) => ({ seq: r.seq, type: r.type, boot_id: r.boot, mono_ms: r.mono, wall_ms: r.wall, clock_synced: r.sync ? 1 : 0, body: (r.data ?? {}) as Record<string, unknown> }));
    const seqs = rows.map((r) => r.seq);
    // Completeness: every record the run must produce arrived, once, without a gap.
    expect(tally.byType, want.rule).toEqual(want.byType);
    expect(firstGap(seqs)).toBeUndefined();
    expect(tally.missing).toBe(0);
    // Order: seq, the stamp order and monotonic time agree whatever the wall clock did.
    const bootIds = new Set(rows.map((r) => r.boot_id));
    expect(bootIds.size).toBe(1);
    for (let i = 1; i < rows.length; i++) {
      expect(rows[i].mono_ms, `mono time at seq ${rows[i].seq}`).toBeGreaterThanOrEqual(rows[i - 1].mono_ms);
      expect(Number(rows[i].body['localSeq']), `stamp order at seq ${rows[i].seq}`).toBeGreaterThan(Number(rows[i - 1].body['localSeq']));
    }
    // Marks: a record stamped with a wall clock before the build date says it was unsynchronised.
    const in1970 = rows.filter((r) => r.wall_ms < BUILD_EPOCH_MS);
    expect(in1970.length).toBeGreaterThanOrEqual(20);
    expect(in1970.every((r) => r.body['clock'] === 'unsynchronized' && r.clock_synced === 0)).toBe(true);
    expect(rows.every((r) => r.clock_synced === 0)).toBe(true); // no timesyncd here: never "synchronized"
    // A day ahead, then back: both periods are in the store, in seq order.
    const dayAhead = rows.filter((r) => r.wall_ms > realEnd + DAY_MS / 2);
    expect(dayAhead.length).toBeGreaterThanOrEqual(20);

    // Anchors: start (1970), then one per jump with its size.
    const anchors = rows.filter((r) => r.type === 'clock').map((r) => ({ seq: r.seq, a: r.body as unknown as Anchor }));
    expect(anchors[0].a.reason).toBe('start');
    expect(new Date(anchors[0].a.wallMs).getUTCFullYear()).toBe(1970);
    const jumps = anchors.filter((x) => x.a.reason === 'jump');
    expect(jumps).toHaveLength(3);
    expect(jumps[0].a.jumpMs).toBeGreaterThan(50 * 365 * DAY_MS);
    expect(Math.abs(jumps[1].a.jumpMs! - DAY_MS)).toBeLessThan(10_000);
    expect(Math.abs(jumps[2].a.jumpMs! + DAY_MS)).toBeLessThan(10_000);
    // The server's repair of the 1970 records with the first jump anchor lands in the real run.
    const fix = jumps[0].a;
    const repaired = in1970.map((r) => fix.wallMs - (fix.monoMs - r.mono_ms));
    for (const w of repaired) {
      expect(w).toBeGreaterThanOrEqual(realStart - 5_000);
      expect(w).toBeLessThanOrEqual(realEnd + 5_000);
    }
    recordFaultResult({
      group: 'clock',
      fault: 'Wall clock in 1970 at boot, then jumps to now, +1 day, -1 day (libfaketime, monotonic untouched)',
      behaviour: `no gap and no reordering (seq, stamp order and monotonic time agree); ${in1970.length} records taken in 1970 marked unsynchronized; anchors: start + 3 jumps (+${Math.round(jumps[0].a.jumpMs! / (365.25 * DAY_MS))} years, +1 day, -1 day); 1970 records repaired from the first jump anchor all fall inside the real run`,
      expected: want.total,
      expectedFrom: want.rule,
      received: tally.received,
      lost: want.total - tally.received,
      duplicates: tally.duplicates,
      figures: { records_1970: in1970.length, records_day_ahead: dayAhead.length, jumps: jumps.length },
    });
  }, 150_000);
});
