import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MotobioError, errorMessage } from '../util/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs, with its errors turned into a USAGE error that names the command. */
export function parseCommandArgs<O extends Options>(command: string, argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new MotobioError('USAGE', `${command}: ${errorMessage(e)}; run "motobio ${command} --help"`);
  }
}

export function numberOption(command: string, name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new MotobioError('USAGE', `${command}: --${name} must be a number, got "${value}"`);
  return n;
}
