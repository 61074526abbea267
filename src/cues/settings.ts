/**
 * The cue stage's settings, as a TypeBox fragment composed into the configuration
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
import { FormatRegistry, Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

// Paths are checked where they are used; the configuration resolves them (src/config/load.ts).
if (!FormatRegistry.Has('path')) FormatRegistry.Set('path', () => true);
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
    output: Type.Union([Type.Literal('alsa'), Type.Literal('none')], {
      default: 'none',
      errorMessage: 'must be "alsa" (an ALSA PCM, e.g. the paired helmet headset) or "none" (prompts off)',
      description: 'Where prompts go: an ALSA PCM through a long-lived aplay (docs/cues.md), or nowhere (prompts off, said once at start and in status).',
    }),
    device: Type.String({ default: 'default', minLength: 1, errorMessage: 'must be an ALSA PCM name, e.g. "default" or "bluealsa"', description: "ALSA PCM name as `aplay -L` lists it: the headset's bluealsa PCM, or a name from asound.conf." }),
    volume: Type.Number({ default: 0.8, minimum: 0, maximum: 1, errorMessage: 'must be a number from 0 to 1', description: 'Linear gain on the samples, 0 (silent) to 1 (as rendered).' }),
    mute: Type.Boolean({ default: false, description: 'Every cue is muted (recorded as `muted`), safety included.' }),
    quiet_hours: Type.Array(QuietPeriodSchema, { default: [], description: 'Coaching prompts are muted inside these local-time periods (`{from: "22:00", to: "06:30"}`); safety alerts still play. Ignored while the wall clock is not synchronised.', 'x-type': 'list' }),
    prompts_dir: Type.String({ default: '', format: 'path', description: 'A directory of WAV files named `<language>/<prompt>.wav` that replace the rendered prompts. Empty: none.' }),
    cache_dir: Type.String({ default: './var/cues', minLength: 1, format: 'path', description: 'Where rendered prompts are cached on the unit (created 0700).' }),
    coaching_max_delay_s: Type.Number({ default: 3, minimum: 0, maximum: 30, description: 'A coaching prompt that could not start this long after its decision is dropped, never queued, s.' }),
    min_gap_s: Type.Number({ default: 20, minimum: 0, maximum: 3600, description: 'Silence at least this long between the end of one coaching prompt and the start of the next, s.' }),
    safety_repeat_max: Type.Integer({ default: 3, minimum: 1, maximum: 10, description: 'A safety prompt is played at most this many times per alert while its condition holds.' }),
    safety_repeat_gap_s: Type.Number({ default: 4, minimum: 0, maximum: 60, description: 'Pause between two plays of the same safety prompt, s.' }),
    lead_ms: Type.Integer({ default: 80, minimum: 20, maximum: 1000, description: 'How far ahead of real time PCM is handed to the device, ms: bounds how late a safety alert cuts in.' }),
    period_frames: Type.Integer({ default: 441, minimum: 64, maximum: 8192, description: 'Device period, frames at 22050 Hz (441 = 20 ms); the ALSA buffer is four periods.' }),
  },
  { additionalProperties: false, default: {} },
);

export const RiderCueSettingsSchema = Type.Object(
  {
    language: Type.Union([Type.Literal('es'), Type.Literal('en')], { default: 'es', errorMessage: 'must be "es" or "en"', description: "Language of the rider's prompts: Spanish (`es`) or English (`en`)." }),
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
