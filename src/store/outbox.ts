/**
 * The store-and-forward outbox: every record the unit makes lands here first, durably, and
 * leaves only after the broker acknowledged it.
 *
 *   daemon ──append([...])──▶ Outbox (SQLite WAL, synchronous=FULL) ──lease()──▶ uplink
 *                               ▲      │ over budget: evict lowest priority, oldest first
 *                               └──ack(ids) after PUBACK / release(ids) when a link dies
 *
 * Durability: one append() is one transaction; it returns after COMMIT, which under WAL with
 * synchronous=FULL has fsync'd the WAL. Group commit is the caller batching records into one
 * append() call; docs/store.md has the argument and the figures.
 *
 * Leases live in memory only: after a crash every unacknowledged record is pending again and
 * goes out a second time, which the server's (device, seq) de-duplication absorbs.
 */
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, renameSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { MotobioError, errorMessage } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { encodeEcgChunk } from './ecg-codec.js';
import { isSealed, plainEncoding, sealedEncoding, type RecordCipher } from './record-cipher.js';
import { checkStoreFiles } from './open-store.js';
import { migrate } from './schema.js';
import type { OutboxReader } from './reader.js';
import { monotonicMs, readBootId } from '../core/clock.js';
import { roundNumbers } from '../core/wire-number.js';
import { readSeqFloor, writeSeqFloor, SEQ_BLOCK } from './seq-floor.js';
import {
  PRIORITIES,
  PRIORITY_RANK,
  isPriority,
  priorityOfRank,
  type BodyEncoding,
  type EvictionNotice,
  type OutboxStats,
  type Priority,
  type RecordInput,
  type StoredRecord,
} from './types.js';

/** Rough per-row cost in SQLite pages (row header, index entries), counted against the budget. */
export const ROW_OVERHEAD_BYTES = 64;
export const DEFAULT_DISK_BUDGET_BYTES = 256 * 1024 * 1024;
const TYPE_RE = /^[a-z0-9][a-z0-9._-]{0,39}$/;

export interface StoreAlarm {
  readonly code: 'STORE_CORRUPT_REPLACED' | 'SAFETY_EVICTED' | 'RECORD_UNREADABLE';
  readonly message: string;
}

export interface OutboxOptions {
  readonly deviceId: string;
  /** Kernel boot id; read from /proc/sys/kernel/random/boot_id when not given. */
  readonly bootId?: string;
  readonly diskBudgetBytes?: number;
  /** Extra room freed when eviction runs, as a share of the budget, so it does not run on every append. */
  readonly evictHeadroom?: number;
  /** Whether the wall clock is synchronised now; used when a record does not say. */
  readonly clockSynced?: () => boolean;
  /** `quick` (default) runs PRAGMA quick_check at open; `none` skips it. */
  readonly integrityCheck?: 'quick' | 'none';
  readonly log?: Logger;
  readonly onAlarm?: (alarm: StoreAlarm) => void;
  /**
   * The budget the filesystem allows right now (disk-watch.ts), below diskBudgetBytes when the
   * disk is nearly full; `reusableBytes` is free space inside the file (freed pages).
   */
  readonly spaceCap?: (s: { bytes: number; reusableBytes: number }) => number;
  /** Seals bodies at append and opens them at lease/iterate (record-cipher.ts); absent = stored clear. */
  readonly cipher?: RecordCipher;
}

export interface AppendResult {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly count: number;
  /** Records evicted to make room for this append. */
  readonly evicted: number;
}

interface Row {
  id: number;
  seq: number;
  prio: number;
  type: string;
  boot_id: string;
  mono_ms: number;
  wall_ms: number;
  clock_synced: number;
  enc: string;
  body: Buffer;
  size: number;
}


function emptyByPriority(): Record<Priority, number> {
  return { safety: 0, decision: 0, features: 0, status: 0, raw: 0 };
}

function isCorruption(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

function prepareFiles(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
}

function tightenModes(path: string): void {
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(f)) chmodSync(f, 0o600);
  }
}

