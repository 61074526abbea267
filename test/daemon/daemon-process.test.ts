/**
 * The real daemon as a child process: `motobio run` itself, and runDaemon with test stages
 * (test/daemon/fixtures/daemon-entry.ts) where a behaviour needs a stage that is slow or
 * throws. Real signals, a real AF_UNIX datagram socket for sd-notify, real HTTP on loopback.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { startAedes } from '../helpers/brokers.js';
import { statusTopic } from '../../src/uplink/topics.js';
import { buildForTest, freePort, getText, killAll, notifyListener, spawnNode, tempDir, waitFor, writeSyntheticRecord, type Proc } from './helpers.js';

let out: string;
let main: string;
let entry: string;
const cleanups: (() => void)[] = [];

beforeAll(() => {
  out = buildForTest(['test/daemon/fixtures/daemon-entry.ts']);
  main = join(out, 'src/cli/main.js');
  entry = join(out, 'test/daemon/fixtures/daemon-entry.js');
});
afterAll(() => rmSync(out, { recursive: true, force: true }));
afterEach(() => {
  killAll();
  while (cleanups.length > 0) cleanups.pop()?.();
});

function workDir(): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.path;
}

interface Started {
  proc: Proc;
  base: string;
  dir: string;
}

/** Starts the test entry with a config that has one link (so the uplink stage runs). */
async function startEntry(env: NodeJS.ProcessEnv = {}, waitHealthy = true): Promise<Started> {
  const dir = workDir();
  const port = await freePort();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `device:\n  id: test-unit\nhealth:\n  port: ${port}\nuplink:\n  links:\n    - name: test\n      url: mqtt://127.0.0.1:1\n`);
  const proc = spawnNode([entry], { cwd: dir, env: { MBTEST_CONFIG: config, ...env } });
  const base = `http://127.0.0.1:${port}`;
  if (waitHealthy) await waitFor('/healthz to answer 200', async () => (await getText(`${base}/healthz`)).status === 200);
  return { proc, base, dir };
}

function marks(p: Proc): string[] {
  return p.logs().flatMap((l) => (typeof l['test'] === 'string' ? [`${l['test']} ${String(l['stage'])}`] : []));
}

/** Embedded defaults, but replaying a record the test wrote (the bundled excerpt is the lead's). */
function runEnv(dir: string, port: number): NodeJS.ProcessEnv {
  return { MOTOBIO_HEALTH__PORT: String(port), MOTOBIO_SOURCE__PATH: writeSyntheticRecord(dir), MOTOBIO_SOURCE__SPEED: '20' };
}

