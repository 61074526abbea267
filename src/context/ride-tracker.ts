/**
 * Riding or stopped, from speed, with hysteresis on speed and on time.
 *
 *   fix ──▶ speed band ──▶ phase machine ─────────────────────────────▶ snapshot
 *            ≥ start: fast     stopped ─(fast startDwell)─▶ riding        (minutes, stale,
 *            < stop:  slow     riding ─(slow haltDwell)──▶ halted           coarse position)
 *            between: hold     halted ─(fast startDwell)─▶ riding
 *                              halted ─(halted realStop)─▶ stopped: the ride ended when it halted
 *
 * A red light or traffic is "halted": the ride goes on and its minutes keep counting (it is no
 * break). Only a halt of `realStopS` is a real stop: the ride ends at the moment the bike halted
 * and the minutes start over at the next ride. Times come from the fixes (the receiver's
 * clock), so a replay at any speed gives the same phases; staleness is judged on the monotonic
 * arrival clock, since a lost fix is exactly the case where no fix time arrives. A lost fix is
 * never filled in: the last phase is held and marked stale.
 */
import type { CoarsePosition, GpsFix, RideContextSnapshot, RideEvent, RidePhase } from './types.js';

export interface RideTrackerConfig {
  /** At or above this ground speed the bike is moving, m/s. */
  readonly startSpeedMps: number;
  /** Below this it is standing still (GPS speed at a standstill wanders up to ~0.5 m/s), m/s. */
  readonly stopSpeedMps: number;
  /** Moving this long (re)starts riding, s. */
  readonly startDwellS: number;
  /** Standing still this long is a halt (red light), s. */
  readonly haltDwellS: number;
  /** A halt this long is a real stop: the ride ends, s. */
  readonly realStopS: number;
  /** No usable fix for this long and the context is stale, s. */
  readonly staleAfterS: number;
  /** Positions are snapped to this grid, degrees (0.01 ≈ 1.1 km). */
  readonly positionPrecisionDeg: number;
  /** False: no position in snapshots or records at all. */
  readonly recordPosition: boolean;
}

export const DEFAULT_RIDE_TRACKER: RideTrackerConfig = {
  startSpeedMps: 3,
  stopSpeedMps: 1,
  startDwellS: 5,
  haltDwellS: 3,
  realStopS: 300,
  staleAfterS: 5,
  positionPrecisionDeg: 0.01,
  recordPosition: true,
};

/** Snaps a position to a grid of `precisionDeg` (rounded, printed without float noise). */
export function coarsen(lat: number, lon: number, precisionDeg: number): CoarsePosition {
  const decimals = Math.min(10, Math.max(0, Math.ceil(-Math.log10(precisionDeg)) + 1));
  const snap = (v: number) => Number((Math.round(v / precisionDeg) * precisionDeg).toFixed(decimals)) + 0;
  return { lat: snap(lat), lon: snap(lon), precisionDeg };
}

export class RideTracker {
  readonly config: RideTrackerConfig;
  private phase: RidePhase = 'unknown';
  private minutes = 0;
  private minutesAtHalt = 0;
  private rideStartMs: number | null = null;
  private haltStartMs: number | null = null;
  /** Start of the current run of fast (or slow) fixes, for the dwell times. */
  private fastSinceMs: number | null = null;
  private slowSinceMs: number | null = null;
  private lastFixMs: number | null = null;
  private lastGoodArrivalMono: number | null = null;
  private lastMode = 0;
  private speed: number | null = null;
  private position: CoarsePosition | null = null;
  private lost = false;

  constructor(config: Partial<RideTrackerConfig> = {}) {
    this.config = { ...DEFAULT_RIDE_TRACKER, ...config };
    const c = this.config;
    if (!(c.stopSpeedMps < c.startSpeedMps)) throw new RangeError(`context: stop speed (${c.stopSpeedMps} m/s) must be below start speed (${c.startSpeedMps} m/s) or the phase would flap`);
    if (!(c.positionPrecisionDeg > 0)) throw new RangeError(`context: position precision must be above 0 degrees, got ${c.positionPrecisionDeg}`);
  }