function openChecked(path: string, check: 'quick' | 'none'): Db {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_size_limit = 8388608');
    if (check === 'quick') {
      const rows = db.pragma('quick_check') as { quick_check: string }[];
      if (rows.length !== 1 || rows[0].quick_check !== 'ok') {
        throw Object.assign(new Error(`quick_check: ${rows.map((r) => r.quick_check).slice(0, 3).join('; ')}`), { code: 'SQLITE_CORRUPT' });
      }
    }
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

export class Outbox implements OutboxReader {
  readonly path: string;
  readonly deviceId: string;
  readonly bootId: string;
  private readonly db: Db;
  private readonly log: Logger;
  private readonly budget: number;
  private readonly headroom: number;
  private readonly clockSynced: () => boolean;
  private readonly onAlarm: (a: StoreAlarm) => void;
  private readonly spaceCap: OutboxOptions['spaceCap'];
  private readonly cipher: RecordCipher | undefined;
  private readonly floorPath: string;
  private nextSeq = 1;
  private seqFloor = 0;
  private bytes = 0;
  private readonly depth = emptyByPriority();
  private readonly evicted = emptyByPriority();
  private readonly leased = new Set<number>();
  private readonly leasedCount = emptyByPriority();
  private readonly leasedNotices = new Set<number>();
  /** Per priority, the id after which lease() starts looking. */
  private readonly scanFrom = emptyByPriority();
  private recoveredFrom: string | null = null;
  /** Records whose body does not open (tampered, unknown key): held out of every lease, never deleted here. */
  private readonly unreadable = new Map<number, string>();
  private unreadableKind: 'key' | 'tag' | undefined;
  private closed = false;
  private readonly st: {
    insert: Statement;
    setMeta: Statement;
    evictPick: Statement;
    deleteById: Statement;
    insertNotice: Statement;
    bumpCounter: Statement;
    leaseScan: Statement;
    headScan: Statement;
    prioOf: Statement;
  };

  private constructor(path: string, db: Db, opts: OutboxOptions, recoveredFrom: string | null) {
    this.path = path;
    this.db = db;
    this.deviceId = opts.deviceId;
    this.bootId = opts.bootId ?? readBootId().id;
    this.log = opts.log ?? silentLogger;
    this.budget = opts.diskBudgetBytes ?? DEFAULT_DISK_BUDGET_BYTES;
    this.headroom = opts.evictHeadroom ?? 0.05;
    this.clockSynced = opts.clockSynced ?? (() => false);
    this.onAlarm = opts.onAlarm ?? (() => undefined);
    this.spaceCap = opts.spaceCap;
    this.cipher = opts.cipher;
    this.floorPath = `${path}.seq`;
    this.recoveredFrom = recoveredFrom;
    this.st = {
      insert: db.prepare(
        'INSERT INTO records (seq, prio, type, boot_id, mono_ms, wall_ms, clock_synced, enc, body, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      evictPick: db.prepare('SELECT id, seq, prio, size FROM records ORDER BY prio, id LIMIT 256'),
      deleteById: db.prepare('DELETE FROM records WHERE id = ? RETURNING prio, size'),
      insertNotice: db.prepare('INSERT INTO evictions (first_seq, last_seq, prio, count, wall_ms) VALUES (?, ?, ?, ?, ?)'),
      bumpCounter: db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value'),
      leaseScan: db.prepare('SELECT * FROM records WHERE prio = ? AND id > ? ORDER BY id LIMIT ?'),
      // The uplink asks for the oldest pending record on every append: without the bodies, or
      // the question cost 40 % of the daemon's CPU at 1000x replay (soak profile).
      headScan: db.prepare('SELECT id, boot_id, mono_ms FROM records WHERE prio = ? AND id > ? ORDER BY id LIMIT ?'),
      prioOf: db.prepare('SELECT prio FROM records WHERE id = ?'),
    };
  }

  /**
   * Opens (creating if needed) the outbox at `path`. A database SQLite calls corrupt is
   * renamed to `<path>.corrupt-<timestamp>` (never deleted), a fresh one is started and
   * `onAlarm` fires.
   */
  static open(path: string, opts: OutboxOptions): Outbox {
    if (!opts.deviceId || !/^[A-Za-z0-9._-]{1,64}$/.test(opts.deviceId)) {
      throw new MotobioError('CONFIG_INVALID', `store: device id "${opts.deviceId}" must be 1-64 of A-Z a-z 0-9 . _ - (it becomes part of MQTT topics)`);
    }
    if (opts.diskBudgetBytes !== undefined && !(opts.diskBudgetBytes >= 64 * 1024)) {
      throw new MotobioError('CONFIG_INVALID', `store: disk budget ${opts.diskBudgetBytes} bytes is too small; give at least 65536`);
    }
    const full = resolve(path);
    const check = opts.integrityCheck ?? 'quick';
    let db: Db;
    let recoveredFrom: string | null = null;
    try {
      prepareFiles(full);
      try {
        checkStoreFiles(full);
        db = openChecked(full, check);
        migrate(db, full);
      } catch (e) {
        if (!isCorruption(e)) throw e;
        recoveredFrom = moveAside(full);
        prepareFiles(full);
        db = openChecked(full, check);
        migrate(db, full);
        const message = `store ${full} was corrupt (${errorMessage(e)}); moved it to ${recoveredFrom} and started a fresh store. Records in it that were not yet uploaded can be recovered from that file by hand.`;
        (opts.log ?? silentLogger).error({ path: full, movedTo: recoveredFrom }, message);
        opts.onAlarm?.({ code: 'STORE_CORRUPT_REPLACED', message });
      }
      tightenModes(full);
    } catch (e) {
      if (e instanceof MotobioError) throw e;
      throw new MotobioError('STORE_FAILED', `store ${full}: cannot open (${errorMessage(e)}); check the path, its permissions and free disk space`, { cause: e });
    }
    const box = new Outbox(full, db, opts, recoveredFrom);
    box.load();
    return box;
  }

  private load(): void {
    const meta = new Map((this.db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    const storedDevice = meta.get('device_id');
    if (storedDevice !== undefined && storedDevice !== this.deviceId) {
      this.db.close();
      throw new MotobioError(
        'CONFIG_INVALID',
        `store ${this.path} belongs to device "${storedDevice}" but this unit is configured as "${this.deviceId}"; fix the device id or move the store file away (its records would otherwise go out under the wrong device)`,
      );
    }
    this.seqFloor = readSeqFloor(this.floorPath);
    const metaSeq = meta.get('next_seq');
    // A store without next_seq is fresh (new unit, or replaced after corruption): continue above the floor.
    this.nextSeq = metaSeq !== undefined ? Number(metaSeq) : Math.max(1, this.seqFloor);
    if (storedDevice === undefined) {
      this.db.transaction(() => {
        this.st.setMeta.run('device_id', this.deviceId);
        this.st.setMeta.run('next_seq', String(this.nextSeq));
      }).immediate();
    }
    for (const r of this.db.prepare('SELECT prio, COUNT(*) AS n, SUM(size) AS b FROM records GROUP BY prio').all() as { prio: number; n: number; b: number }[]) {
      this.depth[priorityOfRank(r.prio)] = r.n;
      this.bytes += r.b;
    }
    for (const r of this.db.prepare("SELECT name, value FROM counters WHERE name LIKE 'evicted.%'").all() as { name: string; value: number }[]) {
      const p = r.name.slice('evicted.'.length);
      if (isPriority(p)) this.evicted[p] = r.value;
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new MotobioError('STORE_FAILED', `store ${this.path} is closed; this is a bug in the caller (append after stop)`);
  }

  private encode(r: RecordInput, i: number): { prio: number; type: string; enc: BodyEncoding; body: Buffer; monoMs: number; wallMs: number; synced: boolean } {
    const where = `record ${i} (type "${String(r?.type)}")`;
    if (typeof r?.type !== 'string' || !TYPE_RE.test(r.type)) throw new MotobioError('RECORD_INVALID', `${where}: type must match ${TYPE_RE.source}`);
    if (!isPriority(r.priority)) throw new MotobioError('RECORD_INVALID', `${where}: priority must be one of ${PRIORITIES.join(', ')}, got "${String(r.priority)}"`);
    let enc: BodyEncoding;
    let body: Buffer;
    if (r.ecg !== undefined) {
      enc = 'ecg1';
      body = encodeEcgChunk(r.ecg);
    } else {
      const text = JSON.stringify(r.payload ?? null, roundNumbers);
      enc = 'json';
      body = Buffer.from(text, 'utf8');
    }
    const monoMs = r.monoMs ?? monotonicMs();
    const wallMs = r.wallMs ?? Date.now();
    if (!Number.isFinite(monoMs) || !Number.isFinite(wallMs)) throw new MotobioError('RECORD_INVALID', `${where}: monoMs and wallMs must be finite numbers`);
    const size = body.length + r.type.length + ROW_OVERHEAD_BYTES;
    if (size > this.budget / 4) {
      throw new MotobioError('RECORD_INVALID', `${where}: ${size} bytes is more than a quarter of the disk budget (${this.budget}); split it into smaller records`);
    }
    return { prio: PRIORITY_RANK[r.priority], type: r.type, enc, body, monoMs, wallMs: Math.round(wallMs), synced: r.clockSynced ?? this.clockSynced() };
  }

  /**
   * Stores records durably (one transaction, fsync'd) and returns their sequence numbers.
   * Validates everything first: one bad record rejects the whole call and stores nothing.
   */
  append(records: readonly RecordInput[]): AppendResult {
    this.ensureOpen();
    if (records.length === 0) return { firstSeq: this.nextSeq, lastSeq: this.nextSeq - 1, count: 0, evicted: 0 };
    const rows = records.map((r, i) => this.encode(r, i));
    const cipher = this.cipher;
    if (cipher) {
      rows.forEach((r, i) => {
        r.body = cipher.seal(r.body, { deviceId: this.deviceId, seq: this.nextSeq + i, type: r.type, enc: r.enc });
        r.enc = sealedEncoding(r.enc) as BodyEncoding;
      });
    }
    const newBytes = rows.reduce((s, r) => s + r.body.length + r.type.length + ROW_OVERHEAD_BYTES, 0);
    const firstSeq = this.nextSeq;
    const lastSeq = firstSeq + rows.length - 1;
    if (lastSeq >= this.seqFloor) {
      const floor = lastSeq + 1 + SEQ_BLOCK;
      try {
        writeSeqFloor(this.floorPath, floor);
      } catch (e) {
        const full = (e as { code?: string }).code === 'ENOSPC';
        throw new MotobioError(full ? 'DISK_FULL' : 'STORE_FAILED', `store ${this.floorPath}: cannot write the sequence floor (${errorMessage(e)}); nothing was stored. ${full ? 'Free space on that filesystem' : 'Check the disk'}`, { cause: e });
      }
      this.seqFloor = floor;
    }
    const before = { bytes: this.bytes, depth: { ...this.depth }, evicted: { ...this.evicted } };
    let evicted = 0;
    const budget = this.effectiveBudget();
    const write = () =>
      this.db.transaction(() => {
        if (this.bytes + newBytes > budget) evicted += this.evict(this.bytes + newBytes - budget + this.headroom * budget);
        let seq = firstSeq;
        for (const r of rows) {
          this.st.insert.run(seq++, r.prio, r.type, this.bootId, r.monoMs, r.wallMs, r.synced ? 1 : 0, r.enc, r.body, r.body.length + r.type.length + ROW_OVERHEAD_BYTES);
          this.depth[priorityOfRank(r.prio)]++;
        }
        this.st.setMeta.run('next_seq', String(lastSeq + 1));
      }).immediate();
    const restore = () => {
      this.bytes = before.bytes;
      Object.assign(this.depth, before.depth);
      Object.assign(this.evicted, before.evicted);
    };
    try {
      try {
        write();
      } catch (e) {
        if ((e as { code?: string }).code !== 'SQLITE_FULL') throw e;
        // The filesystem filled faster than the budget saw: free pages inside the file (lowest
        // priority first, committed on their own) and try once more.
        restore();
        evicted = 0;
        this.db.transaction(() => void (evicted += this.evict(Math.max(4 * newBytes, this.headroom * this.bytes)))).immediate();
        Object.assign(before, { bytes: this.bytes, depth: { ...this.depth }, evicted: { ...this.evicted } });
        write();
      }
    } catch (e) {
      restore();
      const full = (e as { code?: string }).code === 'SQLITE_FULL';
      throw new MotobioError(full ? 'DISK_FULL' : 'STORE_FAILED', `store ${this.path}: could not write ${rows.length} records (${errorMessage(e)}); ${full ? 'the disk is full: free space on that filesystem or lower store.disk_budget_mb' : 'check the disk'}`, { cause: e });
    }
    this.bytes += newBytes;
    this.nextSeq = lastSeq + 1;
    return { firstSeq, lastSeq, count: rows.length, evicted };
  }

  /** The seq the next appended record gets (group commit reserves from it, src/store/group-commit.ts). */
  nextSequence(): number {
    return this.nextSeq;
  }

  /** The disk budget, lowered to what the filesystem still holds when spaceCap says so. */
  private effectiveBudget(): number {
    if (!this.spaceCap) return this.budget;
    const reusableBytes = (this.db.pragma('freelist_count', { simple: true }) as number) * (this.db.pragma('page_size', { simple: true }) as number);
    return Math.min(this.budget, this.spaceCap({ bytes: this.bytes, reusableBytes }));
  }

  /** Inside a transaction: frees at least `need` bytes, lowest priority and oldest first. */
  private evict(need: number): number {
    let freed = 0;
    let count = 0;
    const now = Date.now();
    const runs: { first: number; last: number; prio: number; count: number }[] = [];
    while (freed < need) {
      const batch = this.st.evictPick.all() as { id: number; seq: number; prio: number; size: number }[];
      if (batch.length === 0) break;
      for (const r of batch) {
        if (freed >= need) break;
        this.st.deleteById.run(r.id);
        freed += r.size;
        this.bytes -= r.size;
        const p = priorityOfRank(r.prio);
        this.depth[p]--;
        this.evicted[p]++;
        if (this.leased.delete(r.id)) this.leasedCount[p]--;
        this.unreadable.delete(r.id);
        count++;
        const last = runs[runs.length - 1];
        if (last !== undefined && last.prio === r.prio) {
          last.last = r.seq;
          last.count++;
        } else runs.push({ first: r.seq, last: r.seq, prio: r.prio, count: 1 });
      }
    }
    for (const run of runs) {
      this.st.insertNotice.run(run.first, run.last, run.prio, run.count, now);
      this.st.bumpCounter.run(`evicted.${priorityOfRank(run.prio)}`, run.count);
    }
    const summary = runs.map((r) => `${r.count} ${priorityOfRank(r.prio)} (seq ${r.first}..${r.last})`).join(', ');
    this.log.warn({ evicted: count, freedBytes: freed, budgetBytes: this.budget }, `store over its disk budget: evicted ${summary}`);
    if (runs.some((r) => r.prio === PRIORITY_RANK.safety)) {
      this.onAlarm({ code: 'SAFETY_EVICTED', message: `store ${this.path}: disk budget ${this.budget} bytes is full of safety events; evicted the oldest of them. Raise store.diskBudgetBytes or restore the uplink.` });
    }
    return count;
  }

  /** The highest priority that has records not yet leased, or undefined. */
  nextPriority(): Priority | undefined {
    return PRIORITIES.find((p) => this.depth[p] > this.leasedCount[p]);
  }

  /** Records of this priority not leased right now. */
  pending(priority: Priority): number {
    return this.depth[priority] - this.leasedCount[priority];
  }

  /** Boot id and monotonic time of the oldest record of this priority not leased, if any. */
  oldestPending(priority: Priority): { bootId: string; monoMs: number } | undefined {
    if (this.closed || this.pending(priority) <= 0) return undefined;
    let from = this.scanFrom[priority];
    for (;;) {
      const rows = this.st.headScan.all(PRIORITY_RANK[priority], from, 64) as Pick<Row, 'id' | 'boot_id' | 'mono_ms'>[];
      if (rows.length === 0) return undefined;
      for (const r of rows) {
        if (!this.leased.has(r.id)) return { bootId: r.boot_id, monoMs: r.mono_ms };
        from = r.id;
      }
    }
  }

  /**
   * Hands out up to `maxRecords` / `maxBytes` records of one priority, oldest first, that are
   * not already leased. They stay in the store until ack(); release() makes them pending again.
   */
  lease(priority: Priority, maxRecords: number, maxBytes: number): StoredRecord[] {
    this.ensureOpen();
    const out: StoredRecord[] = [];
    let bytes = 0;
    let from = this.scanFrom[priority];
    const prio = PRIORITY_RANK[priority];
    outer: for (;;) {
      const rows = this.st.leaseScan.all(prio, from, 512) as Row[];
      if (rows.length === 0) break;
      for (const r of rows) {
        from = r.id;
        if (this.leased.has(r.id)) continue;
        if (out.length >= maxRecords || (out.length > 0 && bytes + r.body.length > maxBytes)) break outer;
        const rec = this.openForLease(r);
        if (rec === undefined) continue;
        out.push(rec);
        bytes += r.body.length;
      }
    }
    for (const r of out) {
      this.leased.add(r.id);
      this.leasedCount[priority]++;
    }
    if (out.length > 0) this.scanFrom[priority] = Math.max(this.scanFrom[priority], out[out.length - 1].id);
    return out;
  }

  /** Makes leased records pending again (their batch was not acknowledged). */
  release(ids: readonly number[]): void {
    if (this.closed) return;
    for (const id of ids) {
      if (!this.leased.delete(id)) continue;
      const r = this.st.prioOf.get(id) as { prio: number } | undefined;
      if (r === undefined) continue;
      const p = priorityOfRank(r.prio);
      this.leasedCount[p]--;
      this.scanFrom[p] = Math.min(this.scanFrom[p], id - 1);
    }
  }

  /** Deletes records the broker has acknowledged (one durable transaction). */
  ack(ids: readonly number[]): void {
    this.ensureOpen();
    if (ids.length === 0) return;
    this.db.transaction(() => {
      for (const id of ids) {
        const wasLeased = this.leased.delete(id);
        const r = this.st.deleteById.get(id) as { prio: number; size: number } | undefined;
        if (r === undefined) continue;
        const p = priorityOfRank(r.prio);
        this.depth[p]--;
        if (wasLeased) this.leasedCount[p]--;
        this.bytes -= r.size;
      }
    }).immediate();
  }

  /** Eviction notices not yet delivered, oldest first. */
  leaseNotices(max = 100): EvictionNotice[] {
    this.ensureOpen();
    const rows = this.db.prepare('SELECT * FROM evictions ORDER BY id LIMIT ?').all(max + this.leasedNotices.size) as {
      id: number;
      first_seq: number;
      last_seq: number;
      prio: number;
      count: number;
      wall_ms: number;
    }[];
    const out: EvictionNotice[] = [];
    for (const r of rows) {
      if (this.leasedNotices.has(r.id) || out.length >= max) continue;
      this.leasedNotices.add(r.id);
      out.push({ id: r.id, firstSeq: r.first_seq, lastSeq: r.last_seq, priority: priorityOfRank(r.prio), count: r.count, wallMs: r.wall_ms });
    }
    return out;
  }

  releaseNotices(ids: readonly number[]): void {
    for (const id of ids) this.leasedNotices.delete(id);
  }

  ackNotices(ids: readonly number[]): void {
    this.ensureOpen();
    if (ids.length === 0) return;
    const del = this.db.prepare('DELETE FROM evictions WHERE id = ?');
    this.db.transaction(() => {
      for (const id of ids) {
        this.leasedNotices.delete(id);
        del.run(id);
      }
    }).immediate();
  }

  /** Reads records without leasing them (db export, diagnostics); ordered by seq. */
  *iterate(opts: { fromWallMs?: number; toWallMs?: number; priority?: Priority } = {}): Generator<StoredRecord> {
    this.ensureOpen();
    const where: string[] = [];
    const args: number[] = [];
    if (opts.fromWallMs !== undefined) {
      where.push('wall_ms >= ?');
      args.push(opts.fromWallMs);
    }
    if (opts.toWallMs !== undefined) {
      where.push('wall_ms < ?');
      args.push(opts.toWallMs);
    }
    if (opts.priority !== undefined) {
      where.push('prio = ?');
      args.push(PRIORITY_RANK[opts.priority]);
    }
    const sql = `SELECT * FROM records ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq`;
    for (const r of this.db.prepare(sql).iterate(...args) as IterableIterator<Row>) yield this.toRecord(r);
  }

  /** A row for the uplink, opened; an unreadable one is held (leased forever) and reported. */
  private openForLease(r: Row): StoredRecord | undefined {
    try {
      return this.toRecord(r);
    } catch (e) {
      const message = `store ${this.path}: ${errorMessage(e)}`;
      this.unreadable.set(r.id, message);
      this.leased.add(r.id);
      this.leasedCount[priorityOfRank(r.prio)]++;
      // A wrong key makes every old record unreadable: report the 1st, 10th, 100th ... (each of the first 10 altered ones), not each one.
      const n = this.unreadable.size;
      const kind = /not configured/.test(message) ? 'key' : 'tag';
      if (kind !== this.unreadableKind || (kind === 'tag' && n <= 10) || Number.isInteger(Math.log10(n))) {
        this.unreadableKind = kind;
        const held = `${message} (${n} record${n === 1 ? '' : 's'} held so far)`;
        this.log.error({ seq: r.seq, type: r.type, unreadable: n }, held);
        this.onAlarm({ code: 'RECORD_UNREADABLE', message: held });
      } else this.log.debug({ seq: r.seq, unreadable: n }, message);
      return undefined;
    }
  }

  /** Records held back because their body does not open, with the reason. */
  unreadableRecords(): { id: number; reason: string }[] {
    return [...this.unreadable].map(([id, reason]) => ({ id, reason }));
  }

  private toRecord(r: Row): StoredRecord {
    let enc = r.enc;
    let body = r.body;
    if (isSealed(enc)) {
      enc = plainEncoding(enc);
      if (!this.cipher) throw new MotobioError('RECORD_UNREADABLE', `record seq ${r.seq} (type "${r.type}") is encrypted but store.encryption is not configured; configure its key. Nothing was deleted`);
      body = this.cipher.open(body, { deviceId: this.deviceId, seq: r.seq, type: r.type, enc });
    }
    return {
      id: r.id,
      deviceId: this.deviceId,
      seq: r.seq,
      bootId: r.boot_id,
      monoMs: r.mono_ms,
      wallMs: r.wall_ms,
      clockSynced: r.clock_synced === 1,
      priority: priorityOfRank(r.prio),
      type: r.type,
      encoding: enc as BodyEncoding,
      body,
      size: r.size,
    };
  }

  stats(): OutboxStats {
    const oldest = this.closed ? undefined : (this.db.prepare('SELECT MIN(wall_ms) AS w FROM records').get() as { w: number | null });
    let fileBytes = 0;
    for (const f of [this.path, `${this.path}-wal`]) {
      try {
        fileBytes += statSync(f).size;
      } catch {
        /* the WAL may not exist */
      }
    }
    const records = PRIORITIES.reduce((s, p) => s + this.depth[p], 0);
    return {
      path: this.path,
      deviceId: this.deviceId,
      records,
      bytes: this.bytes,
      budgetBytes: this.budget,
      depth: { ...this.depth },
      evicted: { ...this.evicted },
      evictedTotal: PRIORITIES.reduce((s, p) => s + this.evicted[p], 0),
      nextSeq: this.nextSeq,
      oldestWallMs: oldest?.w ?? null,
      leased: this.leased.size,
      recoveredFrom: this.recoveredFrom,
      fileBytes,
    };
  }

  /** Online backup to `dest` (consistent snapshot while appends go on). */
  async backup(dest: string): Promise<void> {
    this.ensureOpen();
    await this.db.backup(dest);
    chmodSync(dest, 0o600);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/** Renames a corrupt store and its WAL/SHM aside; returns the new main file name. */
function moveAside(path: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dest = `${path}.corrupt-${stamp}`;
  renameSync(path, dest);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, dest + suffix);
  }
  return dest;
}