describe('motobio run (embedded defaults)', () => {
  it('replays into the chain and the store, serves /healthz, /status and /metrics, and motobio status reports it', async () => {
    const dir = workDir();
    const port = await freePort();
    const proc = spawnNode([main, 'run'], { cwd: dir, env: runEnv(dir, port) });
    const base = `http://127.0.0.1:${port}`;
    await waitFor('/healthz to answer 200', async () => (await getText(`${base}/healthz`)).status === 200);

    // Beats from the real chain and records in the real store, within seconds.
    const live = await waitFor('beats, decisions and stored records', async () => {
      const s = JSON.parse((await getText(`${base}/status`)).body) as { counters: { beats: number; decisions: number }; outbox: { records: number | null } };
      return s.counters.beats >= 20 && s.counters.decisions >= 2 && (s.outbox.records ?? 0) >= 5 ? s : undefined;
    });
    const status = JSON.parse((await getText(`${base}/status`)).body) as Record<string, unknown>;
    expect(status['state']).toBe('running');
    expect((status['components'] as Record<string, { state: string }>)['source']?.state).toBe('streaming');
    expect(status['device']).toBe('motobio-dev');
    const clock = status['clock'] as { bootId: string; sync: string };
    expect(clock.bootId).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    expect(['synchronized', 'unsynchronized', 'unknown']).toContain(clock.sync);
    expect((status['components'] as Record<string, { state: string }>)['uplink']?.state).toBe('disabled');

    const metrics = await getText(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain');
    for (const name of [
      'motobio_pipeline_latency_seconds',
      'motobio_beats_total',
      'motobio_signal_quality',
      'motobio_decisions_total',
      'motobio_safety_triggers_total',
      'motobio_outbox_depth_records',
      'motobio_outbox_bytes',
      'motobio_link_state',
      'motobio_link_switches_total',
      'motobio_errors_total',
    ]) {
      expect(metrics.body).toContain(`# TYPE ${name}`);
    }
    expect((await getText(`${base}/nope`)).status).toBe(404);

    const human = spawnNode([main, 'status', '--url', base]);
    expect((await human.exited).code).toBe(0);
    expect(human.stdout.join('\n')).toMatch(/motobio .* on motobio-dev: running/);
    expect(human.stdout.join('\n')).toContain('uplink:    disabled (no links configured)');
    const json = spawnNode([main, 'status', '--json'], { env: { MOTOBIO_HEALTH__PORT: String(port) } });
    expect((await json.exited).code).toBe(0);
    expect((JSON.parse(json.stdout.join('')) as { pid: number }).pid).toBe(proc.child.pid);

    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    expect(proc.logs().some((l) => l['msg'] === 'stopped')).toBe(true);

    // Nothing reported as stored was lost by the stop; the store is private to the user.
    const dbPath = join(dir, 'var', 'motobio.db');
    expect(statSync(dbPath).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'var')).mode & 0o777).toBe(0o700);
    const db = new Database(dbPath, { readonly: true });
    const rows = db.prepare('SELECT type, COUNT(*) AS n FROM records GROUP BY type').all() as { type: string; n: number }[];
    db.close();
    const stored = rows.reduce((s, r) => s + r.n, 0);
    expect(stored).toBeGreaterThanOrEqual(live.outbox.records ?? 0);
    expect(rows.map((r) => r.type)).toEqual(expect.arrayContaining(['clock', 'features', 'decision']));

    const after = spawnNode([main, 'status', '--url', base]);
    expect((await after.exited).code).toBe(3);
    expect(after.stderr.join('\n')).toContain('motobio is not running');
    const afterJson = spawnNode([main, 'status', '--url', base, '--json']);
    expect((await afterJson.exited).code).toBe(3);
    expect((JSON.parse(afterJson.stdout.join('')) as { running: boolean }).running).toBe(false);
  });

  it('starts offline and buffers, connects once the broker is there (retained online), and says offline (retained) on SIGTERM', async () => {
    const dir = workDir();
    const port = await freePort();
    const brokerPort = await freePort();
    const env = { ...runEnv(dir, port), MOTOBIO_DEVICE__ID: 'bike-t', MOTOBIO_UPLINK__LINKS__0__NAME: 'lte', MOTOBIO_UPLINK__LINKS__0__URL: `mqtt://127.0.0.1:${brokerPort}` };
    // No broker yet: the daemon must start anyway and buffer.
    const proc = spawnNode([main, 'run'], { cwd: dir, env });
    const base = `http://127.0.0.1:${port}`;
    await waitFor('/healthz to answer 200 with no broker', async () => (await getText(`${base}/healthz`)).status === 200);
    await waitFor('records buffered while offline', async () => {
      const s = JSON.parse((await getText(`${base}/status`)).body) as { outbox: { records: number | null }; links: Record<string, { state: string }> };
      return (s.outbox.records ?? 0) >= 3 && s.links['lte']?.state !== 'up';
    });

    const broker = await startAedes(brokerPort);
    cleanups.push(() => void broker.close());
    const published: { topic: string; payload: string; retain: boolean }[] = [];
    broker.broker.on('publish', (packet, client) => {
      if (client) published.push({ topic: packet.topic, payload: packet.payload.toString(), retain: packet.retain });
    });
    // Batching (how long records wait to fill a batch) is the uplink's business and tested there.
    await waitFor('the retained online status', () =>
      published.some((p) => p.topic === statusTopic('bike-t', 'lte') && p.retain && (JSON.parse(p.payload) as { state: string }).state === 'online'),
    );
    await waitFor('the link reported up', async () => {
      const s = JSON.parse((await getText(`${base}/status`)).body) as { links: Record<string, { state: string; active: boolean }> };
      return s.links['lte']?.state === 'up' && s.links['lte'].active;
    });
    const metrics = (await getText(`${base}/metrics`)).body;
    expect(metrics).toMatch(/^motobio_link_active\{link="lte"\} 1$/m);

    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    const offline = published.filter((p) => p.topic === statusTopic('bike-t', 'lte') && p.retain).map((p) => JSON.parse(p.payload) as { state: string });
    expect(offline[offline.length - 1]?.state).toBe('offline');
    expect(proc.stderr.join('\n')).toBe('');
  });

  it('SIGTERM in the middle of a fast replay loses no record: every append is in the store', async () => {
    const dir = workDir();
    const port = await freePort();
    const env = { ...runEnv(dir, port), MOTOBIO_SOURCE__SPEED: '200', MOTOBIO_SIGNAL__DECISION_PERIOD_S: '1' };
    const proc = spawnNode([main, 'run'], { cwd: dir, env });
    const base = `http://127.0.0.1:${port}`;
    await waitFor('a few hundred records', async () => {
      const s = JSON.parse((await getText(`${base}/status`)).body) as { outbox: { records: number | null } };
      return (s.outbox.records ?? 0) >= 200;
    });
    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    const flushed = proc.logs().find((l) => l['msg'] === 'pipeline flushed') as { appended: number; dropped: number } | undefined;
    expect(flushed?.dropped).toBe(0);
    const db = new Database(join(dir, 'var', 'motobio.db'), { readonly: true });
    const { n } = db.prepare('SELECT COUNT(*) AS n FROM records').get() as { n: number };
    const seq = db.prepare('SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM records').get() as { lo: number; hi: number };
    db.close();
    expect(n).toBe(flushed?.appended);
    // The per-device sequence has no gap.
    expect(seq.hi - seq.lo + 1).toBe(n);
  });

  it('stops on SIGINT as on SIGTERM, exit 0', async () => {
    const dir = workDir();
    const port = await freePort();
    const proc = spawnNode([main, 'run'], { cwd: dir, env: runEnv(dir, port) });
    await waitFor('/healthz', async () => (await getText(`http://127.0.0.1:${port}/healthz`)).status === 200);
    proc.kill('SIGINT');
    expect((await proc.exited).code).toBe(0);
  });

  it('refuses an invalid configuration with the setting path and exit 78', async () => {
    const dir = workDir();
    const config = join(dir, 'bad.yaml');
    writeFileSync(config, 'uplink:\n  links:\n    - name: lte\n      url: mqtts://broker.example:8883\n    - name: wifi\n      url: http://broker.example\n');
    const proc = spawnNode([main, 'run', '--config', config], { cwd: dir });
    expect((await proc.exited).code).toBe(78);
    expect(proc.stderr.join('\n')).toContain('uplink.links[1].url: must be a mqtt:// or mqtts:// URL');

    const env = spawnNode([main, 'run'], { cwd: dir, env: { MOTOBIO_HEALTH__PORT: 'eighty' } });
    expect((await env.exited).code).toBe(78);
    expect(env.stderr.join('\n')).toContain('health.port: must be integer (from environment variable MOTOBIO_HEALTH__PORT)');

    const missing = spawnNode([main, 'run', '--config', join(dir, 'nope.yaml')], { cwd: dir });
    expect((await missing.exited).code).toBe(78);
    expect(missing.stderr.join('\n')).toContain('does not exist');

    // A setting naming something unusable is a configuration problem too: no restart loop.
    const noRecord = spawnNode([main, 'run'], { cwd: dir, env: { MOTOBIO_HEALTH__PORT: '0', MOTOBIO_SOURCE__PATH: join(dir, 'no-such-record') } });
    expect((await noRecord.exited).code).toBe(78);
    expect(noRecord.stderr.join('\n')).toContain('no such header file');
    expect(noRecord.stderr.join('\n')).toContain('motobio config check');
  });

  it('a corrupt recording is not a configuration problem: exit 1 (systemd restarts), with what is wrong', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'bad.hea'), 'bad 1 360 notanumber\n');
    const proc = spawnNode([main, 'run'], { cwd: dir, env: { MOTOBIO_HEALTH__PORT: '0', MOTOBIO_SOURCE__PATH: join(dir, 'bad') } });
    expect((await proc.exited).code).toBe(1);
    expect(proc.stderr.join('\n')).toContain('bad.hea');
    expect(proc.stderr.join('\n')).not.toContain('motobio config check');
  });

  it('exits 1 with a clear message when the health port is taken', async () => {
    const first = await startEntry();
    const port = new URL(first.base).port;
    const second = spawnNode([main, 'run'], { cwd: first.dir, env: runEnv(first.dir, Number(port)) });
    expect((await second.exited).code).toBe(1);
    expect(second.stderr.join('\n')).toContain(`health port 127.0.0.1:${port} is already in use`);
    first.proc.kill();
    expect((await first.proc.exited).code).toBe(0);
  });
});

