/**
 * The policy's view of the world: the signal chain's features plus the rider's calibration
 * and the ride so far, turned into the ordered, normalised vector a model's manifest asks for.
 *
 *   SignalFeatures ─┐
 *   RideContext ────┼─▶ raw values by name ─▶ transform, fill missing, (x-mean)/std, clip ─▶ obs
 *   last cue ───────┘
 */
import type { SignalFeatures } from '../signal/types.js';

export const ACTIONS = ['none', 'breathing_cue', 'relax_posture_cue', 'suggest_break', 'safety_alert'] as const;
export type Action = (typeof ACTIONS)[number];

export function isAction(s: string): s is Action {
  return (ACTIONS as readonly string[]).includes(s);
}

/** What the daemon knows about the ride at decision time. */
export interface RideContext {
  /** The rider's calibrated resting heart rate; null before calibration. */
  readonly restingHrBpm: number | null;
  readonly minutesRiding: number;
  /** True while the bike is moving (safety rules about lost sensors apply only then). */
  readonly riding: boolean;
  /** False when the source reports the sensor disconnected. */
  readonly sensorConnected: boolean;
  /** The rider's learned RMSSD baseline (src/rider), for features a manifest asks relative to the rider. */
  readonly rmssdBaselineMs?: number | null;
}

/** Engine-side memory fed back to the policy. */
export interface CueHistory {
  readonly lastAction: Action;
  /** null when no cue has been given this ride. */
  readonly minutesSinceCue: number | null;
}

export interface PolicyInput {
  readonly signal: SignalFeatures;
  readonly ride: RideContext;
}

type Extractor = (s: SignalFeatures, r: RideContext, h: CueHistory) => number | null;

/** Every feature the unit can compute, by the name a manifest uses for it. */
export const FEATURE_EXTRACTORS: Readonly<Record<string, Extractor>> = {
  hr_bpm: (s) => s.hrBpm,
  hr_above_rest_bpm: (s, r) => (s.hrBpm === null || r.restingHrBpm === null ? null : s.hrBpm - r.restingHrBpm),
  hr_slope_bpm_per_min: (s) => s.hrSlopeBpmPerMin,
  rmssd_ms: (s) => s.rmssdMs,
  sdnn_ms: (s) => s.sdnnMs,
  pnn50: (s) => s.pnn50,
  lf_hf: (s) => s.lfHf,
  quality: (s) => s.quality,
  ectopic_share: (s) => s.ectopicShare,
  minutes_riding: (_s, r) => r.minutesRiding,
  // No cue yet this ride: count from the start of the ride, so a normal state is never 'missing'.
  minutes_since_cue: (_s, r, h) => h.minutesSinceCue ?? r.minutesRiding,
  ...Object.fromEntries(ACTIONS.map((a) => [`last_action_${a}`, ((_s, _r, h) => (h.lastAction === a ? 1 : 0))])),
};

export const KNOWN_FEATURES: readonly string[] = Object.keys(FEATURE_EXTRACTORS);

export interface FeatureSpec {
  readonly name: string;
  readonly unit: string;
  readonly description?: string;
  /** Applied before normalisation; mean/std are in the transformed space. */
  readonly transform?: 'none' | 'log1p';
  readonly mean: number;
  readonly std: number;
  /** Normalised values are clipped to [-clip, clip] (VecNormalize's clip_obs). */
  readonly clip: number;
  /** Raw value used when the feature is null, NaN or infinite. */
  readonly fill: number;
  /** When true and the value is missing, the model is not run for this decision. */
  readonly required?: boolean;
  /**
   * `rider`: the value is taken relative to this rider's learned baseline (RELATIVE_FEATURES):
   * heart rate minus the resting rate, HRV as a ratio to the rider's RMSSD baseline. Missing
   * until the rider has a baseline. Absent: the absolute value (the bootstrap model).
   */
  readonly relative?: 'rider';
}

/** Features a manifest may ask for relative to the rider, and how. */
export const RELATIVE_FEATURES: Readonly<Record<string, (v: number, r: RideContext) => number | null>> = {
  hr_bpm: (v, r) => (r.restingHrBpm === null ? null : v - r.restingHrBpm),
  rmssd_ms: (v, r) => (r.rmssdBaselineMs == null || !(r.rmssdBaselineMs > 0) ? null : v / r.rmssdBaselineMs),
  sdnn_ms: (v, r) => (r.rmssdBaselineMs == null || !(r.rmssdBaselineMs > 0) ? null : v / r.rmssdBaselineMs),
};

export interface Vectorised {
  readonly obs: Float32Array;
  /** Raw values as computed (null for missing), by name, for the decision record. */
  readonly raw: Record<string, number | null>;
  readonly missing: string[];
  /** Required features that were missing: the model must not be run. */
  readonly missingRequired: string[];
}

/** Non-finite numbers count as missing: a NaN must never reach the model. */
function clean(v: number | null): number | null {
  return v === null || !Number.isFinite(v) ? null : v;
}

export function rawFeatures(names: readonly string[], s: SignalFeatures, r: RideContext, h: CueHistory): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const n of names) {
    const f = FEATURE_EXTRACTORS[n];
    out[n] = f ? clean(f(s, r, h)) : null;
  }
  return out;
}

/** The raw values a manifest's features ask for, rider-relative where a spec says so. */
export function specFeatures(specs: readonly FeatureSpec[], s: SignalFeatures, r: RideContext, h: CueHistory): Record<string, number | null> {
  const out = rawFeatures(specs.map((f) => f.name), s, r, h);
  for (const spec of specs) {
    if (spec.relative !== 'rider') continue;
    const v = out[spec.name];
    const rel = RELATIVE_FEATURES[spec.name];
    out[spec.name] = v === null || !rel ? null : clean(rel(v, r));
  }
  return out;
}

export function normalise(spec: FeatureSpec, value: number): number {
  const x = spec.transform === 'log1p' ? Math.log1p(Math.max(value, 0)) : value;
  const z = (x - spec.mean) / spec.std;
  return Math.min(spec.clip, Math.max(-spec.clip, z));
}

/** Raw named values (null = missing) to the model's input vector, per the manifest's rules. */
export function vectorise(specs: readonly FeatureSpec[], raw: Record<string, number | null | undefined>): Vectorised {
  const obs = new Float32Array(specs.length);
  const missing: string[] = [];
  const missingRequired: string[] = [];
  const rawOut: Record<string, number | null> = {};
  specs.forEach((spec, i) => {
    const v = raw[spec.name];
    const value = v === undefined || v === null || !Number.isFinite(v) ? null : v;
    rawOut[spec.name] = value;
    if (value === null) {
      missing.push(spec.name);
      if (spec.required) missingRequired.push(spec.name);
    }
    obs[i] = normalise(spec, value ?? spec.fill);
  });
  return { obs, raw: rawOut, missing, missingRequired };
}
