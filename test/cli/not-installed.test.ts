/**
 * The unit's CLI without the workstation and fleet-server commands, as the release tarball lays
 * it out (.ci/package/build.sh leaves out src/offline, src/fleet and their command modules): the
 * built dist/ copied without them, run as a technician would.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
let unit: string;

beforeAll(() => {
  unit = mkdtempSync(join(tmpdir(), 'motobio-unit-cli-'));
  cpSync(join(REPO, 'dist/src'), join(unit, 'dist/src'), { recursive: true });
  cpSync(join(REPO, 'package.json'), join(unit, 'package.json'));
  symlinkSync(join(REPO, 'node_modules'), join(unit, 'node_modules'));
  const fleetCommands = readdirSync(join(unit, 'dist/src/cli/commands')).filter((f) => f.startsWith('fleet-')).map((f) => `cli/commands/${f}`);
  const gone = ['offline', 'fleet', 'cli/fleet-options.js', 'cli/commands/eval.js', 'cli/commands/bench.js', 'cli/commands/detect.js', 'cli/commands/model.js', ...fleetCommands];
  for (const g of gone) rmSync(join(unit, 'dist/src', g), { recursive: true, force: true });
});
afterAll(() => rmSync(unit, { recursive: true, force: true }));

const motobio = (root: string, ...args: string[]) => spawnSync(process.execPath, [join(root, 'dist/src/cli/main.js'), ...args], { encoding: 'utf8', cwd: tmpdir() });

describe('an offline command on the unit', () => {
  it.each([
    [['eval', 'test/fixtures/mitdb-208-2min', '--json'], 'motobio eval', 'workstation'],
    [['model', 'validate', '--model', 'models'], 'motobio model validate', 'workstation'],
    [['bench', 'latency'], 'motobio bench latency', 'workstation'],
    [['detect', '--help'], 'motobio detect', 'workstation'],
    [['fleet', 'ingest', '--broker', 'mqtt://127.0.0.1:1'], 'motobio fleet ingest', 'fleet-server'],
  ])('%j says where it runs, in one line, exit 64', (args, name, where) => {
    const r = motobio(unit, ...args);
    expect(r.status).toBe(64);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`motobio: \`${name}\` is a ${where} tool; it is not in the unit's package: run it from a checkout of motobio-edge (npm ci && npm run build, then node dist/src/cli/main.js ${name.slice('motobio '.length)} ...)\n`);
  });

  it('leaves a mistyped command unknown, on the unit and in a checkout', () => {
    expect(motobio(unit, 'evall').stderr).toMatch(/unknown command "evall"/);
    const checkout = motobio(REPO, 'fleet', 'bogus');
    expect(checkout.status).toBe(64);
    expect(checkout.stderr).toMatch(/unknown command "fleet bogus"/);
  });

  it("lists only the unit's own commands in --help", () => {
    const r = motobio(unit, '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ {2}run /m);
    expect(r.stdout).not.toMatch(/^ {2}(eval|model|bench|detect|fleet) /m);
  });
});