describe('daemon lifecycle in a child process', () => {
  it('stops in the fixed order: source, pipeline flush, store, uplink', async () => {
    const { proc } = await startEntry();
    expect(marks(proc)).toEqual(['start store', 'start uplink']);
    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    expect(marks(proc)).toEqual(['start store', 'start uplink', 'flush store', 'stop store', 'stop uplink']);
  });

  it('a second signal forces the exit while the stop is still running', async () => {
    const { proc } = await startEntry({ MBTEST_SLOW_STOP_MS: '600000' });
    proc.kill('SIGTERM');
    await waitFor('the slow stop to begin', () => marks(proc).includes('slow-stop uplink'));
    proc.kill('SIGINT');
    expect((await proc.exited).code).toBe(130);
    expect(proc.logs().some((l) => String(l['msg']).startsWith('second SIGINT'))).toBe(true);
  });

  it('a stop that overruns the 5 s deadline ends the process non-zero and names the component', async () => {
    const { proc } = await startEntry({ MBTEST_SLOW_STOP_MS: '600000' });
    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(1);
    expect(proc.logs().some((l) => l['component'] === 'uplink' && String(l['msg']).includes('did not stop within'))).toBe(true);
  });

  it('a signal during start-up interrupts it: what started is stopped, exit 0, no READY', async () => {
    const dir = workDir();
    const listener = await notifyListener(dir);
    cleanups.push(() => listener.close());
    const { proc } = await startEntry({ MBTEST_SLOW_START_MS: '600000', NOTIFY_SOCKET: listener.path }, false);
    await waitFor('the slow start to begin', () => marks(proc).includes('slow-start uplink'));
    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    expect(marks(proc)).toContain('stop store');
    expect(proc.logs().some((l) => l['msg'] === 'start-up interrupted; stopping what had started')).toBe(true);
    await waitFor('STOPPING=1', () => listener.messages.some((m) => m.startsWith('STOPPING=1')));
    expect(listener.messages.some((m) => m.startsWith('READY=1'))).toBe(false);
  });

  it('an uncaught exception is logged, the components are stopped, and the exit is 1', async () => {
    const { proc } = await startEntry({ MBTEST_THROW_AFTER_MS: '200' }, false);
    expect((await proc.exited).code).toBe(1);
    const fatal = proc.logs().find((l) => l['level'] === 60);
    expect(fatal?.['err']).toBe('test: an uncaught exception');
    expect(fatal?.['kind']).toBe('uncaughtException');
    expect(marks(proc)).toContain('stop store');
  });

  it('an unhandled rejection ends the process with exit 1 too', async () => {
    const { proc } = await startEntry({ MBTEST_REJECT_AFTER_MS: '200' }, false);
    expect((await proc.exited).code).toBe(1);
    expect(proc.logs().find((l) => l['level'] === 60)?.['kind']).toBe('unhandledRejection');
  });
});

