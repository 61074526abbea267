/**
 * The rollout controller: a state machine kept in PostgreSQL (migration.ts), advanced by
 * `step()` until done. Every transition is one transaction, and nothing is published before
 * the rows that say so are committed, so a controller killed anywhere resumes where it was:
 *
 *   running:  publish ──▶ reports ──▶ soak ──▶ gate ─pass─▶ next stage's publish … ─▶ done
 *                                               └─fail/abort─▶ rolling_back
 *   rolling_back: rollback_publish ──▶ rollback_wait ──(every unit reported)──▶ rolled_back
 *
 *   publish:  pending ─(one UPDATE, committed)─▶ intent ─(PUBACK)─▶ published
 *             A restart publishes the intent rows again. The envelope is deterministic (the
 *             rollout's own `created`, Ed25519 is deterministic), so the repeat is the same
 *             bytes on the same retained topic: the unit sees a redelivery, not a new update.
 *             No stage is published twice: a unit leaves `pending` once, in one statement.
 *   reports:  update_reports (the ingest) ─▶ applied | refused | unit_rolled_back
 *   rollback: the units that were sent the update get a NEW signed update, version
 *             rollback_version (> version), carrying the previous artefact (docs/rollouts.md).
 */
import type { KeyObject } from 'node:crypto';
import { signUpdate } from '../../update/sign.js';
import type { UpdateKind } from '../../update/envelope.js';
import { MotobioError, errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { num, type SqlClient, type SqlQueryable } from '../sql.js';
import { assignCohorts, checkStages, DEFAULT_STAGES } from './cohorts.js';
import { groupFigures } from './figures.js';
import { DEFAULT_THRESHOLDS, evaluateGate, type GateInput, type Thresholds } from './gates.js';
import type { UpdatePublisher } from './publisher.js';

/** Files of an artefact: name → base64 (as in the envelope). */
export type ArtefactFiles = Readonly<Record<string, string>>;

export interface RolloutSpec {
  readonly id: string;
  readonly kind: UpdateKind;
  readonly artefact: ArtefactFiles;
  /** What the units run now; default: the artefact of the last finished rollout of this kind. */
  readonly previous?: ArtefactFiles;
  /** "all", or a comma-separated list of device ids, or "prefix:<text>". */
  readonly selection?: string;
  readonly stages?: readonly number[];
  readonly thresholds?: Partial<Thresholds>;
  readonly soakS?: number;
  readonly reportTimeoutS?: number;
  /** Length of the before window, and the longest after window, s. */
  readonly windowS?: number;
  /** Lowest version to use (when units already applied versions the database never saw). */
  readonly minVersion?: number;
}

export interface RolloutRow {
  readonly id: string;
  readonly kind: UpdateKind;
  readonly created: string;
  readonly artefact: ArtefactFiles;
  readonly previous: ArtefactFiles;
  readonly version: number;
  readonly rollback_version: number;
  readonly stages: number[];
  readonly thresholds: Thresholds;
  readonly soak_s: number;
  readonly report_timeout_s: number;
  readonly window_s: number;
  readonly state: 'running' | 'paused' | 'done' | 'rolling_back' | 'rolled_back';
  readonly phase: string;
  readonly stage: number;
  readonly abort_requested: boolean;
  /** Seconds since the phase began (computed by the database clock). */
  readonly phase_age_s: number;
  readonly last_decision: unknown;
}

/** Rows the ingest stored before it kept numeric versions have it only in the raw JSON. */
const VERSION_OF = "coalesce(ur.version, r.data->>'version')";
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const json = (v: unknown) => (typeof v === 'string' ? (JSON.parse(v) as unknown) : v);
const sha = async (files: ArtefactFiles) => (await import('node:crypto')).createHash('sha256').update(JSON.stringify(Object.entries(files).sort())).digest('hex');

async function selectUnits(db: SqlQueryable, selection: string): Promise<string[]> {
  if (selection === 'all') return (await db.query<{ device: string }>('SELECT device FROM devices ORDER BY device')).rows.map((r) => r.device);
  if (selection.startsWith('prefix:')) return (await db.query<{ device: string }>("SELECT device FROM devices WHERE starts_with(device, $1) ORDER BY device", [selection.slice(7)])).rows.map((r) => r.device);
  return selection.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** Creates a rollout (idempotent: the same id again returns the existing one unchanged). */
export async function createRollout(db: SqlClient, spec: RolloutSpec): Promise<{ created: boolean; row: RolloutRow }> {
  if (!ID_RE.test(spec.id)) throw new MotobioError('USAGE', `rollout id "${spec.id}" must be 1-64 of A-Z a-z 0-9 . _ - (it seeds the cohorts: reuse it to retry with the same canaries)`);
  const stages = [...(spec.stages ?? DEFAULT_STAGES)];
  checkStages(stages);
  const thresholds: Thresholds = { ...DEFAULT_THRESHOLDS, ...spec.thresholds };
  const created = await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [ROLLOUT_LOCK_KEY]);
    if ((await tx.query('SELECT 1 FROM rollouts WHERE id = $1', [spec.id])).rows.length > 0) return false;
    let previous = spec.previous;
    if (!previous) {
      const last = await tx.query<{ artefact: unknown }>("SELECT artefact FROM rollouts WHERE kind = $1 AND state = 'done' ORDER BY created_at DESC LIMIT 1", [spec.kind]);
      if (last.rows.length === 0) throw new MotobioError('USAGE', `rollout ${spec.id}: no earlier finished ${spec.kind} rollout to roll back to; name what the units run now with --previous`);
      previous = json(last.rows[0].artefact) as ArtefactFiles;
    }
    const units = await selectUnits(tx, spec.selection ?? 'all');
    if (units.length === 0) throw new MotobioError('USAGE', `rollout ${spec.id}: the selection "${spec.selection ?? 'all'}" has no units (the ingest has seen none)`);
    // Two versions per rollout: the update and its rollback. The next rollout's are higher than
    // both, so neither can ever be replayed over it.
    const seen = await tx.query<{ v: unknown }>(`SELECT max(CASE WHEN ${VERSION_OF} ~ '^[0-9]{1,15}$' THEN (${VERSION_OF})::bigint END) AS v FROM update_reports ur JOIN records r ON r.device = ur.device AND r.seq = ur.seq WHERE ur.kind = $1`, [spec.kind]);
    const floor = Math.max(num(seen.rows[0].v ?? 0), (spec.minVersion ?? 1) - 1);
    const got = await tx.query<{ last: unknown }>(
      'INSERT INTO update_versions (kind, last) VALUES ($1, $2 + 2) ON CONFLICT (kind) DO UPDATE SET last = GREATEST(update_versions.last, $2) + 2 RETURNING last',
      [spec.kind, floor],
    );
    const rollbackVersion = num(got.rows[0].last);
    const version = rollbackVersion - 1;
    await tx.query(
      `INSERT INTO rollouts (id, kind, created, artefact, artefact_sha256, previous, previous_sha256, version, rollback_version, selection, stages, thresholds, soak_s, report_timeout_s, window_s, state, phase)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'running', 'publish')`,
      [spec.id, spec.kind, new Date().toISOString(), JSON.stringify(spec.artefact), await sha(spec.artefact), JSON.stringify(previous), await sha(previous), version, rollbackVersion, spec.selection ?? 'all', JSON.stringify(stages), JSON.stringify(thresholds), spec.soakS ?? 60, spec.reportTimeoutS ?? 300, spec.windowS ?? 600],
    );
    const cohorts = assignCohorts(spec.id, units, stages, thresholds.minUnits);
    const list = [...cohorts];
    await tx.query("INSERT INTO rollout_units (rollout, device, stage, state) SELECT $1, d, s, 'pending' FROM unnest($2::text[], $3::int[]) AS u(d, s)", [spec.id, list.map(([d]) => d), list.map(([, s]) => s)]);
    return true;
  });
  const row = await loadRollout(db, spec.id);
  if (!row) throw new MotobioError('STORE_FAILED', `rollout ${spec.id} vanished after it was created`);
  return { created, row };
}

