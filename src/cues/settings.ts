/**
 * The cue stage's settings, as a TypeBox fragment the lead merges into the configuration
 * schema (issue 16) under `rider`. Types, defaults and validation come from this one schema;
 * `cueSettings()` applies the defaults and checks a value on its own, for tests, the bench
 * and until the merge lands.
 *
 *   rider:
 *     language: es            # es | en
 *     audio:
 *       output: alsa          # alsa | none
 *       device: rider         # ALSA PCM name (aplay -L), e.g. bluealsa:DEV=00:11:22:33:44:55,PROFILE=a2dp
 *       volume: 0.8           # 0..1, applied to the samples
 *       ...
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { MotobioError } from '../util/errors.js';

export const CUE_LANGUAGES = ['es', 'en'] as const;
export type CueLanguage = (typeof CUE_LANGUAGES)[number];

const HHMM = '^([01][0-9]|2[0-3]):[0-5][0-9]$';

export const QuietPeriodSchema = Type.Object(
  {
    /** Local wall-clock time the period starts, "HH:MM". */
    from: Type.String({ pattern: HHMM, errorMessage: 'must be a time "HH:MM" (24 h), e.g. "22:00"' }),
    /** Local wall-clock time it ends, "HH:MM"; earlier than `from` means it runs past midnight. */
    to: Type.String({ pattern: HHMM, errorMessage: 'must be a time "HH:MM" (24 h), e.g. "06:30"' }),
  },
  { additionalProperties: false },
);

export const AudioSettingsSchema = Type.Object(
  {
    /** Where prompts go: an ALSA PCM through a long-lived aplay, or nowhere (prompts off). */
    output: Type.Union([Type.Literal('alsa'), Type.Literal('none')], {
      default: 'none',
      errorMessage: 'must be "alsa" (an ALSA PCM, e.g. the paired helmet headset) or "none" (prompts off)',
    }),
    /** ALSA PCM name as `aplay -L` lists it; the headset's bluealsa PCM, or a name from asound.conf. */
    device: Type.String({ default: 'default', minLength: 1, errorMessage: 'must be an ALSA PCM name, e.g. "default" or "bluealsa"' }),
    /** Linear gain on the samples, 0 (silent) to 1 (as rendered). */
    volume: Type.Number({ default: 0.8, minimum: 0, maximum: 1, errorMessage: 'must be a number from 0 to 1' }),
    /** Every cue is muted (recorded as `muted`), safety included. */
    mute: Type.Boolean({ default: false }),
    /** Coaching prompts are muted inside these local-time periods; safety alerts still play. Ignored while the wall clock is not synchronised. */
    quiet_hours: Type.Array(QuietPeriodSchema, { default: [] }),
    /** A directory of WAV files named <language>/<prompt>.wav that replace the rendered prompts. Empty: none. */
    prompts_dir: Type.String({ default: '' }),
    /** Where rendered prompts are cached on the unit (created 0700). */
    cache_dir: Type.String({ default: './var/cues', minLength: 1 }),
    /** A coaching prompt that could not start this long after its decision is dropped, s. */
    coaching_max_delay_s: Type.Number({ default: 3, minimum: 0, maximum: 30 }),
    /** Silence at least this long between the end of one coaching prompt and the start of the next, s. */
    min_gap_s: Type.Number({ default: 20, minimum: 0, maximum: 3600 }),
    /** A safety prompt is played at most this many times per alert while its condition holds. */
    safety_repeat_max: Type.Integer({ default: 3, minimum: 1, maximum: 10 }),
    /** Pause between two plays of the same safety prompt, s. */
    safety_repeat_gap_s: Type.Number({ default: 4, minimum: 0, maximum: 60 }),
    /** How far ahead of real time PCM is handed to the device, ms: bounds how late a safety alert cuts in. 80 fills the 4-period ALSA buffer at once, so the device starts without waiting. */
    lead_ms: Type.Integer({ default: 80, minimum: 20, maximum: 1000 }),
    /** Device period, frames at 22050 Hz (441 = 20 ms); the ALSA buffer is four periods. */
    period_frames: Type.Integer({ default: 441, minimum: 64, maximum: 8192 }),
  },
  { additionalProperties: false, default: {} },
);

export const RiderCueSettingsSchema = Type.Object(
  {
    language: Type.Union([Type.Literal('es'), Type.Literal('en')], { default: 'es', errorMessage: 'must be "es" or "en"' }),
    audio: AudioSettingsSchema,
  },
  { additionalProperties: false, default: {} },
);

export type QuietPeriod = Static<typeof QuietPeriodSchema>;
export type AudioSettings = Static<typeof AudioSettingsSchema>;
export type RiderCueSettings = Static<typeof RiderCueSettingsSchema>;

/** Deep partial, for callers that give only what they change. */
export interface RiderCueSettingsInput {
  language?: CueLanguage;
  audio?: Partial<AudioSettings>;
}

/** Defaults applied and checked; throws CONFIG_INVALID naming the setting that is wrong. */
export function cueSettings(input: RiderCueSettingsInput = {}): RiderCueSettings {
  const value: unknown = Value.Default(RiderCueSettingsSchema, Value.Clone({ ...input, audio: { ...(input.audio ?? {}) } }));
  const first = Value.Errors(RiderCueSettingsSchema, value).First();
  if (first) {
    const path = `rider${first.path.replaceAll('/', '.')}`;
    const hint = (first.schema as { errorMessage?: string }).errorMessage ?? first.message;
    throw new MotobioError('CONFIG_INVALID', `${path}: ${hint} (got ${JSON.stringify(first.value)})`);
  }
  return value as RiderCueSettings;
}
