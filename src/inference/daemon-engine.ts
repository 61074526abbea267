/**
 * The daemon's view of the decision engine (src/daemon/context.ts DecisionEngine): config in,
 * `Decision[]` out. Every decision period gives one `coaching` decision carrying the whole
 * DecisionRecord (inputs, probabilities, model identity, latency) and one `safety` decision
 * per rule that fired. Model events go to the log and to the `inference` status.
 */
import type { DaemonContext, Decision, DecisionEngine as DaemonDecisionEngine } from '../daemon/context.js';
import type { Stamp } from '../core/clock.js';
import { resolvePath } from '../config/load.js';
import type { SignalFeatures } from '../signal/types.js';
import { errorMessage } from '../util/errors.js';
import { moduleLogger } from '../util/log.js';
import { DecisionEngine, type EngineEvent } from './engine.js';
import { findManifest } from './validate.js';

export interface DaemonEngineOptions {
  /** The rider's calibrated resting heart rate, when known. */
  readonly restingHrBpm?: number | null;
  /**
   * The unit has no speed input yet: while the daemon runs, the bike counts as being ridden,
   * so the leads-off / sensor-lost rules are armed. Pass a function once it can tell.
   */
  readonly riding?: () => boolean;
  readonly sensorConnected?: () => boolean;
}

export interface DaemonEngine extends DaemonDecisionEngine {
  /** Loads, checks and switches to another model; the running one stays if it is refused. */
  swapModel(path: string): Promise<{ ok: true } | { ok: false; error: string }>;
  readonly engine: DecisionEngine;
}

export async function createDaemonEngine(ctx: DaemonContext, options: DaemonEngineOptions = {}): Promise<DaemonEngine> {
  const log = moduleLogger(ctx.log, 'inference');
  const rules = ctx.config.inference.rules;
  let manifestPath: string | undefined;
  let locateError: string | undefined;
  try {
    manifestPath = findManifest(resolvePath(ctx.config.inference.model_dir, ctx.cwd));
  } catch (e) {
    locateError = errorMessage(e);
  }
  // Events can arrive while create() is still running, before the engine is assigned.
  const holder: { engine?: DecisionEngine } = {};
  const report = (e: EngineEvent) => {
    const s = holder.engine?.status();
    const failed = e.type === 'model_load_failed' || (s !== undefined && s.model === null);
    ctx.telemetry.setStatus('inference', {
      state: failed ? 'rules_only' : 'running',
      detail: { event: e.type, model: s?.model ?? ('model' in e ? e.model : null), fallback: s?.fallback ?? null },
      ...('error' in e ? { lastError: e.error } : {}),
    });
  };
  const engine = await DecisionEngine.create({
    ...(manifestPath !== undefined ? { manifestPath } : {}),
    safety: { maxHrBpm: rules.hr_high_bpm, minHrBpm: rules.hr_low_bpm, sensorLostS: rules.no_beat_s },
    decision: { minQuality: rules.min_quality },
    logger: log,
    onEvent: (e) => report(e),
  });
  holder.engine = engine;
  if (locateError !== undefined) {
    log.warn({ model_dir: ctx.config.inference.model_dir }, `inference: no model, running on the safety rules alone: ${locateError}`);
    ctx.telemetry.setStatus('inference', { state: 'rules_only', lastError: locateError });
  } else if (engine.status().model) {
    report({ type: 'model_loaded', model: engine.status().model!, path: manifestPath! });
  }
  const e = engine;
  let startS: number | undefined;
  return {
    engine: e,
    async decide(features: SignalFeatures, _stamp: Stamp): Promise<readonly Decision[]> {
      startS ??= features.endS;
      const record = await e.decide({
        signal: features,
        ride: {
          restingHrBpm: options.restingHrBpm ?? null,
          minutesRiding: Math.max(0, (features.endS - startS) / 60),
          riding: options.riding?.() ?? true,
          sensorConnected: options.sensorConnected?.() ?? true,
        },
      });
      const { kind: _kind, ...body } = record;
      return [
        ...record.safetyTriggers.map((t): Decision => ({ kind: 'safety', name: t.rule, detail: { ...t, t: record.t, model: record.model } })),
        { kind: 'coaching', name: record.action, detail: body },
      ];
    },
    async swapModel(path: string) {
      try {
        const r = await e.swapModel(findManifest(path));
        return r.ok ? { ok: true } : r;
      } catch (err) {
        return { ok: false, error: errorMessage(err) };
      }
    },
    close: () => e.close(),
  };
}
