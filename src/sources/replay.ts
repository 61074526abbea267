/**
 * Replays one channel of a WFDB record as a raw ECG source: the same events, status and
 * timeline as a live sensor, so the daemon, the tests and `motobio` demos run the real
 * pipeline on a real recording.
 *
 *   record.hea/.dat ──readRecord──▶ mV (toPhysical) ──chunks, paced at fs × speed──▶ 'samples'
 *
 * speed 1 is real time; speed 0 (or Infinity) hands chunks over as fast as the consumer takes
 * them, yielding to the event loop between chunks so timers and I/O still run.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { MotobioError } from '../util/errors.js';
import { SourceBase } from './base.js';
import { sleep } from './backoff.js';
import { channelOf, readRecord, toPhysical, type WfdbRecord } from './wfdb/record.js';

export interface ReplayOptions {
  /** Path of the record without extension, or a record already read. */
  readonly record: string | WfdbRecord;
  readonly channel?: number;
  /** 1 = real time, 10 = ten times faster, 0 or Infinity = as fast as the consumer takes it. */
  readonly speed?: number;
  /** Samples per chunk; default one tenth of a second. */
  readonly chunkSamples?: number;
  /** Skip this many seconds from the start of the record. */
  readonly startS?: number;
  /** Replay at most this many seconds. */
  readonly durationS?: number;
  /** Start over at the end instead of ending (the sample timeline keeps counting). */
  readonly loop?: boolean;
  readonly id?: string;
}

export class ReplaySource extends SourceBase {
  private readonly mv: Float64Array;
  private readonly speed: number;
  private readonly chunk: number;
  private readonly loop: boolean;
  private abort: AbortController | undefined;
  private pump: Promise<void> | undefined;

  constructor(options: ReplayOptions) {
    const record = typeof options.record === 'string' ? readRecord(options.record) : options.record;
    const channel = options.channel ?? 0;
    const signal = channelOf(record, channel);
    super(options.id ?? `replay:${record.name}:${channel}`, 'raw', signal.fs);
    const speed = options.speed ?? 1;
    if (!(speed >= 0)) throw new MotobioError('CONFIG_INVALID', `replay speed must be 0 (as fast as possible) or a positive factor, got ${speed}`);
    this.speed = speed === 0 ? Infinity : speed;
    this.chunk = Math.max(1, Math.round(options.chunkSamples ?? signal.fs / 10));
    this.loop = options.loop ?? false;

    const all = toPhysical(signal);
    // Samples the format marks as missing become NaN, the lead-off marker of the interface.
    for (let i = 0; i < all.length; i++) if (signal.adc[i] === signal.invalidValue) all[i] = NaN;
    const from = Math.max(0, Math.round((options.startS ?? 0) * signal.fs));
    const to = options.durationS === undefined ? all.length : Math.min(all.length, from + Math.round(options.durationS * signal.fs));
    if (from >= to) throw new MotobioError('USAGE', `${record.base}: nothing to replay between ${options.startS ?? 0} s and the end of the record (${(all.length / signal.fs).toFixed(1)} s long)`);
    this.mv = all.subarray(from, to);
  }

  /** Total samples one pass replays. */
  get length(): number {
    return this.mv.length;
  }

  start(signal?: AbortSignal): Promise<void> {
    if (this.pump) return Promise.resolve();
    this.abort = new AbortController();
    const abort = this.abort;
    signal?.addEventListener('abort', () => abort.abort(), { once: true });
    this.setState('streaming');
    this.pump = this.run(abort.signal).then(
      () => {
        if (this.state !== 'ended') this.setState('ended');
      },
      (e: unknown) => this.setState('failed', e instanceof Error ? e.message : String(e)),
    );
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    await this.pump;
  }

  /** Resolves when the replay has ended or was stopped. */
  async finished(): Promise<void> {
    await this.pump;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const fs = this.fs!;
    let t0 = performance.now();
    let passStart = this.nextSample;
    for (;;) {
      for (let i = 0; i < this.mv.length; i += this.chunk) {
        if (signal.aborted) return;
        const end = Math.min(this.mv.length, i + this.chunk);
        if (Number.isFinite(this.speed)) {
          const dueMs = t0 + (end / fs) * (1000 / this.speed);
          const wait = dueMs - performance.now();
          // Behind schedule (a fast replay on a busy machine) it still yields, or it would starve
          // timers, I/O and the decisions waiting on the data for a whole pass.
          if (wait > 1) await sleep(wait, signal);
          else await yieldToLoop();
          if (signal.aborted) return;
        } else {
          await yieldToLoop();
        }
        const now = performance.now();
        const part = this.mv.slice(i, end);
        this.counters.framesGood++;
        this.emitSamples(part, passStart + i, now);
        this.rate.add(passStart + end, now);
        this.setLeadOff(Number.isNaN(part[part.length - 1]));
      }
      if (!this.loop) break;
      passStart += this.mv.length;
      t0 = performance.now();
    }
    this.setState('ended');
    this.emit('end');
  }
}
