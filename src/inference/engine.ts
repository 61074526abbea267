/**
 * The decision engine: one call per decision period, one record out, never a throw.
 *
 *   SignalFeatures + RideContext
 *        │
 *        ├──▶ SafetyRules ───────────── fired? ──▶ safety_alert (always wins)
 *        │
 *        └──▶ vectorise (manifest) ─▶ PolicyModel (int8 ONNX) ─▶ probabilities
 *                                          │ fails? ─▶ roll back to previous model / rules only
 *                                          ▼
 *                              threshold + confirmations (hysteresis) + cooldown ─▶ cue or none
 *
 * Every call returns a DecisionRecord (inputs, probabilities, model identity, latency) for the
 * store. A model swap is loaded and checked off to the side, switched between two decisions,
 * and rolled back to the previous model if the new one fails in use.
 */
import { performance } from 'node:perf_hooks';
import type { SignalFeatures } from '../signal/types.js';
import { errorMessage } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { specFeatures, vectorise, type Action, type CueHistory, type PolicyInput, type RideContext } from './features.js';
import { PolicyModel, argmax, type LoadOptions, type PolicyIdentity } from './policy.js';
import { DEFAULT_SAFETY, SafetyRules, type SafetyConfig, type SafetyRule, type SafetyTrigger } from './safety.js';

export interface DecisionConfig {
  /** The model's top action must reach this probability to count. */
  readonly minProbability: number;
  /** ...and stay on top for this many consecutive decisions (hysteresis). */
  readonly confirmations: number;
  /** No cue of any kind within this long of the previous one, s. */
  readonly cooldownS: number;
  /** The same cue not again within this long, s. */
  readonly sameActionCooldownS: number;
  /** Below this signal quality the model's cues are held back (the safety rules still act). */
  readonly minQuality: number;
  /** A coaching kind the model gives at least this probability is one a cue chooser may pick instead. */
  readonly choiceMinProbability: number;
}

export const DEFAULT_DECISION: DecisionConfig = { minProbability: 0.6, confirmations: 2, cooldownS: 180, sameActionCooldownS: 600, minQuality: 0.5, choiceMinProbability: 0.2 };

/** What a cue chooser (src/rider/cue-choice.ts) is asked when a coaching cue is due. */
export interface CueChoiceRequest {
  readonly t: number;
  /** The model's cue, which passed threshold, hysteresis and cooldowns. */
  readonly proposed: Action;
  /** Coaching kinds the policy allows now (probability >= choiceMinProbability) and out of their cooldown; includes proposed. */
  readonly allowed: readonly Action[];
  readonly probabilities: Partial<Record<Action, number>>;
}

export type DecisionReason =
  | 'emitted'
  | 'safety'
  | 'no_cue'
  | 'below_threshold'
  | 'confirming'
  | 'cooldown'
  | 'safety_active'
  | 'low_quality'
  | 'not_riding'
  | 'features_missing'
  | 'model_unavailable'
  | 'model_error'
  | 'internal_error';

export interface DecisionRecord {
  readonly kind: 'decision';
  /** Stream time of the end of the decision window, s. */
  readonly t: number;
  /** What goes to the rider. */
  readonly action: Action;
  readonly source: 'safety' | 'model' | 'none';
  readonly reason: DecisionReason;
  /** The model's top action before hysteresis/cooldown, null when it did not run. */
  readonly modelAction: Action | null;
  readonly probabilities: Partial<Record<Action, number>> | null;
  readonly safetyTriggers: SafetyTrigger[];
  /** Findings kept as records only (non-sustained VT, AF): never a cue. */
  readonly safetyRecords?: SafetyTrigger[];
  readonly safetyActive: SafetyRule[];
  readonly inputs: {
    readonly signal: SignalFeatures;
    readonly ride: RideContext;
    readonly history: CueHistory;
    readonly features: Record<string, number | null>;
    readonly missing: string[];
  };
  readonly model: PolicyIdentity | null;
  readonly modelError?: string;
  /** Set when a cue chooser picked among several allowed kinds (the model's proposal and what was sent). */
  readonly choice?: { readonly proposed: Action; readonly allowed: readonly Action[]; readonly chosen: Action };
  readonly latencyMs: { readonly inference: number | null; readonly total: number };
}

