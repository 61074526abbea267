/**
 * Who holds a serial port: `calibrate ecg` and `test bluetooth` check once, before their
 * minute of measuring, so a port locked by the daemon is said at once and by name.
 *
 *   open with lock ──ok──▶ close, go on
 *        └─ lock/EBUSY ─▶ /proc/locks (FLOCK on the device's inode) ─▶ pid ─▶ /proc/<pid>/cmdline
 *                          └─ `motobio run` ─▶ "the motobio daemon holds PORT: systemctl stop motobio ..."
 *
 * serialport's `lock: true` is flock(LOCK_EX), which /proc/locks lists with the holder's pid.
 * The daemon reads the calibration profile when it starts (src/calibration/in-force.ts), and
 * the port can only have one reader, so stopping it for the calibration and starting it after
 * is the whole procedure: nothing else needs to pick the new profile up.
 */
import { readFileSync, statSync } from 'node:fs';
import { MotobioError, errorMessage } from '../../util/errors.js';
import { openSerialPort, type SerialTransportFactory } from './transport.js';

export interface PortHolder {
  readonly pid: number;
  readonly command: string;
  readonly isDaemon: boolean;
}

/** The process holding an flock on `path`, from /proc/locks; undefined when none is listed. */
export function portHolder(path: string): PortHolder | undefined {
  let ino: number;
  let major: number;
  let minor: number;
  let locks: string;
  try {
    const st = statSync(path);
    ino = st.ino;
    major = (st.dev >> 8) & 0xfff;
    minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
    locks = readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of locks.split('\n')) {
    const m = /^\d+:\s+FLOCK\s+\S+\s+\S+\s+(\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (!m || Number(m[4]) !== ino || parseInt(m[2], 16) !== major || parseInt(m[3], 16) !== minor) continue;
    const pid = Number(m[1]);
    let command = '';
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    } catch {
      // A process of another user under ProtectProc=invisible: the pid is all there is.
    }
    return { pid, command, isDaemon: isMotobioDaemon(command) };
  }
  return undefined;
}

/** `motobio run`, `/opt/motobio/bin/motobio run`, `node .../cli/main.js run`. */
function isMotobioDaemon(command: string): boolean {
  const args = command.split(' ');
  const i = args.findIndex((a) => /(^|\/)motobio$/.test(a) || /cli\/main\.js$/.test(a));
  return i >= 0 && args[i + 1] === 'run';
}

/**
 * Opens `path` once with the lock and closes it again; a port held by another process is a
 * SOURCE_UNAVAILABLE error that names the holder and the fix, straight away.
 */
export async function assertPortFree(path: string, baudRate = 115200, open: SerialTransportFactory = openSerialPort): Promise<void> {
  let port;
  try {
    port = await open(path, baudRate);
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause ?? e;
    if (!/lock|EBUSY|Resource temporarily unavailable/i.test(errorMessage(cause))) throw e;
    const h = portHolder(path);
    if (h?.isDaemon) {
      throw new MotobioError(
        'SOURCE_UNAVAILABLE',
        `the motobio daemon (pid ${h.pid}) holds ${path}: stop it with "systemctl stop motobio", calibrate, then start it with "systemctl start motobio"; the daemon reads the profile at start`,
        { cause },
      );
    }
    const who = h ? `another program (pid ${h.pid}${h.command ? `: ${h.command}` : ''})` : 'another program';
    throw new MotobioError('SOURCE_UNAVAILABLE', `${who} holds ${path}; stop it (a serial monitor, screen, minicom, or the motobio daemon: "systemctl stop motobio") and try again`, { cause });
  }
  // close() releases the flock before the source opens the port again; destroy() alone does not wait for it.
  const closable = port as unknown as { close?: (cb: (err?: Error | null) => void) => void };
  if (typeof closable.close === 'function') await new Promise<void>((resolve) => closable.close!(() => resolve()));
  else port.destroy();
}
