/**
 * What the rider hears, per language: one prompt per coaching action and per safety rule.
 * Names come from the code that decides (src/inference/features.ts ACTIONS,
 * src/inference/safety.ts SafetyRule) plus the rhythm rules being added beside them
 * (sustained_vt, vf, pause, af_onset). Spanish first: the original plan was Spanish and
 * `rider.language` defaults to es.
 *
 * The texts are short on purpose: a rider at speed in a helmet takes in four or five words.
 * Safety prompts start with the same attention word so the rider knows the class before the detail.
 */
import { ACTIONS, type Action } from '../inference/features.js';
import type { SafetyRule } from '../inference/safety.js';
import type { CueLanguage } from './settings.js';
import type { CueKind } from './types.js';

/** Rhythm rules another stage adds next to the heart-rate rules (issue 17). */
export type RhythmRule = 'sustained_vt' | 'vf' | 'pause' | 'af_onset';

export type CoachingPrompt = Exclude<Action, 'none'>;
/** Rhythm findings that are records only (non-sustained VT, short AF) have no prompt: the rider hears nothing of them. */
export type SafetyPrompt = Exclude<SafetyRule | RhythmRule, 'nsvt' | 'af_short'>;

export const COACHING_PROMPTS: readonly CoachingPrompt[] = ACTIONS.filter((a): a is CoachingPrompt => a !== 'none');
export const SAFETY_PROMPTS: readonly SafetyPrompt[] = ['hr_high', 'hr_low', 'leads_off', 'sensor_lost', 'quality_low', 'sustained_vt', 'vf', 'pause', 'af_onset'];

type Texts = Record<CoachingPrompt | SafetyPrompt, string>;

export const PROMPT_TEXTS: Record<CueLanguage, Texts> = {
  es: {
    breathing_cue: 'Respira hondo y despacio.',
    relax_posture_cue: 'Relaja los hombros y los brazos.',
    suggest_break: 'Buen momento para una pausa.',
    safety_alert: 'Atención. Baja el ritmo.',
    hr_high: 'Atención. Pulso muy alto. Reduce y para cuando puedas.',
    hr_low: 'Atención. Pulso muy bajo. Para cuando puedas.',
    leads_off: 'Atención. Electrodos sueltos. Revisa la banda al parar.',
    sensor_lost: 'Atención. Sensor perdido. Revisa la banda al parar.',
    quality_low: 'Atención. Señal débil. Revisa la banda al parar.',
    sustained_vt: 'Atención. Ritmo cardiaco peligroso. Para ya y pide ayuda.',
    vf: 'Alerta. Ritmo cardiaco crítico. Para ya y pide ayuda.',
    pause: 'Atención. Pausa del corazón. Para cuando puedas.',
    af_onset: 'Atención. Ritmo irregular. Para cuando puedas.',
  },
  en: {
    breathing_cue: 'Breathe deep and slow.',
    relax_posture_cue: 'Relax your shoulders and arms.',
    suggest_break: 'Good time for a break.',
    safety_alert: 'Attention. Ease off.',
    hr_high: 'Attention. Heart rate very high. Slow down and stop when you can.',
    hr_low: 'Attention. Heart rate very low. Stop when you can.',
    leads_off: 'Attention. Electrodes loose. Check the strap when stopped.',
    sensor_lost: 'Attention. Sensor lost. Check the strap when stopped.',
    quality_low: 'Attention. Weak signal. Check the strap when stopped.',
    sustained_vt: 'Attention. Dangerous heart rhythm. Stop now and get help.',
    vf: 'Alert. Critical heart rhythm. Stop now and get help.',
    pause: 'Attention. Heart pause. Stop when you can.',
    af_onset: 'Attention. Irregular rhythm. Stop when you can.',
  },
};

/** espeak-ng voice per language. */
export const VOICES: Record<CueLanguage, string> = { es: 'es', en: 'en' };

export interface PromptEntry {
  readonly name: string;
  readonly kind: CueKind;
  readonly text: string;
}

export function promptEntries(language: CueLanguage): PromptEntry[] {
  const texts = PROMPT_TEXTS[language];
  return [
    ...COACHING_PROMPTS.map((name) => ({ name, kind: 'coaching' as const, text: texts[name] })),
    ...SAFETY_PROMPTS.map((name) => ({ name, kind: 'safety' as const, text: texts[name] })),
  ];
}
