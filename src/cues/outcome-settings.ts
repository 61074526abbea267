/**
 * The `cues.outcome` settings (what each cue did), as a TypeBox fragment composed into
 * the configuration schema.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { MotobioError } from '../util/errors.js';
import { DEFAULT_OUTCOME, type OutcomeConfig } from './outcome.js';

export const OutcomeSettingsSchema = Type.Object(
  {
    baseline_s: Type.Number({ default: DEFAULT_OUTCOME.baselineS, minimum: 30, description: 'the baseline is the time before the cue, s' }),
    window_start_s: Type.Number({ default: DEFAULT_OUTCOME.windowStartS, minimum: 0, description: 'the response window starts this long after the cue, s' }),
    window_end_s: Type.Number({ default: DEFAULT_OUTCOME.windowEndS, exclusiveMinimum: 0, description: 'and ends this long after it, s' }),
    min_quality: Type.Number({ default: DEFAULT_OUTCOME.minQuality, minimum: 0, maximum: 1, description: 'mean signal quality below this ends the measurement early' }),
    quality_hold_s: Type.Number({ default: DEFAULT_OUTCOME.qualityHoldS, exclusiveMinimum: 0, description: 'over this long, s' }),
  },
  { default: {}, additionalProperties: false },
);

export type OutcomeSettings = Static<typeof OutcomeSettingsSchema>;

export function parseOutcomeSettings(raw: unknown = {}, path = 'cues.outcome'): OutcomeSettings {
  const v = Value.Default(OutcomeSettingsSchema, structuredClone(raw ?? {}));
  const e = [...Value.Errors(OutcomeSettingsSchema, v)][0];
  if (e) throw new MotobioError('CONFIG_INVALID', `${path}${e.path.replaceAll('/', '.')}: ${e.message}; fix it in the configuration (docs/config.md)`);
  const s = v as OutcomeSettings;
  if (!(s.window_end_s > s.window_start_s)) throw new MotobioError('CONFIG_INVALID', `${path}.window_end_s (${s.window_end_s}) must be after ${path}.window_start_s (${s.window_start_s})`);
  return s;
}

export function outcomeConfig(s: OutcomeSettings): OutcomeConfig {
  return { baselineS: s.baseline_s, windowStartS: s.window_start_s, windowEndS: s.window_end_s, minQuality: s.min_quality, qualityHoldS: s.quality_hold_s };
}