/** "rlot" in ASCII: serialises rollout creation (version allocation). */
export const ROLLOUT_LOCK_KEY = 0x726c6f74;

export async function loadRollout(db: SqlQueryable, id: string): Promise<RolloutRow | undefined> {
  const r = await db.query<Record<string, unknown>>('SELECT *, extract(epoch FROM now() - phase_since)::float8 AS phase_age_s FROM rollouts WHERE id = $1', [id]);
  const x = r.rows[0];
  if (!x) return undefined;
  return {
    ...(x as unknown as RolloutRow),
    artefact: json(x['artefact']) as ArtefactFiles,
    previous: json(x['previous']) as ArtefactFiles,
    stages: json(x['stages']) as number[],
    thresholds: json(x['thresholds']) as Thresholds,
    last_decision: json(x['last_decision']),
    version: num(x['version']),
    rollback_version: num(x['rollback_version']),
    soak_s: num(x['soak_s']),
    report_timeout_s: num(x['report_timeout_s']),
    window_s: num(x['window_s']),
    stage: num(x['stage']),
    phase_age_s: num(x['phase_age_s']),
  };
}

/** pause | resume | abort: idempotent; returns what it did in words. */
export async function control(db: SqlClient, id: string, action: 'pause' | 'resume' | 'abort'): Promise<string> {
  return db.transaction(async (tx) => {
    const r = await tx.query<{ state: string; abort_requested: boolean }>('SELECT state, abort_requested FROM rollouts WHERE id = $1 FOR UPDATE', [id]);
    const row = r.rows[0];
    if (!row) throw new MotobioError('USAGE', `no rollout "${id}"`);
    const terminal = row.state === 'rolling_back' || row.state === 'rolled_back';
    if (action === 'abort') {
      if (terminal || row.abort_requested) return `rollout ${id} is already ${row.abort_requested ? 'aborted' : row.state.replace('_', ' ')}`;
      await tx.query('UPDATE rollouts SET abort_requested = true, updated_at = now() WHERE id = $1', [id]);
      return `rollout ${id}: abort requested; the controller rolls its units back`;
    }
    if (action === 'pause') {
      if (row.state !== 'running') return `rollout ${id} is ${row.state.replace('_', ' ')}; nothing to pause`;
      await tx.query("UPDATE rollouts SET state = 'paused', updated_at = now() WHERE id = $1", [id]);
      return `rollout ${id} paused`;
    }
    if (row.state !== 'paused') return `rollout ${id} is ${row.state.replace('_', ' ')}; nothing to resume`;
    // The soak or gate wait starts over: what happened while paused was not watched.
    await tx.query("UPDATE rollouts SET state = 'running', phase_since = now(), updated_at = now() WHERE id = $1", [id]);
    return `rollout ${id} resumed`;
  });
}

