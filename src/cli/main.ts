#!/usr/bin/env node
/**
 * `motobio` entry point. Each command lives in its own module under ./commands and is
 * loaded only when asked for, so `motobio detect` never pays for (or crashes on) the
 * Bluetooth, ONNX or MQTT stacks. `motobio a b ...` runs commands/a-b.js when it exists,
 * otherwise commands/a.js with `b ...` as its arguments.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MotobioError, errorMessage, isMotobioError } from '../util/errors.js';
import { notInstalled } from './not-installed.js';
import { EX_USAGE } from './args.js';

export interface CommandModule {
  readonly summary: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS_DIR = new URL('./commands/', import.meta.url);

function commandFile(name: string): URL | undefined {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) return undefined;
  const url = new URL(`${name}.js`, COMMANDS_DIR);
  return existsSync(fileURLToPath(url)) ? url : undefined;
}

/** Commands (all, or those of one group such as `test`), a line each with its summary. */
async function listCommands(group?: string): Promise<string> {
  const { readdirSync } = await import('node:fs');
  const lines: string[] = [];
  for (const f of readdirSync(fileURLToPath(COMMANDS_DIR)).sort()) {
    if (!f.endsWith('.js')) continue;
    const name = f.slice(0, -3);
    if (group !== undefined && !name.startsWith(`${group}-`)) continue;
    const mod = (await import(new URL(f, COMMANDS_DIR).href)) as CommandModule;
    lines.push(`  ${name.replace('-', ' ').padEnd(22)} ${mod.summary}`);
  }
  return lines.join('\n');
}

const isHelp = (a: string | undefined) => a === '--help' || a === '-h' || a === 'help';

export async function main(argv: string[]): Promise<number> {
  // --lang es|en, anywhere: the technician's language for every command (src/i18n), handed
  // down in MOTOBIO_LANG so commands' own option parsers never see it.
  const { takeLangFlag, LANG_ENV } = await import('../i18n/lang.js');
  const taken = takeLangFlag(argv);
  if (taken.lang !== undefined) process.env[LANG_ENV] = taken.lang;
  argv = taken.argv;
  const [first, second, ...rest] = argv;
  if (first === undefined || isHelp(first)) {
    process.stdout.write(`usage: motobio <command> [options]\n       motobio --version\n\ncommands:\n${await listCommands()}\n\n"motobio <command> --help" tells more about each.\n`);
    return first === undefined ? EX_USAGE : 0;
  }
  if (first === '--version' || first === '-V') {
    const { packageVersion } = await import('../core/package.js');
    process.stdout.write(`motobio ${packageVersion()}\n`);
    return 0;
  }
  // A group of commands (`motobio test`, `motobio config --help`): the group's own list.
  if (!commandFile(first) && (second === undefined || isHelp(second))) {
    const group = await listCommands(first);
    if (group !== '') {
      process.stdout.write(`usage: motobio ${first} <command> [options]\n\ncommands:\n${group}\n`);
      return second === undefined ? EX_USAGE : 0;
    }
  }
  let file: URL | undefined;
  let args: string[];
  if (second !== undefined && (file = commandFile(`${first}-${second}`))) {
    args = rest;
  } else {
    file = commandFile(first);
    args = second === undefined ? rest : [second, ...rest];
  }
  // A workstation or fleet-server command on the unit (its module is not in the release): say where it runs.
  if (!file) throw notInstalled(argv, (m) => commandFile(m) !== undefined) ?? new MotobioError('USAGE', `unknown command "${argv.join(' ')}"; run "motobio --help" for the list`);
  const mod = (await import(file.href)) as CommandModule;
  return mod.run(args);
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1]);
if (invokedDirectly) {
  // Everything a command writes (backups, exports, keys, profiles) is private to its user; explicit modes stay as braces.
  process.umask(0o077);
  // `motobio eval ... | head`: a reader that stops reading is not an error. Commands end quietly
  // (as Unix tools do), instead of dying on an unhandled EPIPE with a stack trace. The daemon is
  // left alone: its output is the journal's, and systemd restarts it if that ever breaks.
  if (process.argv[2] !== 'run') {
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  }
  main(process.argv.slice(2)).then(
    (code) => {
      // The command has its verdict: end with it, whatever a source's reconnect loop or a
      // socket still holds open (a silent serial port kept `test bluetooth` alive for minutes).
      process.exitCode = code;
      process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
    },
    (e: unknown) => {
      // A coded error is a user-facing problem: one clear line, no stack trace.
      if (isMotobioError(e)) process.stderr.write(`motobio: ${e.message}\n`);
      else process.stderr.write(`motobio: internal error: ${errorMessage(e)}\n${e instanceof Error ? (e.stack ?? '') : ''}\n`);
      process.exitCode = isMotobioError(e, 'USAGE') ? EX_USAGE : 1;
    },
  );
}
