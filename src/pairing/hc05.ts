/**
 * Pairing an HC-05 (Bluetooth classic, serial port profile) so the daemon reads it as a tty.
 * noble speaks BLE only and never sees it; the path is BlueZ's (docs/hc05.md):
 *
 *   address ─▶ tools ─▶ bluetoothd ─▶ adapter ─▶ powered ─▶ module found (scan) ─▶ PIN agent
 *     ─▶ pair ─▶ trust ─▶ rfcomm bind N ─▶ udev link /dev/rfcomm-motobio
 *     ─▶ motobio-rfcomm.service enabled (address in /etc/motobio/hc05.env)
 *
 * Each step checks what it needs and stops the run with a language-neutral problem code and
 * its figures; the CLI turns that into the step's name and its fix (src/i18n). The command
 * lines are data (hc05Commands) and run through an injected CommandRunner, so tests check
 * the lines built and drive the steps with scripted stand-ins for the real tools on PATH.
 *
 * bluetoothctl has no PIN argument: bt-agent (bluez-tools) answers BlueZ's RequestPinCode from
 * a 0600 pin file ("ADDRESS PIN") while "bluetoothctl pair" runs. A step already done (paired,
 * bound to this module, unit enabled) is reported as skipped, so the command can be run again.
 */
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackgroundProcess, CommandLine, CommandResult, CommandRunner } from './runner.js';

export const STEPS = ['address', 'tools', 'bluetoothd', 'adapter', 'power', 'discover', 'agent', 'pair', 'trust', 'bind', 'udev', 'service'] as const;
export type StepId = (typeof STEPS)[number];

export type ProblemCode =
  | 'BAD_ADDRESS'
  | 'BAD_PIN'
  | 'TOOL_MISSING'
  | 'BLUETOOTHD_INACTIVE'
  | 'NO_ADAPTER'
  | 'POWER_FAILED'
  | 'AGENT_FAILED'
  | 'DEVICE_NOT_FOUND'
  | 'AUTH_FAILED'
  | 'PAIR_FAILED'
  | 'TRUST_FAILED'
  | 'RFCOMM_TAKEN'
  | 'BIND_FAILED'
  | 'UDEV_RULE_MISSING'
  | 'SYMLINK_MISSING'
  | 'UNIT_MISSING'
  | 'TIMEOUT';

export type Params = Readonly<Record<string, string | number>>;

export interface StepReport {
  readonly step: StepId;
  readonly status: 'ok' | 'skipped' | 'failed';
  readonly problem?: ProblemCode;
  readonly params?: Params;
  /** The command lines this step ran, in order. */
  readonly commands: string[][];
}

export interface PairOutcome {
  readonly ok: boolean;
  readonly address: string;
  readonly device: string;
  readonly steps: StepReport[];
  /** The failed step, when !ok. */
  readonly failed?: StepReport;
}

export interface Hc05Options {
  readonly address: string;
  readonly pin?: string;
  /** rfcomm index (/dev/rfcommN); the shipped udev rule and unit use 0. */
  readonly rfcomm?: number;
  /** The HC-05's SPP server channel: 1 on every firmware seen. */
  readonly channel?: number;
  readonly scanSeconds?: number;
  /** Where the installed rule, the stable link and the tty live (tests point them elsewhere). */
  readonly udevRuleFile?: string;
  readonly link?: string;
  readonly devDir?: string;
  /** The unit's address file (HC05_ADDRESS=...), written by the service step. */
  readonly envFile?: string;
  /** Where the package ships systemd/ (for the fix texts). */
  readonly shippedDir?: string;
  /** How long bt-agent must stay up to count as registered. */
  readonly agentGraceMs?: number;
  readonly onStep?: (r: StepReport) => void;
}

export const DEFAULT_PIN = '1234';
export const DEFAULT_SCAN_SECONDS = 20;
export const DEFAULT_LINK = '/dev/rfcomm-motobio';
export const UDEV_RULE_NAME = '99-motobio-rfcomm.rules';
export const RFCOMM_UNIT = 'motobio-rfcomm.service';
export const DEFAULT_ENV_FILE = '/etc/motobio/hc05.env';
const TOOLS = ['bluetoothctl', 'rfcomm', 'bt-agent', 'systemctl', 'udevadm'] as const;
const ADDRESS = /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/;
const PIN = /^[0-9]{4,16}$/;
const SHORT_MS = 10_000;

export function normaliseAddress(a: string): string | undefined {
  const up = a.trim().toUpperCase().replace(/-/g, ':');
  return ADDRESS.test(up) ? up : undefined;
}