export interface ControllerOptions {
  readonly db: SqlClient;
  readonly publisher: UpdatePublisher;
  readonly key: KeyObject;
  readonly log: Logger;
  /** A stage unit that sent nothing for this long is silent, s. */
  readonly silentS?: number;
}

export class RolloutController {
  constructor(private readonly o: ControllerOptions) {}

  /** Advances every rollout that is not finished; returns how many are still active. */
  async tick(): Promise<number> {
    const ids = await this.o.db.query<{ id: string }>("SELECT id FROM rollouts WHERE state IN ('running', 'paused', 'rolling_back') OR (state = 'done' AND abort_requested) ORDER BY created_at");
    for (const { id } of ids.rows) {
      try {
        await this.step(id);
      } catch (e) {
        this.o.log.error({ rollout: id, err: errorMessage(e) }, `rollout ${id}: step failed, retried next tick: ${errorMessage(e)}`);
      }
    }
    return ids.rows.length;
  }

  async step(id: string): Promise<void> {
    const r = await loadRollout(this.o.db, id);
    if (!r) return;
    await this.refreshReports(r);
    if (r.abort_requested && (r.state === 'running' || r.state === 'paused' || r.state === 'done')) {
      await this.beginRollback(r, { decision: 'abort', reason: 'aborted by the operator' });
      return;
    }
    if (r.state === 'running') {
      if (r.phase === 'publish') await this.publishStage(r);
      else if (r.phase === 'reports') await this.waitReports(r);
      else if (r.phase === 'soak') {
        if (r.phase_age_s >= r.soak_s) await this.setPhase(r, 'gate');
      } else if (r.phase === 'gate') await this.gate(r);
    } else if (r.state === 'rolling_back') {
      if (r.phase === 'rollback_publish') await this.publishRollback(r);
      else await this.waitRollback(r);
    }
  }

