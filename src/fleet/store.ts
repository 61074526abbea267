/**
 * The fleet store: what the ingest writes and what `fleet gaps`, the metrics and the
 * dashboards read. One interface, one SQL implementation, two engines (sql.ts):
 *
 *   ingest ──writeBatch──▶ devices (row lock per device: one writer at a time per unit)
 *                          records  INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING RETURNING seq
 *                          typed tables, only for the seqs the insert took
 *                          evictions ON CONFLICT DO NOTHING
 *          ──quarantine──▶ quarantine
 *   ledger ──refreshLedger / gaps──▶ holes above each device's watermark (ledger.ts)
 *
 * Everything of one batch commits in one transaction: the caller acknowledges the MQTT message
 * only after writeBatch resolved, so a crash before that makes the broker send it again, and
 * the unique key makes the repeat harmless.
 */
import type { Priority } from '../store/types.js';
import { migrate } from './migrations.js';
import { num, type SqlClient, type SqlQueryable } from './sql.js';
import { TABLE_COLUMNS, TABLE_OF_TYPE, rawJson, typedColumns, type TypedTable } from './typed.js';
import { findHoles, type LedgerEntry } from './ledger.js';

export interface IngestRecord {
  readonly seq: number;
  readonly type: string;
  readonly prio: Priority;
  readonly boot: string;
  readonly mono: number;
  readonly wall: number;
  readonly sync: boolean;
  readonly data?: unknown;
  /** Raw ECG chunk (already checked to decode) with its header fields. */
  readonly ecg?: { readonly chunk: Buffer; readonly startSample: number; readonly fs: number; readonly lsbUv: number; readonly n: number };
}

export interface IngestEviction {
  readonly first: number;
  readonly last: number;
  readonly prio: Priority;
  readonly count: number;
  readonly wall: number | null;
}

export interface IngestBatch {
  readonly device: string;
  readonly records: readonly IngestRecord[];
  readonly evicted: readonly IngestEviction[];
  /** Records of this batch that failed their schema: kept in the same transaction. */
  readonly quarantine?: readonly QuarantineEntry[];
}

export interface WriteResult {
  /** Records this write stored (new). */
  readonly stored: number;
  /** Records already there (repeats). */
  readonly duplicates: number;
  /** New records by type. */
  readonly byType: Readonly<Record<string, number>>;
  /** The new records themselves. */
  readonly fresh: readonly IngestRecord[];
}

export interface QuarantineEntry {
  readonly topic: string;
  readonly reason: string;
  readonly device?: string | null;
  readonly seq?: number | null;
  readonly payload?: Buffer | null;
}

export interface LinkStatusUpdate {
  readonly device: string;
  readonly link: string;
  readonly state: string;
  readonly boot: string | null;
  readonly atMs: number | null;
}

export interface FleetStore {
  /** Applies pending migrations (advisory lock: safe with many workers starting together). */
  migrate(): Promise<number[]>;
  writeBatch(batch: IngestBatch): Promise<WriteResult>;
  quarantine(entries: readonly QuarantineEntry[]): Promise<void>;
  linkStatus(update: LinkStatusUpdate): Promise<void>;
  /** Moves each device's watermark up to its first hole; returns devices looked at. */
  refreshLedger(): Promise<number>;
  /** Holes (missing) above the watermark, announced evicted runs and quarantined seqs, per device. */
  ledger(device?: string): Promise<LedgerEntry[]>;
  /** Only the missing holes, of devices whose watermark is below their highest seq (cheap: call after refreshLedger). */
  openGaps(): Promise<LedgerEntry[]>;
  /** Stored seqs of a device, ascending (tests, audits). */
  seqs(device: string): Promise<number[]>;
  /** Rows per table (tests, bench). */
  count(table: string): Promise<number>;
  readonly sql: SqlClient;
  close(): Promise<void>;
}

const KNOWN_TABLES = new Set(['records', 'devices', 'features', 'decisions', 'cue_outcomes', 'safety_events', 'unit_status', 'update_reports', 'ecg_chunks', 'evictions', 'quarantine', 'link_status', 'link_events']);

/** `INSERT INTO t (device, seq, at, c...) SELECT $1, * FROM unnest($2::bigint[], $3::timestamptz[], ...)`. */
function typedInsert(table: TypedTable): string {
  const cols = TABLE_COLUMNS[table];
  const names = ['seq', 'at', ...cols.map(([c]) => c)];
  const casts = ['bigint', 'timestamptz', ...cols.map(([, t]) => t)].map((t, i) => `$${i + 2}::${t}[]`);
  return `INSERT INTO ${table} (device, ${names.join(', ')}) SELECT $1, * FROM unnest(${casts.join(', ')}) ON CONFLICT DO NOTHING`;
}

