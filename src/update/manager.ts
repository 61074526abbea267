/**
 * The unit's side of signed downlink updates.
 *
 *   uplink ──downlink(topic …/cmd/update, payload)──▶ queue (one at a time, at most 4 waiting)
 *     ──▶ parseEnvelope ──▶ verifyEnvelope(trusted keys, device) ──▶ version > last applied?
 *     ──▶ model: applyModel (beside, validate, swap, switch)     ──▶ report applied
 *     ──▶ config: applyConfig (beside, schema, trial, switch)   ──▶ report restarting, restart
 *   any refusal ──▶ log warn + `update` record (event refused, reason) + motobio_errors_total
 *
 * It also confirms a configuration on trial once the daemon has run healthy for
 * `update.confirm_s` (and reached a broker, when links are configured), or rolls it back and
 * restarts when that has not happened within `update.trial_s`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { StageContext } from '../core/context.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { applyConfig } from './apply-config.js';
import { applyModel, currentModelDir, type SwapModel } from './apply-model.js';
import { clearTrial, currentConfigVersion, readTrial, rollBackTrial } from './config-trial.js';
import { configRoot } from '../config/in-force.js';
import { readSymlink } from './durable-fs.js';
import { parseEnvelope, verifyEnvelope, type Envelope } from './envelope.js';
import { loadTrustedKeys } from './keys.js';
import { clearPendingReports, readPendingReports, type UpdateReport } from './pending-reports.js';
import { UpdateRefused, isUpdateRefused } from './refusal.js';
import { VersionStore } from './version-store.js';

export interface UpdateManagerDeps {
  readonly ctx: StageContext;
  /** Puts an `update` record in the outbox. */
  readonly report: (body: Record<string, unknown>) => void;
  readonly swapModel?: SwapModel;
  /** The running model's identity, for status. */
  readonly model?: () => unknown;
  /** The installed model's manifest (inference.model_dir), to go back to. */
  readonly baseManifest: () => string | undefined;
  /** Stops the daemon and exits so it is started again (EXIT_RESTART). */
  readonly restart: (why: string) => void;
  /** The daemon is running and healthy (READY sent, decisions not stuck). */
  readonly healthy: () => boolean;
  /** A broker is reachable, or no links are configured. */
  readonly connected: () => boolean;
}

const MAX_WAITING = 4;
/** An update's exact bytes arriving again within this long are a redelivery, not a replay. */
const REDELIVERY_WINDOW_MS = 10 * 60_000;

export class UpdateManager {
  private readonly log: Logger;
  private readonly dir: string;
  private versions: VersionStore | undefined;
  private queue: Promise<void> = Promise.resolve();
  private waiting = 0;
  private stopped = false;
  private trialTimer: NodeJS.Timeout | undefined;
  private lastRefusal: { reason: string; message: string; at: string } | null = null;
  private readonly counts = { applied: 0, refused: 0 };
  /** sha256 of the verified updates handled lately → when. */
  private readonly recent = new Map<string, number>();

  constructor(private readonly deps: UpdateManagerDeps) {
    this.log = deps.ctx.log.child({ mod: 'update' });
    this.dir = deps.ctx.config.update.dir;
  }

  start(): void {
    const u = this.deps.ctx.config.update;
    try {
      this.versions = new VersionStore(this.dir);
    } catch (e) {
      this.log.error({ err: errorMessage(e) }, `updates refused until fixed: ${errorMessage(e)}`);
    }
    this.flushPendingReports();
    const keys = loadTrustedKeys(u.keys_dir);
    for (const p of keys.problems) this.log.warn({ keys_dir: u.keys_dir }, `update key skipped: ${p}`);
    if (!u.enabled) this.log.info('downlink updates are disabled (update.enabled: false); every update is refused');
    else if (keys.keys.size === 0) {
      // No key directory at all is the normal state of a unit that does not take updates.
      const level = existsSync(u.keys_dir) ? 'warn' : 'info';
      this.log[level]({ keys_dir: u.keys_dir }, `no trusted update keys in ${u.keys_dir}: every downlink update is refused until a technician installs one (docs/updates.md)`);
    }
    else this.log.info({ keys: [...keys.keys.keys()] }, `downlink updates accepted when signed by one of ${keys.keys.size} trusted key(s)`);
    const trial = readTrial(this.dir);
    if (trial && readSymlink(join(configRoot(this.dir), 'current')) === `v${trial.version}`) this.watchTrial(trial.version);
    this.publishStatus();
  }

