/**
 * The rider's own baseline: resting heart rate and RMSSD, learned over the first minutes of
 * each ride and across rides.
 *
 *   decision features ──observe()──▶ trusted samples of this ride's warm-up (quality, no leads off)
 *                                          │ warm-up over and enough samples
 *                                          ▼
 *                      ride estimate (low quantile of HR, median RMSSD) ──▶ RiderStore.rider_ride
 *                                                                              │
 *                      profile = weighted median over rides, weight forgetting^age ◀┘
 *
 * Robust on both levels: within a ride a quantile and a median (a burst of ectopics or a
 * motion artefact moves neither), across rides a weighted median (one odd ride, a fever or a
 * cold morning, does not move the baseline; a lasting change does within a few rides).
 */
import type { SignalFeatures } from '../signal/types.js';
import type { RiderStore } from './store.js';

export interface BaselineConfig {
  /** The first minutes of each ride the baseline is learned over, s. */
  readonly warmupS: number;
  /** Decision periods with a trusted reading needed for a ride to count. */
  readonly minSamples: number;
  /** Signal quality a reading needs to be trusted. */
  readonly minQuality: number;
  /** Quantile of the warm-up's heart rates taken as the ride's resting rate. */
  readonly hrQuantile: number;
  /** Weight of a ride k rides ago is forgetting^k. */
  readonly forgetting: number;
}

export const DEFAULT_BASELINE: BaselineConfig = { warmupS: 300, minSamples: 12, minQuality: 0.6, hrQuantile: 0.25, forgetting: 0.7 };

export interface RiderBaseline {
  readonly riderId: string;
  readonly restingHrBpm: number | null;
  readonly rmssdMs: number | null;
  /** Rides the baseline was learned from. */
  readonly rides: number;
  /** Where the resting rate came from. */
  readonly source: 'learned' | 'configured' | 'none';
}

export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** The value where the cumulative weight reaches half (lower weighted median). */
export function weightedMedian(items: readonly { value: number; weight: number }[]): number | null {
  const xs = items.filter((x) => Number.isFinite(x.value) && x.weight > 0).sort((a, b) => a.value - b.value);
  if (xs.length === 0) return null;
  const total = xs.reduce((a, b) => a + b.weight, 0);
  let acc = 0;
  for (const x of xs) {
    acc += x.weight;
    if (acc >= total / 2 - 1e-12) return x.value;
  }
  return xs[xs.length - 1].value;
}

export class BaselineLearner {
  readonly config: BaselineConfig;
  private rideStartS: number | null = null;
  private hr: number[] = [];
  private rmssd: number[] = [];
  private committed = false;
  private cached: RiderBaseline | undefined;

  constructor(
    private readonly store: RiderStore,
    readonly riderId: string,
    config: Partial<BaselineConfig> = {},
    /** Resting rate from the configuration or the calibration profile, used until rides are learned. */
    private readonly configuredRestingHrBpm: number | null = null,
    private readonly wallNow: () => number = Date.now,
  ) {
    this.config = { ...DEFAULT_BASELINE, ...config };
  }

  /** A new ride (the ride tracker's ride_start, or the daemon's start without GPS). */
  startRide(): void {
    this.rideStartS = null;
    this.hr = [];
    this.rmssd = [];
    this.committed = false;
  }

  /** One decision period. Only periods while riding, with good signal, inside the warm-up count. */
  observe(f: SignalFeatures, riding: boolean): void {
    if (this.committed || !riding) return;
    this.rideStartS ??= f.endS;
    const inWarmup = f.endS - this.rideStartS <= this.config.warmupS;
    const trusted = !f.leadOff && f.quality >= this.config.minQuality && f.hrBpm !== null && Number.isFinite(f.hrBpm);
    if (inWarmup && trusted) {
      this.hr.push(f.hrBpm);
      if (f.rmssdMs !== null && Number.isFinite(f.rmssdMs)) this.rmssd.push(f.rmssdMs);
    }
    if (!inWarmup) this.commit();
  }

  /** Warm-up progress of the current ride, for status. */
  learning(): { samples: number; committed: boolean } {
    return { samples: this.hr.length, committed: this.committed };
  }

  /** Ends this ride's warm-up now (e.g. the ride ended early); true when it was stored. */
  commit(): boolean {
    if (this.committed) return false;
    this.committed = true;
    if (this.hr.length < this.config.minSamples) return false;
    const restingHrBpm = quantile(this.hr, this.config.hrQuantile)!;
    const rmssdMs = this.rmssd.length >= this.config.minSamples ? quantile(this.rmssd, 0.5) : null;
    this.store.addRide({ riderId: this.riderId, wallMs: this.wallNow(), restingHrBpm, rmssdMs, samples: this.hr.length });
    this.cached = undefined;
    return true;
  }

  baseline(): RiderBaseline {
    if (this.cached) return this.cached;
    const rides = this.store.rides(this.riderId);
    const w = (k: number) => this.config.forgetting ** k;
    const hr = weightedMedian(rides.map((r, k) => ({ value: r.restingHrBpm, weight: w(k) })));
    const rmssd = weightedMedian(rides.flatMap((r, k) => (r.rmssdMs === null ? [] : [{ value: r.rmssdMs, weight: w(k) }])));
    this.cached =
      hr !== null
        ? { riderId: this.riderId, restingHrBpm: hr, rmssdMs: rmssd, rides: rides.length, source: 'learned' }
        : { riderId: this.riderId, restingHrBpm: this.configuredRestingHrBpm, rmssdMs: null, rides: 0, source: this.configuredRestingHrBpm === null ? 'none' : 'configured' };
    return this.cached;
  }
}
