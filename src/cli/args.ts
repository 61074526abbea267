/**
 * The commands' shared argument parsing. Every usage error is a MotobioError('USAGE') whose
 * message names the option and says how to fix it; main.ts exits EX_USAGE (64) on it.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MotobioError, errorMessage } from '../util/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** sysexits.h EX_USAGE: the command was used incorrectly (a bad option, a missing value). */
export const EX_USAGE = 64;

const helpHint = (command: string) => `run "motobio ${command} --help"`;

/** node:util parseArgs, with its errors turned into a USAGE error that names the option and the fix. */
export function parseCommandArgs<O extends Options>(command: string, argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals, strict: true });
  } catch (e) {
    throw new MotobioError('USAGE', `${command}: ${describeParseError(e, options, command)}; ${helpHint(command)}`, { cause: e });
  }
}

/**
 * `--seconds -1`: parseArgs refuses a value starting with a dash as "ambiguous" and prints its
 * own advice about `--seconds=-XYZ`. A number is never an option, so it is taken as the value,
 * and the option's own check (numberOption) then says what range is allowed.
 */
function joinNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    const opt = optionOf(a, options);
    if (opt !== undefined && options[opt]?.type === 'string' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`--${opt}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** The long name of an option token (`--seconds`, `-s`), if it names one of `options`. */
function optionOf(token: string, options: Options): string | undefined {
  if (token.startsWith('--') && !token.includes('=')) return Object.hasOwn(options, token.slice(2)) ? token.slice(2) : undefined;
  if (/^-[A-Za-z]$/.test(token)) return Object.entries(options).find(([, o]) => o.short === token.slice(1))?.[0];
  return undefined;
}

function describeParseError(e: unknown, options: Options, command: string): string {
  const code = (e as { code?: string }).code;
  const msg = errorMessage(e);
  const quoted = /'(-{1,2}[^' ]+)/.exec(msg)?.[1];
  const name = quoted === undefined ? undefined : quoted.startsWith('--') ? quoted.slice(2) : Object.entries(options).find(([, o]) => o.short === quoted.slice(1))?.[0];
  const known = Object.keys(options).map((o) => `--${o}`);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const unknown = quoted ?? msg;
    const near = closest(unknown.replace(/^-+/, ''), Object.keys(options));
    return `unknown option ${unknown}${near !== undefined ? ` (did you mean --${near}?)` : ''}; the options are ${known.join(', ')}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && name !== undefined) {
    if (options[name]?.type === 'boolean') return `--${name} takes no value; write --${name} alone`;
    return `--${name} needs a value: --${name} VALUE`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const arg = /'([^']*)'/.exec(msg)?.[1] ?? '';
    return `unexpected argument "${arg}": "motobio ${command}" takes options only (${known.join(', ')})`;
  }
  return msg;
}

/** The option within two edits of `word` (a typo), if one is that close. */
function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min((prev[j]) + 1, (cur[j - 1]) + 1, (prev[j - 1]) + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

export interface NumberRange {
  /** Smallest allowed value (inclusive); 0 unless given: counts, durations and rates are never negative. */
  readonly min?: number;
  /** Values must be above this (exclusive), e.g. 0 for a duration that must be positive. */
  readonly above?: number;
  readonly max?: number;
  readonly integer?: boolean;
}

/** A numeric option's value, or `fallback` when absent; a USAGE error naming the option otherwise. */
export function numberOption(command: string, name: string, value: string | undefined, fallback: number, range: NumberRange = {}): number {
  if (value === undefined) return fallback;
  const n = value.trim() === '' ? NaN : Number(value);
  const fix = `; e.g. --${name} ${fallback}`;
  if (!Number.isFinite(n)) throw new MotobioError('USAGE', `${command}: --${name} must be a number, got "${value}"${fix}`);
  const min = range.min ?? 0;
  const wants: string[] = [];
  if (range.integer === true && !Number.isInteger(n)) wants.push('a whole number');
  if (range.above !== undefined ? n <= range.above : n < min) wants.push(range.above !== undefined ? `more than ${range.above}` : `${min} or more`);
  if (range.max !== undefined && n > range.max) wants.push(`at most ${range.max}`);
  if (wants.length > 0) throw new MotobioError('USAGE', `${command}: --${name} must be ${wants.join(' and ')}, got ${value}${fix}`);
  return n;
}

/** An http(s) URL option (`status --url`), or a USAGE error that shows the form expected. */
export function urlOption(command: string, name: string, value: string, example: string, protocols: readonly string[] = ['http:', 'https:']): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new MotobioError('USAGE', `${command}: --${name} "${value}" is not a URL; give the full address, e.g. --${name} ${example}`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new MotobioError('USAGE', `${command}: --${name} "${value}" must start with ${protocols.map((p) => `${p}//`).join(' or ')}, e.g. --${name} ${example}`);
  }
  return url;
}
