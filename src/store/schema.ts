/**
 * Schema migrations, keyed by SQLite's `user_version`. Each step runs in its own
 * transaction, so a crash mid-upgrade leaves the previous version intact. Never edit a
 * released step; append a new one.
 */
import type { Database } from 'better-sqlite3';
import { MotobioError } from '../util/errors.js';

type Migration = (db: Database) => void;

const MIGRATIONS: readonly Migration[] = [
  // 1: records, per-device sequence, eviction accounting.
  (db) => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE records (
        -- AUTOINCREMENT: ids must never be reused once the table empties, leases scan by id.
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        seq INTEGER NOT NULL UNIQUE,
        prio INTEGER NOT NULL,
        type TEXT NOT NULL,
        boot_id TEXT NOT NULL,
        mono_ms REAL NOT NULL,
        wall_ms INTEGER NOT NULL,
        clock_synced INTEGER NOT NULL,
        enc TEXT NOT NULL,
        body BLOB NOT NULL,
        size INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX records_prio_id ON records (prio, id);
      CREATE TABLE evictions (
        id INTEGER PRIMARY KEY,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        prio INTEGER NOT NULL,
        count INTEGER NOT NULL,
        wall_ms INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database, path: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new MotobioError('STORE_FAILED', `${path}: store schema version ${current} is newer than this motobio understands (${SCHEMA_VERSION}); install the newer motobio or restore an older backup`);
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      MIGRATIONS[v](db);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
