/**
 * The rider-profile settings (`rider.id`, `rider.resting_hr_bpm`, `rider.baseline`,
 * `rider.adapt`), as a TypeBox fragment composed into the `rider` section of the
 * configuration (beside the cue stage's `rider.language` and `rider.audio`).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { MotobioError } from '../util/errors.js';
import { DEFAULT_BASELINE, type BaselineConfig } from './baseline.js';
import { DEFAULT_CHOOSER, type ChooserConfig } from './cue-choice.js';

export const RiderProfileSettingsSchema = Type.Object(
  {
    id: Type.String({
      default: 'default',
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
      description: "who is riding: the profile (baseline, what cues work) is kept per id; a unit may serve several riders. A calibration profile's rider id wins over this",
    }),
    resting_hr_bpm: Type.Union([Type.Null(), Type.Number({ minimum: 25, maximum: 130 })], {
      default: null,
      description: 'resting heart rate to use until one is learned from rides (e.g. from a calibration), bpm',
    }),
    baseline: Type.Object(
      {
        warmup_s: Type.Number({ default: DEFAULT_BASELINE.warmupS, minimum: 60, description: 'the first part of each ride the baseline is learned over, s' }),
        min_samples: Type.Integer({ default: DEFAULT_BASELINE.minSamples, minimum: 3, description: 'decision periods with a trusted reading needed for a ride to count' }),
        min_quality: Type.Number({ default: DEFAULT_BASELINE.minQuality, minimum: 0, maximum: 1 }),
        hr_quantile: Type.Number({ default: DEFAULT_BASELINE.hrQuantile, minimum: 0, maximum: 0.5, description: "quantile of a warm-up's heart rates taken as that ride's resting rate" }),
        forgetting: Type.Number({ default: DEFAULT_BASELINE.forgetting, exclusiveMinimum: 0, maximum: 1, description: 'a ride k rides ago weighs forgetting^k' }),
      },
      { default: {}, additionalProperties: false },
    ),
    adapt: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: "pick among the coaching cues the policy allows the kind that has worked for this rider (Thompson sampling on the cue outcomes)" }),
        exploration_floor: Type.Number({ default: DEFAULT_CHOOSER.explorationFloor, exclusiveMinimum: 0, maximum: 1, description: 'share of picks made at random, so no kind is silenced forever' }),
        discount: Type.Number({ default: DEFAULT_CHOOSER.discount, exclusiveMinimum: 0, maximum: 1, description: 'each new outcome multiplies the past evidence of every kind by this (memory of about 1/(1-discount) outcomes)' }),
        prior_sd: Type.Number({ default: DEFAULT_CHOOSER.priorSd, exclusiveMinimum: 0, description: 'expected spread of a reward (bpm for hr_drop)' }),
        reward: Type.Union([Type.Literal('hr_drop'), Type.Literal('rmssd_rise')], { default: DEFAULT_CHOOSER.reward }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { default: {}, additionalProperties: false },
);

export type RiderProfileSettings = Static<typeof RiderProfileSettingsSchema>;

export function parseRiderProfileSettings(raw: unknown = {}, path = 'rider'): RiderProfileSettings {
  const v = Value.Default(RiderProfileSettingsSchema, structuredClone(raw ?? {}));
  const e = [...Value.Errors(RiderProfileSettingsSchema, v)][0];
  if (e) throw new MotobioError('CONFIG_INVALID', `${path}${e.path.replaceAll('/', '.')}: ${e.message}; fix it in the configuration (docs/config.md)`);
  return v as RiderProfileSettings;
}

export const DEFAULT_RIDER_PROFILE_SETTINGS: RiderProfileSettings = parseRiderProfileSettings({});

export function baselineConfig(s: RiderProfileSettings): BaselineConfig {
  const b = s.baseline;
  return { warmupS: b.warmup_s, minSamples: b.min_samples, minQuality: b.min_quality, hrQuantile: b.hr_quantile, forgetting: b.forgetting };
}

export function chooserConfig(s: RiderProfileSettings): ChooserConfig {
  const a = s.adapt;
  return { ...DEFAULT_CHOOSER, explorationFloor: a.exploration_floor, discount: a.discount, priorSd: a.prior_sd, reward: a.reward };
}
