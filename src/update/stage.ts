/**
 * Signed updates as a running stage of the daemon: an UpdateManager fed by the uplink's
 * downlink messages, swapping models through the running decision engine.
 *
 *   uplink …/cmd/# ──▶ UpdateManager ──verify──▶ apply (model: swap between two decisions;
 *                                                configuration: switch and restart on trial)
 *                                    └──▶ report(body) ──▶ `update` records
 */
import type { StageContext } from '../core/context.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { currentModelDir, modelRoot } from './apply-model.js';
import { manifestIn } from '../inference/manifest.js';
import { readSymlink, removeDurable, replaceSymlink } from './durable-fs.js';
import { UpdateManager } from './manager.js';
import { addPendingReport } from './pending-reports.js';
import { errorMessage } from '../util/errors.js';

/** What the update stage needs from the rest of the daemon (the daemon adapts its stages to it). */
export interface UpdateDeps {
  /** Puts an `update` record (a report) in the store. */
  report(body: Readonly<Record<string, unknown>>): void;
  /** Hot-swaps the decision engine's model (blue/green). */
  swapModel(manifestPath: string): Promise<{ ok: true } | { ok: false; error: string }>;
  /** The model in service, for status. */
  model(): unknown;
  /** Subscribes to the uplink's downlink messages (absent without links). */
  onDownlink?(handler: (topic: string, payload: Buffer) => void): void;
  /** A broker is reachable. */
  connected(): boolean;
  /** Stops the daemon and exits with EXIT_RESTART so it starts again on a new configuration. */
  restart(why: string): void;
  /** Running (READY sent) and decisions not stuck. */
  healthy(): boolean;
}

export interface UpdateService {
  stop(): Promise<void>;
  /** Sends the reports waiting on disk (after a model the engine dropped in use, say). */
  flushPendingReports(): void;
}

/**
 * The engine dropped the applied model update in use (it failed and the engine went back to
 * the model before it): point `model/current` back too, so the next start does not load it
 * again, and report it.
 */
export function modelRolledBack(ctx: StageContext, error: string): void {
  try {
    pointModelBack(ctx, error);
  } catch (e) {
    ctx.log.child({ mod: 'update' }).error({ err: errorMessage(e) }, `could not point model/current back after the model failed in use: ${errorMessage(e)}`);
  }
}

function pointModelBack(ctx: StageContext, error: string): void {
  if (!ctx.config.update.enabled) return;
  const dir = ctx.config.update.dir;
  const root = modelRoot(dir);
  const cur = readSymlink(join(root, 'current'));
  if (!cur) return;
  const n = Number(cur.slice(1));
  let older: string[] = [];
  try {
    older = readdirSync(root).filter((d) => /^v\d+$/.test(d) && Number(d.slice(1)) < n).sort((a, b) => Number(b.slice(1)) - Number(a.slice(1)));
  } catch {
    return;
  }
  if (older[0]) replaceSymlink(join(root, 'current'), older[0]);
  else removeDurable(join(root, 'current'));
  addPendingReport(dir, { event: 'rolled_back', kind: 'model', version: n, reason: 'failed_in_use', message: `model version ${n} failed in use (${error}); back to ${older[0] ?? 'the installed model'}` });
}

/** The model directory to start on: the applied model update when there is one, else inference.model_dir. */
export function modelDirFor(ctx: StageContext): { dir: string; fromUpdate: boolean } {
  const base = ctx.config.inference.model_dir;
  if (!ctx.config.update.enabled) return { dir: base, fromUpdate: false };
  const updated = currentModelDir(ctx.config.update.dir);
  return updated ? { dir: updated, fromUpdate: true } : { dir: base, fromUpdate: false };
}

/** Never stops the daemon: an update stage that cannot start is reported and updates are refused. */
export function openUpdates(ctx: StageContext, deps: UpdateDeps): Promise<UpdateService> {
  try {
    return startUpdates(ctx, deps);
  } catch (e) {
    const msg = `downlink updates are off: the update stage could not start: ${errorMessage(e)}`;
    ctx.log.child({ mod: 'update' }).error({ err: errorMessage(e) }, msg);
    ctx.telemetry.countError('update', 'START_FAILED', msg);
    ctx.telemetry.setStatus('update', { state: 'failed', lastError: msg });
    return Promise.resolve({ stop: () => Promise.resolve(), flushPendingReports: () => undefined });
  }
}

function startUpdates(ctx: StageContext, deps: UpdateDeps): Promise<UpdateService> {
  const baseDir = ctx.config.inference.model_dir;
  const manager = new UpdateManager({
    ctx,
    report: (body) => deps.report(body),
    swapModel: (p) => deps.swapModel(p),
    model: () => deps.model() ?? null,
    baseManifest: () => manifestIn(baseDir),
    restart: (why) => deps.restart(why),
    healthy: () => deps.healthy(),
    connected: () => ctx.config.uplink.links.length === 0 || deps.connected(),
  });
  manager.start();
  deps.onDownlink?.((topic, payload) => manager.handle(topic, payload));
  return Promise.resolve({ stop: () => manager.stop(), flushPendingReports: () => manager.flushPendingReports() });
}