  private envelope(r: RolloutRow, device: string, rollback: boolean): Buffer {
    const files = Object.entries(rollback ? r.previous : r.artefact).map(([n, b64]) => [n, Buffer.from(b64, 'base64')] as const);
    const env = signUpdate({ kind: r.kind, version: rollback ? r.rollback_version : r.version, device, files, privateKey: this.o.key, created: r.created });
    return Buffer.from(JSON.stringify(env));
  }

  private async setPhase(r: RolloutRow, phase: string, extra = ''): Promise<void> {
    await this.o.db.query(`UPDATE rollouts SET phase = $2, phase_since = now(), updated_at = now()${extra} WHERE id = $1`, [r.id, phase]);
    this.o.log.info({ rollout: r.id, stage: r.stage, phase }, `rollout ${r.id}: stage ${r.stage + 1} ${phase}`);
  }

  /** Intent rows first (one statement), then one PUBACK-confirmed publish per unit. */
  private async publishUnits(r: RolloutRow, from: string[], intent: string, done: string, stamp: string, rollback: boolean): Promise<void> {
    const db = this.o.db;
    // A rollback reaches every unit that was sent the update, whatever its stage.
    await db.query('UPDATE rollout_units SET state = $2 WHERE rollout = $1 AND state = ANY($3) AND (stage = $4 OR $5)', [r.id, intent, from, r.stage, rollback]);
    const todo = await db.query<{ device: string }>('SELECT device FROM rollout_units WHERE rollout = $1 AND state = $2 ORDER BY device', [r.id, intent]);
    for (const { device } of todo.rows) {
      await this.o.publisher.publish(device, this.envelope(r, device, rollback));
      await db.query(`UPDATE rollout_units SET state = $3, ${stamp} = now() WHERE rollout = $1 AND device = $2 AND state = $4`, [r.id, device, done, intent]);
    }
  }

  private async publishStage(r: RolloutRow): Promise<void> {
    await this.publishUnits(r, ['pending'], 'intent', 'published', 'published_at', false);
    await this.setPhase(r, 'reports');
  }

  private async refreshReports(r: RolloutRow): Promise<void> {
    const db = this.o.db;
    // The latest report per unit for this version; a "replayed" refusal is the retained copy
    // arriving again after a restart, not news.
    await db.query(
      `UPDATE rollout_units u SET state = CASE ev.event WHEN 'applied' THEN 'applied' WHEN 'rolled_back' THEN 'unit_rolled_back' ELSE 'refused' END,
              reason = ev.reason, reported_at = ev.at
         FROM (SELECT DISTINCT ON (ur.device) ur.device, ur.event, ur.reason, ur.at FROM update_reports ur JOIN records r ON r.device = ur.device AND r.seq = ur.seq
                WHERE ur.kind = $2 AND ${VERSION_OF} = $3 AND ur.event IN ('applied', 'refused', 'rolled_back', 'failed') AND coalesce(ur.reason, '') <> 'replayed'
                ORDER BY ur.device, ur.seq DESC) ev
        WHERE u.rollout = $1 AND u.device = ev.device AND u.state IN ('intent', 'published', 'applied')
          AND u.state <> CASE ev.event WHEN 'applied' THEN 'applied' WHEN 'rolled_back' THEN 'unit_rolled_back' ELSE 'refused' END`,
      [r.id, r.kind, String(r.version)],
    );
    await db.query(
      `UPDATE rollout_units u SET state = 'rolled_back', rolled_back_at = ev.at
         FROM (SELECT ur.device, min(ur.at) AS at FROM update_reports ur JOIN records r ON r.device = ur.device AND r.seq = ur.seq
                WHERE ur.kind = $2 AND ${VERSION_OF} = $3 AND ur.event = 'applied' GROUP BY ur.device) ev
        WHERE u.rollout = $1 AND u.device = ev.device AND u.state IN ('rollback_intent', 'rollback_published')`,
      [r.id, r.kind, String(r.rollback_version)],
    );
  }