/** Every command line the steps may run, as data. */
export function hc05Commands(o: { address: string; rfcomm: number; channel: number; scanSeconds: number; pinFile: string }) {
  const c = (timeoutMs: number, ...argv: string[]): CommandLine => ({ argv, timeoutMs });
  return {
    bluetoothd: c(SHORT_MS, 'systemctl', 'is-active', 'bluetooth'),
    show: c(SHORT_MS, 'bluetoothctl', 'show'),
    powerOn: c(SHORT_MS, 'bluetoothctl', 'power', 'on'),
    info: c(SHORT_MS, 'bluetoothctl', 'info', o.address),
    // BR/EDR inquiry: the module must be known to bluetoothd before "pair" can name it.
    scan: c((o.scanSeconds + 10) * 1000, 'bluetoothctl', '--timeout', String(o.scanSeconds), 'scan', 'on'),
    agent: ['bt-agent', '--capability=NoInputNoOutput', `--pin=${o.pinFile}`],
    pair: c(60_000, 'bluetoothctl', 'pair', o.address),
    trust: c(SHORT_MS, 'bluetoothctl', 'trust', o.address),
    rfcommShow: c(SHORT_MS, 'rfcomm', 'show', String(o.rfcomm)),
    bind: c(SHORT_MS, 'rfcomm', 'bind', String(o.rfcomm), o.address, String(o.channel)),
    settle: c(SHORT_MS, 'udevadm', 'settle', '--timeout=5'),
    isEnabled: c(SHORT_MS, 'systemctl', 'is-enabled', RFCOMM_UNIT),
    enable: c(SHORT_MS, 'systemctl', 'enable', RFCOMM_UNIT),
  };
}

class StepFailed extends Error {
  constructor(
    readonly problem: ProblemCode,
    readonly params: Params = {},
  ) {
    super(problem);
  }
}

class Stop extends Error {}

const lastLine = (s: string): string =>
  s
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .pop()
    ?.trim() ?? '';
/** bluetoothctl's "Failed to pair: org.bluez.Error.X" / "Failed to set power on: ..." → the error name. */
const bluezError = (r: CommandResult): string => /org\.bluez\.Error\.\w+/.exec(r.stdout + r.stderr)?.[0] ?? (lastLine(r.stderr) || lastLine(r.stdout) || `exit ${r.code}`);

