/**
 * The daemon's `updates` stage (src/daemon/stages.ts): an UpdateManager fed by the uplink's
 * downlink messages, swapping models through the running decision engine.
 */
import type { DaemonContext, UpdateDeps, UpdateService } from '../daemon/context.js';
import { resolvePath } from '../config/load.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { currentModelDir, manifestIn, modelRoot } from './apply-model.js';
import { readSymlink, removeDurable, replaceSymlink } from './durable-fs.js';
import { UpdateManager } from './manager.js';
import { addPendingReport } from './pending-reports.js';
import { errorMessage } from '../util/errors.js';

const managers = new WeakMap<DaemonContext, UpdateManager>();

/**
 * The engine dropped the applied model update in use (it failed and the engine went back to
 * the model before it): point `model/current` back too, so the next start does not load it
 * again, and report it.
 */
export function modelRolledBack(ctx: DaemonContext, error: string): void {
  try {
    pointModelBack(ctx, error);
  } catch (e) {
    ctx.log.child({ mod: 'update' }).error({ err: errorMessage(e) }, `could not point model/current back after the model failed in use: ${errorMessage(e)}`);
  }
}

function pointModelBack(ctx: DaemonContext, error: string): void {
  if (!ctx.config.update.enabled) return;
  const dir = resolvePath(ctx.config.update.dir, ctx.cwd);
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
  managers.get(ctx)?.flushPendingReports();
}

/** The model directory to start on: the applied model update when there is one, else inference.model_dir. */
export function modelDirFor(ctx: DaemonContext): { dir: string; fromUpdate: boolean } {
  const base = resolvePath(ctx.config.inference.model_dir, ctx.cwd);
  if (!ctx.config.update.enabled) return { dir: base, fromUpdate: false };
  const updated = currentModelDir(resolvePath(ctx.config.update.dir, ctx.cwd));
  return updated ? { dir: updated, fromUpdate: true } : { dir: base, fromUpdate: false };
}

/** Never stops the daemon: an update stage that cannot start is reported and updates are refused. */
export function openUpdates(ctx: DaemonContext, deps: UpdateDeps): Promise<UpdateService> {
  try {
    return startUpdates(ctx, deps);
  } catch (e) {
    const msg = `downlink updates are off: the update stage could not start: ${errorMessage(e)}`;
    ctx.log.child({ mod: 'update' }).error({ err: errorMessage(e) }, msg);
    ctx.telemetry.countError('update', 'START_FAILED', msg);
    ctx.telemetry.setStatus('update', { state: 'failed', lastError: msg });
    return Promise.resolve({ stop: () => Promise.resolve() });
  }
}

function startUpdates(ctx: DaemonContext, deps: UpdateDeps): Promise<UpdateService> {
  const baseDir = resolvePath(ctx.config.inference.model_dir, ctx.cwd);
  const manager = new UpdateManager({
    ctx,
    report: (body) => deps.report(body),
    swapModel: (p) => {
      const e = deps.engine();
      return e?.swapModel ? e.swapModel(p) : Promise.resolve({ ok: false, error: 'the decision engine cannot swap models' });
    },
    model: () => deps.engine()?.model?.() ?? null,
    baseManifest: () => manifestIn(baseDir),
    restart: (why) => deps.restart(why),
    healthy: () => deps.healthy(),
    connected: () => ctx.config.uplink.links.length === 0 || (deps.uplink()?.connected?.() ?? false),
  });
  manager.start();
  managers.set(ctx, manager);
  deps.uplink()?.onDownlink?.((topic, payload) => manager.handle(topic, payload));
  return Promise.resolve({ stop: () => manager.stop() });
}
