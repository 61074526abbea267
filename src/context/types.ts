/**
 * What the unit knows about the ride, apart from the rider's heart: moving or stopped, for how
 * long, and roughly where. Every decision record carries it, with where it came from.
 *
 *   gpsd (TPV) ──▶ GpsdRideSource ──▶ RideTracker ──▶ RideContextSnapshot ──▶ decision input
 *   no GPS     ──▶ AssumedRideSource (riding = true, the unit's old assumption, said so)
 */
import type { EventEmitter } from 'node:events';

/** `gps`: from a fix; `assumed`: no GPS configured, the bike counts as ridden while the daemon runs. */
export type ContextSourceKind = 'gps' | 'assumed';

export type RidePhase = 'unknown' | 'riding' | 'halted' | 'stopped';

/** One position/speed report on the source's timeline. */
export interface GpsFix {
  /** Time of the fix (the receiver's time when it gives one), ms since epoch. */
  readonly timeMs: number;
  /** gpsd's mode: 0 unknown, 1 no fix, 2 2D, 3 3D. */
  readonly mode: number;
  readonly speedMps: number | null;
  readonly lat: number | null;
  readonly lon: number | null;
}

export interface CoarsePosition {
  readonly lat: number;
  readonly lon: number;
  /** Grid the position was snapped to, degrees. */
  readonly precisionDeg: number;
}

export interface RideContextSnapshot {
  readonly source: ContextSourceKind;
  /**
   * A ride is in progress: moving, or halted for less than a real stop (a red light, traffic).
   * This is what the engine's `riding` means: the rules about lost sensors stay armed at a
   * red light, and no coaching cue is given during a real stop.
   */
  readonly riding: boolean;
  readonly phase: RidePhase;
  /** Riding time since the last real stop (red lights included, real stops not), min. */
  readonly minutesRiding: number;
  /** The fix is lost or old: phase and minutes are the last known, nothing is guessed. */
  readonly stale: boolean;
  /** Start of the current ride (fix time, ms since epoch); null between rides and without GPS. */
  readonly rideStartMs: number | null;
  /** Coarsened last position; null without a fix, when stale, or when positions are off. */
  readonly position: CoarsePosition | null;
  readonly speedMps: number | null;
  /** Seconds since the last fix arrived (monotonic); null before any. */
  readonly fixAgeS: number | null;
  /** Time of the last fix (the receiver's), ms since epoch; null before any and without GPS. */
  readonly fixTimeMs: number | null;
}

export type RideEvent =
  | { readonly type: 'ride_start'; readonly atMs: number; readonly position: CoarsePosition | null }
  | { readonly type: 'ride_end'; readonly atMs: number; readonly minutesRiding: number; readonly position: CoarsePosition | null }
  | { readonly type: 'fix_lost'; readonly atMs: number }
  | { readonly type: 'fix_regained'; readonly atMs: number; readonly gapS: number };

export type RideSourceState = 'idle' | 'connecting' | 'streaming' | 'reconnecting' | 'ended';

export interface RideSourceStatus {
  readonly id: string;
  readonly kind: ContextSourceKind;
  readonly state: RideSourceState;
  readonly fixes: number;
  readonly badReports: number;
  readonly lastError?: string;
  readonly context: RideContextSnapshot;
}

export interface RideContextEvents {
  /** A fix arrived and the context moved on. */
  context: [RideContextSnapshot];
  ride: [RideEvent];
  status: [RideSourceStatus];
  warning: [string];
}

/** The one interface every ride-context input implements (gpsd, the no-GPS assumption). */
export interface RideContextSource extends EventEmitter<RideContextEvents> {
  readonly id: string;
  readonly kind: ContextSourceKind;
  start(signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
  /** The context now (staleness is judged on the monotonic clock at the call). */
  snapshot(): RideContextSnapshot;
  status(): RideSourceStatus;
}