function realPath(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

export async function pairHc05(o: Hc05Options, runner: CommandRunner): Promise<PairOutcome> {
  const steps: StepReport[] = [];
  const rfcomm = o.rfcomm ?? 0;
  const devDir = o.devDir ?? '/dev';
  const link = o.link ?? DEFAULT_LINK;
  const tty = join(devDir, `rfcomm${rfcomm}`);
  const shipped = o.shippedDir ?? '/opt/motobio/systemd';
  const scanSeconds = o.scanSeconds ?? DEFAULT_SCAN_SECONDS;
  const address = normaliseAddress(o.address) ?? o.address;
  const workDir = mkdtempSync(join(tmpdir(), 'motobio-pair-'));
  const pinFile = join(workDir, 'pins');
  const cmds = hc05Commands({ address, rfcomm, channel: o.channel ?? 1, scanSeconds, pinFile });
  let agent: BackgroundProcess | undefined;
  let ran: string[][] = [];

  const run = async (c: CommandLine): Promise<CommandResult> => {
    ran.push([...c.argv]);
    const r = await runner.run(c);
    if (r.timedOut) throw new StepFailed('TIMEOUT', { command: c.argv.join(' '), seconds: Math.round(c.timeoutMs / 1000) });
    if (r.missing) throw new StepFailed('TOOL_MISSING', { tools: c.argv[0] ?? '' });
    return r;
  };
  const step = async (id: StepId, body: () => Promise<'ok' | 'skipped'>): Promise<void> => {
    ran = [];
    let report: StepReport;
    try {
      report = { step: id, status: await body(), commands: ran };
    } catch (e) {
      if (!(e instanceof StepFailed)) throw e;
      report = { step: id, status: 'failed', problem: e.problem, params: e.params, commands: ran };
    }
    steps.push(report);
    o.onStep?.(report);
    if (report.status === 'failed') throw new Stop();
  };

  let paired = false;
  try {
    await step('address', async () => {
      if (normaliseAddress(o.address) === undefined) throw new StepFailed('BAD_ADDRESS', { value: o.address });
      if (o.pin !== undefined && !PIN.test(o.pin)) throw new StepFailed('BAD_PIN', { value: o.pin });
      return 'ok';
    });
    await step('tools', async () => {
      const missing = TOOLS.filter((t) => runner.which(t) === undefined);
      if (missing.length > 0) throw new StepFailed('TOOL_MISSING', { tools: missing.join(', ') });
      return 'ok';
    });
    await step('bluetoothd', async () => {
      const r = await run(cmds.bluetoothd);
      const state = r.stdout.trim() || 'unknown';
      if (r.code !== 0 || state !== 'active') throw new StepFailed('BLUETOOTHD_INACTIVE', { state });
      return 'ok';
    });
    let shown = '';
    await step('adapter', async () => {
      const r = await run(cmds.show);
      shown = r.stdout;
      if (r.code !== 0 || !/^Controller [0-9A-F:]{17}/m.test(r.stdout)) throw new StepFailed('NO_ADAPTER', { output: lastLine(r.stdout + r.stderr) });
      return 'ok';
    });
    await step('power', async () => {
      if (/^\s*Powered: yes/m.test(shown)) return 'skipped';
      const r = await run(cmds.powerOn);
      if (r.code !== 0 || !/Changing power on succeeded/.test(r.stdout)) throw new StepFailed('POWER_FAILED', { error: bluezError(r) });
      return 'ok';
    });
    await step('discover', async () => {
      let info = await run(cmds.info);
      if (info.code !== 0) {
        await run(cmds.scan);
        info = await run(cmds.info);
      }
      if (info.code !== 0 || !info.stdout.includes(`Device ${address}`)) throw new StepFailed('DEVICE_NOT_FOUND', { address, seconds: scanSeconds });
      paired = /^\s*Paired: yes/m.test(info.stdout);
      return paired ? 'skipped' : 'ok';
    });
    await step('agent', async () => {
      if (paired) return 'skipped';
      writeFileSync(pinFile, `${address} ${o.pin ?? DEFAULT_PIN}\n`, { mode: 0o600 });
      ran.push([...cmds.agent]);
      agent = runner.start(cmds.agent);
      await new Promise((r) => setTimeout(r, o.agentGraceMs ?? 1000));
      const exited = agent.exited();
      if (exited !== undefined) throw new StepFailed('AGENT_FAILED', { output: agent.output() || `exit ${exited}` });
      return 'ok';
    });
    await step('pair', async () => {
      if (paired) return 'skipped';
      const r = await run(cmds.pair);
      if (r.code === 0 && /Pairing successful/.test(r.stdout)) return 'ok';
      const error = bluezError(r);
      if (error === 'org.bluez.Error.AlreadyExists') return 'skipped';
      throw new StepFailed(/Authentication(Failed|Rejected|Canceled)/.test(error) ? 'AUTH_FAILED' : 'PAIR_FAILED', { error });
    });
    await step('trust', async () => {
      const r = await run(cmds.trust);
      if (r.code !== 0 || !/trust succeeded/.test(r.stdout)) throw new StepFailed('TRUST_FAILED', { error: bluezError(r) });
      return 'ok';
    });
    await step('bind', async () => {
      const shownDev = await run(cmds.rfcommShow);
      const bound = /^rfcomm\d+: (?:\S+ -> )?([0-9A-F:]{17}) channel/m.exec(shownDev.stdout);
      if (bound) {
        if (bound[1] === address) return 'skipped';
        throw new StepFailed('RFCOMM_TAKEN', { device: `/dev/rfcomm${rfcomm}`, other: bound[1] ?? '?', index: rfcomm });
      }
      if (!/No such device/.test(shownDev.stderr)) throw new StepFailed('BIND_FAILED', { error: lastLine(shownDev.stderr) || `exit ${shownDev.code}` });
      // rfcomm exits 0 even when the ioctl fails: its perror line on stderr is the verdict.
      const r = await run(cmds.bind);
      if (r.code !== 0 || /Can't|not available/.test(r.stderr)) throw new StepFailed('BIND_FAILED', { error: lastLine(r.stderr) || `exit ${r.code}` });
      return 'ok';
    });
    await step('udev', async () => {
      const file = o.udevRuleFile ?? `/etc/udev/rules.d/${UDEV_RULE_NAME}`;
      if (!existsSync(file)) throw new StepFailed('UDEV_RULE_MISSING', { file, source: join(shipped, UDEV_RULE_NAME) });
      await run(cmds.settle);
      const target = realPath(link);
      if (target === undefined || target !== realPath(tty)) throw new StepFailed('SYMLINK_MISSING', { link, device: tty });
      return 'ok';
    });
    await step('service', async () => {
      // The unit reads the address from here at every boot; written only when it changes.
      const envFile = o.envFile ?? DEFAULT_ENV_FILE;
      const want = `HC05_ADDRESS=${address}\n`;
      let wrote = false;
      if (!existsSync(envFile) || readFileSync(envFile, 'utf8') !== want) {
        try {
          writeFileSync(envFile, want, { mode: 0o644 });
          wrote = true;
        } catch (e) {
          throw new StepFailed('UNIT_MISSING', { unit: envFile, error: (e as Error).message, source: join(shipped, RFCOMM_UNIT) });
        }
      }
      const r = await run(cmds.isEnabled);
      if (r.code === 0 && r.stdout.trim() === 'enabled') return wrote ? 'ok' : 'skipped';
      const e = await run(cmds.enable);
      if (e.code !== 0) throw new StepFailed('UNIT_MISSING', { unit: RFCOMM_UNIT, error: lastLine(e.stderr) || `exit ${e.code}`, source: join(shipped, RFCOMM_UNIT) });
      return 'ok';
    });
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
  } finally {
    await agent?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
  const failed = steps.find((s) => s.status === 'failed');
  return { ok: failed === undefined, address, device: link, steps, ...(failed ? { failed } : {}) };
}
