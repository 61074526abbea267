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

/** bigint[] comes back as a JS array (of strings from node-postgres, numbers from PGlite). */
function parseBigintArray(v: unknown): number[] {
  if (Array.isArray(v)) return v.map((x) => num(x));
  if (typeof v === 'string') return v.replace(/[{}]/g, '').split(',').filter((x) => x !== '').map(Number);
  return [];
}

const KNOWN_TABLES = new Set(['records', 'devices', 'features', 'decisions', 'cue_outcomes', 'safety_events', 'unit_status', 'update_reports', 'ecg_chunks', 'evictions', 'quarantine', 'link_status', 'link_events']);

/** Numbered parameters for one statement: `p.add(value, 'bigint[]')` -> `$n::bigint[]`. */
class Params {
  readonly values: unknown[] = [];
  add(v: unknown, cast: string): string {
    this.values.push(v);
    return `$${this.values.length}::${cast}`;
  }
}

/**
 * One batch is one statement: PostgreSQL runs data-modifying CTEs atomically, so there is no
 * BEGIN/COMMIT round trip, and the typed rows are written only for the seqs the identity insert
 * took (`ins`). The device row is upserted first (an InitPlan, evaluated before `ins` produces a
 * row): concurrent writers of one unit queue on that row lock instead of deadlocking on keys.
 */
function batchStatement(device: string, recs: readonly IngestRecord[], evicted: readonly IngestEviction[], quarantine: readonly QuarantineEntry[], maxSeq: number): { text: string; values: unknown[] } {
  const p = new Params();
  const dev = p.add(device, 'text');
  const ctes: string[] = [
    `dev AS (INSERT INTO devices AS d (device, max_seq, last_boot) VALUES (${dev}, ${p.add(maxSeq, 'bigint')}, ${p.add(recs.at(-1)?.boot ?? null, 'text')})
      ON CONFLICT (device) DO UPDATE SET last_seen = now(), max_seq = GREATEST(d.max_seq, EXCLUDED.max_seq), last_boot = COALESCE(EXCLUDED.last_boot, d.last_boot) RETURNING 1)`,
    `ins AS (INSERT INTO records (device, seq, boot, mono_ms, wall_ms, synced, type, prio, data)
      SELECT ${dev}, u.* FROM unnest(${p.add(recs.map((r) => r.seq), 'bigint[]')}, ${p.add(recs.map((r) => r.boot), 'text[]')}, ${p.add(recs.map((r) => r.mono), 'float8[]')},
        ${p.add(recs.map((r) => Math.round(r.wall)), 'bigint[]')}, ${p.add(recs.map((r) => r.sync), 'bool[]')}, ${p.add(recs.map((r) => r.type), 'text[]')},
        ${p.add(recs.map((r) => r.prio), 'text[]')}, ${p.add(recs.map((r) => rawJson(r.type, r.data)), 'jsonb[]')}) AS u
      WHERE EXISTS (SELECT 1 FROM dev)
      ON CONFLICT DO NOTHING RETURNING seq, wall_ms)`,
  ];
  const at = "to_timestamp(LEAST(GREATEST(ins.wall_ms, 0), 253402300799999) / 1000.0)";
  const groups = new Map<TypedTable, IngestRecord[]>();
  const ecg: IngestRecord[] = [];
  for (const r of recs) {
    if (r.ecg) ecg.push(r);
    else {
      const t = TABLE_OF_TYPE[r.type];
      if (t === undefined) continue;
      let g = groups.get(t);
      if (!g) groups.set(t, (g = []));
      g.push(r);
    }
  }
  for (const [table, rs] of groups) {
    const cols = TABLE_COLUMNS[table];
    const rows = rs.map((r) => typedColumns(table, r.data));
    const arrays = [p.add(rs.map((r) => r.seq), 'bigint[]'), ...cols.map(([c, t]) => p.add(rows.map((row) => row[c]), `${t}[]`))];
    ctes.push(`t_${table} AS (INSERT INTO ${table} (device, seq, at, ${cols.map(([c]) => c).join(', ')})
      SELECT ${dev}, u.seq, ${at}, ${cols.map(([c]) => `u.${c}`).join(', ')} FROM unnest(${arrays.join(', ')}) AS u(seq, ${cols.map(([c]) => c).join(', ')}) JOIN ins USING (seq)
      ON CONFLICT DO NOTHING)`);
  }
  if (ecg.length > 0) {
    ctes.push(`t_ecg AS (INSERT INTO ecg_chunks (device, seq, at, boot, start_sample, fs, lsb_uv, n, chunk)
      SELECT ${dev}, u.seq, ${at}, u.boot, u.start_sample, u.fs, u.lsb_uv, u.n, u.chunk
      FROM unnest(${p.add(ecg.map((r) => r.seq), 'bigint[]')}, ${p.add(ecg.map((r) => r.boot), 'text[]')}, ${p.add(ecg.map((r) => r.ecg!.startSample), 'float8[]')},
        ${p.add(ecg.map((r) => r.ecg!.fs), 'real[]')}, ${p.add(ecg.map((r) => r.ecg!.lsbUv), 'real[]')}, ${p.add(ecg.map((r) => r.ecg!.n), 'int[]')}, ${p.add(ecg.map((r) => r.ecg!.chunk), 'bytea[]')})
        AS u(seq, boot, start_sample, fs, lsb_uv, n, chunk) JOIN ins USING (seq)
      ON CONFLICT DO NOTHING)`);
  }
  if (evicted.length > 0) {
    ctes.push(`t_ev AS (INSERT INTO evictions (device, first_seq, last_seq, prio, count, wall_ms)
      SELECT ${dev}, * FROM unnest(${p.add(evicted.map((e) => e.first), 'bigint[]')}, ${p.add(evicted.map((e) => e.last), 'bigint[]')}, ${p.add(evicted.map((e) => e.prio), 'text[]')},
        ${p.add(evicted.map((e) => e.count), 'bigint[]')}, ${p.add(evicted.map((e) => e.wall), 'bigint[]')}) ON CONFLICT DO NOTHING)`);
  }
  if (quarantine.length > 0) {
    ctes.push(`t_q AS (INSERT INTO quarantine (topic, reason, device, seq, payload)
      SELECT * FROM unnest(${p.add(quarantine.map((e) => e.topic), 'text[]')}, ${p.add(quarantine.map((e) => e.reason), 'text[]')}, ${p.add(quarantine.map((e) => e.device ?? null), 'text[]')},
        ${p.add(quarantine.map((e) => e.seq ?? null), 'bigint[]')}, ${p.add(quarantine.map((e) => e.payload ?? null), 'bytea[]')}))`);
  }
  return { text: `WITH ${ctes.join(',\n')}\nSELECT COALESCE(array_agg(seq), '{}') AS seqs FROM ins`, values: p.values };
}

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
    let maxSeq = 0;
    for (const r of recs) if (r.seq > maxSeq) maxSeq = r.seq;
    for (const e of batch.evicted) if (e.last > maxSeq) maxSeq = e.last;
    const st = batchStatement(batch.device, recs, batch.evicted, batch.quarantine ?? [], maxSeq);
    const res = await this.sql.query<{ seqs: unknown[] | string }>(st.text, st.values);
    const taken = new Set(parseBigintArray(res.rows[0]?.seqs));
    const fresh = recs.filter((r) => taken.has(r.seq));
    const byType: Record<string, number> = {};
    for (const r of fresh) byType[r.type] = (byType[r.type] ?? 0) + 1;
    return { stored: fresh.length, duplicates: recs.length - fresh.length + (batch.records.length - recs.length), byType, fresh };
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