export type EngineEvent =
  | { type: 'model_loaded'; model: PolicyIdentity; path: string }
  | { type: 'model_load_failed'; path: string; error: string }
  | { type: 'model_swapped'; from: PolicyIdentity | null; to: PolicyIdentity }
  | { type: 'model_swap_rejected'; path: string; error: string }
  | { type: 'model_failed'; model: PolicyIdentity; error: string }
  | { type: 'model_rolled_back'; from: PolicyIdentity; to: PolicyIdentity; error: string };

export interface EngineOptions {
  readonly manifestPath?: string;
  readonly load?: LoadOptions;
  readonly safety?: Partial<SafetyConfig>;
  readonly decision?: Partial<DecisionConfig>;
  readonly logger?: Logger;
  readonly onEvent?: (e: EngineEvent) => void;
  /**
   * Picks the kind of a due coaching cue among the allowed ones (per-rider adaptation). It can
   * only choose among `allowed`: an answer outside it is ignored and the proposal is sent.
   */
  readonly chooseCue?: (c: CueChoiceRequest) => Action;
}

export interface EngineStatus {
  readonly model: PolicyIdentity | null;
  readonly fallback: PolicyIdentity | null;
  readonly lastModelError: string | null;
  readonly decisions: number;
  readonly modelFailures: number;
  readonly rollbacks: number;
}

export class DecisionEngine {
  private current: PolicyModel | null = null;
  /** The model in service before the last swap, kept to roll back to. */
  private previous: PolicyModel | null = null;
  private readonly safety: SafetyRules;
  private readonly cfg: DecisionConfig;
  private readonly log: Logger;
  private queue: Promise<unknown> = Promise.resolve();
  private lastCue: { action: Action; t: number } | null = null;
  private streak: { action: Action; count: number } = { action: 'none', count: 0 };
  private lastModelError: string | null = null;
  private counts = { decisions: 0, modelFailures: 0, rollbacks: 0 };

  private constructor(private readonly options: EngineOptions) {
    this.safety = new SafetyRules({ ...DEFAULT_SAFETY, ...options.safety });
    this.cfg = { ...DEFAULT_DECISION, ...options.decision };
    this.log = options.logger ?? silentLogger;
  }

  /** Never throws for a bad model: the engine then runs on the safety rules alone. */
  static async create(options: EngineOptions = {}): Promise<DecisionEngine> {
    const engine = new DecisionEngine(options);
    if (options.manifestPath !== undefined) {
      try {
        engine.current = await PolicyModel.load(options.manifestPath, options.load);
        engine.emit({ type: 'model_loaded', model: engine.current.identity, path: options.manifestPath });
      } catch (e) {
        engine.lastModelError = errorMessage(e);
        engine.emit({ type: 'model_load_failed', path: options.manifestPath, error: engine.lastModelError });
      }
    }
    return engine;
  }

  status(): EngineStatus {
    return {
      model: this.current?.identity ?? null,
      fallback: this.previous?.identity ?? null,
      lastModelError: this.lastModelError,
      ...this.counts,
    };
  }

