import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Lifecycle, STOP_RANK, installProcessHandlers, type Component } from '../../src/daemon/lifecycle.js';
import { silentLogger } from '../../src/util/log.js';
import type { Notifier } from '../../src/daemon/sd-notify.js';

function recorder() {
  const events: string[] = [];
  const make = (name: string, opts: { startMs?: number; stopMs?: number; failStart?: boolean; failStop?: boolean } = {}): Component => ({
    name,
    async start(signal) {
      events.push(`start ${name}`);
      if (opts.startMs) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, opts.startMs);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      if (opts.failStart) throw new Error(`${name} cannot start`);
    },
    async stop() {
      events.push(`stop ${name}`);
      if (opts.stopMs) await new Promise((r) => setTimeout(r, opts.stopMs));
      if (opts.failStop) throw new Error(`${name} cannot stop`);
    },
  });
  return { events, make };
}

function fakeNotifier(events: string[]): Notifier {
  return {
    transport: 'none',
    watchdogIntervalMs: undefined,
    notify: (m) => Promise.resolve(void events.push(`notify ${m}`)),
    ready: () => Promise.resolve(void events.push('notify READY=1')),
    stopping: () => Promise.resolve(void events.push('notify STOPPING=1')),
    status: () => Promise.resolve(),
    startWatchdog: () => undefined,
    stopWatchdog: () => undefined,
    close: () => undefined,
  };
}

function daemonLike(events: string[], make: ReturnType<typeof recorder>['make'], over: Partial<Record<string, Parameters<ReturnType<typeof recorder>['make']>[1]>> = {}) {
  const lc = new Lifecycle({ log: silentLogger, notifier: fakeNotifier(events), stopDeadlineMs: 1000 });
  lc.add(make('health', over['health']), STOP_RANK.health);
  lc.add(make('store', over['store']), STOP_RANK.store);
  lc.add(make('uplink', over['uplink']), STOP_RANK.uplink);
  lc.add(make('pipeline', over['pipeline']), STOP_RANK.pipeline);
  lc.add(make('source', over['source']), STOP_RANK.source);
  return lc;
}

describe('Lifecycle', () => {
  it('starts in registration order, READY last; stops source, pipeline, store, uplink, health', async () => {
    const { events, make } = recorder();
    const lc = daemonLike(events, make);
    expect(await lc.start()).toBe(true);
    expect(lc.state).toBe('running');
    expect(events).toEqual(['start health', 'start store', 'start uplink', 'start pipeline', 'start source', 'notify READY=1']);
    events.length = 0;
    expect(await lc.stop()).toBe(true);
    expect(events).toEqual(['notify STOPPING=1', 'stop source', 'stop pipeline', 'stop store', 'stop uplink', 'stop health']);
    expect(lc.state).toBe('stopped');
  });

  it('stop is idempotent: a second call returns the same promise and stops nothing twice', async () => {
    const { events, make } = recorder();
    const lc = daemonLike(events, make, { store: { stopMs: 50 } });
    await lc.start();
    events.length = 0;
    const a = lc.stop();
    const b = lc.stop();
    expect(a).toBe(b);
    await a;
    await lc.stop();
    expect(events.filter((e) => e === 'stop store')).toHaveLength(1);
  });

  it('an abort during start-up stops what had started, sends no READY and resolves false', async () => {
    const { events, make } = recorder();
    const lc = daemonLike(events, make, { uplink: { startMs: 60_000 } });
    const ac = new AbortController();
    const started = lc.start(ac.signal);
    await new Promise((r) => setTimeout(r, 20));
    ac.abort('SIGTERM');
    expect(await started).toBe(false);
    expect(events).not.toContain('notify READY=1');
    expect(events).not.toContain('start pipeline');
    expect(events.slice(events.indexOf('notify STOPPING=1'))).toEqual(['notify STOPPING=1', 'stop store', 'stop uplink', 'stop health']);
  });

  it('stop() during start-up interrupts the start too', async () => {
    const { events, make } = recorder();
    const lc = daemonLike(events, make, { uplink: { startMs: 60_000 } });
    const started = lc.start();
    await new Promise((r) => setTimeout(r, 20));
    await lc.stop();
    expect(await started).toBe(false);
    expect(events).not.toContain('notify READY=1');
  });

  it('a component that fails to start: the others are stopped and the error is thrown', async () => {
    const { events, make } = recorder();
    const lc = daemonLike(events, make, { uplink: { failStart: true } });
    await expect(lc.start()).rejects.toThrow('uplink cannot start');
    expect(events).toContain('stop store');
    expect(events).toContain('stop health');
    expect(events).not.toContain('start pipeline');
  });

  it('a component that fails to stop does not keep the others from stopping', async () => {
    const { events, make } = recorder();
    const lc = daemonLike(events, make, { pipeline: { failStop: true } });
    await lc.start();
    expect(await lc.stop()).toBe(false);
    expect(events).toContain('stop store');
    expect(events).toContain('stop uplink');
  });

  it('a component that hangs is abandoned at the deadline and the rest still get their turn', async () => {
    const { make } = recorder();
    const lc = new Lifecycle({ log: silentLogger, stopDeadlineMs: 300 });
    lc.add(make('store'), STOP_RANK.store);
    lc.add(make('source', { stopMs: 60_000 }), STOP_RANK.source);
    await lc.start();
    expect(await lc.stop()).toBe(false);
    // The deadline is spent, so the store is reported rather than awaited.
    expect(lc.state).toBe('stopped');
  });
});

class FakeProcess extends EventEmitter {
  stdout = { write: (_s: string, cb?: () => void) => cb?.() };
}

describe('installProcessHandlers', () => {
  function setup(over: Parameters<ReturnType<typeof recorder>['make']>[1] = {}) {
    const { events, make } = recorder();
    const lc = new Lifecycle({ log: silentLogger });
    lc.add(make('store', over), STOP_RANK.store);
    const proc = new FakeProcess();
    const exits: number[] = [];
    const h = installProcessHandlers(lc, silentLogger, { proc: proc as unknown as NodeJS.Process, exit: (c) => exits.push(c) });
    return { events, lc, proc, exits, h };
  }

  it('first SIGTERM stops and exits 0', async () => {
    const { lc, proc, exits, h } = setup();
    await lc.start(h.signal);
    proc.emit('SIGTERM');
    expect(h.signal.aborted).toBe(true);
    await lc.stop();
    await new Promise((r) => setImmediate(r));
    expect(exits).toEqual([0]);
  });

  it('a second signal exits at once with 128+n', async () => {
    const { lc, proc, exits, h } = setup({ stopMs: 60_000 });
    await lc.start(h.signal);
    proc.emit('SIGTERM');
    proc.emit('SIGINT');
    expect(exits).toEqual([130]);
    proc.emit('SIGTERM');
    expect(exits).toEqual([130, 143]);
  });

  it('an uncaught exception stops (bounded) and exits 1; so does an unhandled rejection', async () => {
    const a = setup();
    await a.lc.start(a.h.signal);
    a.proc.emit('uncaughtException', new Error('boom'));
    await a.lc.stop();
    await new Promise((r) => setImmediate(r));
    expect(a.exits).toEqual([1]);
    expect(a.events).toContain('stop store');

    const b = setup();
    await b.lc.start(b.h.signal);
    b.proc.emit('unhandledRejection', new Error('lost'));
    await b.lc.stop();
    await new Promise((r) => setImmediate(r));
    expect(b.exits).toEqual([1]);
  });
});
