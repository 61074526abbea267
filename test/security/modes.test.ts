/**
 * The real daemon (`motobio run --config`), started under umask 000 so nothing is private by
 * accident, replays at high speed into an encrypted store and uplinks to a real broker (aedes);
 * `motobio db backup` and `db export --out` run beside it. Every file and directory in the
 * state directory must then have no group or other permission bits, while running (WAL, SHM)
 * and after the stop; the broker must have received opened, readable records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildForTest, freePort, getText, tempDir, waitFor, writeSyntheticRecord } from '../daemon/helpers.js';
import { startAedes, type AedesBroker } from '../helpers/brokers.js';
import { Receiver, type ReceivedRecord } from '../../src/uplink/receiver.js';
import { run as dbCommand } from '../../src/cli/commands/db.js';
import { recordFaultResult } from '../faults/report.js';

let out: string;
let main: string;
beforeAll(() => {
  out = buildForTest(['src/cli/commands/db.ts']);
  main = join(out, 'src/cli/main.js');
}, 240_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Runs the CLI under umask 000 (the process must set its own). */
function cli(args: string[], cwd: string) {
  const child = spawn('sh', ['-c', 'umask 000 && exec "$0" "$@"', process.execPath, main, ...args], { cwd, env: { PATH: process.env['PATH'], HOME: process.env['HOME'] }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  /** The exit code, or a clear failure (with the output) when the process is still running after `ms`. */
  const exitWithin = (ms: number) =>
    Promise.race([
      exited,
      new Promise<never>((_, rej) =>
        setTimeout(() => {
          child.kill('SIGKILL');
          rej(new Error(`motobio ${args.join(' ')} still running after ${ms} ms; it should have exited.\nstderr: ${stderr}\nstdout tail: ${stdout.slice(-1500)}`));
        }, ms).unref(),
      ),
    ]);
  return { child, exited, exitWithin, out: () => stdout, err: () => stderr };
}

function walk(root: string): { path: string; mode: number }[] {
  const found: { path: string; mode: number }[] = [{ path: root, mode: lstatSync(root).mode & 0o777 }];
  for (const name of readdirSync(root)) {
    const p = join(root, name);
    const st = lstatSync(p);
    if (st.isDirectory()) found.push(...walk(p));
    else found.push({ path: p, mode: st.mode & 0o777 });
  }
  return found;
}

const loose = (entries: { path: string; mode: number }[]) => entries.filter((e) => (e.mode & 0o077) !== 0).map((e) => `${e.path} ${e.mode.toString(8)}`);

describe('files the daemon writes are private to its user', () => {
  it('store, WAL, SHM, seq floor, backup and export: no group/other bits, even under umask 000; records still reach the broker opened', async () => {
    const t = tempDir('motobio-sec-modes-');
    let broker: AedesBroker | undefined;
    let receiver: Receiver | undefined;
    const daemon: { child?: ReturnType<typeof cli>['child'] } = {};
    try {
      const state = join(t.path, 'state');
      const keys = join(t.path, 'keys');
      mkdirSync(keys, { mode: 0o700 });
      expect(await dbCommand(['keygen', '--out', join(keys, 'store.key')])).toBe(0);
      broker = await startAedes();
      receiver = await Receiver.start({ link: { url: broker.url } });
      const got: ReceivedRecord[] = [];
      receiver.on('record', (r) => got.push(r));
      const port = await freePort();
      const record = writeSyntheticRecord(t.path, { seconds: 60 });
      const config = join(t.path, 'config.yaml');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(
        config,
        [
          'device:',
          '  id: bike-modes',
          'source:',
          `  path: ${record}`,
          '  speed: 50',
          'store:',
          `  path: ${join(state, 'var', 'motobio.db')}`,
          '  encryption:',
          `    key_file: ${join(keys, 'store.key')}`,
          `calibration_dir: ${join(state, 'calibration')}`,
          'health:',
          `  port: ${port}`,
          'uplink:',
          '  links:',
          '    - name: lte',
          `      url: ${broker.url}`,
          '',
        ].join('\n'),
      );
      const d = cli(['run', '--config', config], t.path);
      daemon.child = d.child;
      const base = `http://127.0.0.1:${port}`;
      const status = await waitFor(
        'stored and uplinked records',
        async () => {
          const s = JSON.parse((await getText(`${base}/status`)).body) as { components: Record<string, { state: string; detail?: { links?: Record<string, { state: string }> } }> };
          return got.length >= 5 ? s : undefined;
        },
        90_000,
        200,
      ).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\ndaemon stderr: ${d.err()}\nstdout tail: ${d.out().slice(-2000)}`);
      });
      expect(status.components['uplink']?.detail?.links?.['lte']?.state).toBe('up');
      // Opened at the uplink: features arrive as JSON with their values, not ciphertext.
      expect(got.every((r) => typeof r.data === 'object' && r.data !== null), JSON.stringify(got.slice(0, 3))).toBe(true);
      expect(receiver.stats().badMessages).toBe(0);
      // The daemon announced the store encryption.
      expect(d.out()).toContain('store encryption on');

      const backup = cli(['db', 'backup', join(state, 'backup.db'), '--db', join(state, 'var', 'motobio.db')], t.path);
      expect(await backup.exited, backup.err()).toBe(0);
      const exp = cli(['db', 'export', '--config', config, '--out', join(state, 'export.ndjson')], t.path);
      expect(await exp.exited, exp.err()).toBe(0);
      const running = walk(state);
      const names = running.map((e) => e.path.slice(state.length));
      for (const n of ['/var', '/var/motobio.db', '/var/motobio.db-wal', '/var/motobio.db-shm', '/var/motobio.db.seq', '/backup.db', '/export.ndjson']) expect(names).toContain(n);
      expect(loose(running)).toEqual([]);
      // The export is opened with the configured key; the backup stays sealed.
      expect(readFileSync(join(state, 'export.ndjson'), 'utf8')).toMatch(/"type":"features"/);

      d.child.kill('SIGTERM');
      expect(await d.exited).toBe(0);
      const stopped = walk(state);
      expect(loose(stopped)).toEqual([]);
      recordFaultResult({
        group: 'at-rest',
        fault: 'file modes of everything the daemon and motobio db write (umask 000)',
        behaviour: `none with group/other bits: ${running.length} files and directories while running (store, WAL, SHM, seq floor, backup, export), ${stopped.length} after the stop; uplink delivered ${got.length} opened records`,
        expected: null,
        received: got.length,
        lost: null,
        duplicates: null,
      });
    } finally {
      daemon.child?.kill('SIGKILL');
      await receiver?.close();
      await broker?.close();
      t.cleanup();
    }
  }, 180_000);

  it('the daemon refuses a group-readable or short key at start (exit 78, a message saying how to fix it), and creates nothing', async () => {
    const t = tempDir('motobio-sec-keys-');
    try {
      const key = join(t.path, 'store.key');
      const { writeFileSync, chmodSync, existsSync } = await import('node:fs');
      writeFileSync(key, `${Buffer.alloc(32, 9).toString('base64')}\n`, { mode: 0o600 });
      chmodSync(key, 0o644);
      const config = join(t.path, 'config.yaml');
      const store = join(t.path, 'state', 'motobio.db');
      writeFileSync(config, `store:\n  path: ${store}\n  encryption:\n    key_file: ${key}\nhealth:\n  port: 0\n`);
      const loose = cli(['run', '--config', config], t.path);
      expect(await loose.exitWithin(45_000)).toBe(78);
      expect(loose.err()).toMatch(/mode 0644 lets group or others at it; make it private with "chmod 600/);
      chmodSync(key, 0o600);
      writeFileSync(key, Buffer.alloc(16, 1).toString('hex'));
      const short = cli(['run', '--config', config], t.path);
      expect(await short.exitWithin(45_000)).toBe(78);
      expect(short.err()).toMatch(/must hold 32 random bytes.*found 32 characters of text.*motobio db keygen/);
      expect(existsSync(store)).toBe(false);
      recordFaultResult({
        group: 'at-rest',
        fault: 'daemon started with a group-readable or 16-byte store key',
        behaviour: 'refused at start, exit 78 (configuration), message names the mode/length and the fix; no store created',
        expected: null,
        received: null,
        lost: null,
        duplicates: null,
      });
    } finally {
      t.cleanup();
    }
  }, 120_000);
});