  /** One decision. Calls are serialised; the promise never rejects. */
  decide(input: PolicyInput): Promise<DecisionRecord> {
    const started = performance.now();
    const run = this.queue.then(() => this.decideNow(input, started)).catch((e: unknown) => this.internalError(input, e, started));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Validates a new model off to the side, then switches to it between two decisions. */
  async swapModel(manifestPath: string): Promise<{ ok: true; model: PolicyIdentity } | { ok: false; error: string }> {
    let candidate: PolicyModel;
    try {
      candidate = await PolicyModel.load(manifestPath, this.options.load);
      // With a reference model and validation set in the manifest, the swap also needs the
      // full "model validate" (>= 99% fp32-vs-int8 agreement) before it goes into service.
      if (candidate.manifest.reference && candidate.manifest.validationSet) {
        const { validateModel } = await import('./validate.js');
        const report = await validateModel(manifestPath, { samples: 0 });
        if (!report.ok) {
          await candidate.release();
          throw new Error(report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; '));
        }
      }
    } catch (e) {
      const error = errorMessage(e);
      this.emit({ type: 'model_swap_rejected', path: manifestPath, error });
      return { ok: false, error };
    }
    const switched = this.queue.then(async () => {
      const from = this.current;
      const older = this.previous;
      this.previous = from;
      this.current = candidate;
      if (older) await older.release().catch(() => undefined);
      this.emit({ type: 'model_swapped', from: from?.identity ?? null, to: candidate.identity });
    });
    this.queue = switched.catch(() => undefined);
    await switched;
    return { ok: true, model: candidate.identity };
  }

  /** A new ride: cue history, hysteresis streak and safety onsets start over. The model stays. */
  resetRide(): Promise<void> {
    const done = this.queue.then(() => {
      this.lastCue = null;
      this.streak = { action: 'none', count: 0 };
      this.safety.reset();
    });
    this.queue = done.catch(() => undefined);
    return done;
  }

  /** A bug or malformed input must still give a record and never reach the daemon as a throw. */
  private internalError(input: PolicyInput, e: unknown, started: number): DecisionRecord {
    const error = `decision failed: ${errorMessage(e)}`;
    this.log.error({ err: e }, 'inference: decision failed');
    return {
      kind: 'decision',
      t: typeof input?.signal?.endS === 'number' ? input.signal.endS : NaN,
      action: 'none',
      source: 'none',
      reason: 'internal_error',
      modelAction: null,
      probabilities: null,
      safetyTriggers: [],
      safetyActive: [],
      inputs: { signal: input?.signal, ride: input?.ride, history: { lastAction: this.lastCue?.action ?? 'none', minutesSinceCue: null }, features: {}, missing: [] },
      model: this.current?.identity ?? null,
      modelError: error,
      latencyMs: { inference: null, total: performance.now() - started },
    };
  }

  async close(): Promise<void> {
    await this.queue;
    for (const m of [this.current, this.previous]) if (m) await m.release().catch(() => undefined);
    this.current = null;
    this.previous = null;
  }

  private emit(e: EngineEvent): void {
    const level = e.type === 'model_loaded' || e.type === 'model_swapped' ? 'info' : 'warn';
    this.log[level]({ event: e }, `inference: ${e.type}`);
    try {
      this.options.onEvent?.(e);
    } catch {
      // A listener's bug must not stop decisions.
    }
  }

  private history(t: number): CueHistory {
    return { lastAction: this.lastCue?.action ?? 'none', minutesSinceCue: this.lastCue ? (t - this.lastCue.t) / 60 : null };
  }

  private async decideNow(input: PolicyInput, started: number): Promise<DecisionRecord> {
    const t = input.signal.endS;
    const history = this.history(t);
    this.counts.decisions++;
    let safety: { triggers: SafetyTrigger[]; active: SafetyRule[]; records?: SafetyTrigger[] } = { triggers: [], active: [] };
    let safetyError: string | undefined;
    try {
      safety = this.safety.evaluate(input.signal, input.ride);
    } catch (e) {
      safetyError = `safety rules failed: ${errorMessage(e)}`;
      this.log.error({ err: e }, 'inference: safety rules failed');
    }

    // The model runs even when safety wins, so the record shows what it would have said.
    let modelAction: Action | null = null;
    let probabilities: Partial<Record<Action, number>> | null = null;
    let inferenceMs: number | null = null;
    let modelError: string | undefined = safetyError;
    let reason: DecisionReason = 'model_unavailable';
    let features: Record<string, number | null> = {};
    let missing: string[] = [];
    let used: PolicyModel | null = this.current;
    if (used) {
      const specs = used.manifest.features;
      const v = vectorise(specs, specFeatures(specs, input.signal, input.ride, history));
      features = v.raw;
      missing = v.missing;
      if (v.missingRequired.length > 0 || v.missing.length > used.manifest.maxMissing) {
        reason = 'features_missing';
      } else {
        const r0 = performance.now();
        const result = await this.runModel(used, v.obs);
        inferenceMs = performance.now() - r0;
        used = result.model;
        if (result.probs && used) {
          const best = argmax(result.probs);
          modelAction = used.actions[best];
          probabilities = Object.fromEntries(used.actions.map((a, i) => [a, result.probs![i]]));
          reason = 'no_cue';
        } else {
          reason = 'model_error';
          modelError = result.error;
        }
      }
    } else if (this.lastModelError) {
      modelError = this.lastModelError;
    }

    let action: Action = 'none';
    let source: DecisionRecord['source'] = 'none';
    let choice: DecisionRecord['choice'];
    if (safety.triggers.length > 0) {
      action = 'safety_alert';
      source = 'safety';
      reason = 'safety';
      this.lastCue = { action, t };
      this.streak = { action: 'none', count: 0 };
    } else if (modelAction === null || probabilities === null) {
      // No model output this time: a half-confirmed cue must not be confirmed across the gap.
      this.streak = { action: 'none', count: 0 };
    } else {
      const p = probabilities[modelAction] ?? 0;
      const candidate: Action = p >= this.cfg.minProbability ? modelAction : 'none';
      this.streak = candidate === this.streak.action ? { action: candidate, count: this.streak.count + 1 } : { action: candidate, count: 1 };
      if (modelAction !== 'none' && candidate === 'none') reason = 'below_threshold';
      else if (candidate === 'none') reason = 'no_cue';
      else if (safety.active.length > 0) reason = 'safety_active';
      else if (!(input.signal.quality >= this.cfg.minQuality)) reason = 'low_quality';
      else if (this.streak.count < this.cfg.confirmations) reason = 'confirming';
      else if (this.inCooldown(candidate, t)) reason = 'cooldown';
      // A real stop (not a red light: the ride context says riding there): no coaching, only safety.
      else if (!input.ride.riding && candidate !== 'safety_alert') reason = 'not_riding';
      else {
        action = candidate;
        if (this.options.chooseCue && candidate !== 'safety_alert') {
          choice = this.choose(candidate, probabilities, t);
          action = choice.chosen;
        }
        source = 'model';
        reason = 'emitted';
        this.lastCue = { action, t };
        this.streak = { action: 'none', count: 0 };
      }
    }

    const record: DecisionRecord = {
      kind: 'decision',
      t,
      action,
      source,
      reason,
      modelAction,
      probabilities,
      safetyTriggers: safety.triggers,
      ...(safety.records && safety.records.length > 0 ? { safetyRecords: safety.records } : {}),
      safetyActive: safety.active,
      inputs: { signal: input.signal, ride: input.ride, history, features, missing },
      model: used?.identity ?? null,
      ...(modelError !== undefined ? { modelError } : {}),
      ...(choice !== undefined ? { choice } : {}),
      latencyMs: { inference: inferenceMs, total: performance.now() - started },
    };
    return record;
  }

  /** Asks the cue chooser; a chooser that throws or answers outside the allowed kinds leaves the proposal. */
  private choose(proposed: Action, probabilities: Partial<Record<Action, number>>, t: number): NonNullable<DecisionRecord['choice']> {
    const allowed = (Object.keys(probabilities) as Action[]).filter(
      (a) => a === proposed || (a !== 'none' && a !== 'safety_alert' && (probabilities[a] ?? 0) >= this.cfg.choiceMinProbability && !this.inCooldown(a, t)),
    );
    let chosen: Action = proposed;
    try {
      const got = this.options.chooseCue!({ t, proposed, allowed, probabilities });
      if (allowed.includes(got)) chosen = got;
    } catch (e) {
      this.log.error({ err: e }, 'inference: cue chooser failed; the model\'s cue is sent');
    }
    return { proposed, allowed, chosen };
  }

  private inCooldown(candidate: Action, t: number): boolean {
    if (!this.lastCue) return false;
    const since = t - this.lastCue.t;
    if (this.lastCue.action === candidate && since < this.cfg.sameActionCooldownS) return true;
    // The model's own safety alert is not held back by the general cue cooldown.
    return candidate !== 'safety_alert' && since < this.cfg.cooldownS;
  }

  /** Runs the model; on failure rolls back to the previous model (once) or reports and gives up. */
  private async runModel(model: PolicyModel, obs: Float32Array): Promise<{ model: PolicyModel | null; probs?: Float32Array; error?: string }> {
    try {
      return { model, probs: await model.infer(obs) };
    } catch (e) {
      const error = errorMessage(e);
      this.counts.modelFailures++;
      this.lastModelError = error;
      this.emit({ type: 'model_failed', model: model.identity, error });
      const fallback = this.previous;
      if (!fallback || model !== this.current) return { model, error };
      this.current = fallback;
      this.previous = null;
      this.counts.rollbacks++;
      this.emit({ type: 'model_rolled_back', from: model.identity, to: fallback.identity, error });
      void model.release().catch(() => undefined);
      try {
        return { model: fallback, probs: await fallback.infer(obs) };
      } catch (e2) {
        return { model: fallback, error: `${error}; the previous model failed too: ${errorMessage(e2)}` };
      }
    }
  }
}

