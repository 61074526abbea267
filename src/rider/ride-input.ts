/**
 * The decision input for the ride and the rider, one call per decision period:
 *
 *   RideContextSource.snapshot() ─┐
 *   BaselineLearner.baseline() ───┼─▶ forDecision(features) ─▶ { ride: RideContext for engine.decide,
 *   sensor connected? ────────────┘        │                      record: context + rider fields }
 *                                          └─▶ BaselineLearner.observe (first minutes of each ride)
 *   source 'ride' ride_start ──▶ learner.startRide(), onNewRide()    ride_end ──▶ learner.commit()
 *
 * Riding minutes come from the ride tracker (time riding since the last real stop), not from
 * daemon uptime. Without GPS, or with GPS before its first fix, the unit's old assumption holds
 * (riding, minutes on the data timeline since start, so the lost-sensor rules stay armed), and
 * the record says so: `context.source` is `assumed` or `context.phase` is `unknown`.
 */
import type { RideContext } from '../inference/features.js';
import type { SignalFeatures } from '../signal/types.js';
import type { CoarsePosition, ContextSourceKind, RideContextSource, RidePhase } from '../context/types.js';
import type { BaselineLearner, RiderBaseline } from './baseline.js';

/** What goes into every decision record beside the engine's own fields. */
export interface DecisionContextFields {
  readonly context: {
    readonly source: ContextSourceKind;
    readonly phase: RidePhase;
    readonly riding: boolean;
    /** True when riding is the assumption, not an observation (no GPS, or no fix yet). */
    readonly assumed: boolean;
    readonly stale: boolean;
    readonly minutesRiding: number;
    readonly rideStartMs: number | null;
    readonly position: CoarsePosition | null;
  };
  readonly rider: {
    readonly id: string;
    readonly restingHrBpm: number | null;
    readonly rmssdBaselineMs: number | null;
    readonly baselineSource: RiderBaseline['source'];
    readonly rides: number;
  } | null;
}

export interface RideInputOptions {
  readonly context: RideContextSource;
  /** The current rider's baseline learner; null runs without a profile (resting HR unknown). */
  readonly learner: BaselineLearner | null;
  /** False while the ECG source reports the sensor disconnected. */
  readonly sensorConnected?: () => boolean;
  /** A new ride began (after a real stop): e.g. engine.resetRide(). */
  readonly onNewRide?: () => void;
}

export class RideInput {
  private firstEndS: number | undefined;
  private readonly detach: () => void;

  constructor(private readonly options: RideInputOptions) {
    const onRide = (e: { type: string }) => {
      if (e.type === 'ride_start') {
        options.learner?.startRide();
        try {
          options.onNewRide?.();
        } catch {
          // A listener's bug must not stop the ride context.
        }
      } else if (e.type === 'ride_end') options.learner?.commit();
    };
    options.context.on('ride', onRide);
    this.detach = () => options.context.off('ride', onRide);
  }

  close(): void {
    this.detach();
  }

  forDecision(features: SignalFeatures): { ride: RideContext; record: DecisionContextFields } {
    this.firstEndS ??= features.endS;
    const snap = this.options.context.snapshot();
    const assumed = snap.source === 'assumed' || snap.phase === 'unknown';
    const riding = assumed ? true : snap.riding;
    const minutesRiding = assumed ? Math.max(0, (features.endS - this.firstEndS) / 60) : snap.minutesRiding;
    const learner = this.options.learner;
    learner?.observe(features, riding);
    const b = learner?.baseline() ?? null;
    const ride: RideContext = {
      restingHrBpm: b?.restingHrBpm ?? null,
      rmssdBaselineMs: b?.rmssdMs ?? null,
      minutesRiding,
      riding,
      sensorConnected: this.options.sensorConnected?.() ?? true,
    };
    return {
      ride,
      record: {
        context: { source: snap.source, phase: snap.phase, riding, assumed, stale: snap.stale, minutesRiding, rideStartMs: snap.rideStartMs, position: snap.position },
        rider: b === null ? null : { id: b.riderId, restingHrBpm: b.restingHrBpm, rmssdBaselineMs: b.rmssdMs, baselineSource: b.source, rides: b.rides },
      },
    };
  }
}

/** What `motobio status` shows of the ride and the rider: context, its source, the rider's baseline and cue statistics. */
export function rideStatus(
  source: RideContextSource,
  rider: { status(): { riderId: string; baseline: RiderBaseline; learning: { samples: number; committed: boolean }; cues: unknown } } | null,
): Record<string, unknown> {
  const st = source.status();
  return {
    context: { ...st.context, state: st.state, fixes: st.fixes, badReports: st.badReports, ...(st.lastError === undefined ? {} : { lastError: st.lastError }), assumed: st.kind === 'assumed' || st.context.phase === 'unknown' },
    rider: rider?.status() ?? null,
  };
}
