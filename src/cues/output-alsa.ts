/**
 * An ALSA PCM through one long-lived `aplay` (alsa-utils) fed raw PCM on its stdin.
 *
 *   CuePlayer ──write(period…)──▶ stdin pipe ──▶ aplay -t raw -f S16_LE -r 22050 -c 1 ──▶ PCM (headset)
 *
 * Why a long-lived process and not one per prompt: the device is opened once at start (a
 * missing headset is found then, not at the first safety alert), a prompt starts with a pipe
 * write instead of fork+exec+open (bench/cues.ts measures both), and an interruption is only
 * "stop writing": what is already queued is bounded by the player's lead. aplay reads its
 * input a period at a time, which is why the player pads prompts to whole periods.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { MotobioError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { CUE_CHANNELS, CUE_RATE_HZ, type CueOutput, type CueOutputState } from './types.js';

/** aplay fails an open within a few ms; alive after this long means the PCM opened. */
export const APLAY_SETTLE_MS = 250;
const CLOSE_WAIT_MS = 3000;
/**
 * A write the device has not taken after this long means it is stuck (a Bluetooth link that
 * stalls rather than drops): aplay is killed and the output reports a failure, so the stage
 * reopens it instead of waiting forever. The player is only 80 ms ahead, so a healthy device
 * takes every write in well under this.
 */
export const WRITE_STALL_MS = 2000;
/** ALSA ring buffer, in periods: 4 x 20 ms is 80 ms, what the player keeps queued. */
export const BUFFER_PERIODS = 4;

export interface AlsaOutputOptions {
  /** ALSA PCM name (`aplay -L`). */
  device: string;
  periodFrames?: number;
  log: Logger;
  /** Environment for aplay (ALSA_CONFIG_PATH, HOME for ~/.asoundrc). */
  env?: NodeJS.ProcessEnv;
  command?: string;
  settleMs?: number;
  stallMs?: number;
}

export class AlsaOutput implements CueOutput {
  readonly name: string;
  readonly periodFrames: number;
  private child: ChildProcessByStdio<Writable, null, Readable> | undefined;
  private stateValue: CueOutputState = 'closed';
  private lastErrorValue: string | undefined;
  private stderrTail = '';
  private readonly failureListeners: ((reason: string) => void)[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly o: AlsaOutputOptions) {
    this.name = `alsa:${o.device}`;
    this.periodFrames = o.periodFrames ?? 441;
  }

  /** The aplay process while one runs (a test kills it to see the failure path). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  state(): CueOutputState {
    return this.stateValue;
  }

  lastError(): string | undefined {
    return this.lastErrorValue;
  }

  onFailure(listener: (reason: string) => void): void {
    this.failureListeners.push(listener);
  }

  async open(): Promise<void> {
    if (this.stateValue === 'open' || this.stateValue === 'opening') return;
    this.closing = undefined;
    this.stateValue = 'opening';
    this.stderrTail = '';
    const args = [
      '-q', '-D', this.o.device, '-t', 'raw', '-f', 'S16_LE', '-r', String(CUE_RATE_HZ), '-c', String(CUE_CHANNELS),
      `--period-size=${this.periodFrames}`, `--buffer-size=${this.periodFrames * BUFFER_PERIODS}`, '-',
    ];
    const child = spawn(this.o.command ?? 'aplay', args, { env: this.o.env ?? process.env, stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      // Underruns between prompts are expected (nothing is written while the rider hears nothing).
      const lines = d.split('\n').filter((l) => l.trim() !== '' && !/underrun/i.test(l));
      if (lines.length > 0) this.stderrTail = `${this.stderrTail}\n${lines.join('\n')}`.slice(-600).trim();
    });
    // EPIPE after aplay died: the exit handler reports it; the write's own callback rejects.
    child.stdin.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        if (this.child === child && this.stateValue === 'opening') this.stateValue = 'open';
        resolve();
      }, this.o.settleMs ?? APLAY_SETTLE_MS);
      child.once('error', (e: NodeJS.ErrnoException) => {
        const why = e.code === 'ENOENT' ? `${this.o.command ?? 'aplay'} is not installed (apt-get install alsa-utils)` : e.message;
        this.failed(child, why);
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new MotobioError('AUDIO_UNAVAILABLE', `audio output ${this.name}: ${why}`));
        }
      });
      child.once('exit', (code, sig) => {
        const why = this.stderrTail !== '' ? this.stderrTail : `aplay exited (${sig ?? code})`;
        if (this.child === child && !this.closing) this.failed(child, why);
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new MotobioError('AUDIO_UNAVAILABLE', `audio output ${this.name} cannot be opened: ${why}; check rider.audio.device against "aplay -L" and that the headset is paired and on`));
        }
      });
    });
  }

  write(pcm: Buffer): Promise<void> {
    const child = this.child;
    if (!child || this.stateValue !== 'open') return Promise.reject(new MotobioError('AUDIO_UNAVAILABLE', `audio output ${this.name} is ${this.stateValue}${this.lastErrorValue ? `: ${this.lastErrorValue}` : ''}`));
    return new Promise((resolve, reject) => {
      let done = false;
      const stall = setTimeout(() => {
        if (done) return;
        done = true;
        const why = `the device took no audio for ${WRITE_STALL_MS} ms (stalled)`;
        this.failed(child, why);
        child.kill('SIGKILL');
        reject(new MotobioError('AUDIO_UNAVAILABLE', `audio output ${this.name} failed: ${why}`));
      }, this.o.stallMs ?? WRITE_STALL_MS);
      child.stdin.write(pcm, (err) => {
        clearTimeout(stall);
        if (done) return;
        done = true;
        if (err) reject(new MotobioError('AUDIO_UNAVAILABLE', `audio output ${this.name} failed: ${this.lastErrorValue ?? err.message}`));
        else resolve();
      });
    });
  }

  close(): Promise<void> {
    this.closing ??= this.runClose();
    return this.closing;
  }

  private async runClose(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.stateValue = this.stateValue === 'failed' ? 'failed' : 'closed';
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // End of input: aplay plays out what it holds and exits.
    child.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    if (late) {
      child.kill('SIGKILL');
      await exited;
    }
    this.stateValue = 'closed';
  }

  private failed(child: ChildProcessByStdio<Writable, null, Readable>, why: string): void {
    if (this.child === child) this.child = undefined;
    const wasOpen = this.stateValue === 'open';
    this.stateValue = 'failed';
    this.lastErrorValue = why;
    if (wasOpen) {
      this.o.log.warn({ output: this.name, err: why }, 'audio output failed');
      for (const l of this.failureListeners) l(why);
    }
  }
}