  private async waitReports(r: RolloutRow): Promise<void> {
    const open = await this.o.db.query<{ n: unknown }>("SELECT count(*) AS n FROM rollout_units WHERE rollout = $1 AND stage = $2 AND state IN ('intent', 'published')", [r.id, r.stage]);
    if (num(open.rows[0].n) === 0 || r.phase_age_s >= r.report_timeout_s) await this.setPhase(r, 'soak');
  }

  /** The gate's inputs: the stage's units after, the same units before, the units not yet updated. */
  async gateInput(r: RolloutRow): Promise<GateInput> {
    const db = this.o.db;
    const units = await db.query<{ device: string; state: string; published_at: unknown; reported_at: unknown }>('SELECT device, state, published_at, reported_at FROM rollout_units WHERE rollout = $1 AND stage = $2', [r.id, r.stage]);
    const applied = units.rows.filter((u) => u.state === 'applied');
    const published = units.rows.filter((u) => u.published_at !== null);
    const toDate = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));
    const now = new Date((await db.query<{ t: unknown }>('SELECT extract(epoch FROM now())::float8 * 1000 AS t')).rows[0].t as number);
    const firstPublished = published.length > 0 ? new Date(Math.min(...published.map((u) => toDate(u.published_at).getTime()))) : now;
    const lastApplied = applied.length > 0 ? new Date(Math.max(...applied.map((u) => toDate(u.reported_at ?? u.published_at).getTime()))) : now;
    const from = new Date(Math.max(lastApplied.getTime(), now.getTime() - r.window_s * 1000));
    const silentS = this.o.silentS ?? Math.max(30, r.soak_s);
    const after = await groupFigures(db, applied.map((u) => u.device), { from, to: now }, { restartsSince: firstPublished, silentS });
    const before = await groupFigures(db, units.rows.map((u) => u.device), { from: new Date(firstPublished.getTime() - r.window_s * 1000), to: firstPublished }, { silentS: 1e9 });
    const rest = await db.query<{ device: string }>("SELECT device FROM rollout_units WHERE rollout = $1 AND stage > $2 AND state = 'pending'", [r.id, r.stage]);
    const control = rest.rows.length > 0 ? await groupFigures(db, rest.rows.map((u) => u.device), { from, to: now }, { silentS: 1e9 }) : null;
    const count = (s: string) => units.rows.filter((u) => u.state === s).length;
    return { after, before: before.decisions > 0 ? before : null, control: control && control.decisions > 0 ? control : null, reports: { published: published.length, applied: applied.length, refused: count('refused'), rolledBack: count('unit_rolled_back') } };
  }

  private async gate(r: RolloutRow): Promise<void> {
    const started = performance.now();
    const input = await this.gateInput(r);
    const verdict = evaluateGate(input, r.thresholds);
    const figures = { ...input, checks: verdict.checks, decideMs: performance.now() - started };
    const last = { stage: r.stage, decision: verdict.decision, reason: verdict.reason, at: new Date().toISOString(), figures };
    if (verdict.decision === 'wait') {
      await this.o.db.query('UPDATE rollouts SET last_decision = $2, updated_at = now() WHERE id = $1', [r.id, JSON.stringify(last)]);
      return;
    }
    if (verdict.decision === 'fail') {
      await this.beginRollback(r, { decision: 'fail', reason: verdict.reason }, figures);
      return;
    }
    const lastStage = r.stage >= r.stages.length - 1;
    await this.o.db.transaction(async (tx) => {
      await tx.query('INSERT INTO rollout_decisions (rollout, stage, decision, reason, figures) VALUES ($1, $2, $3, $4, $5)', [r.id, r.stage, 'pass', verdict.reason, JSON.stringify(figures)]);
      await tx.query(
        lastStage
          ? "UPDATE rollouts SET state = 'done', phase = 'done', phase_since = now(), last_decision = $2, updated_at = now() WHERE id = $1 AND phase = 'gate' AND stage = $3"
          : "UPDATE rollouts SET stage = stage + 1, phase = 'publish', phase_since = now(), last_decision = $2, updated_at = now() WHERE id = $1 AND phase = 'gate' AND stage = $3",
        [r.id, JSON.stringify(last), r.stage],
      );
    });
    this.o.log.info({ rollout: r.id, stage: r.stage }, `rollout ${r.id}: stage ${r.stage + 1} passed its gate${lastStage ? '; rollout done' : ''}: ${verdict.reason}`);
  }

  private async beginRollback(r: RolloutRow, verdict: { decision: 'fail' | 'abort'; reason: string }, figures?: unknown): Promise<void> {
    const last = { stage: r.stage, decision: verdict.decision, reason: verdict.reason, at: new Date().toISOString(), figures: figures ?? null };
    await this.o.db.transaction(async (tx) => {
      await tx.query('INSERT INTO rollout_decisions (rollout, stage, decision, reason, figures) VALUES ($1, $2, $3, $4, $5)', [r.id, r.stage, verdict.decision, verdict.reason, JSON.stringify(figures ?? null)]);
      await tx.query("UPDATE rollouts SET state = 'rolling_back', phase = 'rollback_publish', phase_since = now(), last_decision = $2, updated_at = now() WHERE id = $1", [r.id, JSON.stringify(last)]);
    });
    this.o.log.warn({ rollout: r.id, stage: r.stage }, `rollout ${r.id}: ${verdict.decision === 'abort' ? 'aborted' : `stage ${r.stage + 1} failed its gate`} (${verdict.reason}); rolling back`);
    const again = await loadRollout(this.o.db, r.id);
    if (again) await this.publishRollback(again);
  }

  private async publishRollback(r: RolloutRow): Promise<void> {
    await this.publishUnits(r, ['intent', 'published', 'applied', 'refused', 'unit_rolled_back'], 'rollback_intent', 'rollback_published', 'rollback_published_at', true);
    await this.setPhase(r, 'rollback_wait');
  }

  private async waitRollback(r: RolloutRow): Promise<void> {
    const open = await this.o.db.query<{ n: unknown }>("SELECT count(*) AS n FROM rollout_units WHERE rollout = $1 AND state IN ('rollback_intent', 'rollback_published')", [r.id]);
    if (num(open.rows[0].n) > 0) return;
    await this.o.db.query("UPDATE rollouts SET state = 'rolled_back', phase = 'done', phase_since = now(), updated_at = now() WHERE id = $1 AND state = 'rolling_back'", [r.id]);
    this.o.log.info({ rollout: r.id }, `rollout ${r.id}: every unit it reached runs the previous ${r.kind} again`);
  }
}

