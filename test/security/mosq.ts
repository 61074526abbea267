/**
 * A real mosquitto with a configuration the test writes (several listeners, an ACL file),
 * on free loopback ports. Missing mosquitto fails the test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canConnect, waitFor } from '../helpers/brokers.js';

export interface RunningMosquitto {
  log(): string;
  close(): Promise<void>;
}

export async function runMosquitto(dir: string, conf: string, ports: number[]): Promise<RunningMosquitto> {
  const which = spawnSync('sh', ['-c', 'command -v mosquitto || ls /usr/sbin/mosquitto'], { encoding: 'utf8' });
  const bin = which.stdout.trim().split('\n')[0];
  if (which.status !== 0 || !bin) throw new Error('mosquitto is not installed; these tests need a real broker: apt-get install mosquitto');
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(file, conf);
  let logText = '';
  const c: ChildProcess = spawn(bin, ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  c.stderr!.on('data', (d: Buffer) => (logText += d.toString()));
  const reap = () => c.kill('SIGKILL');
  process.once('exit', reap);
  c.once('exit', () => process.off('exit', reap));
  for (const p of ports) {
    await waitFor(`mosquitto listening on ${p}`, async () => c.exitCode !== null || (await canConnect(p)), 20_000, 50);
    if (c.exitCode !== null) throw new Error(`mosquitto exited at start (${c.exitCode}): ${logText}`);
  }
  return {
    log: () => logText,
    close: async () => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGKILL');
      await gone;
    },
  };
}