describe('sd-notify over a real AF_UNIX datagram socket', () => {
  it('sends READY=1 only once started, WATCHDOG=1 at half the interval, STOPPING=1 on stop', async () => {
    const dir = workDir();
    const listener = await notifyListener(dir);
    cleanups.push(() => listener.close());
    const { proc, base } = await startEntry({ NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '400000', MOTOBIO_LOG_LEVEL: 'debug' }, false);
    await waitFor('READY=1', () => listener.messages.some((m) => m.startsWith('READY=1')));
    // READY means started: health answers "running" from that moment on.
    expect((await getText(`${base}/healthz`)).status).toBe(200);
    expect(proc.logs().find((l) => l['msg'] === 'sd-notify enabled')?.['transport']).toBe('unix-dgram');
    expect(proc.logs().find((l) => l['msg'] === 'sd-notify enabled')?.['watchdogIntervalMs']).toBe(200);
    await waitFor('three watchdog pings', () => listener.messages.filter((m) => m === 'WATCHDOG=1').length >= 3);
    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    await waitFor('STOPPING=1', () => listener.messages.some((m) => m.startsWith('STOPPING=1')));
    const ready = listener.messages.findIndex((m) => m.startsWith('READY=1'));
    const stopping = listener.messages.findIndex((m) => m.startsWith('STOPPING=1'));
    expect(ready).toBeLessThan(stopping);
    expect(listener.messages.filter((m) => m.startsWith('READY=1'))).toHaveLength(1);
  });

  it('does not ping the watchdog when WATCHDOG_PID names another process', async () => {
    const dir = workDir();
    const listener = await notifyListener(dir);
    cleanups.push(() => listener.close());
    const { proc } = await startEntry({ NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' }, false);
    await waitFor('READY=1', () => listener.messages.some((m) => m.startsWith('READY=1')));
    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    await waitFor('STOPPING=1', () => listener.messages.some((m) => m.startsWith('STOPPING=1')));
    expect(listener.messages).not.toContain('WATCHDOG=1');
  });
});
