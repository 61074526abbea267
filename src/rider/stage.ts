/**
 * The rider as a stage of the daemon: the profile (baseline, what cues work) kept in the
 * store's own SQLite file, so it survives restarts and travels with `db backup`. Opened after
 * the store (which may have replaced a corrupt file at start), closed before it.
 */
import type { StageContext } from '../core/context.js';
import { createRiderAdaptation, type RiderAdaptation } from './adaptation.js';

export interface RiderStage {
  readonly adaptation: RiderAdaptation;
  close(): void;
}

export async function openRider(ctx: StageContext): Promise<RiderStage> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(ctx.config.store.path);
  // The outbox writes the same file: wait for its transaction rather than fail on a busy lock.
  db.pragma('busy_timeout = 2000');
  const adaptation = createRiderAdaptation({ db, settings: ctx.config.rider });
  ctx.log.child({ mod: 'rider' }).info({ rider: adaptation.riderId, baseline: adaptation.learner.baseline() }, 'rider profile open');
  return { adaptation, close: () => db.close() };
}
