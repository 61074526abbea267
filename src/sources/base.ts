/**
 * Shared bookkeeping for every EcgSource: state transitions, good/bad frame and gap counters,
 * the measured sample rate, and a 'status' event whenever something a technician would care
 * about changes. Concrete sources only decide where the data comes from.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { EcgSource, EcgSourceEvents, SampleChunk, RrChunk, SourceKind, SourceState, SourceStatus } from './types.js';
import { RateEstimator } from './rate.js';
import { errorMessage } from '../util/errors.js';

export interface Counters {
  framesGood: number;
  framesBad: number;
  gaps: number;
}

export abstract class SourceBase extends EventEmitter<EcgSourceEvents> implements EcgSource {
  readonly id: string;
  readonly kind: SourceKind;
  readonly fs: number | undefined;
  protected state: SourceState = 'idle';
  protected readonly counters: Counters = { framesGood: 0, framesBad: 0, gaps: 0 };
  protected readonly rate = new RateEstimator();
  protected leadOff = false;
  protected batteryPct: number | undefined;
  protected rssiDbm: number | undefined;
  protected lastError: string | undefined;
  private lastDataAtMs: number | undefined;
  /** Next sample index on the stream timeline (raw sources). */
  protected nextSample = 0;
  private loopAbort: AbortController | undefined;
  private loopDone: Promise<void> | undefined;

  protected constructor(id: string, kind: SourceKind, fs: number | undefined) {
    super();
    this.id = id;
    this.kind = kind;
    this.fs = fs;
  }

  abstract start(signal?: AbortSignal): Promise<void>;
  abstract stop(): Promise<void>;

  /**
   * Runs a reconnecting source's connect-read-reconnect loop in the background. start() returns at
   * once because connecting may take forever (no sensor yet) and must never hold up the daemon; a loop
   * that gives up ends in state 'failed' with its reason instead of an unhandled rejection.
   */
  protected startLoop(run: (signal: AbortSignal) => Promise<void>, signal: AbortSignal | undefined, warnOnFailure: boolean): Promise<void> {
    if (this.loopDone) return Promise.resolve();
    const abort = new AbortController();
    this.loopAbort = abort;
    signal?.addEventListener('abort', () => abort.abort(), { once: true });
    this.setState('connecting');
    this.loopDone = run(abort.signal).then(
      () => this.setState('ended'),
      (e: unknown) => {
        this.setState('failed', errorMessage(e));
        if (warnOnFailure) this.emit('warning', errorMessage(e));
      },
    );
    return Promise.resolve();
  }

  protected async stopLoop(): Promise<void> {
    this.loopAbort?.abort();
    await this.loopDone;
  }

  status(): SourceStatus {
    const measured = this.rate.rateHz();
    return {
      id: this.id,
      kind: this.kind,
      state: this.state,
      ...(this.fs !== undefined ? { nominalFs: this.fs } : {}),
      ...(measured !== undefined ? { measuredFs: measured } : {}),
      framesGood: this.counters.framesGood,
      framesBad: this.counters.framesBad,
      gaps: this.counters.gaps,
      ...(this.lastDataAtMs !== undefined ? { lastDataAgeMs: Math.max(0, performance.now() - this.lastDataAtMs) } : {}),
      leadOff: this.leadOff,
      ...(this.batteryPct !== undefined ? { batteryPct: this.batteryPct } : {}),
      ...(this.rssiDbm !== undefined ? { rssiDbm: this.rssiDbm } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  protected setState(state: SourceState, error?: string): void {
    if (error !== undefined) this.lastError = error;
    if (state === this.state && error === undefined) return;
    this.state = state;
    this.emit('status', this.status());
  }

  protected setLeadOff(leadOff: boolean): void {
    if (leadOff === this.leadOff) return;
    this.leadOff = leadOff;
    this.emit('status', this.status());
  }

  /** Emits raw samples starting at `start` (a gap is counted when it jumps ahead). */
  protected emitSamples(mv: Float64Array, start = this.nextSample, receivedAtMs = performance.now()): void {
    if (mv.length === 0) return;
    if (start > this.nextSample) this.counters.gaps++;
    this.nextSample = start + mv.length;
    this.lastDataAtMs = receivedAtMs;
    if (this.state !== 'streaming') this.setState('streaming');
    const chunk: SampleChunk = { start, mv, receivedAtMs };
    this.emit('samples', chunk);
  }

  protected emitRr(chunk: Omit<RrChunk, 'receivedAtMs'>, receivedAtMs = performance.now()): void {
    this.lastDataAtMs = receivedAtMs;
    if (this.state !== 'streaming') this.setState('streaming');
    this.emit('rr', { ...chunk, receivedAtMs });
  }

  protected markData(atMs = performance.now()): void {
    this.lastDataAtMs = atMs;
  }

  /** Milliseconds since the last data, or Infinity before any arrived. */
  protected dataAgeMs(now = performance.now()): number {
    return this.lastDataAtMs === undefined ? Infinity : now - this.lastDataAtMs;
  }
}