const TYPED_SQL = Object.fromEntries(Object.keys(TABLE_COLUMNS).map((t) => [t, typedInsert(t as TypedTable)])) as Record<TypedTable, string>;

const INSERT_RECORDS = `INSERT INTO records (device, seq, boot, mono_ms, wall_ms, synced, type, prio, data)
  SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::float8[], $5::bigint[], $6::bool[], $7::text[], $8::text[], $9::jsonb[])
  ON CONFLICT DO NOTHING RETURNING seq`;

const INSERT_ECG = `INSERT INTO ecg_chunks (device, seq, at, boot, start_sample, fs, lsb_uv, n, chunk)
  SELECT $1, * FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::float8[], $6::real[], $7::real[], $8::int[], $9::bytea[])
  ON CONFLICT DO NOTHING`;

const UPSERT_DEVICE = `INSERT INTO devices AS d (device, max_seq, last_boot) VALUES ($1, $2, $3)
  ON CONFLICT (device) DO UPDATE SET last_seen = now(), max_seq = GREATEST(d.max_seq, EXCLUDED.max_seq), last_boot = COALESCE(EXCLUDED.last_boot, d.last_boot)`;

const INSERT_EVICTIONS = `INSERT INTO evictions (device, first_seq, last_seq, prio, count, wall_ms)
  SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[]) ON CONFLICT DO NOTHING`;

const iso = (wallMs: number) => new Date(Number.isFinite(wallMs) && Math.abs(wallMs) < 8.64e15 ? wallMs : 0).toISOString();

export class SqlFleetStore implements FleetStore {
  constructor(readonly sql: SqlClient) {}

  migrate(): Promise<number[]> {
    return migrate(this.sql);
  }

  async writeBatch(batch: IngestBatch): Promise<WriteResult> {
    // Ascending seq, once each: concurrent writers of one device take keys in the same order.
    const bySeq = new Map<number, IngestRecord>();
    for (const r of batch.records) if (!bySeq.has(r.seq)) bySeq.set(r.seq, r);
    const recs = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
    const maxSeq = Math.max(0, ...recs.map((r) => r.seq), ...batch.evicted.map((e) => e.last));
    return this.sql.transaction(async (tx) => {
      await tx.query(UPSERT_DEVICE, [batch.device, maxSeq, recs.at(-1)?.boot ?? null]);
      let taken = new Set<number>();
      if (recs.length > 0) {
        const rows = await tx.query<{ seq: unknown }>(INSERT_RECORDS, [
          batch.device,
          recs.map((r) => r.seq),
          recs.map((r) => r.boot),
          recs.map((r) => r.mono),
          recs.map((r) => Math.round(r.wall)),
          recs.map((r) => r.sync),
          recs.map((r) => r.type),
          recs.map((r) => r.prio),
          recs.map((r) => rawJson(r.type, r.data)),
        ]);
        taken = new Set(rows.rows.map((r) => num(r.seq)));
      }
      const fresh = recs.filter((r) => taken.has(r.seq));
      await this.writeTyped(tx, batch.device, fresh);
      if (batch.evicted.length > 0) {
        const ev = batch.evicted;
        await tx.query(INSERT_EVICTIONS, [batch.device, ev.map((e) => e.first), ev.map((e) => e.last), ev.map((e) => e.prio), ev.map((e) => e.count), ev.map((e) => e.wall)]);
      }
      if (batch.quarantine && batch.quarantine.length > 0) await this.quarantineIn(tx, batch.quarantine);
      const byType: Record<string, number> = {};
      for (const r of fresh) byType[r.type] = (byType[r.type] ?? 0) + 1;
      return { stored: fresh.length, duplicates: recs.length - fresh.length + (batch.records.length - recs.length), byType, fresh };
    });
  }

