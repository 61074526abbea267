/**
 * A real gpsd fed by gpsfake (Debian gpsd, gpsd-clients) on a free loopback port. gpsfake
 * starts its own gpsd and writes the log into a pty; the process group is ended by close().
 * A missing gpsfake fails the test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from './brokers.js';

export interface Gpsfake {
  readonly port: number;
  readonly process: ChildProcess;
  /** What gpsfake and its gpsd printed, for a failing test's message. */
  output(): string;
  close(): Promise<void>;
}

/** `cycleS`: delay between sentences (the log has one per second of fix time). */
export async function startGpsfake(log: string, options: { cycleS?: number; port?: number } = {}): Promise<Gpsfake> {
  if (spawnSync('gpsfake', ['-h'], { stdio: 'ignore' }).error) throw new Error('gpsfake is not installed: apt-get install gpsd gpsd-clients (see .ci/run)');
  const port = options.port ?? (await freePort());
  // -1: play the log once; -s: a fast pty so the cycle, not 4800 baud, sets the pace;
  // -W: gpsfake's own exhaustion timeout, well past any test.
  const child = spawn('gpsfake', ['-P', String(port), '-1', '-q', '-c', String(options.cycleS ?? 0.03), '-s', '115200', '-W', '300', log], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    port,
    process: child,
    output: () => out,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
        const timer = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // already gone
          }
        }, 2000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
