/**
 * The technician's language: `messages(lang)` gives the catalogue (en.ts, es.ts), used as
 * `m['status.row.clock']` or `m['pair.done']({ address, device })`. Pick the language once
 * per command with `cliLang()` and hand it to the formatters, which stay pure.
 */
import type { AlarmCode } from '../core/alarms.js';
import { en, type Catalogue, type MessageKey } from './en.js';
import { es } from './es.js';
import { langFromEnv, type Lang } from './lang.js';

export { LANG_ENV, LANGS, langFromEnv, parseLang, takeLangFlag, type Lang } from './lang.js';
export type { Catalogue, MessageKey } from './en.js';

const CATALOGUES: Readonly<Record<Lang, Catalogue>> = { en, es };

export function messages(lang: Lang): Catalogue {
  return CATALOGUES[lang];
}

/** The language of this command: --lang (via MOTOBIO_LANG), else LC_ALL / LC_MESSAGES / LANG. */
export function cliLang(env: NodeJS.ProcessEnv = process.env): Lang {
  return langFromEnv(env);
}

/** Every alarm code's text key: a code added to AlarmCode without a text here does not compile. */
export const ALARM_TEXT: Readonly<Record<AlarmCode, MessageKey & `alarm.${string}`>> = {
  DISK_LOW: 'alarm.DISK_LOW',
  DISK_FULL: 'alarm.DISK_FULL',
  STORE_CORRUPT_REPLACED: 'alarm.STORE_CORRUPT_REPLACED',
  SAFETY_EVICTED: 'alarm.SAFETY_EVICTED',
  MODEL_UNAVAILABLE: 'alarm.MODEL_UNAVAILABLE',
  AUDIO_UNAVAILABLE: 'alarm.AUDIO_UNAVAILABLE',
  PROMPT_INVALID: 'alarm.PROMPT_INVALID',
};

/**
 * What an alarm means and what to do, in the technician's language. The daemon's own
 * message (English, with paths and figures) stays in the log, the status record and
 * /status; this is the line `motobio status` shows. An unknown code (a newer daemon than
 * this CLI) falls back to the daemon's message.
 */
export function alarmText(code: string, lang: Lang, fallback?: string): string {
  const key = (ALARM_TEXT as Record<string, MessageKey | undefined>)[code];
  const text = key === undefined ? undefined : messages(lang)[key];
  return typeof text === 'string' ? text : (fallback ?? code);
}

/**
 * A catalogue entry looked up by a key built at run time (`pair.fix.${code}`): a string as it
 * is, a function called with the figures. Figures a function does not use are ignored.
 */
export function render(m: Catalogue, key: string, params: Readonly<Record<string, string | number>> = {}): string {
  const v = (m as unknown as Record<string, string | ((p: Readonly<Record<string, string | number>>) => string) | undefined>)[key];
  if (v === undefined) return key;
  return typeof v === 'function' ? v(params) : v;
}
