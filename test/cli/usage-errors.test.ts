/**
 * Usage errors from the built CLI (dist/, as `npm test` builds it): each names the option and
 * the fix, exits 64 (EX_USAGE) and never shows parseArgs' own text or a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = 'dist/src/cli/main.js';
const dir = mkdtempSync(join(tmpdir(), 'motobio-usage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function motobio(...args: string[]) {
  // No configuration on this machine is consulted: a usage error comes before any of it.
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, MOTOBIO_CONFIG: '' }, timeout: 30_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

function expectUsage(r: { status: number | null; stderr: string }, ...says: (string | RegExp)[]) {
  expect(r.status).toBe(64);
  expect(r.stderr).toMatch(/^motobio: /);
  for (const s of says) expect(r.stderr).toMatch(s);
  expect(r.stderr).not.toContain('    at ');
  expect(r.stderr).not.toContain('internal error');
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
}

describe('usage errors name the option and the fix, exit 64', () => {
  it('status --url foo is a usage error, not "not running"', () => {
    const r = motobio('status', '--url', 'foo');
    expectUsage(r, '--url "foo" is not a URL', 'e.g. --url http://127.0.0.1:7411');
    expect(r.stderr).not.toContain('not running');
    expectUsage(motobio('status', '--url', 'mqtt://127.0.0.1:1883'), 'must start with http:// or https://');
  });

  it('scan --seconds -1 says the range instead of the parser text', () => {
    const r = motobio('scan', '--seconds', '-1');
    expectUsage(r, 'scan: --seconds must be more than 0, got -1', 'e.g. --seconds 5');
    expect(r.stderr).not.toMatch(/ambiguous|XYZ/);
    expectUsage(motobio('scan', '--seconds', 'ten'), '--seconds must be a number, got "ten"');
    expectUsage(motobio('scan', '--seconds'), '--seconds needs a value');
  });

  it('config check DIR says it is a directory, not a permissions problem, and names the files in it', () => {
    writeFileSync(join(dir, 'config.yaml'), 'device:\n  id: unit-1\n');
    const r = motobio('config', 'check', dir);
    expectUsage(r, `FILE ${dir} is a directory (it holds config.yaml)`, `motobio config check ${join(dir, 'config.yaml')}`);
    expect(r.stderr).not.toContain('permissions');
    // The file itself is fine, so the advice leads somewhere.
    expect(motobio('config', 'check', join(dir, 'config.yaml')).status).toBe(0);
  });

  it('any command: an unknown option names it, suggests the near one and lists the rest; a flag given a value; a stray argument', () => {
    expectUsage(motobio('status', '--jsno'), 'status: unknown option --jsno (did you mean --json?)', '--config', 'run "motobio status --help"');
    expectUsage(motobio('db', 'stats', '--bogus'), 'unknown option --bogus; the options are');
    expectUsage(motobio('status', '--json=yes'), '--json takes no value; write --json alone');
    expectUsage(motobio('status', 'now'), 'unexpected argument "now"');
    expectUsage(motobio('test', 'bluetooth', '--device', '/dev/null', '--seconds', '-5'), 'test bluetooth: --seconds must be 0 or more, got -5');
    expectUsage(motobio('no-such-command'), 'unknown command');
  });
});
