/**
 * Flash wear of `motobio run` on its embedded defaults (replay of the bundled drive, store in
 * SQLite, no uplink): the built daemon as a child process, replayed at SPEED x real time, the
 * kernel's count of bytes it made the filesystem write (/proc/PID/io write_bytes) over WINDOW_S
 * of wall time, converted to an hour of riding by signal time (one features record per
 * decision period). Once with one transaction per record (commit_window_s=0, the old
 * behaviour) and once with the default group commit. Printed, never asserted.
 *
 * Endurance assumptions (the years are for the host's writes; the card's own write amplification
 * divides them: small synchronous writes can cost a card 10x their size or more, which card
 * makers do not publish, so the years are printed for a card factor of 1 and of 10):
 *  - 8 GB eMMC, MLC, 3,000 P/E cycles: the usual rating of MLC NAND in industrial and automotive
 *    eMMC (e.g. Micron and Kingston MLC eMMC data sheets), so 24 TB written over its life.
 *  - 8 GB consumer microSD (TLC): card makers publish no TBW for plain consumer cards; TLC NAND is
 *    rated about 500 P/E cycles, so 4 TB written.
 *  - the unit runs 24 h a day (worst case); at 2 h of riding a day the years are 12 times more.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const SPEED = 60;
const WARMUP_S = 5;
const WINDOW_S = 20;
const DECISION_PERIOD_S = 5;
const GB = 1e9;
const DEVICES = [
  { name: '8 GB eMMC (MLC, 3000 P/E)', bytes: 8 * GB * 3000 },
  { name: '8 GB consumer microSD (TLC, 500 P/E)', bytes: 8 * GB * 500 },
];

interface Run {
  readonly label: string;
  readonly writeBytes: number;
  readonly records: number;
  readonly recordBytes: number;
  readonly rideHours: number;
  readonly decisions: number;
  readonly features: number;
}

function writeBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/io`, 'utf8').split('\n').find((l) => l.startsWith('write_bytes:'));
  return Number(line?.split(':')[1] ?? NaN);
}

function counts(store: string): Map<string, { n: number; b: number }> {
  const db = new Database(store, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT type, COUNT(*) AS n, SUM(LENGTH(body) + LENGTH(type)) AS b FROM records GROUP BY type').all() as { type: string; n: number; b: number }[];
    return new Map(rows.map((r) => [r.type, { n: r.n, b: r.b }]));
  } finally {
    db.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(label: string, env: Record<string, string>): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-bench-flash-'));
  const store = join(dir, 'var', 'motobio.db');
  const child = spawn(process.execPath, [MAIN, 'run'], {
    cwd: dir,
    env: { ...process.env, MOTOBIO_SOURCE__SPEED: String(SPEED), MOTOBIO_HEALTH__PORT: '0', MOTOBIO_STORE__PATH: store, MOTOBIO_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await sleep(WARMUP_S * 1000);
    const c0 = counts(store);
    const w0 = writeBytes(child.pid!);
    await sleep(WINDOW_S * 1000);
    const w1 = writeBytes(child.pid!);
    const c1 = counts(store);
    let records = 0;
    let recordBytes = 0;
    for (const [type, v] of c1) {
      records += v.n - (c0.get(type)?.n ?? 0);
      recordBytes += v.b - (c0.get(type)?.b ?? 0);
    }
    const d = (t: string) => (c1.get(t)?.n ?? 0) - (c0.get(t)?.n ?? 0);
    return { label, writeBytes: w1 - w0, records, recordBytes, rideHours: (d('features') * DECISION_PERIOD_S) / 3600, decisions: d('decision'), features: d('features') };
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

function years(bytesPerHour: number, lifeBytes: number): string {
  const y = lifeBytes / (bytesPerHour * 24 * 365);
  return y >= 100 ? `${Math.round(y)}` : y.toFixed(1);
}

export async function run(): Promise<void> {
  console.log(`motobio run, embedded defaults, replay at ${SPEED}x, /proc/PID/io write_bytes over ${WINDOW_S} s (${(WINDOW_S * SPEED) / 60} min of riding):`);
  const runs = [await measure('one transaction per record (commit_window_s=0)', { MOTOBIO_STORE__COMMIT_WINDOW_S: '0' }), await measure('group commit (default commit_window_s)', {})];
  for (const r of runs) {
    const perHour = r.writeBytes / r.rideHours;
    console.log(`  ${r.label}:`);
    console.log(
      `    ${(perHour / 1e6).toFixed(2)} MB written per hour of riding, ${Math.round(r.writeBytes / r.records).toLocaleString('en')} B per record (${r.records} records, ${(r.recordBytes / r.rideHours / 1e6).toFixed(2)} MB/h of record bytes): write amplification ${(r.writeBytes / r.recordBytes).toFixed(1)}x` +
        (r.decisions < r.features ? ` [decisions fell behind: ${r.decisions} for ${r.features} periods]` : ''),
    );
    console.log(`    years at 24 h a day (card factor 1 / 10): ${DEVICES.map((d) => `${d.name} ${years(perHour, d.bytes)} / ${years(perHour * 10, d.bytes)}`).join('; ')}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
