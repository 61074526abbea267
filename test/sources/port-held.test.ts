/**
 * `calibrate ecg` on a port another process holds with serialport's exclusive lock (flock):
 * a real socat pty, held first by a plain node process, then by the real daemon (`motobio run`
 * from dist/ with its serial source on that pty). The calibration ends at once, naming the
 * holder, and for the daemon the service to stop and that the profile is read at start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCalibration } from '../../src/calibration/session.js';
import { portHolder } from '../../src/sources/serial/port-holder.js';
import { PtyPair } from '../helpers/pty.js';
import { freePort } from '../daemon/helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ dir: string; device: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-held-'));
  const pair = new PtyPair(dir);
  await pair.plug();
  cleanups.push(async () => {
    await pair.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, device: pair.devicePath };
}

function holder(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): ChildProcess {
  const all: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete all['MOTOBIO_CONFIG'];
  const child = spawn(process.execPath, args, { env: all, stdio: ['ignore', 'ignore', 'pipe'], ...(cwd !== undefined ? { cwd } : {}) });
  cleanups.push(() => {
    child.kill('SIGKILL');
  });
  return child;
}

async function heldBy(device: string, pid: number): Promise<void> {
  const until = Date.now() + 30_000;
  while (portHolder(device)?.pid !== pid) {
    if (Date.now() > until) throw new Error(`pid ${pid} never locked ${device}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function calibrationError(device: string): Promise<{ message: string; seconds: number }> {
  const t0 = Date.now();
  const e = await runCalibration({ device, seconds: 60, fs: 250, technician: 't', unit: 'u' }).then(
    () => new Error('calibration ran on a held port'),
    (err: unknown) => err as Error,
  );
  return { message: e.message, seconds: (Date.now() - t0) / 1000 };
}

describe('calibrating on a held port', () => {
  it('names another program holding the port, at once', async () => {
    const { device } = await setup();
    const script = `const { SerialPort } = await import('serialport'); const p = new SerialPort({ path: ${JSON.stringify(device)}, baudRate: 115200, lock: true }); p.on('error', (e) => { console.error(e.message); process.exit(3); }); setInterval(() => {}, 1000);`;
    const child = holder(['--input-type=module', '-e', script]);
    await heldBy(device, child.pid!);
    const r = await calibrationError(device);
    expect(r.message).toContain(`another program (pid ${child.pid}`);
    expect(r.message).toContain(`holds ${device}`);
    expect(r.seconds).toBeLessThan(5);
  });

  it('names the motobio daemon and the service to stop when the daemon holds it', async () => {
    const { dir, device } = await setup();
    const port = await freePort();
    // The daemon's relative paths (store, calibration) land in its working directory, the test's folder.
    const child = holder([join(process.cwd(), 'dist/src/cli/main.js'), 'run'], { MOTOBIO_SOURCE__KIND: 'serial', MOTOBIO_SOURCE__DEVICE: device, MOTOBIO_HEALTH__PORT: String(port) }, dir);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await heldBy(device, child.pid!).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; daemon stderr: ${stderr}`);
    });
    const r = await calibrationError(device);
    expect(r.message).toBe(
      `the motobio daemon (pid ${child.pid}) holds ${device}: stop it with "systemctl stop motobio", calibrate, then start it with "systemctl start motobio"; the daemon reads the profile at start`,
    );
    expect(r.seconds).toBeLessThan(5);
  }, 60_000);
});
