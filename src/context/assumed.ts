/**
 * No GPS configured: the unit's old assumption, stated as such. The bike counts as ridden
 * while the daemon runs (so the lost-sensor rules stay armed), there is no position, and the
 * riding minutes are the time since start on the clock the caller decides on (the decision
 * input uses the data's own timeline, as the engine always has).
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { RideContextEvents, RideContextSnapshot, RideContextSource, RideSourceState, RideSourceStatus } from './types.js';

export interface AssumedSourceOptions {
  /** Monotonic clock, ms; defaults to performance.now(). */
  readonly now?: () => number;
}

export class AssumedRideSource extends EventEmitter<RideContextEvents> implements RideContextSource {
  readonly kind = 'assumed' as const;
  readonly id = 'assumed';
  private state: RideSourceState = 'idle';
  private startedMono: number | undefined;
  private readonly now: () => number;

  constructor(options: AssumedSourceOptions = {}) {
    super();
    this.now = options.now ?? (() => performance.now());
  }

  start(signal?: AbortSignal): Promise<void> {
    if (this.state === 'streaming') return Promise.resolve();
    this.startedMono = this.now();
    this.state = 'streaming';
    signal?.addEventListener('abort', () => void this.stop(), { once: true });
    this.emit('status', this.status());
    // Said once, so a listener sees the assumption the way it sees a gpsd fix.
    queueMicrotask(() => {
      if (this.state === 'streaming') this.emit('context', this.snapshot());
    });
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (this.state !== 'ended') {
      this.state = 'ended';
      this.emit('status', this.status());
    }
    return Promise.resolve();
  }

  snapshot(): RideContextSnapshot {
    const minutes = this.startedMono === undefined ? 0 : Math.max(0, (this.now() - this.startedMono) / 60_000);
    return { source: 'assumed', riding: true, phase: 'riding', minutesRiding: minutes, stale: false, rideStartMs: null, position: null, speedMps: null, fixAgeS: null, fixTimeMs: null };
  }

  status(): RideSourceStatus {
    return { id: this.id, kind: this.kind, state: this.state, fixes: 0, badReports: 0, context: this.snapshot() };
  }
}