  /** One fix; returns the ride events it caused (in order). */
  update(fix: GpsFix, arrivalMonoMs: number): RideEvent[] {
    const c = this.config;
    const events: RideEvent[] = [];
    this.lastMode = fix.mode;
    if (fix.mode < 2) {
      // No fix: hold everything, say so once.
      if (!this.lost) {
        this.lost = true;
        events.push({ type: 'fix_lost', atMs: fix.timeMs });
      }
      this.speed = null;
      return events;
    }
    const t = fix.timeMs;
    const prev = this.lastFixMs;
    if (prev !== null && t <= prev) return events; // a repeated or older report: nothing new
    this.lastFixMs = t;
    this.lastGoodArrivalMono = arrivalMonoMs;
    this.speed = fix.speedMps;
    if (c.recordPosition && fix.lat !== null && fix.lon !== null) this.position = coarsen(fix.lat, fix.lon, c.positionPrecisionDeg);
    const dtS = prev === null ? 0 : (t - prev) / 1000;
    const gap = dtS > c.staleAfterS;
    if (this.lost || gap) {
      if (gap || this.lost) events.push({ type: 'fix_regained', atMs: t, gapS: dtS });
      this.lost = false;
    }

    if (this.phase === 'unknown') this.phase = 'stopped';
    // Time since the last fix counts to the ride while one is going on; a gap as long as a
    // real stop with the bike found standing is taken as the stop it may have been, from the
    // last fix before it (counting it would be the guess).
    const speed = fix.speedMps;
    const slow = speed !== null && speed < c.stopSpeedMps;
    const fast = speed !== null && speed >= c.startSpeedMps;
    if (gap && dtS >= c.realStopS && !fast && (this.phase === 'riding' || this.phase === 'halted')) {
      events.push(this.endRide(this.phase === 'halted' && this.haltStartMs !== null ? this.haltStartMs : prev!));
    } else if (this.phase === 'riding' || this.phase === 'halted') {
      this.minutes += dtS / 60;
    }

    if (fast) {
      this.fastSinceMs ??= t;
      this.slowSinceMs = null;
    } else if (slow) {
      this.slowSinceMs ??= t;
      this.fastSinceMs = null;
    } else if (speed !== null) {
      // Between the two speeds: neither run goes on.
      this.fastSinceMs = null;
      this.slowSinceMs = null;
    }

    switch (this.phase) {
      case 'stopped':
        if (this.fastSinceMs !== null && (t - this.fastSinceMs) / 1000 >= c.startDwellS) {
          this.phase = 'riding';
          this.rideStartMs = this.fastSinceMs;
          // The dwell was already riding.
          this.minutes = (t - this.fastSinceMs) / 60_000;
          events.push({ type: 'ride_start', atMs: this.fastSinceMs, position: this.position });
        }
        break;
      case 'riding':
        if (this.slowSinceMs !== null && (t - this.slowSinceMs) / 1000 >= c.haltDwellS) {
          this.phase = 'halted';
          this.haltStartMs = this.slowSinceMs;
          this.minutesAtHalt = this.minutes - (t - this.slowSinceMs) / 60_000;
        }
        break;
      case 'halted':
        if (this.fastSinceMs !== null && (t - this.fastSinceMs) / 1000 >= c.startDwellS) {
          this.phase = 'riding';
          this.haltStartMs = null;
        } else if (this.haltStartMs !== null && (t - this.haltStartMs) / 1000 >= c.realStopS) {
          events.push(this.endRide(this.haltStartMs));
        }
        break;
      default:
        break;
    }
    return events;
  }

  private endRide(atMs: number): RideEvent {
    const minutesRiding = this.phase === 'halted' ? this.minutesAtHalt : this.minutes;
    this.phase = 'stopped';
    this.minutes = 0;
    this.minutesAtHalt = 0;
    this.rideStartMs = null;
    this.haltStartMs = null;
    return { type: 'ride_end', atMs, minutesRiding: Math.max(0, minutesRiding), position: this.position };
  }

  snapshot(nowMonoMs: number): RideContextSnapshot {
    const goodAgeS = this.lastGoodArrivalMono === null ? null : Math.max(0, (nowMonoMs - this.lastGoodArrivalMono) / 1000);
    const stale = goodAgeS === null || goodAgeS > this.config.staleAfterS || this.lastMode < 2 || this.lost;
    return {
      source: 'gps',
      riding: this.phase === 'riding' || this.phase === 'halted',
      phase: this.phase,
      minutesRiding: Math.max(0, this.minutes),
      stale,
      rideStartMs: this.rideStartMs,
      position: stale ? null : this.position,
      speedMps: stale ? null : this.speed,
      fixAgeS: goodAgeS,
      fixTimeMs: this.lastFixMs,
    };
  }
}
