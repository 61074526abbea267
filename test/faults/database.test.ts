/**
 * Fault suite, database: the real daemon started on a store that is corrupt (cut short,
 * garbled pages, a garbage header, a WAL that does not belong to it), and on a store path it
 * cannot use (a file of another user, a directory in its place).
 *
 * A corrupt store is detected at open, moved aside with a timestamp (byte for byte, with its
 * WAL and SHM, never deleted), a fresh store starts above every sequence number the old one
 * issued (the seq floor file), and the alarm shows on /status, /metrics, in the log with what
 * to do, and as a status record in the new store. An unusable path is refused with exit 78 and
 * a message, and nothing is touched. The fresh store's records are counted by a receiver on a
 * real mosquitto against what the 60-s record, replayed once, must produce (helpers/count.ts).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, truncateSync, writeSync, closeSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAll, tempDir, writeSyntheticRecord } from '../daemon/helpers.js';
import { recordFaultResult } from './report.js';
import { MAIN, firstGap, readStore, replayConfig, requireBuild, startDaemon, waitFor } from './helpers/daemon.js';
import { Tally, expectedRecords, healthRecordsIn } from './helpers/count.js';
import { startMosquitto } from '../helpers/brokers.js';
import { Receiver } from '../../src/uplink/receiver.js';
import { stringify } from 'yaml';

const DEVICE = 'fault-db';
const RECORD_S = 60;
const PERIOD_S = 1;
const cleanups: (() => void | Promise<void>)[] = [];
let seedDir: string;
let record: string;
/** Highest seq the seed store issued (the new store must start above it). */
let seedMaxSeq = 0;

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function workDir(): string {
  const t = tempDir('motobio-fault-db-');
  cleanups.push(t.cleanup);
  return t.path;
}

beforeAll(async () => {
  requireBuild();
  seedDir = workDir();
  record = writeSyntheticRecord(seedDir, { seconds: RECORD_S, bpm: 72 });
  // A real store made by the real daemon: a few dozen records, stopped cleanly (no WAL left).
  const d = await startDaemon(seedDir, replayConfig({ device: DEVICE, record, store: join(seedDir, 'state', 'motobio.db'), speed: 100, periodS: 1 }));
  await waitFor('the seed store to hold 40 records', async () => ((await d.status()).outbox.records ?? 0) >= 40, 60_000, 100);
  expect(await d.stop()).toBe(0);
  seedMaxSeq = readStore(join(seedDir, 'state', 'motobio.db')).nextSeq - 1;
}, 120_000);

