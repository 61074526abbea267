/**
 * `motobio pair hc05` as a technician runs it: the built CLI in a child process, with the
 * BlueZ tools replaced on PATH by stand-ins that print what the real ones print
 * (test/pairing/bin/README.md). Each fault stops the run at its step, named, with its fix and
 * exit 1; a malformed address is a usage error (2); a clean run pairs with the PIN, binds,
 * gets the udev link and enables the unit, and a second run finds every step already done.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO, tempDir } from '../daemon/helpers.js';
import { hc05Commands, STEPS } from '../../src/pairing/hc05.js';

const CLI = join(REPO, 'dist/src/cli/main.js');
const FAKES = join(REPO, 'test/pairing/bin');
const MODULE = '98:D3:31:F5:9A:2C';
const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()?.();
});

interface Bench {
  env: NodeJS.ProcessEnv;
  state: string;
  dev: string;
  rule: string;
  envFile: string;
  calls(): string[];
}

function bench(faults: string[] = [], o: { installRule?: boolean; pin?: string; path?: string } = {}): Bench {
  const t = tempDir('motobio-pair-');
  cleanups.push(t.cleanup);
  const state = join(t.path, 'state');
  const dev = join(t.path, 'dev');
  mkdirSync(state);
  mkdirSync(dev);
  const rule = join(t.path, 'rules.d', '99-motobio-rfcomm.rules');
  mkdirSync(join(t.path, 'rules.d'));
  if (o.installRule !== false) copyFileSync(join(REPO, 'systemd/99-motobio-rfcomm.rules'), rule);
  const envFile = join(t.path, 'hc05.env');
  const env: NodeJS.ProcessEnv = {
    PATH: o.path ?? `${FAKES}:/usr/bin:/bin`,
    HOME: t.path,
    FAKE_BT: faults.join(','),
    FAKE_BT_STATE: state,
    FAKE_BT_MODULE: MODULE,
    FAKE_BT_MODULE_PIN: o.pin ?? '1234',
    MOTOBIO_PAIR_UDEV_RULE: rule,
    MOTOBIO_PAIR_DEV_DIR: dev,
    MOTOBIO_PAIR_LINK: join(dev, 'rfcomm-motobio'),
    MOTOBIO_PAIR_ENV_FILE: envFile,
    MOTOBIO_PAIR_AGENT_GRACE_MS: '300',
    LANG: 'C',
  };
  return {
    env,
    state,
    dev,
    rule,
    envFile,
    calls: () => {
      try {
        return readFileSync(join(state, 'calls.log'), 'utf8').trim().split('\n');
      } catch {
        return [];
      }
    },
  };
}

function pair(b: Bench, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, 'pair', 'hc05', ...args], { encoding: 'utf8', env: { ...b.env, ...extraEnv }, timeout: 60_000 });
}

describe('hc05Commands', () => {
  it('builds the BlueZ command lines each step runs', () => {
    const c = hc05Commands({ address: MODULE, rfcomm: 0, channel: 1, scanSeconds: 20, pinFile: '/tmp/x/pins' });
    expect(c.bluetoothd.argv).toEqual(['systemctl', 'is-active', 'bluetooth']);
    expect(c.show.argv).toEqual(['bluetoothctl', 'show']);
    expect(c.scan.argv).toEqual(['bluetoothctl', '--timeout', '20', 'scan', 'on']);
    expect(c.scan.timeoutMs).toBeGreaterThan(20_000);
    expect(c.agent).toEqual(['bt-agent', '--capability=NoInputNoOutput', '--pin=/tmp/x/pins']);
    expect(c.pair.argv).toEqual(['bluetoothctl', 'pair', MODULE]);
    expect(c.trust.argv).toEqual(['bluetoothctl', 'trust', MODULE]);
    expect(c.bind.argv).toEqual(['rfcomm', 'bind', '0', MODULE, '1']);
    expect(c.enable.argv).toEqual(['systemctl', 'enable', 'motobio-rfcomm.service']);
    expect(STEPS[0]).toBe('address');
  });
});

describe('motobio pair hc05', () => {
  it('pairs with the PIN, trusts, binds, links /dev/rfcomm-motobio and enables the unit; run again, every step is already done', () => {
    const b = bench([], { pin: '4321' });
    const r = pair(b, [MODULE.toLowerCase(), '--pin', '4321', '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; address: string; steps: { step: string; status: string; commands: string[][] }[] };
    expect(out.ok).toBe(true);
    expect(out.address).toBe(MODULE);
    expect(out.steps.map((s) => [s.step, s.status])).toEqual([
      ['address', 'ok'],
      ['tools', 'ok'],
      ['bluetoothd', 'ok'],
      ['adapter', 'ok'],
      ['power', 'skipped'],
      ['discover', 'ok'],
      ['agent', 'ok'],
      ['pair', 'ok'],
      ['trust', 'ok'],
      ['bind', 'ok'],
      ['udev', 'ok'],
      ['service', 'ok'],
    ]);
    // The agent was started before pair and stopped after; the pin file is gone with it.
    const calls = b.calls();
    const agentAt = calls.findIndex((c) => c.startsWith('bt-agent --capability=NoInputNoOutput --pin='));
    expect(agentAt).toBeGreaterThan(-1);
    expect(agentAt).toBeLessThan(calls.indexOf(`bluetoothctl pair ${MODULE}`));
    expect(calls).toContain(`rfcomm bind 0 ${MODULE} 1`);
    expect(readlinkSync(join(b.dev, 'rfcomm-motobio'))).toBe('rfcomm0');
    expect(readFileSync(b.envFile, 'utf8')).toBe(`HC05_ADDRESS=${MODULE}\n`);

    const again = pair(b, [MODULE, '--pin', '4321', '--json']);
    expect(again.status).toBe(0);
    const second = JSON.parse(again.stdout) as { steps: { step: string; status: string }[] };
    expect(second.steps.filter((s) => s.status === 'skipped').map((s) => s.step)).toEqual(['power', 'discover', 'agent', 'pair', 'bind', 'service']);
  }, 60_000);

  it('powers the adapter on when it is off', () => {
    const b = bench(['powered-off']);
    const r = pair(b, [MODULE, '--json']);
    expect(r.status).toBe(0);
    expect(b.calls()).toContain('bluetoothctl power on');
  }, 60_000);

  const cases: { fault: string[]; opts?: Parameters<typeof bench>[1]; step: string; problem: RegExp; fix: RegExp }[] = [
    { fault: ['bluetoothd-inactive'], step: 'bluetoothd running', problem: /the bluetooth service is inactive/, fix: /systemctl enable --now bluetooth/ },
    { fault: ['no-adapter'], step: 'adapter present', problem: /BlueZ sees no Bluetooth adapter/, fix: /rfkill unblock bluetooth.*systemctl stop motobio/ },
    { fault: ['rfkill'], step: 'adapter powered', problem: /does not power on \(org\.bluez\.Error\.Blocked\)/, fix: /rfkill unblock bluetooth/ },
    { fault: ['absent'], step: 'module found', problem: new RegExp(`no module with address ${MODULE} answered a 2 s scan`), fix: /LED blinks fast/ },
    { fault: [], opts: { pin: '0000' }, step: 'paired with the PIN', problem: /refused the PIN \(org\.bluez\.Error\.AuthenticationFailed\)/, fix: /--pin.*0000/ },
    { fault: ['not-root'], step: 'rfcomm bound', problem: /rfcomm bind failed \(Can't create device: Operation not permitted\)/, fix: /run as root/ },
    { fault: ['bound-other'], step: 'rfcomm bound', problem: /\/dev\/rfcomm0 is already bound to 00:11:22:33:44:55/, fix: /rfcomm release 0/ },
    { fault: [], opts: { installRule: false }, step: 'udev rule and /dev/rfcomm-motobio', problem: /udev rule .*99-motobio-rfcomm\.rules is not installed/, fix: /install -m 0644 .*systemd\/99-motobio-rfcomm\.rules/ },
    { fault: ['no-unit'], step: 'motobio-rfcomm service enabled', problem: /motobio-rfcomm\.service cannot be enabled \(Failed to enable unit: Unit file motobio-rfcomm\.service does not exist\.\)/, fix: /systemd\/motobio-rfcomm\.service/ },
    { fault: [], opts: { path: '/nonexistent-motobio-bin' }, step: 'BlueZ tools', problem: /not installed: bluetoothctl, rfcomm, bt-agent, systemctl, udevadm/, fix: /apt-get install bluez bluez-tools/ },
  ];
  for (const c of cases) {
    it(`stops at "${c.step}" with its fix (${c.fault.join(',') || JSON.stringify(c.opts)})`, () => {
      const b = bench(c.fault, c.opts);
      const r = pair(b, [MODULE, '--scan-seconds', '2']);
      expect(r.status, r.stdout + r.stderr).toBe(1);
      const failed = r.stdout.split('\n').findIndex((l) => l.includes('[FAILED]'));
      expect(failed, r.stdout).toBeGreaterThan(-1);
      const lines = r.stdout.split('\n');
      expect(lines[failed]).toContain(`[FAILED] ${c.step}: `);
      expect(lines[failed]).toMatch(c.problem);
      expect(lines[failed + 1]).toMatch(/^ {4}fix: /);
      expect(lines[failed + 1]).toMatch(c.fix);
      expect(r.stdout).toContain(`stopped at step "${c.step}".`);
    }, 60_000);
  }

  it('ends a bluetoothctl that waits for bluetoothd forever, naming the command', () => {
    const b = bench(['hang']);
    const t0 = Date.now();
    const r = pair(b, [MODULE, '--json'], {});
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout) as { failed: { step: string; problem: string; params: { command: string } } };
    expect(out.failed).toMatchObject({ step: 'adapter', problem: 'TIMEOUT', params: { command: 'bluetoothctl show' } });
    expect(Date.now() - t0).toBeLessThan(40_000);
  }, 60_000);

  it('a malformed address is a usage error (exit 64) that says what an address looks like, before any tool runs', () => {
    const b = bench();
    const r = pair(b, ['98:D3:31:F5:9A']);
    expect(r.status).toBe(64);
    expect(r.stdout).toMatch(/\[FAILED\] address: "98:D3:31:F5:9A" is not a Bluetooth address/);
    expect(r.stdout).toMatch(/fix: .*six hex pairs, e\.g\. 98:D3:31:F5:9A:2C/);
    expect(b.calls()).toEqual([]);
    const pin = pair(b, [MODULE, '--pin', '12']);
    expect(pin.status).toBe(64);
    expect(pin.stdout).toMatch(/"12" is not a PIN/);
  });
});
