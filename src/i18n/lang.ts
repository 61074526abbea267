/**
 * Which language a technician's command speaks. `--lang es|en` (taken off the command line by
 * the CLI entry point and handed down in MOTOBIO_LANG, so every command and its children see
 * the same choice), else the POSIX locale variables in their order of precedence: LC_ALL
 * overrides LC_MESSAGES, which overrides LANG. es, es_ES.UTF-8, es_MX ... are Spanish;
 * anything else (C, POSIX, en_GB, fr_FR, unset) is English, the language of the logs.
 *
 * Only human-facing text is translated: --json output, logs, record bodies and the wire keep
 * codes and numbers, so a script or the fleet server never depends on the technician's locale.
 */
import { MotobioError } from '../util/errors.js';

export type Lang = 'en' | 'es';
export const LANGS: readonly Lang[] = ['en', 'es'];

/** The variable the entry point sets from --lang (and a technician may set by hand). */
export const LANG_ENV = 'MOTOBIO_LANG';

function fromLocale(value: string | undefined): Lang | undefined {
  if (value === undefined || value === '') return undefined;
  return /^es([_.@-]|$)/i.test(value) ? 'es' : 'en';
}

export function parseLang(value: string, where = '--lang'): Lang {
  const v = value.trim().toLowerCase();
  if (v === 'es' || v === 'en') return v;
  throw new MotobioError('USAGE', `${where} must be es or en, got "${value}" (--lang es: español; --lang en: English)`);
}

/** The language in force for this process's environment. */
export function langFromEnv(env: NodeJS.ProcessEnv = process.env): Lang {
  const forced = env[LANG_ENV];
  if (forced !== undefined && forced !== '') return parseLang(forced, LANG_ENV);
  // POSIX: the first of these that is set and not empty decides LC_MESSAGES.
  for (const name of ['LC_ALL', 'LC_MESSAGES', 'LANG'] as const) {
    const l = fromLocale(env[name]);
    if (l !== undefined) return l;
  }
  return 'en';
}

/**
 * Takes `--lang X` / `--lang=X` off a command line (anywhere before a `--`), so commands'
 * strict option parsers never see it. Returns the rest and the language asked for, if any.
 */
export function takeLangFlag(argv: readonly string[]): { argv: string[]; lang?: Lang } {
  const rest: string[] = [];
  let lang: Lang | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--lang') {
      const v = argv[i + 1];
      if (v === undefined) throw new MotobioError('USAGE', '--lang needs a value: es or en');
      lang = parseLang(v);
      i++;
    } else if (a.startsWith('--lang=')) lang = parseLang(a.slice('--lang='.length));
    else rest.push(a);
  }
  return lang === undefined ? { argv: rest } : { argv: rest, lang };
}