afterEach(() => killAll());
afterAll(async () => {
  killAll();
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** A copy of the seed store (with its seq floor) in a fresh state dir. */
function copySeed(dir: string): string {
  const state = join(dir, 'state');
  mkdirSync(state, { mode: 0o700 });
  const db = join(state, 'motobio.db');
  copyFileSync(join(seedDir, 'state', 'motobio.db'), db);
  copyFileSync(join(seedDir, 'state', 'motobio.db.seq'), `${db}.seq`);
  return db;
}

function overwrite(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

const PAGE = 4096;

interface Variant {
  fault: string;
  /** Corrupts the store at `db`; may start and kill a daemon (the WAL case). Returns the files that must be moved aside. */
  corrupt(db: string, dir: string): Promise<string[]> | string[];
}

const variants: Variant[] = [
  {
    fault: 'store file cut short (truncated to 60 %, not on a page boundary)',
    corrupt: (db) => {
      truncateSync(db, Math.floor(statSync(db).size * 0.6) + 100);
      return [''];
    },
  },
  {
    fault: 'garbled pages (random bytes over pages 2-4)',
    corrupt: (db) => {
      overwrite(db, PAGE, randomBytes(3 * PAGE));
      return [''];
    },
  },
  {
    fault: 'garbage database header',
    corrupt: (db) => {
      overwrite(db, 0, randomBytes(100));
      return [''];
    },
  },
  {
    fault: 'WAL that does not match (daemon killed with records in the WAL, WAL header garbled)',
    corrupt: async (db, dir) => {
      // Records committed in the WAL only: the daemon is killed before any checkpoint.
      // Each record its own transaction (no group commit), so what the status counts is in the WAL.
      const cfg = replayConfig({ device: DEVICE, record, store: db, speed: 100, periodS: 1 });
      const d = await startDaemon(dir, { ...cfg, store: { ...(cfg['store'] as object), commit_window_s: 0 } });
      const before = (await d.status()).outbox.records ?? 0;
      await waitFor('records in the WAL', async () => ((await d.status()).outbox.records ?? 0) >= before + 10, 60_000, 100);
      d.proc.kill('SIGKILL');
      await d.proc.exited;
      expect(statSync(`${db}-wal`).size).toBeGreaterThan(32);
      overwrite(`${db}-wal`, 0, randomBytes(32));
      return ['', '-wal', '-shm'].filter((s) => existsSync(db + s));
    },
  },
];

describe('fault: corrupt database at start', () => {
  for (const v of variants) {
    it(`${v.fault}: moved aside, fresh store above the old seqs, alarm raised`, async () => {
      const dir = workDir();
      const db = copySeed(dir);
      const suffixes = await v.corrupt(db, dir);
      const before = Object.fromEntries(suffixes.map((s) => [s, sha(db + s)]));
      const floorSeq = readStore(join(seedDir, 'state', 'motobio.db')).nextSeq;

      const broker = await startMosquitto();
      cleanups.push(() => broker.close());
      // The first seq of the fresh store is the unit's business: the receiver takes the first it sees,
      // and a record lost at the start still shows, as received < expected.
      const rx = await Receiver.start({ link: { url: broker.url }, start: 'first-seen' });
      cleanups.push(() => rx.close());
      const tally = new Tally(rx, DEVICE);
      const d = await startDaemon(dir, replayConfig({ device: DEVICE, record, store: db, speed: 100, periodS: PERIOD_S, loop: false, links: [{ name: 'lo', url: broker.url }], batchMaxAgeS: 0.5 }));
      const status = await waitFor(
        'the alarm',
        async () => {
          const s = await d.status();
          return s.alarms.some((a) => a.code === 'STORE_CORRUPT_REPLACED') ? s : undefined;
        },
        60_000,
        100,
      );
      const alarm = status.alarms.find((a) => a.code === 'STORE_CORRUPT_REPLACED')!;
      expect(alarm.message).toMatch(/moved it to .*\.corrupt-\d{4}/);
      expect(alarm.message).toMatch(/recover/);
      expect(await d.metrics()).toMatch(/^motobio_alarm\{code="STORE_CORRUPT_REPLACED"\} 1$/m);
      const logged = d.proc.logs().find((l) => l['level'] === 50 && String(l['msg']).includes('was corrupt'));
      expect(logged?.['msg']).toMatch(/recovered from that file/);
      const want = expectedRecords({ signalS: RECORD_S, periodS: PERIOD_S, extra: { clock: { n: 1, why: 'the start anchor' }, status: { n: 1 + healthRecordsIn(RECORD_S), why: `STORE_CORRUPT_REPLACED raised, ${healthRecordsIn(RECORD_S)} health records (one per 60 s of signal)` } } });
      await waitFor('the replay to end and the outbox to drain', async () => {
        const s = await d.status();
        return s.components['source']?.state === 'ended' && s.outbox.records === 0;
      }, 60_000, 100);
      expect(await d.stop()).toBe(0);
      await waitFor(`the receiver to get the ${want.total} records the run must produce`, () => tally.received >= want.total, 15_000, 50);

      // Moved aside byte for byte, with its WAL/SHM; nothing deleted.
      const state = join(dir, 'state');
      const moved = readdirSync(state).filter((f) => /^motobio\.db\.corrupt-\d{4}-\d\d-\d\dT[\d-]+Z$/.test(f));
      expect(moved).toHaveLength(1);
      for (const s of suffixes) {
        const m = join(state, moved[0] + s);
        expect(existsSync(m), `${m} must exist`).toBe(true);
        if (s !== '-shm') expect(sha(m), `${m} unchanged`).toBe(before[s]);
      }

      // The fresh store continues above everything the old one issued, without a gap.
      expect(tally.byType, want.rule).toEqual(want.byType);
      const seqs = [...tally.seqs].sort((a, b) => a - b);
      expect(seqs[0]).toBeGreaterThan(seedMaxSeq);
      expect(seqs[0]).toBeGreaterThanOrEqual(floorSeq);
      expect(firstGap(seqs)).toBeUndefined();
      const statusRec = tally.records.find((r) => r.type === 'status' && (r.data as Record<string, unknown>)['alarm'] === 'STORE_CORRUPT_REPLACED');
      expect((statusRec?.data as Record<string, unknown> | undefined)?.['state']).toBe('raised');
      recordFaultResult({
        group: 'database',
        fault: `Corrupt store at start: ${v.fault}`,
        behaviour: `detected at open, moved aside as ${moved[0].replace(/\d/g, 'N')} with ${suffixes.length - 1} side files (unchanged), fresh store from seq ${seqs[0]} (old store ended at ${seedMaxSeq}); alarm STORE_CORRUPT_REPLACED on /status, /metrics, log and a status record`,
        expected: want.total,
        expectedFrom: want.rule,
        received: tally.received,
        lost: want.total - tally.received,
        duplicates: tally.duplicates,
        figures: { old_max_seq: seedMaxSeq, new_first_seq: seqs[0] },
      });
    }, 120_000);
  }
});

describe('fault: a store path the daemon cannot use', () => {
  it("a store file of another user (the daemon runs as nobody): exit 78 with what to do, nothing touched", async () => {
    const dir = workDir();
    chmodSync(dir, 0o755);
    const db = copySeed(dir);
    const state = join(dir, 'state');
    chmodSync(state, 0o755);
    chownSync(state, 65534, 65534);
    chmodSync(db, 0o600); // root's file, unreadable to nobody
    const before = sha(db);
    const configFile = join(dir, 'config.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(configFile, stringify({ ...replayConfig({ device: DEVICE, record, store: db }), health: { port: 0 } }), { mode: 0o644 });
    chmodSync(seedDir, 0o755); // the replay record lives there
    chmodSync(`${record}.dat`, 0o644);
    chmodSync(`${record}.hea`, 0o644);
    const child = spawn(process.execPath, [MAIN, 'run', '--config', configFile], { cwd: dir, uid: 65534, gid: 65534, env: { PATH: process.env['PATH'], HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    expect(stderr).toMatch(/cannot read and write it/);
    expect(stderr).toMatch(/chown motobio|store\.path/);
    expect(code).toBe(78);
    expect(sha(db)).toBe(before);
    expect(readdirSync(state).filter((f) => f.includes('corrupt'))).toEqual([]);
    recordFaultResult({
      group: 'database',
      fault: 'Store file unreadable to the daemon user (permissions)',
      behaviour: 'refused at start with exit 78 (systemd does not restart) and a message naming store.path and the fix; file unchanged, nothing moved or deleted',
      expected: null,
      received: null,
      lost: null,
      duplicates: null,
      figures: { exit_code: code ?? 'signal' },
    });
  }, 60_000);

  it('a directory where the store file should be: exit 78 with what to do, nothing touched', async () => {
    const dir = workDir();
    const db = join(dir, 'state', 'motobio.db');
    mkdirSync(join(db, 'inside'), { recursive: true });
    const d = await startDaemon(dir, replayConfig({ device: DEVICE, record, store: db }), {}, { waitHealthy: false });
    const { code } = await d.proc.exited;
    expect(d.proc.stderr.join('\n')).toMatch(/is not a file .*move it away or point store\.path at a file/);
    expect(code).toBe(78);
    expect(statSync(db).isDirectory()).toBe(true);
    expect(existsSync(join(db, 'inside'))).toBe(true);
    expect(readdirSync(join(dir, 'state')).filter((f) => f.includes('corrupt'))).toEqual([]);
    recordFaultResult({
      group: 'database',
      fault: 'A directory in place of the store file',
      behaviour: 'refused at start with exit 78 and a message naming store.path and the fix; the directory is left as it was',
      expected: null,
      received: null,
      lost: null,
      duplicates: null,
      figures: { exit_code: code ?? 'signal' },
    });
  }, 60_000);
});
