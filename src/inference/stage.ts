/**
 * Inference as a running stage of the daemon: the decision engine (coaching policy plus the
 * safety rules that always win) on the model the unit should run, with a fallback.
 *
 *   features ──decide()──▶ DecisionEngine ──▶ Decision[] (safety triggers, then one coaching decision)
 *
 * Model choice: the directory the daemon hands in (an applied model update, else
 * inference.model_dir). An applied update that no longer loads falls back to the installed
 * model; no usable model at all means the safety rules alone, with an alarm.
 */
import type { StageContext } from '../core/context.js';
import type { Stamp } from '../core/clock.js';
import type { SignalFeatures } from '../signal/types.js';
import type { Action, RideContext } from './features.js';
import type { CueChoiceRequest } from './engine.js';
import { manifestIn } from './manifest.js';

/** One output of the decision engine. */
export interface Decision {
  readonly kind: 'coaching' | 'safety';
  /** Safety rule or coaching action name, e.g. "no_beat" or "ease_off". */
  readonly name: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** The decision engine as the daemon drives it. */
export interface DecisionStage {
  decide(features: SignalFeatures, stamp: Stamp): Promise<readonly Decision[]>;
  close(): Promise<void>;
  /** Checks a model (manifest path) off to the side and switches to it between two decisions; the running one stays if it is refused. */
  swapModel?(manifestPath: string): Promise<{ ok: true } | { ok: false; error: string }>;
  /** The model in service (name, version, sha256), null on the safety rules alone. */
  model?(): unknown;
  /** A new ride began: break timers and the ride's own hysteresis start over. */
  resetRide?(): Promise<void>;
}

export interface DecisionHooks {
  /** The model directory to start on, and whether it is an applied update (src/update/stage.ts). */
  modelDir(): { dir: string; fromUpdate: boolean };
  /** The engine dropped the model in use after it failed and went back to the one before. */
  onModelRolledBack?(error: string): void;
  /**
   * The ride and the rider at this decision (src/rider/ride-input.ts), and the fields the
   * decision record carries about them. Absent, or nothing returned: riding assumed, minutes since
   * the first decision.
   */
  ride?(features: SignalFeatures): { ride: RideContext; record: Readonly<Record<string, unknown>> } | undefined;
  /** Picks among the coaching cues the policy allows the kind that worked for this rider. */
  chooseCue?(c: CueChoiceRequest): Action;
}

export async function openDecisions(ctx: StageContext, hooks: DecisionHooks): Promise<DecisionStage> {
  const { DecisionEngine } = await import('./engine.js');
  const log = ctx.log.child({ mod: 'inference' });
  const chosen = hooks.modelDir();
  const dir = chosen.dir;
  const manifestPath = manifestIn(dir);
  const alarms = ctx.telemetry.alarms;
  const rulesOnly = (why: string) => {
    const message = `no usable coaching model (${why}): decisions come from the safety rules alone. Reinstall the model (models/ of the package) or point inference.model_dir at a directory with a valid manifest, then restart.`;
    log.error({ dir, code: 'MODEL_UNAVAILABLE' }, message);
    alarms.raise('MODEL_UNAVAILABLE', message, { dir });
    ctx.telemetry.setStatus('inference', { state: 'rules_only', lastError: why });
  };
  if (!manifestPath) rulesOnly(`no model manifest in ${dir}`);
  const rules = ctx.config.inference.rules;
  const engine = await DecisionEngine.create({
    ...(manifestPath === undefined ? {} : { manifestPath }),
    safety: { maxHrBpm: rules.hr_high_bpm, minHrBpm: rules.hr_low_bpm, sensorLostS: rules.no_beat_s, goodQuality: rules.min_quality },
    logger: log,
    ...(hooks.chooseCue ? { chooseCue: (c: CueChoiceRequest) => hooks.chooseCue!(c) } : {}),
    onEvent: (e) => {
      if (e.type.endsWith('failed') || e.type.endsWith('rejected') || e.type === 'model_rolled_back') ctx.telemetry.countError('inference', e.type.toUpperCase(), 'error' in e ? e.error : undefined);
      if (e.type === 'model_load_failed') rulesOnly(e.error);
      if (e.type === 'model_rolled_back') hooks.onModelRolledBack?.(e.error);
      if (e.type === 'model_loaded' || e.type === 'model_swapped') {
        alarms.clear('MODEL_UNAVAILABLE');
        ctx.telemetry.setStatus('inference', { state: 'running', detail: { model: e.type === 'model_loaded' ? e.model : e.to } });
      }
    },
  });
  let firstEndS: number | undefined;
  if (chosen.fromUpdate && engine.status().model === null) {
    // The applied model update does not load any more: the installed model is better than rules only.
    const base = manifestIn(ctx.config.inference.model_dir);
    log.error({ dir, error: engine.status().lastModelError }, 'the applied model update does not load; going back to the installed model');
    if (base) await engine.swapModel(base);
  }
  return {
    swapModel: async (path: string) => {
      const r = await engine.swapModel(path);
      return r.ok ? { ok: true } : r;
    },
    model: () => engine.status().model,
    resetRide: () => engine.resetRide(),
    async decide(features: SignalFeatures) {
      firstEndS ??= features.endS;
      const given = hooks.ride?.(features);
      const ride = given?.ride ?? { restingHrBpm: null, minutesRiding: (features.endS - firstEndS) / 60, riding: true, sensorConnected: true };
      const record = await engine.decide({ signal: features, ride });
      const out: Decision[] = [...record.safetyTriggers, ...(record.safetyRecords ?? [])].map((t) => ({ kind: 'safety' as const, name: t.rule, detail: { ...t } }));
      // Every period gives one decision record (action "none" included): the audit trail of the policy.
      out.push({
        kind: 'coaching',
        name: record.action,
        detail: {
          t: record.t,
          source: record.source,
          reason: record.reason,
          modelAction: record.modelAction,
          probabilities: record.probabilities,
          safetyActive: record.safetyActive,
          model: record.model,
          ...(record.modelError === undefined ? {} : { modelError: record.modelError }),
          latencyMs: record.latencyMs,
          ...(record.choice === undefined ? {} : { choice: record.choice }),
          ...(given?.record ?? { context: { source: 'assumed', riding: true, assumed: true } }),
        },
      });
      return out;
    },
    close: () => engine.close(),
  };
}
