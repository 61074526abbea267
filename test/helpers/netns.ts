/**
 * Emulated links for tests and benchmarks: a network namespace of our own holding the broker,
 * reached from the root namespace over veth pairs, one per link, each on its own /30. A link
 * can be shaped (rate limit with `tc ... tbf`, random loss with an nftables `numgen random`
 * drop rule inside the namespace: this kernel has no netem) and taken down and up with
 * `ip link set`. Latency comes from a delaying TCP proxy (startDelayProxy), for the same
 * reason. Everything is named after this process (`mbnf<pid>-<rand>`), and a namespace left
 * by a run that crashed (its pid is gone) is removed before a new one is made.
 * Needs root, iproute2 (ip, tc) and nftables; requireNetTools() says what is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

const NS_PREFIX = 'mbnf';

function run(args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  return { ok: !r.error && r.status === 0, out: r.stdout ?? '', err: r.error?.message ?? (r.stderr ?? '').trim() };
}

/** Runs a command and throws with its stderr when it fails. */
export function sh(args: string[]): string {
  const r = run(args);
  if (!r.ok) throw new Error(`"${args.join(' ')}" failed: ${r.err}`);
  return r.out;
}

/** Throws a message naming what to install or how to run when root, ip, tc or nft is missing. */
export function requireNetTools(): void {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('not running as root (network namespaces, tc and nftables need it): run the tests as root, e.g. in CI or with sudo');
  for (const [bin, pkg] of [
    ['ip', 'iproute2'],
    ['tc', 'iproute2'],
    ['nft', 'nftables'],
  ] as const) {
    const r = spawnSync('sh', ['-c', `command -v ${bin} || ls /usr/sbin/${bin} /sbin/${bin}`], { encoding: 'utf8' });
    if (r.status !== 0 || !r.stdout.trim()) problems.push(`${bin} is missing: apt-get install ${pkg}`);
  }
  if (problems.length) throw new Error(`the network fault tests cannot run: ${problems.join('; ')}`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function deleteNs(ns: string): void {
  // Processes we started inside (the broker) first, or the namespace lingers while they live.
  for (const p of run(['ip', 'netns', 'pids', ns]).out.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // Deleting the namespace destroys the veth ends inside it, hence the pairs, qdiscs and nft tables.
  run(['ip', 'netns', 'del', ns]);
}

/** Removes namespaces of earlier runs whose process is gone (a crash or a killed worker). */
export function sweepStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const line of run(['ip', 'netns', 'list']).out.split('\n')) {
    const name = line.split(' ')[0];
    const m = new RegExp(`^${NS_PREFIX}(\\d+)-`).exec(name ?? '');
    if (!m || !name || pidAlive(Number(m[1]))) continue;
    deleteNs(name);
    removed.push(name);
  }
  return removed;
}

export interface LinkSpec {
  /** Short name, e.g. `lte`, `wifi`, `srv`. */
  readonly name: string;
  /** Rate limit in each direction, kbit/s (tc tbf); unset = unlimited. */
  readonly rateKbit?: number;
  /** Random loss in each direction, percent (nftables numgen); fractions allowed (0.2). */
  readonly lossPct?: number;
}

export interface VethLink {
  readonly name: string;
  /** Interface in the root namespace. */
  readonly hostIf: string;
  /** Its peer inside the namespace. */
  readonly nsIf: string;
  /** Our address on this link (bind to it to use the link). */
  readonly hostAddr: string;
  /** The namespace's address on this link (where the broker answers). */
  readonly nsAddr: string;
}

/** Picks a 10.x.y.0/24 that no route or address of this machine uses. */
function freeSubnet(): string {
  const used = run(['ip', '-4', 'route', 'show', 'table', 'all']).out + run(['ip', '-4', '-o', 'addr']).out;
  for (let i = 0; i < 200; i++) {
    const b = 200 + Math.floor(Math.random() * 50);
    const c = Math.floor(Math.random() * 256);
    if (!used.includes(`10.${b}.${c}.`)) return `10.${b}.${c}`;
  }
  throw new Error('no free 10.200-249.x.0/24 subnet for the test links; remove stale test interfaces (ip -o addr)');
}

export class NetLab {
  readonly ns: string;
  private readonly links = new Map<string, VethLink>();
  private closed = false;

  private constructor(ns: string) {
    this.ns = ns;
  }

  /** Creates the namespace and one shaped veth link per spec (at most 64 links). */
  static create(specs: readonly LinkSpec[]): NetLab {
    requireNetTools();
    sweepStaleNamespaces();
    const tag = randomBytes(3).toString('hex');
    const lab = new NetLab(`${NS_PREFIX}${process.pid}-${tag}`);
    // A test that times out or a worker that exits must not leave namespaces behind.
    const reap = () => lab.close();
    process.once('exit', reap);
    try {
      sh(['ip', 'netns', 'add', lab.ns]);
      lab.nsExec(['ip', 'link', 'set', 'lo', 'up']);
      const net = freeSubnet();
      const drops: string[] = [];
      specs.forEach((spec, i) => {
        const hostIf = `mf${tag}${i}`;
        const nsIf = `${spec.name.slice(0, 10)}0`;
        const hostAddr = `${net}.${i * 4 + 1}`;
        const nsAddr = `${net}.${i * 4 + 2}`;
        sh(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', lab.ns]);
        sh(['ip', 'addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
        sh(['ip', 'link', 'set', hostIf, 'up']);
        lab.nsExec(['ip', 'addr', 'add', `${nsAddr}/30`, 'dev', nsIf]);
        lab.nsExec(['ip', 'link', 'set', nsIf, 'up']);
        if (spec.rateKbit !== undefined) {
          const tbf = ['root', 'tbf', 'rate', `${spec.rateKbit}kbit`, 'burst', '32kbit', 'latency', '400ms'];
          sh(['tc', 'qdisc', 'add', 'dev', hostIf, ...tbf]);
          lab.nsExec(['tc', 'qdisc', 'add', 'dev', nsIf, ...tbf]);
        }
        if (spec.lossPct) {
          const per10k = Math.round(spec.lossPct * 100);
          drops.push(`add rule inet mbloss input iifname "${nsIf}" numgen random mod 10000 < ${per10k} counter drop`);
          drops.push(`add rule inet mbloss output oifname "${nsIf}" numgen random mod 10000 < ${per10k} counter drop`);
        }
        lab.links.set(spec.name, { name: spec.name, hostIf, nsIf, hostAddr, nsAddr });
      });
      if (drops.length) {
        const script = [
          'add table inet mbloss',
          'add chain inet mbloss input { type filter hook input priority 0; policy accept; }',
          'add chain inet mbloss output { type filter hook output priority 0; policy accept; }',
          ...drops,
        ].join('\n');
        const r = spawnSync('ip', ['netns', 'exec', lab.ns, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`nft loss rules failed: ${r.stderr.trim()}`);
      }
    } catch (e) {
      lab.close();
      throw e;
    }
    return lab;
  }

  link(name: string): VethLink {
    const l = this.links.get(name);
    if (!l) throw new Error(`no link "${name}" in ${this.ns}; links: ${[...this.links.keys()].join(', ')}`);
    return l;
  }

  nsExec(args: string[]): string {
    return sh(['ip', 'netns', 'exec', this.ns, ...args]);
  }

  /** Takes a link down or up at our end (`ip link set ... down`): the route goes, packets stop. */
  setLink(name: string, up: boolean): void {
    sh(['ip', 'link', 'set', this.link(name).hostIf, up ? 'up' : 'down']);
  }

  /** Packets the loss rules dropped so far, from the nft counters (0 when there is no loss rule). */
  dropped(): number {
    const r = run(['ip', 'netns', 'exec', this.ns, 'nft', 'list', 'table', 'inet', 'mbloss']);
    return [...r.out.matchAll(/packets (\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
  }

  /** Spawns a process inside the namespace. */
  spawn(args: string[], stdio: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.ns, ...args], { stdio: ['ignore', stdio, stdio] });
  }

  /** Deletes the namespace with everything in it; idempotent, never throws. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    deleteNs(this.ns);
    // The host ends vanish with their peers; remove any that a failed create left unpaired.
    for (const l of this.links.values()) run(['ip', 'link', 'del', l.hostIf]);
  }
}

export interface NsBroker {
  readonly port: number;
  /** The broker's address as seen over one link. */
  url(link: VethLink): string;
  log(): string;
  close(): Promise<void>;
}

/** A real mosquitto inside the namespace, listening on every link's address. */
export async function startMosquittoInNs(lab: NetLab, dir: string, probe: VethLink): Promise<NsBroker> {
  const which = spawnSync('sh', ['-c', 'command -v mosquitto || ls /usr/sbin/mosquitto'], { encoding: 'utf8' });
  const bin = which.stdout.trim().split('\n')[0];
  if (which.status !== 0 || !bin) throw new Error('mosquitto is not installed; these tests need a real broker: apt-get install mosquitto');
  const port = 1883;
  const conf = join(dir, 'mosquitto-ns.conf');
  writeFileSync(
    conf,
    [
      `user ${userInfo().username}`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 1000000',
      'max_inflight_messages 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      `listener ${port} 0.0.0.0`,
      '',
    ].join('\n'),
  );
  const child = lab.spawn([bin, '-c', conf], 'pipe');
  let logText = '';
  child.stderr?.on('data', (d: Buffer) => (logText += d.toString()));
  child.stdout?.resume();
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const until = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited at start in ${lab.ns} (${child.exitCode}): ${logText}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: probe.nsAddr, port, localAddress: probe.hostAddr });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > until) throw new Error(`mosquitto in ${lab.ns} did not listen on ${probe.nsAddr}:${port} within 15 s: ${logText}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: (l) => `mqtt://${l.nsAddr}:${port}`,
    log: () => logText,
    close: async () => {
      process.off('exit', reap);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGKILL');
      await gone;
    },
  };
}

export interface DelayProxy {
  readonly port: number;
  readonly url: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

export interface DelayProxyOptions {
  readonly targetHost: string;
  readonly targetPort: number;
  /** Local address for the upstream connection: the link's own address, so it crosses that link. */
  readonly localAddress?: string;
  /** One-way delay added to every chunk, drawn uniformly from [minMs, maxMs]; order is kept. */
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * A TCP proxy on loopback that holds every chunk for a random delay in each direction, in
 * order (a chunk never overtakes the one before it), like the latency and jitter of a cellular
 * link. When the upstream cannot be reached or closes, the client's connection closes too.
 */
export async function startDelayProxy(o: DelayProxyOptions): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const delayed = (from: Socket, to: Socket) => {
    const queue: { due: number; data: Buffer }[] = [];
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const pump = () => {
      timer = undefined;
      const now = Date.now();
      while (queue.length && queue[0].due <= now) {
        const c = queue.shift()!;
        if (!to.destroyed) to.write(c.data);
      }
      if (queue.length) timer = setTimeout(pump, queue[0].due - now);
      else if (ended) to.destroy();
    };
    from.on('data', (data: Buffer) => {
      const last = queue.length ? queue[queue.length - 1].due : 0;
      queue.push({ due: Math.max(last, Date.now() + o.minMs + Math.random() * (o.maxMs - o.minMs)), data });
      timer ??= setTimeout(pump, queue[0].due - Date.now());
    });
    from.once('close', () => {
      ended = true;
      if (!timer) pump();
    });
  };
  const server: Server = createServer((a) => {
    accepted++;
    const b = connect({ host: o.targetHost, port: o.targetPort, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
    for (const s of [a, b]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.once('close', () => sockets.delete(s));
    }
    delayed(a, b);
    delayed(b, a);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
