/**
 * What a gate measures, from what the ingest stored (docs/fleet.md tables): one GroupFigures
 * for a set of units over a time window. The windows are on the units' record times (`at`),
 * restarts on the records received since the stage was published.
 */
import { num, type SqlQueryable } from '../sql.js';
import type { GroupFigures } from './gates.js';

/** Decision reasons that are an error of the unit, not a choice of the policy. */
export const ERROR_REASONS = ['model_error', 'internal_error'];

export interface Window {
  readonly from: Date;
  readonly to: Date;
}

const orNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

export async function groupFigures(db: SqlQueryable, devices: readonly string[], w: Window, opts: { restartsSince?: Date; silentS: number }): Promise<GroupFigures> {
  if (devices.length === 0) return { units: 0, decisions: 0, errors: 0, latencyP95Ms: null, restarts: 0, quality: null, safety: 0, cues: 0, silent: 0 };
  const args = [devices, w.from.toISOString(), w.to.toISOString()];
  const d = (
    await db.query<Record<string, unknown>>(
      `SELECT count(*) AS n, count(DISTINCT d.device) AS units,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY d.latency_ms) AS p95,
              count(*) FILTER (WHERE d.source = 'model' AND d.action NOT IN ('none', 'safety_alert')) AS cues,
              count(*) FILTER (WHERE r.data->>'reason' = ANY($4)) AS errors
         FROM decisions d JOIN records r ON r.device = d.device AND r.seq = d.seq
        WHERE d.device = ANY($1) AND d.at >= $2 AND d.at < $3`,
      [...args, ERROR_REASONS],
    )
  ).rows[0];
  const s = (await db.query<{ n: unknown }>('SELECT count(*) AS n FROM safety_events WHERE device = ANY($1) AND at >= $2 AND at < $3', args)).rows[0];
  const q = (await db.query<{ q: unknown }>('SELECT avg(quality) AS q FROM features WHERE device = ANY($1) AND at >= $2 AND at < $3', args)).rows[0];
  let restarts = 0;
  if (opts.restartsSince) {
    const b = await db.query<{ n: unknown }>('SELECT count(DISTINCT boot) AS n FROM records WHERE device = ANY($1) AND received_at >= $2 GROUP BY device', [devices, opts.restartsSince.toISOString()]);
    restarts = b.rows.reduce((sum, r) => sum + Math.max(0, num(r.n) - 1), 0);
  }
  const seen = await db.query<{ n: unknown }>(`SELECT count(*) AS n FROM devices WHERE device = ANY($1) AND last_seen >= now() - make_interval(secs => $2)`, [devices, opts.silentS]);
  return {
    units: num(d['units']),
    decisions: num(d['n']),
    errors: num(d['errors']),
    latencyP95Ms: orNull(d['p95']),
    restarts,
    quality: orNull(q.q),
    safety: num(s.n),
    cues: num(d['cues']),
    silent: devices.length - num(seen.rows[0].n),
  };
}
