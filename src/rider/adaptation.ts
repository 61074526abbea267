/**
 * One rider's profile and cue adaptation, built from the store's SQLite handle and the
 * settings: what the daemon wires in (src/daemon/rider-loop.ts).
 *
 *   store db ──▶ RiderStore ──▶ BaselineLearner (resting HR, RMSSD) ──▶ RideInput.forDecision
 *                          └──▶ CueChooser ──chooseCue──▶ DecisionEngine (EngineOptions.chooseCue)
 *   cue_outcome ──onOutcome()──▶ CueChooser.reward (persisted)
 */
import type { Database } from 'better-sqlite3';
import type { CueOutcome } from '../cues/outcome.js';
import type { CueChoiceRequest } from '../inference/engine.js';
import type { Action } from '../inference/features.js';
import { isAction } from '../inference/features.js';
import { BaselineLearner, type RiderBaseline } from './baseline.js';
import { CueChooser, type ArmView } from './cue-choice.js';
import { seeded, type Random } from './random.js';
import { baselineConfig, chooserConfig, type RiderProfileSettings } from './settings.js';
import { RiderStore } from './store.js';

export interface RiderAdaptation {
  readonly riderId: string;
  readonly store: RiderStore;
  readonly learner: BaselineLearner;
  /** null when rider.adapt.enabled is false. */
  readonly chooser: CueChooser | null;
  /** For EngineOptions.chooseCue; undefined when adaptation is off. */
  readonly chooseCue: ((c: CueChoiceRequest) => Action) | undefined;
  /** Feed every cue_outcome; returns the reward counted, or null when the outcome is no reward. */
  onOutcome(o: CueOutcome): number | null;
  status(): { riderId: string; baseline: RiderBaseline; learning: { samples: number; committed: boolean }; cues: ArmView[] | null };
}

export interface RiderAdaptationOptions {
  readonly db: Database;
  readonly settings: RiderProfileSettings;
  /** A calibration profile's rider id, which wins over rider.id. */
  readonly riderId?: string;
  /** A calibration's resting heart rate, which wins over rider.resting_hr_bpm. */
  readonly restingHrBpm?: number | null;
  readonly random?: Random;
}

export function createRiderAdaptation(o: RiderAdaptationOptions): RiderAdaptation {
  const riderId = o.riderId ?? o.settings.id;
  const store = new RiderStore(o.db);
  const learner = new BaselineLearner(store, riderId, baselineConfig(o.settings), o.restingHrBpm ?? o.settings.resting_hr_bpm);
  const chooser = o.settings.adapt.enabled ? new CueChooser(store, riderId, o.random ?? seeded(Date.now() ^ process.pid), chooserConfig(o.settings)) : null;
  const chooseCue = chooser
    ? (c: CueChoiceRequest): Action => {
        const chosen = chooser.choose(c.allowed, c.proposed).chosen;
        return isAction(chosen) ? chosen : c.proposed;
      }
    : undefined;
  return {
    riderId,
    store,
    learner,
    chooser,
    chooseCue,
    onOutcome: (out) => chooser?.reward(out) ?? null,
    status: () => ({ riderId, baseline: learner.baseline(), learning: learner.learning(), cues: chooser?.arms() ?? null }),
  };
}