  private async writeTyped(tx: SqlQueryable, device: string, fresh: readonly IngestRecord[]): Promise<void> {
    const groups = new Map<TypedTable, IngestRecord[]>();
    const ecg: IngestRecord[] = [];
    for (const r of fresh) {
      if (r.ecg) {
        ecg.push(r);
        continue;
      }
      const t = TABLE_OF_TYPE[r.type];
      if (t === undefined) continue;
      let g = groups.get(t);
      if (!g) groups.set(t, (g = []));
      g.push(r);
    }
    for (const [table, rs] of groups) {
      const cols = TABLE_COLUMNS[table];
      const rows = rs.map((r) => typedColumns(table, r.data));
      await tx.query(TYPED_SQL[table], [device, rs.map((r) => r.seq), rs.map((r) => iso(r.wall)), ...cols.map(([c]) => rows.map((row) => row[c]))]);
    }
    if (ecg.length > 0) {
      await tx.query(INSERT_ECG, [
        device,
        ecg.map((r) => r.seq),
        ecg.map((r) => iso(r.wall)),
        ecg.map((r) => r.boot),
        ecg.map((r) => r.ecg!.startSample),
        ecg.map((r) => r.ecg!.fs),
        ecg.map((r) => r.ecg!.lsbUv),
        ecg.map((r) => r.ecg!.n),
        ecg.map((r) => r.ecg!.chunk),
      ]);
    }
  }

  async quarantine(entries: readonly QuarantineEntry[]): Promise<void> {
    await this.quarantineIn(this.sql, entries);
  }

  private async quarantineIn(db: SqlQueryable, entries: readonly QuarantineEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await db.query(
      `INSERT INTO quarantine (topic, reason, device, seq, payload) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[])`,
      [entries.map((e) => e.topic), entries.map((e) => e.reason), entries.map((e) => e.device ?? null), entries.map((e) => e.seq ?? null), entries.map((e) => e.payload ?? null)],
    );
  }

  async linkStatus(u: LinkStatusUpdate): Promise<void> {
    await this.sql.transaction(async (tx) => {
      const prev = await tx.query<{ state: string; at_ms: unknown }>('SELECT state, at_ms FROM link_status WHERE device = $1 AND link = $2 FOR UPDATE', [u.device, u.link]);
      const p = prev.rows[0];
      // Retained messages come again at every (re)subscribe: only a change is an event.
      if (p && p.state === u.state && (p.at_ms === null ? null : num(p.at_ms)) === u.atMs) return;
      await tx.query(
        `INSERT INTO link_status (device, link, state, boot, at_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (device, link) DO UPDATE SET state = EXCLUDED.state, boot = EXCLUDED.boot, at_ms = EXCLUDED.at_ms, received_at = now()`,
        [u.device, u.link, u.state, u.boot, u.atMs],
      );
      await tx.query('INSERT INTO link_events (device, link, state, at_ms) VALUES ($1, $2, $3, $4)', [u.device, u.link, u.state, u.atMs]);
    });
  }

  async refreshLedger(): Promise<number> {
    const devs = await this.sql.query<{ device: string; watermark: unknown; max_seq: unknown }>('SELECT device, watermark, max_seq FROM devices WHERE max_seq > watermark');
    for (const d of devs.rows) {
      const holes = await findHoles(this.sql, d.device, num(d.watermark));
      const firstHole = holes.find((h) => h.kind === 'missing');
      const mark = firstHole ? firstHole.first - 1 : num(d.max_seq);
      // GREATEST: two workers refreshing at once only ever move it up.
      await this.sql.query('UPDATE devices SET watermark = GREATEST(watermark, $2) WHERE device = $1', [d.device, mark]);
    }
    return devs.rows.length;
  }

  async ledger(device?: string): Promise<LedgerEntry[]> {
    const devs = await this.sql.query<{ device: string; watermark: unknown }>(
      device === undefined ? 'SELECT device, watermark FROM devices ORDER BY device' : 'SELECT device, watermark FROM devices WHERE device = $1',
      device === undefined ? [] : [device],
    );
    const out: LedgerEntry[] = [];
    for (const d of devs.rows) out.push(...(await findHoles(this.sql, d.device, num(d.watermark))));
    return out;
  }

  async openGaps(): Promise<LedgerEntry[]> {
    const devs = await this.sql.query<{ device: string; watermark: unknown }>('SELECT device, watermark FROM devices WHERE max_seq > watermark');
    const out: LedgerEntry[] = [];
    for (const d of devs.rows) out.push(...(await findHoles(this.sql, d.device, num(d.watermark))).filter((e) => e.kind === 'missing'));
    return out;
  }

  async seqs(device: string): Promise<number[]> {
    return (await this.sql.query<{ seq: unknown }>('SELECT seq FROM records WHERE device = $1 ORDER BY seq', [device])).rows.map((r) => num(r.seq));
  }

  async count(table: string): Promise<number> {
    if (!KNOWN_TABLES.has(table)) throw new RangeError(`no fleet table ${table}`);
    return num((await this.sql.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
  }

  close(): Promise<void> {
    return this.sql.close();
  }
}
