/**
 * The release tarball as a unit receives it: `npm run package -- --arch x64` (the host's arch,
 * with the checkout's addons reused so the test does not compile SQLite again), then what is in
 * it, what is not, its modes, the smoke test of the unpacked package against a real mosquitto,
 * and install.sh's upgrade and rollback laid out under a temp root. The arm64 build and its run
 * under qemu are a CI step of their own (npm run test:arm64), far too slow for vitest.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../helpers/brokers.js';

const REPO = join(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const NAME = `motobio-edge-${VERSION}-linux-x64`;
const DEV_ONLY = ['vitest', 'typescript', 'eslint', 'aedes', 'fast-check', '@types/node', '@types/better-sqlite3', 'typescript-eslint', '@eslint'];

let work: string;
let pkg: string;
let tarball: string;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

function sh(cmd: string, args: string[], timeoutMs = 120_000): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'motobio-pkg-test-'));
  const build = sh('bash', [join(REPO, '.ci/package/build.sh'), '--arch', 'x64', '--from', 'worktree', '--out', join(work, 'out'), '--reuse-native', join(REPO, 'node_modules')], 540_000);
  if (build.status !== 0) throw new Error(`npm run package -- --arch x64 failed (exit ${build.status}):\n${build.out}`);
  tarball = join(work, 'out', `${NAME}.tar.gz`);
  execFileSync('tar', ['-xzf', tarball, '-C', work]);
  pkg = join(work, NAME);
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
}, 180_000);

describe('the x64 release tarball', () => {
  it('is named by version and arch and holds one top directory owned by root', () => {
    const listing = execFileSync('tar', ['-tvzf', tarball], { encoding: 'utf8', maxBuffer: 64 << 20 }).trim().split('\n');
    const tops = new Set(listing.map((l) => l.split(/\s+/)[5].split('/')[0]));
    expect([...tops]).toEqual([NAME]);
    const notRoot = listing.filter((l) => !/^\S+ 0\/0 /.test(l));
    expect(notRoot, 'every entry is owned by uid/gid 0').toEqual([]);
  });

  it('carries the daemon, its smoke test, models, units, calibration, the bundled record and the installer', () => {
    for (const f of [
      'dist/src/cli/main.js',
      'dist/src/daemon/main.js',
      'dist/src/package/smoke.js',
      'models/default-policy.manifest.json',
      'models/default-policy.int8.onnx',
      'models/default-policy.validation.ndjson',
      'systemd/motobio.service',
      'systemd/motobio.sysusers.conf',
      'systemd/motobio.tmpfiles.conf',
      'calibration/profile.schema.json',
      'src/sources/recordings/drive05-ecg-5min.hea',
      'src/sources/recordings/drive05-ecg-5min.dat',
      'docs/daemon.md',
      'bin/motobio',
      'install.sh',
      'BUILD-INFO',
      'package.json',
      'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
      'node_modules/@serialport/bindings-cpp/build/Release/bindings.node',
      'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
    ]) {
      expect(existsSync(join(pkg, f)), `${f} in the package`).toBe(true);
    }
    const info = readFileSync(join(pkg, 'BUILD-INFO'), 'utf8');
    expect(info).toContain(`version=${VERSION}`);
    expect(info).toContain('arch=x64');
    expect(info).toContain(`node_abi=${process.versions.modules}`);
  });

  it('has no dev dependencies, no TypeScript sources, no other platforms and no addon for another arch', () => {
    const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([p, v]) => p !== '' && v.dev === true).map(([p]) => p);
    expect(devOnly.length, 'package-lock.json marks dev-only packages').toBeGreaterThan(50);
    expect(devOnly.filter((p) => existsSync(join(pkg, p))), 'dev-only packages shipped').toEqual([]);
    for (const dev of DEV_ONLY) expect(existsSync(join(pkg, 'node_modules', dev)), `${dev} (a dev dependency) shipped`).toBe(false);
    expect(existsSync(join(pkg, 'src/cli'))).toBe(false);
    expect(walk(join(pkg, 'dist')).filter((f) => f.endsWith('.ts'))).toEqual([]);
    const ort = join(pkg, 'node_modules/onnxruntime-node/bin/napi-v6');
    expect(readdirSync(ort)).toEqual(['linux']);
    expect(readdirSync(join(ort, 'linux'))).toEqual(['x64']);
    const addons = walk(join(pkg, 'node_modules')).filter((f) => f.endsWith('.node'));
    expect(addons.length).toBeGreaterThanOrEqual(4);
    for (const a of addons) expect(execFileSync('file', ['-b', a], { encoding: 'utf8' }), relative(pkg, a)).toMatch(/^ELF 64-bit LSB .*x86-64/);
  });

  it('is readable by the service user, writable by nobody but its owner, and its scripts are executable and parse', () => {
    const loose = walk(pkg).filter((f) => (statSync(f).mode & 0o022) !== 0 || (statSync(f).mode & 0o004) === 0);
    expect(loose.map((f) => relative(pkg, f)), 'group/world-writable or not world-readable').toEqual([]);
    for (const s of ['install.sh', 'bin/motobio']) expect(statSync(join(pkg, s)).mode & 0o777, s).toBe(0o755);
    expect(sh('bash', ['-n', join(pkg, 'install.sh')]).status).toBe(0);
    expect(sh('sh', ['-n', join(pkg, 'bin/motobio')]).status).toBe(0);
  });

  it('holds no secrets: no keys, no .npmrc or .env, no private key text', () => {
    const files = walk(pkg);
    const names = files.map((f) => relative(pkg, f)).filter((f) => /(^|\/)(\.npmrc|\.env[^/]*|id_[a-z0-9]+|[^/]*\.(pem|key|p12|pfx))$/.test(f) && !f.includes('node_modules/'));
    expect(names).toEqual([]);
    const ours = files.filter((f) => !f.includes('/node_modules/'));
    const withKeys = ours.filter((f) => /-----BEGIN [A-Z ]*PRIVATE KEY-----|_authToken/.test(readFileSync(f, 'latin1')));
    expect(withKeys.map((f) => relative(pkg, f))).toEqual([]);
  });

  describe('run from the unpacked tarball', () => {
    let broker: Mosquitto;
    beforeAll(async () => {
      broker = await startMosquitto();
    });
    afterAll(async () => {
      await broker?.close();
    });

    it('passes its own smoke test (int8 model, SQLite store, the bundled record, a PUBACK from mosquitto)', () => {
      const r = sh(process.execPath, [join(pkg, 'dist/src/package/smoke.js'), '--broker', broker.url, '--json', join(work, 'smoke.json')]);
      expect(r.status, r.out).toBe(0);
      expect(r.out).toContain('smoke: PASS');
      const res = JSON.parse(readFileSync(join(work, 'smoke.json'), 'utf8')) as { model: { precision: string; rows: number }; signal: { beats: number }; mqtt: { puback: boolean } };
      expect(res.model.precision).toBe('int8');
      expect(res.signal.beats).toBeGreaterThan(250); // 5 min of a driver's ECG
      expect(res.mqtt.puback).toBe(true);
    });

    it('runs its CLI through bin/motobio', () => {
      const r = sh(join(pkg, 'bin/motobio'), ['config', 'check', '--help']);
      expect(r.status, r.out).toBe(0);
    });
  });
});

describe('install.sh', () => {
  let root: string;
  const rel = (p: string): string => join(root, 'opt/motobio', p);
  const link = (p: string): string => readlinkSync(rel(p));

  /**
   * The same package under another version, as the next release would be; without
   * node_modules, which install.sh copies like any other file, to keep the test light.
   */
  function nextRelease(version: string): string {
    const dir = join(work, `next-${version}`, NAME);
    cpSync(pkg, dir, { recursive: true, verbatimSymlinks: true, filter: (src) => !src.startsWith(join(pkg, 'node_modules')) });
    writeFileSync(join(dir, 'BUILD-INFO'), readFileSync(join(pkg, 'BUILD-INFO'), 'utf8').replace(/^version=.*$/m, `version=${version}`));
    return dir;
  }
  function install(dir: string, ...args: string[]): string {
    const r = sh('bash', [join(dir, 'install.sh'), '--root', root, ...args]);
    expect(r.status, r.out).toBe(0);
    return r.out;
  }

  beforeAll(() => {
    root = mkdtempSync(join(work, 'root-'));
  });

  it('lays out releases/<version>, current, bin and the systemd units', { timeout: 240_000 }, () => {
    install(pkg);
    expect(link('current')).toBe(`releases/${VERSION}`);
    expect(existsSync(rel('previous'))).toBe(false);
    expect(link('bin')).toBe('current/bin');
    expect(existsSync(rel('bin/motobio'))).toBe(true);
    expect(readFileSync(join(root, 'etc/systemd/system/motobio.service'), 'utf8')).toContain('ExecStart=/opt/motobio/bin/motobio run');
    expect(existsSync(join(root, 'usr/lib/sysusers.d/motobio.conf'))).toBe(true);
    expect(existsSync(join(root, 'usr/lib/tmpfiles.d/motobio.conf'))).toBe(true);
    expect(lstatSync(rel('current')).isSymbolicLink()).toBe(true);
  });

  it('upgrades to a new release and rolls back to the old one, and forward again', { timeout: 240_000 }, () => {
    install(nextRelease('9.9.9'));
    expect(link('current')).toBe('releases/9.9.9');
    expect(link('previous')).toBe(`releases/${VERSION}`);
    expect(install(pkg, '--rollback')).toContain(`current is now ${VERSION}`);
    expect(link('current')).toBe(`releases/${VERSION}`);
    expect(link('previous')).toBe('releases/9.9.9');
    install(pkg, '--rollback');
    expect(link('current')).toBe('releases/9.9.9');
  });

  it('keeps current, previous and one spare release; older ones are removed', () => {
    install(nextRelease('9.9.10'));
    install(nextRelease('9.9.11'));
    install(nextRelease('9.9.12'));
    const kept = readdirSync(rel('releases')).filter((r) => !r.startsWith('.')).sort();
    expect(kept).toHaveLength(3);
    expect(kept).toContain('9.9.12');
    expect(kept).toContain('9.9.11');
  }, 240_000);

  it('refuses a rollback with nothing to go back to, saying what to do', () => {
    const empty = mkdtempSync(join(work, 'root-empty-'));
    const r = sh('bash', [join(pkg, 'install.sh'), '--root', empty, '--rollback']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/no previous release to roll back to .*install the wanted tarball/);
  });
});
