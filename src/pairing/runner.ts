/**
 * Runs the system tools the pairing steps need (bluetoothctl, rfcomm, bt-agent, systemctl,
 * udevadm) as child processes: argv arrays, never a shell, each with a deadline, so a hung
 * bluetoothd ("Waiting to connect to bluetoothd...") ends the step instead of the command.
 * Executables are looked up on the PATH of the environment handed in, which is how tests
 * put their scripted stand-ins in front of the real tools.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface CommandLine {
  readonly argv: readonly string[];
  readonly timeoutMs: number;
}

export interface CommandResult {
  /** Exit status; null when killed (timeout) or never started. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** The executable is not on PATH. */
  readonly missing: boolean;
}

/** A process left running while other steps go on (the PIN agent). */
export interface BackgroundProcess {
  /** Its exit status once it has ended, else undefined. */
  exited(): number | null | undefined;
  output(): string;
  stop(): Promise<void>;
}

export interface CommandRunner {
  run(c: CommandLine): Promise<CommandResult>;
  start(argv: readonly string[]): BackgroundProcess;
  /** The executable's full path on PATH, or undefined. */
  which(name: string): string | undefined;
}

const MAX_OUTPUT = 64 * 1024;

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export function systemRunner(env: NodeJS.ProcessEnv = process.env): CommandRunner {
  const which = (name: string): string | undefined => {
    for (const dir of (env['PATH'] ?? '').split(delimiter)) {
      if (dir === '') continue;
      const p = join(dir, name);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        // not here
      }
    }
    return undefined;
  };
  // Children speak C: their messages are parsed, whatever language the technician reads.
  const childEnv = { ...env, LC_ALL: 'C', LANG: 'C' };
  return {
    which,
    run(c) {
      const [cmd, ...args] = c.argv;
      const file = cmd === undefined ? undefined : which(cmd);
      if (file === undefined) return Promise.resolve({ code: null, stdout: '', stderr: '', timedOut: false, missing: true });
      return new Promise((resolve) => {
        // Its own process group, so a timeout also ends what it started (a shell's sleep holding the pipes).
        const child = spawn(file, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        let stdout = '';
        let stderr = '';
        let timedOut = false;
        child.stdout.setEncoding('utf8').on('data', (d: string) => void (stdout.length < MAX_OUTPUT && (stdout += d)));
        child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr.length < MAX_OUTPUT && (stderr += d)));
        const timer = setTimeout(() => {
          timedOut = true;
          killGroup(child.pid, 'SIGKILL');
        }, c.timeoutMs);
        child.on('error', (e) => {
          clearTimeout(timer);
          resolve({ code: null, stdout, stderr: stderr + String(e.message), timedOut, missing: (e as NodeJS.ErrnoException).code === 'ENOENT' });
        });
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code: timedOut ? null : code, stdout, stderr, timedOut, missing: false });
        });
      });
    },
    start(argv) {
      const [cmd, ...args] = argv;
      const file = (cmd === undefined ? undefined : which(cmd)) ?? cmd ?? 'false';
      const child = spawn(file, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let out = '';
      let status: number | null | undefined;
      const append = (d: string): void => void (out.length < MAX_OUTPUT && (out += d));
      child.stdout.setEncoding('utf8').on('data', append);
      child.stderr.setEncoding('utf8').on('data', append);
      const closed = new Promise<void>((resolve) => {
        child.on('error', (e) => {
          append(e.message);
          status = null;
          resolve();
        });
        child.on('close', (code) => {
          status = code;
          resolve();
        });
      });
      return {
        exited: () => status,
        output: () => out.trim(),
        async stop() {
          if (status === undefined) killGroup(child.pid, 'SIGTERM');
          const t = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 2000);
          await closed;
          clearTimeout(t);
        },
      };
    },
  };
}
