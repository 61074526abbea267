/**
 * The daemon's `updates` stage (src/daemon/stages.ts): an UpdateManager fed by the uplink's
 * downlink messages, swapping models through the running decision engine.
 */
import type { DaemonContext, UpdateDeps, UpdateService } from '../daemon/context.js';
import { resolvePath } from '../daemon/config.js';
import { currentModelDir, manifestIn } from './apply-model.js';
import { UpdateManager } from './manager.js';

/** The model directory to start on: the applied model update when there is one, else inference.model_dir. */
export function modelDirFor(ctx: DaemonContext): { dir: string; fromUpdate: boolean } {
  const base = resolvePath(ctx.config.inference.model_dir, ctx.cwd);
  if (!ctx.config.update.enabled) return { dir: base, fromUpdate: false };
  const updated = currentModelDir(resolvePath(ctx.config.update.dir, ctx.cwd));
  return updated ? { dir: updated, fromUpdate: true } : { dir: base, fromUpdate: false };
}

export function openUpdates(ctx: DaemonContext, deps: UpdateDeps): Promise<UpdateService> {
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
  deps.uplink()?.onDownlink?.((topic, payload) => manager.handle(topic, payload));
  return Promise.resolve({ stop: () => manager.stop() });
}
