/**
 * Store maintenance without the daemon's Outbox object: statistics, export of a time range,
 * online backup and restore. Reads use a read-only connection, so they are safe while the
 * daemon writes (WAL lets readers and one writer work at once).
 */
import Database from 'better-sqlite3';
import { chmodSync, existsSync, renameSync, statSync } from 'node:fs';
import { decodeEcgChunk } from './ecg-codec.js';
import { isSealed, plainEncoding, type RecordCipher } from './record-cipher.js';
import { SCHEMA_VERSION } from './schema.js';
import { readSeqFloor, writeSeqFloor } from './seq-floor.js';
import { PRIORITIES, priorityOfRank, type Priority } from './types.js';
import { MotobioError, errorMessage } from '../util/errors.js';

function openRead(path: string): Database.Database {
  if (!existsSync(path)) throw new MotobioError('STORE_FAILED', `store ${path} does not exist; give the path of the outbox (config store.path, or --db)`);
  try {
    return new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new MotobioError('STORE_FAILED', `store ${path}: cannot open read-only (${errorMessage(e)}); check the path and permissions`);
  }
}

export interface StoreReport {
  readonly path: string;
  readonly fileBytes: number;
  readonly walBytes: number;
  readonly schemaVersion: number;
  readonly deviceId: string | null;
  readonly nextSeq: number | null;
  readonly records: number;
  readonly bytes: number;
  readonly depth: Record<Priority, number>;
  readonly evicted: Record<Priority, number>;
  readonly pendingEvictionNotices: number;
  readonly oldestWallMs: number | null;
  readonly newestWallMs: number | null;
  readonly integrity?: string;
}

