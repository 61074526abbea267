/**
 * systemd's notify protocol: one datagram per state change to the AF_UNIX socket named in
 * $NOTIFY_SOCKET ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=..."), and WATCHDOG=1 at
 * half of $WATCHDOG_USEC while the event loop is alive.
 *
 * Node has no AF_UNIX datagram socket, so the message goes out through, in order:
 *   1. `unix-dgram` (an optional native dependency; the sender is this process, so the unit
 *      works with NotifyAccess=main), then
 *   2. the `systemd-notify` binary (the sender is a child process, hence NotifyAccess=all in
 *      systemd/motobio.service; systemd-notify waits until systemd has read the message, so
 *      the child exiting first does not lose it).
 * Without $NOTIFY_SOCKET (not under systemd) every call is a no-op.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';

export type NotifyTransportKind = 'unix-dgram' | 'systemd-notify' | 'none';

export interface Notifier {
  readonly transport: NotifyTransportKind;
  /** Watchdog period (half of WATCHDOG_USEC) in ms, when systemd asked for one. */
  readonly watchdogIntervalMs: number | undefined;
  notify(message: string): Promise<void>;
  ready(status?: string): Promise<void>;
  stopping(status?: string): Promise<void>;
  status(text: string): Promise<void>;
  /** Starts WATCHDOG=1 pings; `healthy` can withhold a ping so systemd restarts a wedged unit. */
  startWatchdog(healthy?: () => boolean): void;
  stopWatchdog(): void;
  close(): void;
}

interface UnixDgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: Error) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): void;
}
interface UnixDgramModule {
  createSocket(type: 'unix_dgram'): UnixDgramSocket;
}

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  log: Logger;
  /** Forces a transport (tests use it to exercise the fallback). */
  transport?: Exclude<NotifyTransportKind, 'none'>;
  systemdNotifyPath?: string;
}

function loadUnixDgram(): UnixDgramModule | undefined {
  try {
    const require = createRequire(import.meta.url);
    return require('unix-dgram') as UnixDgramModule;
  } catch {
    return undefined;
  }
}

export function watchdogInterval(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env['WATCHDOG_USEC']);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  const forPid = env['WATCHDOG_PID'];
  if (forPid !== undefined && forPid !== '' && Number(forPid) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export function createNotifier(options: NotifierOptions): Notifier {
  const env = options.env ?? process.env;
  const log = options.log;
  const socketPath = env['NOTIFY_SOCKET'];
  const watchdogIntervalMs = socketPath ? watchdogInterval(env) : undefined;
  let send: ((message: string) => Promise<void>) | undefined;
  let transport: NotifyTransportKind = 'none';
  let socket: UnixDgramSocket | undefined;

  if (socketPath) {
    // An abstract socket ("@name") needs the NUL-prefixed address unix-dgram cannot pass.
    const dgram = options.transport === 'systemd-notify' || socketPath.startsWith('@') ? undefined : loadUnixDgram();
    if (dgram) {
      transport = 'unix-dgram';
      const s = dgram.createSocket('unix_dgram');
      s.on('error', (e) => log.warn({ err: errorMessage(e) }, 'sd-notify socket error'));
      socket = s;
      send = (message) =>
        new Promise((resolve, reject) => {
          const buf = Buffer.from(message);
          s.send(buf, 0, buf.length, socketPath, (err) => (err ? reject(err) : resolve()));
        });
    } else {
      transport = 'systemd-notify';
      const bin = options.systemdNotifyPath ?? 'systemd-notify';
      send = (message) =>
        new Promise((resolve, reject) => {
          execFile(bin, message.split('\n'), { env: { ...process.env, ...env }, timeout: 10_000 }, (err) =>
            err ? reject(new Error(`${bin} failed: ${err.message}`)) : resolve(),
          );
        });
    }
    log.debug({ transport, socket: socketPath, watchdogIntervalMs }, 'sd-notify enabled');
  }

  let timer: NodeJS.Timeout | undefined;
  let warned = false;
  const notify = async (message: string): Promise<void> => {
    if (!send) return;
    try {
      await send(message);
    } catch (e) {
      // Never fatal: a missing READY only makes systemd time the start out, which it reports.
      if (!warned) log.warn({ err: errorMessage(e), transport }, 'cannot notify systemd; check NOTIFY_SOCKET and NotifyAccess');
      warned = true;
    }
  };

  return {
    transport,
    watchdogIntervalMs,
    notify,
    ready: (status) => notify(status ? `READY=1\nSTATUS=${status}` : 'READY=1'),
    stopping: (status) => notify(status ? `STOPPING=1\nSTATUS=${status}` : 'STOPPING=1'),
    status: (text) => notify(`STATUS=${text}`),
    startWatchdog(healthy) {
      if (watchdogIntervalMs === undefined || timer) return;
      const ping = () => {
        if (healthy && !healthy()) {
          log.warn('withholding the systemd watchdog ping: the daemon reports itself unhealthy');
          return;
        }
        void notify('WATCHDOG=1');
      };
      ping();
      timer = setInterval(ping, watchdogIntervalMs);
      timer.unref();
    },
    stopWatchdog() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      socket?.close();
      socket = undefined;
    },
  };
}
