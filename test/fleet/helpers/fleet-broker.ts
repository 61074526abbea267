/**
 * The fleet broker of docs/mosquitto/ (TLS, client certificates, the ACL) on a real
 * mosquitto, rewritten only for paths, the port and the user to run as, with persistence in the
 * test's folder; stop() and start() restart it on the same port (the broker fault cases).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { canConnect, freePort, waitFor } from '../../helpers/brokers.js';
import { makeFleetPki, type FleetPki } from '../../security/pki.js';
import { REPO } from '../../daemon/helpers.js';

export interface FleetBroker {
  readonly url: string;
  readonly port: number;
  readonly pki: FleetPki;
  stop(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
  log(): string;
}

export async function startFleetBroker(dir: string, clients: string[]): Promise<FleetBroker> {
  const which = spawnSync('sh', ['-c', 'command -v mosquitto || ls /usr/sbin/mosquitto'], { encoding: 'utf8' });
  const bin = which.stdout.trim().split('\n')[0];
  if (which.status !== 0 || !bin) throw new Error('mosquitto is not installed; these tests need a real broker: apt-get install mosquitto');
  const pki = makeFleetPki(dir, clients);
  const port = await freePort();
  copyFileSync(join(REPO, 'docs/mosquitto/motobio.acl'), join(dir, 'motobio.acl'));
  const conf = readFileSync(join(REPO, 'docs/mosquitto/mosquitto.conf'), 'utf8');
  const rewritten = [
    `user ${userInfo().username}`,
    conf
      .replace('/etc/mosquitto/motobio.acl', join(dir, 'motobio.acl'))
      .replace('/var/lib/mosquitto/', `${dir}/`)
      .replace('/etc/mosquitto/certs/fleet-ca.pem', pki.ca)
      .replace('/etc/mosquitto/certs/broker.pem', pki.certs.server.cert)
      .replace('/etc/mosquitto/certs/broker.key', pki.certs.server.key)
      .replace('log_dest syslog', 'log_dest stderr')
      .replace(/^listener 8883$/m, `listener ${port} 127.0.0.1`),
    // Save the in-memory state every second, so a killed broker loses at most about a second.
    'autosave_interval 1',
  ].join('\n');
  if (!rewritten.includes(`listener ${port} 127.0.0.1`)) throw new Error('docs/mosquitto/mosquitto.conf changed: the test cannot find its listener line');
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(file, rewritten);
  let child: ChildProcess | undefined;
  let logText = '';
  const start = async () => {
    const c = spawn(bin, ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr.on('data', (d: Buffer) => (logText += d.toString()));
    const reap = () => c.kill('SIGKILL');
    process.once('exit', reap);
    c.once('exit', () => process.off('exit', reap));
    child = c;
    await waitFor(`mosquitto listening on ${port}`, async () => c.exitCode !== null || (await canConnect(port)), 20_000, 50);
    if (c.exitCode !== null) throw new Error(`mosquitto exited at start (${c.exitCode}): ${logText}`);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    await gone;
  };
  await start();
  return { url: `mqtts://127.0.0.1:${port}`, port, pki, stop, start, close: () => stop('SIGKILL'), log: () => logText };
}
