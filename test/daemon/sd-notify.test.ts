/**
 * Both sd-notify transports against a real AF_UNIX datagram socket (a python3 listener):
 * the unix-dgram module and the systemd-notify binary fallback.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createNotifier, watchdogInterval } from '../../src/daemon/sd-notify.js';
import { silentLogger } from '../../src/util/log.js';
import { killAll, notifyListener, tempDir, waitFor } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  killAll();
  while (cleanups.length > 0) cleanups.pop()?.();
});

async function listen() {
  const dir = tempDir('motobio-notify-');
  cleanups.push(dir.cleanup);
  const l = await notifyListener(dir.path);
  cleanups.push(() => l.close());
  return l;
}

describe('sd-notify', () => {
  it('is a no-op without NOTIFY_SOCKET', async () => {
    const n = createNotifier({ env: {}, log: silentLogger });
    expect(n.transport).toBe('none');
    expect(n.watchdogIntervalMs).toBeUndefined();
    await n.ready();
    n.close();
  });

  it('derives the watchdog period from WATCHDOG_USEC (half) and honours WATCHDOG_PID', () => {
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 42)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43' }, 42)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: 'x' }, 42)).toBeUndefined();
    expect(watchdogInterval({}, 42)).toBeUndefined();
  });

  for (const transport of ['unix-dgram', 'systemd-notify'] as const) {
    it(`sends READY, STATUS, WATCHDOG and STOPPING through ${transport}`, async () => {
      const l = await listen();
      const n = createNotifier({ env: { NOTIFY_SOCKET: l.path, WATCHDOG_USEC: '200000' }, log: silentLogger, transport });
      expect(n.transport).toBe(transport);
      await n.ready('running');
      await waitFor('READY=1', () => l.messages.some((m) => m.includes('READY=1')));
      n.startWatchdog();
      await waitFor('two watchdog pings', () => l.messages.filter((m) => m.includes('WATCHDOG=1')).length >= 2);
      n.stopWatchdog();
      await n.stopping();
      await waitFor('STOPPING=1', () => l.messages.some((m) => m.includes('STOPPING=1')));
      n.close();
      const ready = l.messages.find((m) => m.includes('READY=1'))!;
      expect(ready.split('\n')).toEqual(expect.arrayContaining(['READY=1', 'STATUS=running']));
    });
  }

  it('withholds the watchdog ping while the daemon reports itself unhealthy', async () => {
    const l = await listen();
    const n = createNotifier({ env: { NOTIFY_SOCKET: l.path, WATCHDOG_USEC: '100000' }, log: silentLogger });
    let healthy = false;
    n.startWatchdog(() => healthy);
    await n.ready();
    await waitFor('READY=1', () => l.messages.includes('READY=1'));
    // Pings run every 50 ms; give several periods a chance before letting it be healthy.
    await new Promise((r) => setTimeout(r, 300));
    expect(l.messages).not.toContain('WATCHDOG=1');
    healthy = true;
    await waitFor('a ping once healthy', () => l.messages.includes('WATCHDOG=1'));
    n.close();
  });

  it('never throws when the socket is gone; it warns once', async () => {
    const n = createNotifier({ env: { NOTIFY_SOCKET: '/nonexistent/notify' }, log: silentLogger });
    await n.ready();
    await n.stopping();
    n.close();
  });
});
