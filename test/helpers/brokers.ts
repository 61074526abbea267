/**
 * Real brokers for tests: in-process aedes (MQTT 3.1.1 only) and a real mosquitto (MQTT 5)
 * spawned on a free loopback port, optionally with TLS and client certificates that openssl
 * makes in the test's temp dir. A missing mosquitto or openssl fails the test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, stepMs = 20): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export interface AedesBroker {
  readonly url: string;
  readonly port: number;
  readonly broker: Aedes;
  close(): Promise<void>;
}

export async function startAedes(port?: number): Promise<AedesBroker> {
  const p = port ?? (await freePort());
  const broker = await Aedes.createBroker();
  const server: Server = createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, '127.0.0.1', () => resolve());
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    url: `mqtt://127.0.0.1:${p}`,
    port: p,
    broker,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}

export interface Pki {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate signed by a different CA: the broker must refuse it. */
  readonly rogueCert: string;
  readonly rogueKey: string;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw new Error(`openssl is needed for the TLS tests (${r.error.message}); install it (apt-get install openssl)`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** CA, server cert for 127.0.0.1/localhost (CN broker.test), client cert, and a rogue client cert. */
export function makePki(dir: string): Pki {
  const subj = (cn: string) => ['-subj', `/CN=${cn}`];
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', ...subj('motobio test CA')]);
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'rogue-ca.key', '-out', 'rogue-ca.pem', '-days', '2', ...subj('rogue CA')]);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:broker.test\n');
  const leaf = (name: string, ca: string, cn: string, ext?: string) => {
    openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, ...subj(cn)]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', ...(ext ? ['-extfile', ext] : [])]);
  };
  leaf('server', 'ca', 'broker.test', 'server.ext');
  leaf('client', 'ca', 'bike-1');
  leaf('rogue', 'rogue-ca', 'bike-1');
  const p = (f: string) => join(dir, f);
  return { dir, ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key'), rogueCert: p('rogue.pem'), rogueKey: p('rogue.key') };
}

export interface Mosquitto {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly pki: Pki | undefined;
  /** Stops the broker: SIGTERM (saves persistence) or SIGKILL. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same persistence. */
  start(): Promise<void>;
  close(): Promise<void>;
  log(): string;
}

export interface MosquittoOptions {
  readonly tls?: boolean;
  /** Keep sessions and queued messages across a SIGTERM restart. */
  readonly persistence?: boolean;
  readonly pki?: Pki;
  /** Write the config but do not start; call start() later. */
  readonly deferStart?: boolean;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const which = spawnSync('sh', ['-c', 'command -v mosquitto || ls /usr/sbin/mosquitto'], { encoding: 'utf8' });
  const bin = which.stdout.trim().split('\n')[0];
  if (which.status !== 0 || !bin) throw new Error('mosquitto is not installed; these tests need a real broker: apt-get install mosquitto');
  const dir = mkdtempSync(join(tmpdir(), 'motobio-mosq-'));
  const pki = opts.tls ? (opts.pki ?? makePki(dir)) : undefined;
  const port = await freePort();
  const conf = [
    // As root mosquitto would drop to user "mosquitto", who cannot read our 0700 temp dir.
    `user ${userInfo().username}`,
    'per_listener_settings false',
    'allow_anonymous true',
    `persistence ${opts.persistence ? 'true' : 'false'}`,
    `persistence_location ${dir}/`,
    'autosave_interval 1',
    'max_queued_messages 1000000',
    'max_inflight_messages 0',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    `listener ${port} 127.0.0.1`,
    ...(pki ? [`cafile ${pki.ca}`, `certfile ${pki.serverCert}`, `keyfile ${pki.serverKey}`, 'require_certificate true', 'use_identity_as_username true'] : []),
  ];
  writeFileSync(join(dir, 'mosquitto.conf'), `${conf.join('\n')}\n`);
  let child: ChildProcess | undefined;
  let logText = '';
  const start = async () => {
    const c = spawn(bin, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr.on('data', (d: Buffer) => (logText += d.toString()));
    // A test that times out or a worker that exits must not leave brokers behind.
    const reap = () => c.kill('SIGKILL');
    process.once('exit', reap);
    c.once('exit', () => process.off('exit', reap));
    child = c;
    await waitFor(`mosquitto listening on ${port}`, async () => c.exitCode !== null || (await canConnect(port)), 15_000, 50);
    if (c.exitCode !== null) throw new Error(`mosquitto exited at start (${c.exitCode}): ${logText}`);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    await gone;
  };
  if (!opts.deferStart) await start();
  return {
    url: `${pki ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    port,
    dir,
    pki,
    stop,
    start,
    close: async () => {
      await stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => logText,
  };
}

/**
 * A TCP forwarder standing in for a network path: `down()` refuses connections and resets
 * the open ones (a link that is gone), `freeze()` keeps sockets open but forwards nothing
 * (a link that went dark without telling anyone), `up()` restores it.
 */
export interface LinkProxy {
  readonly port: number;
  readonly url: string;
  up(): Promise<void>;
  down(): Promise<void>;
  freeze(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number, opts: { scheme?: string; startUp?: boolean } = {}): Promise<LinkProxy> {
  const port = await freePort();
  const pairs = new Set<{ a: import('node:net').Socket; b: import('node:net').Socket }>();
  let frozen = false;
  let server: Server | undefined;
  const up = async () => {
    frozen = false;
    if (server) return;
    const s = createServer((a) => {
      const b = connect(targetPort, '127.0.0.1');
      const pair = { a, b };
      pairs.add(pair);
      const end = () => {
        pairs.delete(pair);
        a.destroy();
        b.destroy();
      };
      a.on('data', (d: Buffer) => {
        if (!frozen) b.write(d);
      });
      b.on('data', (d: Buffer) => {
        if (!frozen) a.write(d);
      });
      a.on('error', end).on('close', end);
      b.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    server = s;
  };
  const down = async () => {
    const s = server;
    server = undefined;
    for (const p of pairs) {
      p.a.resetAndDestroy();
      p.b.destroy();
    }
    pairs.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  if (opts.startUp !== false) await up();
  return {
    port,
    url: `${opts.scheme ?? 'mqtt'}://127.0.0.1:${port}`,
    up,
    down,
    freeze: () => {
      frozen = true;
    },
    close: down,
  };
}
