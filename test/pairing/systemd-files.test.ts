/**
 * The HC-05 files in systemd/ checked by the real tools: the udev rule by udev's own parser
 * (`udevadm verify` where systemd >= 254 has it; else `udevadm test` in a private mount
 * namespace whose /etc/udev/rules.d holds only our rule, reading udev's complaints), and
 * motobio-rfcomm.service by `systemd-analyze verify` in a throw-away root, with its ordering
 * before motobio.service. Needs udev, systemd and unshare (util-linux), and root, as in CI.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO, tempDir } from '../daemon/helpers.js';

const RULE = join(REPO, 'systemd/99-motobio-rfcomm.rules');
const UNIT = join(REPO, 'systemd/motobio-rfcomm.service');
const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()?.();
});

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${cmd} is needed for this test (apt-get install udev systemd util-linux): ${r.error.message}`);
  return r;
}

/** What udev says about a rules file: its warnings about that file, [] when it parses cleanly. */
function udevComplaints(ruleText: string): string[] {
  const t = tempDir('motobio-udev-');
  cleanups.push(t.cleanup);
  const file = join(t.path, '99-motobio-rfcomm.rules');
  writeFileSync(file, ruleText);
  const help = run('udevadm', ['verify', '--help']);
  let out: string;
  if (help.status === 0) {
    const r = run('udevadm', ['verify', file]);
    out = `${r.stdout}${r.stderr}`;
    if (r.status !== 0 && !out.includes(file)) out += `\n${file}: udevadm verify exit ${r.status}`;
  } else {
    // systemd 252 (Debian 12): udevadm test reads every rules directory and names each bad line.
    const sys = readdirSync('/sys/class/tty')[0];
    const r = run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind "$0" /etc/udev/rules.d && exec udevadm test --action=add /sys/class/tty/${sys}`, t.path]);
    out = `${r.stdout}${r.stderr}`;
    expect(out, 'udevadm test must have read our rule').toContain('Reading rules file: /etc/udev/rules.d/99-motobio-rfcomm.rules');
  }
  return out.split('\n').filter((l) => l.includes('99-motobio-rfcomm.rules:'));
}

describe('systemd/99-motobio-rfcomm.rules', () => {
  it('parses cleanly in udev', () => {
    expect(udevComplaints(readFileSync(RULE, 'utf8'))).toEqual([]);
  });

  it('the check catches a broken rule (it reads udev, not a rubber stamp)', () => {
    expect(udevComplaints('SUBSYSTEM=="tty", KERNEL=="rfcomm0", SYMLINK+="rfcomm-motobio", MODE{="0660"\n').length).toBeGreaterThan(0);
  });

  it('links rfcomm0 to /dev/rfcomm-motobio for the dialout group', () => {
    const rule = readFileSync(RULE, 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(rule).toHaveLength(1);
    expect(rule[0]).toMatch(/SUBSYSTEM=="tty"/);
    expect(rule[0]).toMatch(/KERNEL=="rfcomm0"/);
    expect(rule[0]).toMatch(/SYMLINK\+="rfcomm-motobio"/);
    expect(rule[0]).toMatch(/GROUP="dialout"/);
  });
});

describe('systemd/motobio-rfcomm.service', () => {
  function root(): string {
    const t = tempDir('motobio-rfcomm-unit-');
    cleanups.push(t.cleanup);
    const r = t.path;
    for (const d of ['usr/lib/systemd', 'etc/systemd/system', 'usr/bin', 'opt/motobio/bin', 'etc/motobio']) mkdirSync(join(r, d), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(r, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    // bluez's unit and binaries are not on this machine: stand-ins where the unit names them.
    for (const bin of ['usr/bin/rfcomm', 'opt/motobio/bin/motobio']) {
      writeFileSync(join(r, bin), '#!/bin/sh\n');
      chmodSync(join(r, bin), 0o755);
    }
    writeFileSync(join(r, 'usr/lib/systemd/system/bluetooth.service'), '[Unit]\nDescription=Bluetooth service\n[Service]\nType=dbus\nBusName=org.bluez\nExecStart=/usr/bin/rfcomm\n');
    writeFileSync(join(r, 'etc/motobio/hc05.env'), 'HC05_ADDRESS=98:D3:31:F5:9A:2C\n');
    copyFileSync(UNIT, join(r, 'etc/systemd/system/motobio-rfcomm.service'));
    copyFileSync(join(REPO, 'systemd/motobio.service'), join(r, 'etc/systemd/system/motobio.service'));
    return r;
  }

  it('passes systemd-analyze verify without a warning', () => {
    const r = run('systemd-analyze', ['verify', `--root=${root()}`, 'motobio-rfcomm.service']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('starts after bluetoothd and before the daemon, binding the address from hc05.env', () => {
    const text = readFileSync(UNIT, 'utf8');
    expect(text).toMatch(/^After=bluetooth\.service$/m);
    expect(text).toMatch(/^Requires=bluetooth\.service$/m);
    expect(text).toMatch(/^Before=motobio\.service$/m);
    expect(text).toMatch(/^EnvironmentFile=\/etc\/motobio\/hc05\.env$/m);
    expect(text).toMatch(/^ExecStart=\/usr\/bin\/rfcomm bind 0 \$\{HC05_ADDRESS\} 1$/m);
  });
});
