/**
 * Journal priorities read back from a real child process: the child logs at every pino level
 * through createLogger with its stdout on a file, and JOURNAL_STREAM names (or does not name)
 * that file's device and inode, as systemd names its journal socket. journald itself does not
 * run in this container (no /run/systemd/journal), so the `<N>` prefixes sd-daemon(3) defines
 * are the evidence; journald's stream reader strips them and files the line at N.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { transpiledRoot } from '../helpers/transpile.js';

const dir = mkdtempSync(join(tmpdir(), 'motobio-journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** Runs a child that logs one line per level; returns its stdout lines. */
function runChild(journalStream: (file: string) => string | undefined): string[] {
  const root = transpiledRoot();
  const file = join(dir, `out-${Math.random().toString(36).slice(2)}.log`);
  const fd = openSync(file, 'w');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['JOURNAL_STREAM'];
  const js = journalStream(file);
  if (js !== undefined) env['JOURNAL_STREAM'] = js;
  const script = `
    const { createLogger } = await import(${JSON.stringify(join(root, 'src/util/log.js'))});
    const log = createLogger({ level: 'trace' }).child({ mod: 'probe' });
    for (const l of ${JSON.stringify(LEVELS)}) log[l]({ password: 'hunter2' }, 'at ' + l);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
  closeSync(fd);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
}

const devIno = (file: string) => {
  const fd = openSync(file, 'r');
  const st = fstatSync(fd, { bigint: true });
  closeSync(fd);
  return `${st.dev}:${st.ino}`;
};

describe('pino levels as journal priorities', () => {
  it('prefixes each line with <N> when stdout is the stream JOURNAL_STREAM names', () => {
    const lines = runChild(devIno);
    expect(lines).toHaveLength(LEVELS.length);
    const prefixes = lines.map((l) => /^<(\d)>\{/.exec(l)?.[1]);
    // trace, debug 7 (debug); info 6; warn 4 (warning); error 3 (err); fatal 2 (crit)
    expect(prefixes).toEqual(['7', '7', '6', '4', '3', '2']);
    // After the prefix the line is still pino's JSON, secrets still redacted.
    const parsed = lines.map((l) => JSON.parse(l.replace(/^<\d>/, '')) as { msg: string; password: string; mod: string });
    expect(parsed.map((p) => p.msg)).toEqual(LEVELS.map((l) => `at ${l}`));
    expect(parsed.every((p) => p.password === '[redacted]' && p.mod === 'probe')).toBe(true);
  });

  it('writes plain JSON lines without JOURNAL_STREAM', () => {
    const lines = runChild(() => undefined);
    expect(lines).toHaveLength(LEVELS.length);
    for (const l of lines) expect(l.startsWith('{')).toBe(true);
  });

  it('writes plain JSON lines when JOURNAL_STREAM was inherited but stdout is elsewhere (a pipe from a unit shell)', () => {
    const other = join(dir, 'other');
    closeSync(openSync(other, 'w'));
    const lines = runChild(() => devIno(other));
    expect(lines).toHaveLength(LEVELS.length);
    for (const l of lines) expect(l.startsWith('{')).toBe(true);
  });
});