  /** Reports left on disk (a rollback at start-up, a model dropped in use) go to the outbox. */
  flushPendingReports(): void {
    const pending = readPendingReports(this.dir);
    if (pending.length === 0) return;
    for (const r of pending) this.emitReport(r);
    clearPendingReports(this.dir);
    this.publishStatus();
  }

  /** Downlink message from the uplink; only `…/cmd/update` is ours. */
  handle(topic: string, payload: Buffer): void {
    if (!topic.endsWith('/cmd/update') || this.stopped) return;
    if (this.waiting >= MAX_WAITING) {
      this.refuse(undefined, payload, new UpdateRefused('busy', `update refused: ${MAX_WAITING} updates are already waiting; send it again later`));
      return;
    }
    this.waiting++;
    const run = this.queue.then(() => this.process(payload)).finally(() => this.waiting--);
    this.queue = run.catch(() => undefined);
  }

  private isRedelivery(digest: string): boolean {
    const at = this.recent.get(digest);
    return at !== undefined && Date.now() - at < REDELIVERY_WINDOW_MS;
  }

  private remember(digest: string): void {
    this.recent.set(digest, Date.now());
    if (this.recent.size > 16) this.recent.delete(this.recent.keys().next().value!);
  }

  /** Resolves once every update received so far has been handled. */
  idle(): Promise<void> {
    return this.queue;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.trialTimer);
    await this.queue;
  }

  private async process(payload: Buffer): Promise<void> {
    const u = this.deps.ctx.config.update;
    let env: Envelope | undefined;
    try {
      env = parseEnvelope(payload, u.max_bytes);
      if (!u.enabled) throw new UpdateRefused('disabled', 'update refused: downlink updates are disabled on this unit (update.enabled: false)');
      const keys = loadTrustedKeys(u.keys_dir).keys;
      const update = verifyEnvelope(env, keys, this.deps.ctx.config.device.id);
      const versions = this.versions;
      if (!versions) throw new UpdateRefused('apply_failed', `update refused: the version record in ${this.dir} is unreadable (see the log at start-up)`);
      const last = versions.get(update.kind);
      const digest = createHash('sha256').update(payload).digest('hex');
      if (update.version <= last && this.isRedelivery(digest)) {
        // The same bytes again within minutes: a second link to the same broker, or a QoS 1
        // redelivery. Not an attack: the first copy was handled and reported.
        this.log.info({ kind: update.kind, version: update.version }, `${update.kind} update ${update.version} delivered again (another link or a redelivery); already handled`);
        return;
      }
      if (update.version <= last) {
        throw new UpdateRefused('replayed', `update refused: ${update.kind} version ${update.version} is not newer than the last applied (${last}); a replay, or the server must raise the version`);
      }
      this.remember(digest);
      if (update.kind === 'model') {
        if (!this.deps.swapModel) throw new UpdateRefused('apply_failed', 'update refused: the decision engine is not running, so a model cannot be swapped in');
        const { dir } = await applyModel(update, { updateDir: this.dir, versions, swap: this.deps.swapModel, baseManifest: this.deps.baseManifest });
        this.counts.applied++;
        this.emitReport({ event: 'applied', kind: 'model', version: update.version, keyId: update.keyId, target: update.device, created: update.created, message: `model version ${update.version} is in service`, model: this.deps.model?.() ?? null }, payload);
        this.log.info({ version: update.version, dir }, `model update ${update.version} applied and in service`);
      } else {
        const { path } = applyConfig(update, { updateDir: this.dir, versions, env: process.env, cwd: this.deps.ctx.cwd });
        this.emitReport({ event: 'restarting', kind: 'config', version: update.version, keyId: update.keyId, target: update.device, created: update.created, message: `configuration version ${update.version} switched in; restarting on trial` }, payload);
        this.log.info({ version: update.version, path }, `configuration update ${update.version} switched in; restarting on it (on trial for ${u.confirm_s} s)`);
        this.publishStatus();
        this.deps.restart(`configuration update ${update.version}`);
        return;
      }
    } catch (e) {
      this.refuse(env, payload, e);
    }
    this.publishStatus();
  }

  private refuse(env: Envelope | undefined, payload: Buffer, e: unknown): void {
    const reason = isUpdateRefused(e) ? e.reason : 'apply_failed';
    const message = isUpdateRefused(e) ? e.message : `update failed: ${errorMessage(e)}`;
    this.counts.refused++;
    this.lastRefusal = { reason, message, at: new Date().toISOString() };
    this.log.warn({ reason, kind: env?.kind, version: env?.version, keyId: env?.keyId, target: env?.device }, message);
    this.deps.ctx.telemetry.countError('update', reason, message);
    this.emitReport({ event: 'refused', kind: env?.kind ?? null, version: env?.version ?? null, reason, message, keyId: env?.keyId ?? null, target: env?.device ?? null }, payload);
  }

  private emitReport(r: UpdateReport, payload?: Buffer): void {
    const body = payload ? { ...r, payload: { bytes: payload.length, sha256: createHash('sha256').update(payload).digest('hex') } } : r;
    if (r.event === 'rolled_back' || r.event === 'failed') {
      this.deps.ctx.telemetry.countError('update', String(r.reason ?? r.event), r.message);
      this.log.warn({ report: body }, r.message);
    }
    try {
      this.deps.report(body);
    } catch (e) {
      this.log.error({ err: errorMessage(e) }, `could not store the update report: ${r.message}`);
    }
  }

  private watchTrial(version: number): void {
    const u = this.deps.ctx.config.update;
    const startedAt = Date.now();
    let healthySince: number | null = null;
    this.log.info({ version }, `configuration version ${version} is on trial: kept after ${u.confirm_s} s healthy, rolled back if not within ${u.trial_s} s`);
    this.trialTimer = setInterval(() => {
      if (this.stopped) return;
      const now = Date.now();
      const ok = this.deps.healthy() && this.deps.connected();
      healthySince = ok ? (healthySince ?? now) : null;
      if (healthySince !== null && now - healthySince >= u.confirm_s * 1000) {
        clearInterval(this.trialTimer);
        clearTrial(this.dir);
        this.emitReport({ event: 'applied', kind: 'config', version, message: `configuration version ${version} ran healthy for ${u.confirm_s} s and is kept` });
        this.log.info({ version }, `configuration version ${version} confirmed`);
        this.publishStatus();
      } else if (now - startedAt >= u.trial_s * 1000) {
        clearInterval(this.trialTimer);
        const t = readTrial(this.dir);
        const why = `not healthy${this.deps.connected() ? '' : ' and no broker reached'} within ${u.trial_s} s`;
        if (t) rollBackTrial(this.dir, t, why);
        this.log.error({ version }, `configuration version ${version} rolled back: ${why}; restarting on the previous one`);
        this.deps.restart(`rollback of configuration ${version}`);
      }
    }, 250);
    this.trialTimer.unref();
  }

  private publishStatus(): void {
    const v = this.versions;
    this.deps.ctx.telemetry.setStatus('update', {
      state: this.deps.ctx.config.update.enabled ? 'ready' : 'disabled',
      detail: {
        model: { version: v?.get('model') ?? null, dir: currentModelDir(this.dir) ?? null, running: this.deps.model?.() ?? null },
        config: { version: v?.get('config') ?? null, current: currentConfigVersion(this.dir), file: this.deps.ctx.configFile ?? null, trial: readTrial(this.dir)?.version ?? null },
        applied: this.counts.applied,
        refused: this.counts.refused,
        lastRefusal: this.lastRefusal,
      },
      ...(this.lastRefusal ? { lastError: this.lastRefusal.message } : {}),
    });
  }
}
