/**
 * The unit files in systemd/ checked by systemd's own tools, in a throw-away root: the
 * unit with `systemd-analyze verify` (which must print nothing: it warns about unknown keys
 * and bad values on stderr but still exits 0), the sysusers file by creating the user, and
 * the tmpfiles file by creating the directories. These tools must be installed (apt
 * package `systemd`); the test fails, it does not skip, when they are missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO, tempDir } from './helpers.js';

const UNIT = join(REPO, 'systemd', 'motobio.service');
const SYSUSERS = join(REPO, 'systemd', 'motobio.sysusers.conf');
const TMPFILES = join(REPO, 'systemd', 'motobio.tmpfiles.conf');
const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()?.();
});

function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${cmd} is needed for this test (apt-get install systemd): ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A root with systemd's own units, the packaged launcher and our unit installed. */
function makeRoot(unitText?: string): string {
  const t = tempDir('motobio-systemd-');
  cleanups.push(t.cleanup);
  const root = t.path;
  mkdirSync(join(root, 'opt/motobio/bin'), { recursive: true });
  writeFileSync(join(root, 'opt/motobio/bin/motobio'), '#!/bin/sh\nexec node /opt/motobio/dist/src/cli/main.js "$@"\n');
  chmodSync(join(root, 'opt/motobio/bin/motobio'), 0o755);
  mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
  cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  if (unitText === undefined) copyFileSync(UNIT, join(root, 'etc/systemd/system/motobio.service'));
  else writeFileSync(join(root, 'etc/systemd/system/motobio.service'), unitText);
  for (const f of ['passwd', 'group']) copyFileSync(`/etc/${f}`, join(root, 'etc', f));
  return root;
}

function unitSettings(): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of readFileSync(UNIT, 'utf8').split('\n')) {
    const hit = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (hit) m.set(hit[1], [...(m.get(hit[1]) ?? []), hit[2]]);
  }
  return m;
}

describe('systemd/motobio.service', () => {
  it('passes systemd-analyze verify without a single warning', () => {
    const root = makeRoot();
    const r = run('systemd-analyze', ['verify', `--root=${root}`, 'motobio.service']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the verify check has teeth: a misspelt setting is reported', () => {
    const bad = readFileSync(UNIT, 'utf8').replace('Type=notify', 'Type=notifyy');
    const root = makeRoot(bad);
    const r = run('systemd-analyze', ['verify', `--root=${root}`, 'motobio.service']);
    expect(r.stderr).toContain('notifyy');
  });

  it('is a hardened Type=notify service with a watchdog that systemd restarts on failure', () => {
    const s = unitSettings();
    const one = (k: string) => s.get(k)?.[0];
    expect(one('Type')).toBe('notify');
    expect(Number(one('WatchdogSec'))).toBeGreaterThan(0);
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')).toBe('78');
    expect(one('ExecStart')).toBe('/opt/motobio/bin/motobio run');
    expect(one('User')).toBe('motobio');
    expect(one('StateDirectory')).toBe('motobio');
    expect(one('ConfigurationDirectory')).toBe('motobio');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('UMask')).toBe('0077');
    // dialout: serial front ends; audio: the rider's cues (src/cues).
    expect(one('SupplementaryGroups')?.split(' ').sort()).toEqual(['audio', 'dialout']);
    expect(one('CapabilityBoundingSet')?.split(' ').sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_RAW']);
    expect(one('AmbientCapabilities')?.split(' ').sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_RAW']);
    expect(s.get('DeviceAllow')).toEqual(expect.arrayContaining(['char-ttyUSB rw', 'char-ttyACM rw', 'char-alsa rw']));
    // The daemon stops within 5 s; systemd must give it at least that.
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThan(5);
  });
});

describe('systemd/motobio.sysusers.conf and motobio.tmpfiles.conf', () => {
  it('create the motobio user (in dialout) and private state directories', () => {
    const root = makeRoot();
    const users = run('systemd-sysusers', [`--root=${root}`, SYSUSERS]);
    expect(users.stderr.replace(/^Creating (group|user) .*\n/gm, '')).toBe('');
    expect(users.status).toBe(0);
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const user = passwd.split('\n').find((l) => l.startsWith('motobio:'));
    expect(user).toMatch(/^motobio:x:\d+:\d+:[^:]*:\/var\/lib\/motobio:\/usr\/sbin\/nologin$/);
    const uid = Number(user!.split(':')[2]);
    expect(readFileSync(join(root, 'etc/group'), 'utf8')).toMatch(/^dialout:x:\d+:(.*,)?motobio(,.*)?$/m);

    const tmp = run('systemd-tmpfiles', [`--root=${root}`, '--create', TMPFILES]);
    expect(tmp.stderr).toBe('');
    expect(tmp.status).toBe(0);
    const state = statSync(join(root, 'var/lib/motobio'));
    expect(state.mode & 0o777).toBe(0o700);
    expect(state.uid).toBe(uid);
    expect(statSync(join(root, 'etc/motobio')).mode & 0o777).toBe(0o750);
  });

  it('systemd-analyze is installed (a missing tool fails, it does not skip)', () => {
    expect(execFileSync('systemd-analyze', ['--version'], { encoding: 'utf8' })).toMatch(/^systemd \d+/);
  });
});
