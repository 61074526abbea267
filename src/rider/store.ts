/**
 * Rider profiles in the store's SQLite file (so `motobio db backup` carries them and they
 * survive a restart): each ride's baseline, and each coaching cue kind's outcome statistics.
 *
 *   BaselineLearner ──addRide()──▶ rider_ride (last rides) ──profile()──▶ resting HR, RMSSD baseline
 *   CueChooser ──saveArm()──▶ rider_cue_arm (discounted count, sum, sum of squares) ──arms()──▶ posterior
 *
 * The tables are created here, given the store's better-sqlite3 handle; they are outside the
 * outbox's migrations (src/store/schema.ts) and never touch its tables.
 */
import type { Database } from 'better-sqlite3';

export interface RideBaselineRow {
  readonly riderId: string;
  readonly wallMs: number;
  readonly restingHrBpm: number;
  readonly rmssdMs: number | null;
  readonly samples: number;
}

export interface ArmStats {
  readonly cue: string;
  /** Discounted number of outcomes. */
  readonly n: number;
  readonly sum: number;
  readonly sumSq: number;
  /** Outcomes ever counted (not discounted), for status. */
  readonly total: number;
}

/** Rides kept per rider; older ones weigh almost nothing under the forgetting anyway. */
export const RIDES_KEPT = 30;

export class RiderStore {
  constructor(private readonly db: Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS rider_ride (
        id INTEGER PRIMARY KEY,
        rider_id TEXT NOT NULL,
        wall_ms INTEGER NOT NULL,
        resting_hr_bpm REAL NOT NULL,
        rmssd_ms REAL,
        samples INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX IF NOT EXISTS rider_ride_rider ON rider_ride (rider_id, id);
      CREATE TABLE IF NOT EXISTS rider_cue_arm (
        rider_id TEXT NOT NULL,
        cue TEXT NOT NULL,
        n REAL NOT NULL,
        sum REAL NOT NULL,
        sum_sq REAL NOT NULL,
        total INTEGER NOT NULL,
        updated_wall_ms INTEGER NOT NULL,
        PRIMARY KEY (rider_id, cue)
      ) STRICT;
    `);
  }

  addRide(r: RideBaselineRow): void {
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO rider_ride (rider_id, wall_ms, resting_hr_bpm, rmssd_ms, samples) VALUES (?, ?, ?, ?, ?)').run(r.riderId, r.wallMs, r.restingHrBpm, r.rmssdMs, r.samples);
      this.db
        .prepare('DELETE FROM rider_ride WHERE rider_id = ? AND id NOT IN (SELECT id FROM rider_ride WHERE rider_id = ? ORDER BY id DESC LIMIT ?)')
        .run(r.riderId, r.riderId, RIDES_KEPT);
    })();
  }

  /** Newest first. */
  rides(riderId: string): RideBaselineRow[] {
    const rows = this.db.prepare('SELECT wall_ms, resting_hr_bpm, rmssd_ms, samples FROM rider_ride WHERE rider_id = ? ORDER BY id DESC').all(riderId) as {
      wall_ms: number;
      resting_hr_bpm: number;
      rmssd_ms: number | null;
      samples: number;
    }[];
    return rows.map((x) => ({ riderId, wallMs: x.wall_ms, restingHrBpm: x.resting_hr_bpm, rmssdMs: x.rmssd_ms, samples: x.samples }));
  }

  arms(riderId: string): ArmStats[] {
    const rows = this.db.prepare('SELECT cue, n, sum, sum_sq, total FROM rider_cue_arm WHERE rider_id = ? ORDER BY cue').all(riderId) as { cue: string; n: number; sum: number; sum_sq: number; total: number }[];
    return rows.map((x) => ({ cue: x.cue, n: x.n, sum: x.sum, sumSq: x.sum_sq, total: x.total }));
  }

  saveArm(riderId: string, a: ArmStats, wallMs: number): void {
    this.db
      .prepare(
        `INSERT INTO rider_cue_arm (rider_id, cue, n, sum, sum_sq, total, updated_wall_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (rider_id, cue) DO UPDATE SET n = excluded.n, sum = excluded.sum, sum_sq = excluded.sum_sq, total = excluded.total, updated_wall_ms = excluded.updated_wall_ms`,
      )
      .run(riderId, a.cue, a.n, a.sum, a.sumSq, a.total, wallMs);
  }

  riders(): string[] {
    const rows = this.db.prepare('SELECT rider_id FROM rider_ride UNION SELECT rider_id FROM rider_cue_arm ORDER BY 1').all() as { rider_id: string }[];
    return rows.map((r) => r.rider_id);
  }
}