/** Everything `fleet rollout status` shows. */
export async function rolloutStatus(db: SqlQueryable, id: string): Promise<Record<string, unknown> | undefined> {
  const r = await loadRollout(db, id);
  if (!r) return undefined;
  const per = await db.query<{ stage: unknown; state: string; n: unknown }>('SELECT stage, state, count(*) AS n FROM rollout_units WHERE rollout = $1 GROUP BY stage, state ORDER BY stage, state', [id]);
  const decisions = await db.query<Record<string, unknown>>('SELECT stage, decision, reason, at FROM rollout_decisions WHERE rollout = $1 ORDER BY id', [id]);
  const times = await db.query<Record<string, unknown>>(
    `SELECT stage, extract(epoch FROM min(published_at))::float8 AS published, extract(epoch FROM max(reported_at))::float8 AS reported,
            extract(epoch FROM max(rolled_back_at))::float8 AS rolled_back, extract(epoch FROM min(rollback_published_at))::float8 AS rollback_published
       FROM rollout_units WHERE rollout = $1 GROUP BY stage ORDER BY stage`,
    [id],
  );
  const units: Record<string, Record<string, number>> = {};
  for (const p of per.rows) (units[`stage ${num(p.stage) + 1}`] ??= {})[p.state] = num(p.n);
  const { artefact: _a, previous: _p, ...rest } = r;
  return { ...rest, units, decisions: decisions.rows, stageTimes: times.rows };
}
