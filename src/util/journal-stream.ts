/**
 * Journal priorities for pino lines. Under systemd, stdout is a stream socket to journald and
 * every line lands at the unit's default priority (6, info) unless it starts with a `<N>` prefix
 * (sd-daemon(3); SyslogLevelPrefix= is on by default), so `journalctl -p warning` showed nothing.
 *
 *   pino line ──► journalDestination: "<N>" + line ──► fd 1 (journald strips <N> and files it at N)
 *
 * The prefix is added only when fd 1 really is the journal stream: systemd sets
 * JOURNAL_STREAM=<dev>:<inode> of that socket, and sd-daemon(3) says to compare it with fstat()
 * of the descriptor, because the variable is inherited by children whose stdout is a pipe or a
 * terminal (`motobio status | less` run from a unit's shell must not print `<6>`).
 */
import { fstatSync } from 'node:fs';

const METADATA = Symbol.for('pino.metadata');

/** pino level number to syslog priority: fatal 2 (crit), error 3, warn 4, info 6, debug and trace 7. */
export function journalPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/** True when `fd` is the stream JOURNAL_STREAM names (same device and inode). */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env['JOURNAL_STREAM'];
  const m = value === undefined ? null : /^(\d+):(\d+)$/.exec(value.trim());
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]) && st.ino === BigInt(m[2]);
  } catch {
    return false;
  }
}

interface PinoMetadataStream {
  [METADATA]: true;
  /** Set by pino before each write (pino.symbols.needsMetadataGsym). */
  lastLevel: number;
  write(line: string): boolean;
}

/** A pino destination that prefixes each line with its journal priority. */
export function journalDestination(inner: NodeJS.WritableStream): PinoMetadataStream {
  return {
    [METADATA]: true,
    lastLevel: 30,
    write(line: string): boolean {
      return inner.write(`<${journalPriority(this.lastLevel)}>${line}`);
    },
  };
}
