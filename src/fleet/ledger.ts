/**
 * The gap ledger: per device, which seqs above its watermark (everything at or below it is
 * stored, announced evicted or quarantined) are not stored. Computed from the tables, not kept
 * in a worker's memory, so any number of workers, restarts and `motobio fleet gaps` agree.
 *
 *   covered = stored records ∪ announced evictions ∪ quarantined seqs, as intervals
 *   missing = (watermark, max covered] minus covered   -> a gap (still on its way, or lost)
 *   evicted = every announced run (and quarantined seqs) -> missing on purpose, not a gap
 *
 * A gap's age runs from when the first record above it was stored: that is when the server
 * could first know of it. A unit offline for a day leaves no gap (nothing above it arrived).
 */
import { num, type SqlQueryable } from './sql.js';

export interface LedgerEntry {
  readonly device: string;
  readonly kind: 'missing' | 'evicted' | 'quarantined';
  readonly first: number;
  readonly last: number;
  /** When the server first saw evidence of it (ISO time). */
  readonly since: string;
}

const COVERED = `
  WITH iv AS (
    SELECT seq AS a, seq AS b, received_at AS t FROM records WHERE device = $1 AND seq > $2
    UNION ALL SELECT first_seq, last_seq, received_at FROM evictions WHERE device = $1 AND last_seq > $2
    UNION ALL SELECT seq, seq, received_at FROM quarantine WHERE device = $1 AND seq > $2
  ), ord AS (
    SELECT a, b, t, max(b) OVER (ORDER BY a, b ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end FROM iv
  )
  SELECT GREATEST(COALESCE(prev_end, $2), $2) + 1 AS first, a - 1 AS last, t FROM ord WHERE a > GREATEST(COALESCE(prev_end, $2), $2) + 1 ORDER BY a`;

const ts = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v));

export async function findHoles(db: SqlQueryable, device: string, watermark: number): Promise<LedgerEntry[]> {
  const holes = await db.query<{ first: unknown; last: unknown; t: unknown }>(COVERED, [device, watermark]);
  const ev = await db.query<{ first_seq: unknown; last_seq: unknown; received_at: unknown }>('SELECT first_seq, last_seq, received_at FROM evictions WHERE device = $1 ORDER BY first_seq', [device]);
  const q = await db.query<{ seq: unknown; received_at: unknown }>('SELECT seq, min(received_at) AS received_at FROM quarantine WHERE device = $1 AND seq IS NOT NULL GROUP BY seq ORDER BY seq', [device]);
  const out: LedgerEntry[] = [
    ...holes.rows.map((h) => ({ device, kind: 'missing' as const, first: num(h.first), last: num(h.last), since: ts(h.t) })),
    ...ev.rows.map((e) => ({ device, kind: 'evicted' as const, first: num(e.first_seq), last: num(e.last_seq), since: ts(e.received_at) })),
    ...q.rows.map((e) => ({ device, kind: 'quarantined' as const, first: num(e.seq), last: num(e.seq), since: ts(e.received_at) })),
  ];
  return out.sort((a, b) => a.first - b.first);
}