export function storeReport(path: string, opts: { check?: boolean } = {}): StoreReport {
  const db = openRead(path);
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version === 0) throw new MotobioError('STORE_FAILED', `${path} is not a motobio store (schema version 0); check the path`);
    const meta = new Map((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    const depth = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
    const evicted = { ...depth };
    let records = 0;
    let bytes = 0;
    for (const r of db.prepare('SELECT prio, COUNT(*) AS n, SUM(size) AS b FROM records GROUP BY prio').all() as { prio: number; n: number; b: number }[]) {
      depth[priorityOfRank(r.prio)] = r.n;
      records += r.n;
      bytes += r.b;
    }
    for (const r of db.prepare("SELECT name, value FROM counters WHERE name LIKE 'evicted.%'").all() as { name: string; value: number }[]) {
      const p = r.name.slice(8) as Priority;
      if (p in evicted) evicted[p] = r.value;
    }
    const span = db.prepare('SELECT MIN(wall_ms) AS a, MAX(wall_ms) AS b FROM records').get() as { a: number | null; b: number | null };
    const notices = (db.prepare('SELECT COUNT(*) AS n FROM evictions').get() as { n: number }).n;
    const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
    return {
      path,
      fileBytes: size(path),
      walBytes: size(`${path}-wal`),
      schemaVersion: version,
      deviceId: meta.get('device_id') ?? null,
      nextSeq: meta.has('next_seq') ? Number(meta.get('next_seq')) : null,
      records,
      bytes,
      depth,
      evicted,
      pendingEvictionNotices: notices,
      oldestWallMs: span.a,
      newestWallMs: span.b,
      ...(opts.check ? { integrity: (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ') } : {}),
    };
  } finally {
    db.close();
  }
}

export interface ExportOptions {
  readonly fromWallMs?: number;
  readonly toWallMs?: number;
  readonly format: 'ndjson' | 'csv';
  /** NDJSON only: include decoded ECG sample counts (large). */
  readonly ecgSamples?: boolean;
  /** Opens sealed bodies (store.encryption); without it an encrypted record is an error. */
  readonly cipher?: RecordCipher;
}

interface Row {
  seq: number;
  prio: number;
  type: string;
  boot_id: string;
  mono_ms: number;
  wall_ms: number;
  clock_synced: number;
  enc: string;
  body: Buffer;
}

const csvCell = (v: string): string => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** Streams the records whose wall time is in [from, to) to `write`, in seq order; returns the count. */
export function exportRecords(path: string, opts: ExportOptions, write: (chunk: string) => void): number {
  const db = openRead(path);
  try {
    const device = (db.prepare("SELECT value FROM meta WHERE key = 'device_id'").get() as { value: string } | undefined)?.value ?? '';
    const rows = db.prepare('SELECT seq, prio, type, boot_id, mono_ms, wall_ms, clock_synced, enc, body FROM records WHERE wall_ms >= ? AND wall_ms < ? ORDER BY seq').iterate(
      opts.fromWallMs ?? -8.64e15,
      opts.toWallMs ?? 8.64e15,
    ) as IterableIterator<Row>;
    if (opts.format === 'csv') write('device,seq,type,priority,boot_id,mono_ms,wall_ms,wall_iso,clock_synced,data\n');
    let n = 0;
    for (const r of rows) {
      if (isSealed(r.enc)) {
        const enc = plainEncoding(r.enc);
        if (!opts.cipher) throw new MotobioError('RECORD_UNREADABLE', `store ${path}: record seq ${r.seq} is encrypted; give its key (--key-file FILE, or --config with store.encryption)`);
        r.body = opts.cipher.open(r.body, { deviceId: device, seq: r.seq, type: r.type, enc });
        r.enc = enc;
      }
      let data: unknown;
      if (r.enc === 'json') data = JSON.parse(r.body.toString('utf8'));
      else {
        const c = decodeEcgChunk(r.body);
        data = { startSample: c.startSample, fs: c.fs, lsbUv: c.lsbUv, n: c.counts.length, ...(opts.ecgSamples && opts.format === 'ndjson' ? { counts: Array.from(c.counts) } : {}) };
      }
      const prio = priorityOfRank(r.prio);
      if (opts.format === 'ndjson') {
        write(`${JSON.stringify({ device, seq: r.seq, type: r.type, prio, boot: r.boot_id, mono: r.mono_ms, wall: r.wall_ms, sync: r.clock_synced === 1, [r.enc === 'json' ? 'data' : 'ecg']: data })}\n`);
      } else {
        write(
          `${[device, String(r.seq), r.type, prio, r.boot_id, String(r.mono_ms), String(r.wall_ms), new Date(r.wall_ms).toISOString(), r.clock_synced ? 'true' : 'false', JSON.stringify(data)].map(csvCell).join(',')}\n`,
        );
      }
      n++;
    }
    return n;
  } finally {
    db.close();
  }
}

/** Online, consistent copy of a live store (SQLite backup API); the copy is mode 0600. */
export async function backupStore(path: string, dest: string): Promise<{ pages: number }> {
  if (existsSync(dest)) throw new MotobioError('USAGE', `backup destination ${dest} exists; choose a new file name (backups are never overwritten)`);
  const db = openRead(path);
  try {
    const r = await db.backup(dest);
    chmodSync(dest, 0o600);
    return { pages: r.totalPages };
  } finally {
    db.close();
  }
}

/**
 * Replaces the store with a backup. The daemon must be stopped. The current store is moved
 * aside (never deleted), and the restored store continues its sequence above anything the old
 * store or the sequence floor issued, so the server never sees a seq twice for new records.
 */
export async function restoreStore(src: string, path: string, opts: { force?: boolean } = {}): Promise<{ movedAside: string | null; nextSeq: number }> {
  if (existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0 && !opts.force) {
    throw new MotobioError('STORE_FAILED', `store ${path} has a write-ahead log: the daemon may be running. Stop it first (systemctl stop motobio), or pass --force if it crashed`);
  }
  const srcReport = storeReport(src, { check: true });
  if (srcReport.integrity !== 'ok') throw new MotobioError('STORE_FAILED', `backup ${src} fails its integrity check (${srcReport.integrity}); choose another backup`);
  if (srcReport.schemaVersion > SCHEMA_VERSION) throw new MotobioError('STORE_FAILED', `backup ${src} has schema ${srcReport.schemaVersion}, newer than this motobio (${SCHEMA_VERSION}); upgrade motobio first`);
  let oldNext = 0;
  let movedAside: string | null = null;
  if (existsSync(path)) {
    try {
      oldNext = storeReport(path).nextSeq ?? 0;
    } catch {
      /* a broken current store still gets moved aside */
    }
    movedAside = `${path}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(path, movedAside);
    for (const s of ['-wal', '-shm']) if (existsSync(path + s)) renameSync(path + s, movedAside + s);
  }
  const from = new Database(src, { readonly: true, fileMustExist: true });
  try {
    await from.backup(path);
  } finally {
    from.close();
  }
  chmodSync(path, 0o600);
  const nextSeq = Math.max(srcReport.nextSeq ?? 1, oldNext, readSeqFloor(`${path}.seq`));
  const db = new Database(path);
  try {
    db.prepare("INSERT INTO meta (key, value) VALUES ('next_seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(nextSeq));
  } finally {
    db.close();
  }
  if (readSeqFloor(`${path}.seq`) < nextSeq) writeSeqFloor(`${path}.seq`, nextSeq);
  return { movedAside, nextSeq };
}
