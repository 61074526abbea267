/**
 * Prometheus metrics of one ingest worker. Label values come from small fixed sets (record
 * types, quarantine reasons, safety rules, at most MAX_MODELS model versions): no label per
 * device, ever; per-device detail lives in PostgreSQL. Fleet-wide gauges (devices seen, open
 * gaps, units by model, decision latency, signal quality) are read from the database by
 * `refreshFleetGauges`, so every worker of a group reports the same fleet figures (alert rules
 * take max() over workers).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { num, type SqlQueryable } from './sql.js';

export const KNOWN_TYPES = new Set(['features', 'decision', 'safety', 'status', 'ecg', 'update', 'cue']);
export const QUARANTINE_REASONS = ['decode', 'device_mismatch', 'record_schema', 'status'] as const;
export type QuarantineReason = (typeof QUARANTINE_REASONS)[number];
const KNOWN_RULES = new Set(['hr-high', 'hr-low', 'hr-sustained-high', 'arrhythmia', 'lead-off', 'rr-irregular']);
export const MAX_MODELS = 20;

export class FleetMetrics {
  readonly registry = new Registry();
  readonly stored: Counter<'type'>;
  readonly duplicates: Counter;
  readonly messages: Counter<'kind' | 'result'>;
  readonly quarantined: Counter<'reason'>;
  readonly safety: Counter<'rule'>;
  readonly dbErrors: Counter;
  readonly lag: Histogram;
  readonly commit: Histogram;
  readonly devicesSeen: Gauge;
  readonly gapsOpen: Gauge<'age'>;
  readonly unitsByModel: Gauge<'model'>;
  readonly decisionP95: Gauge<'quantile'>;
  readonly qualityGood: Gauge;
  readonly unitsOver: Gauge<'resource' | 'severity'>;
  readonly silentRiding: Gauge;
  readonly lastRefresh: Gauge;

  constructor(version: string) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'motobio_fleet_' });
    new Gauge({ name: 'motobio_fleet_build_info', help: 'Ingest build: version and Node.js, always 1', labelNames: ['version', 'node'], registers: [r] }).set({ version, node: process.version }, 1);
    this.stored = new Counter({ name: 'motobio_fleet_records_stored_total', help: 'Records stored (new), by record type (unknown types as other)', labelNames: ['type'], registers: [r] });
    this.duplicates = new Counter({ name: 'motobio_fleet_records_duplicate_total', help: 'Records received again and dropped by the (device, seq) key', registers: [r] });
    this.messages = new Counter({ name: 'motobio_fleet_messages_total', help: 'MQTT messages handled, by kind (data, status) and result (stored, quarantined, ignored)', labelNames: ['kind', 'result'], registers: [r] });
    this.quarantined = new Counter({ name: 'motobio_fleet_quarantined_total', help: 'Batches, records or status messages put in quarantine, by reason', labelNames: ['reason'], registers: [r] });
    this.safety = new Counter({ name: 'motobio_fleet_safety_events_total', help: 'Safety events stored, by rule', labelNames: ['rule'], registers: [r] });
    this.dbErrors = new Counter({ name: 'motobio_fleet_database_errors_total', help: 'Failed database writes (each retried; the message stays unacknowledged)', registers: [r] });
    this.lag = new Histogram({ name: 'motobio_fleet_ingest_lag_seconds', help: 'Commit time minus device wall time of each stored record with a synchronised clock', buckets: [0.1, 0.5, 1, 2, 5, 15, 60, 300, 1800, 3600, 6 * 3600, 86_400], registers: [r] });
    this.commit = new Histogram({ name: 'motobio_fleet_commit_seconds', help: 'Time to decode and commit one message', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: [r] });
    this.devicesSeen = new Gauge({ name: 'motobio_fleet_devices_seen', help: 'Devices with a stored record in the last 5 minutes', registers: [r] });
    this.gapsOpen = new Gauge({ name: 'motobio_fleet_gaps_open', help: 'Open gaps in the ledger (missing, not evicted); age=over_limit: open longer than the age limit', labelNames: ['age'], registers: [r] });
    this.unitsByModel = new Gauge({ name: 'motobio_fleet_units_by_model', help: `Units by the model in their latest health record (top ${MAX_MODELS}, the rest as other)`, labelNames: ['model'], registers: [r] });
    this.decisionP95 = new Gauge({ name: 'motobio_fleet_decision_latency_p95_seconds', help: "Units' decision latency p95 from health records of the last 15 minutes, across units (quantile 0.5, 0.95, 1)", labelNames: ['quantile'], registers: [r] });
    this.qualityGood = new Gauge({ name: 'motobio_fleet_signal_quality_good_ratio', help: 'Share of feature windows of the last hour with quality >= 0.5, fleet-wide', registers: [r] });
    this.unitsOver = new Gauge({ name: 'motobio_fleet_units_over_threshold', help: 'Units whose latest health record (last 15 min) is over a threshold: cpu/memory, major (>0.8/0.85) or critical (>0.9)', labelNames: ['resource', 'severity'], registers: [r] });
    this.silentRiding = new Gauge({ name: 'motobio_fleet_units_silent_riding', help: 'Units that sent features within a minute of their last record, and nothing for 10-60 minutes since (went quiet while riding)', registers: [r] });
    this.lastRefresh = new Gauge({ name: 'motobio_fleet_ledger_refresh_timestamp_seconds', help: 'When this worker last refreshed the ledger and fleet gauges', registers: [r] });
  }

  countStored(byType: Readonly<Record<string, number>>): void {
    for (const [t, n] of Object.entries(byType)) this.stored.inc({ type: KNOWN_TYPES.has(t) ? t : 'other' }, n);
  }

  countSafety(rule: string | null): void {
    this.safety.inc({ rule: rule !== null && KNOWN_RULES.has(rule) ? rule : 'other' });
  }

  /** Fleet gauges from the tables (cheap, indexed queries; run every refresh interval). */
  async refreshFleetGauges(db: SqlQueryable, gapsOpen: number, gapsOverLimit: number): Promise<void> {
    this.gapsOpen.set({ age: 'any' }, gapsOpen);
    this.gapsOpen.set({ age: 'over_limit' }, gapsOverLimit);
    const seen = await db.query<{ n: unknown }>("SELECT count(*) AS n FROM devices WHERE last_seen > now() - interval '5 minutes'");
    this.devicesSeen.set(num(seen.rows[0].n));
    const latest = `SELECT DISTINCT ON (device) device, model, cpu, memory FROM unit_status WHERE kind = 'health' AND at > now() - interval '15 minutes' ORDER BY device, at DESC`;
    const models = await db.query<{ model: string | null; n: unknown }>(`SELECT model, count(*) AS n FROM (${latest}) l GROUP BY model ORDER BY count(*) DESC`);
    this.unitsByModel.reset();
    let other = 0;
    models.rows.forEach((m, i) => {
      if (i < MAX_MODELS) this.unitsByModel.set({ model: m.model ?? 'none' }, num(m.n));
      else other += num(m.n);
    });
    if (other > 0) this.unitsByModel.set({ model: 'other' }, other);
    const over = await db.query<Record<string, unknown>>(
      `SELECT count(*) FILTER (WHERE cpu > 0.9) AS cpu_c, count(*) FILTER (WHERE cpu > 0.8) AS cpu_m, count(*) FILTER (WHERE memory > 0.9) AS mem_c, count(*) FILTER (WHERE memory > 0.85) AS mem_m FROM (${latest}) l`,
    );
    const o = over.rows[0];
    this.unitsOver.set({ resource: 'cpu', severity: 'critical' }, num(o['cpu_c']));
    this.unitsOver.set({ resource: 'cpu', severity: 'major' }, num(o['cpu_m']));
    this.unitsOver.set({ resource: 'memory', severity: 'critical' }, num(o['mem_c']));
    this.unitsOver.set({ resource: 'memory', severity: 'major' }, num(o['mem_m']));
    const p = await db.query<Record<string, unknown>>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY decision_p95_ms) AS q50, percentile_cont(0.95) WITHIN GROUP (ORDER BY decision_p95_ms) AS q95, max(decision_p95_ms) AS q100
       FROM unit_status WHERE kind = 'health' AND decision_p95_ms IS NOT NULL AND at > now() - interval '15 minutes'`,
    );
    for (const [q, k] of [['0.5', 'q50'], ['0.95', 'q95'], ['1', 'q100']] as const) {
      const v = p.rows[0][k];
      if (v === null || v === undefined) this.decisionP95.remove({ quantile: q });
      else this.decisionP95.set({ quantile: q }, num(v) / 1000);
    }
    const qg = await db.query<{ good: unknown; n: unknown }>("SELECT count(*) FILTER (WHERE quality >= 0.5) AS good, count(*) AS n FROM features WHERE at > now() - interval '1 hour'");
    const n = num(qg.rows[0].n);
    if (n > 0) this.qualityGood.set(num(qg.rows[0].good) / n);
    const silent = await db.query<{ n: unknown }>(
      `SELECT count(*) AS n FROM devices d
       WHERE d.last_seen < now() - interval '10 minutes' AND d.last_seen > now() - interval '60 minutes'
         AND EXISTS (SELECT 1 FROM records r WHERE r.device = d.device AND r.type = 'features' AND r.received_at > d.last_seen - interval '1 minute')`,
    );
    this.silentRiding.set(num(silent.rows[0].n));
    this.lastRefresh.set(Date.now() / 1000);
  }
}
