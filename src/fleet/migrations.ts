/**
 * Versioned schema of the fleet database. Each worker runs `migrate` at start: one
 * transaction holds a transaction-scoped advisory lock, so when several workers start at once
 * one applies what is missing and the others wait, then find nothing left to do. A migration
 * is never edited once released; a change is a new version.
 *
 * Identity is (device, seq) in `records` (docs/telemetry.md "Exactly once"); every typed table
 * hangs off that key and is written only for rows the identity insert actually took. The base
 * schema is not partitioned, so the unique key needs no time column: docs/fleet.md says how to
 * move to time partitions or TimescaleDB at scale and keep the key correct there.
 */
import type { SqlClient } from './sql.js';
import { num } from './sql.js';
import { ROLLOUT_MIGRATION } from './rollout/migration.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Any constant works as long as every worker uses the same one: "mbfl" in ASCII (an int4, safe in JS and in PostgreSQL). */
export const MIGRATION_LOCK_KEY = 0x6d62666c;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'records, typed tables, evictions, quarantine, link status',
    sql: `
CREATE TABLE devices (
  device text PRIMARY KEY,
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen timestamptz NOT NULL DEFAULT now(),
  max_seq bigint NOT NULL DEFAULT 0,
  -- Every seq <= watermark is stored or announced evicted: the ledger only looks above it.
  watermark bigint NOT NULL DEFAULT 0,
  last_boot text,
  model text,
  version text
);

-- One row per (device, seq): the exactly-once key. data is the record's JSON as sent, except
-- for features, whose every known field has a typed column: only unknown fields stay (NULL: none).
CREATE TABLE records (
  device text NOT NULL,
  seq bigint NOT NULL,
  boot text NOT NULL,
  mono_ms double precision NOT NULL,
  wall_ms bigint NOT NULL,
  synced boolean NOT NULL,
  type text NOT NULL,
  prio text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  data jsonb,
  PRIMARY KEY (device, seq)
);
CREATE INDEX records_received ON records (received_at);

CREATE TABLE features (
  device text NOT NULL,
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  hr_bpm real, rmssd_ms real, sdnn_ms real, pnn50 real, lf_ms2 real, hf_ms2 real, lf_hf real, quality real, ectopic_share real, window_s real, end_s double precision,
  PRIMARY KEY (device, seq)
);
CREATE INDEX features_at ON features (device, at);

CREATE TABLE decisions (
  device text NOT NULL,
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  action text, source text, confidence real, model text, features_seq bigint, latency_ms real,
  PRIMARY KEY (device, seq)
);
CREATE INDEX decisions_at ON decisions (device, at);

-- A cue record reports what became of a decision's cue (played, heard, missed ...), linked by decision_seq.
CREATE TABLE cue_outcomes (
  device text NOT NULL,
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  decision_seq bigint, state text,
  PRIMARY KEY (device, seq)
);
CREATE INDEX cue_outcomes_decision ON cue_outcomes (device, decision_seq);

CREATE TABLE safety_events (
  device text NOT NULL,
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  rule text, value real, threshold real, message text,
  PRIMARY KEY (device, seq)
);
CREATE INDEX safety_events_at ON safety_events (at);

-- status records: health reports (kind = 'health') and alarm changes.
CREATE TABLE unit_status (
  device text NOT NULL,
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  kind text, version text, model text, battery real, temp_c real, cpu real, memory real, rss_bytes bigint,
  outbox_records bigint, outbox_age_s real, disk_free_bytes bigint, link text, decision_p95_ms real, quality_good real,
  PRIMARY KEY (device, seq)
);
CREATE INDEX unit_status_at ON unit_status (device, at);

CREATE TABLE update_reports (
  device text NOT NULL,
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  event text, kind text, version text, reason text,
  PRIMARY KEY (device, seq)
);

CREATE TABLE ecg_chunks (
  device text NOT NULL,
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  boot text NOT NULL,
  start_sample double precision NOT NULL, fs real NOT NULL, lsb_uv real NOT NULL, n integer NOT NULL,
  chunk bytea NOT NULL,
  PRIMARY KEY (device, seq)
);
CREATE INDEX ecg_chunks_at ON ecg_chunks (device, at);

-- Runs the unit announced as evicted (disk budget): missing on purpose, not lost.
CREATE TABLE evictions (
  device text NOT NULL,
  first_seq bigint NOT NULL,
  last_seq bigint NOT NULL,
  prio text NOT NULL,
  count bigint NOT NULL,
  wall_ms bigint,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device, first_seq, last_seq)
);

-- What could not be taken, with why, so nothing is dropped silently.
CREATE TABLE quarantine (
  id bigserial PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  topic text NOT NULL,
  device text,
  seq bigint,
  reason text NOT NULL,
  payload bytea
);
CREATE INDEX quarantine_received ON quarantine (received_at);

-- The retained link status topics, latest per (device, link), and every change.
CREATE TABLE link_status (
  device text NOT NULL,
  link text NOT NULL,
  state text NOT NULL,
  boot text,
  at_ms bigint,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device, link)
);
CREATE TABLE link_events (
  device text NOT NULL,
  link text NOT NULL,
  state text NOT NULL,
  at_ms bigint,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX link_events_device ON link_events (device, received_at);

-- A decision with the latest word on its cue (NULL state: no cue record yet).
CREATE VIEW decisions_heard AS
  SELECT d.*, c.state AS cue_state, c.state = 'heard' AS heard
  FROM decisions d
  LEFT JOIN LATERAL (
    SELECT state FROM cue_outcomes c WHERE c.device = d.device AND c.decision_seq = d.seq ORDER BY c.seq DESC LIMIT 1
  ) c ON true;
`,
  },
  ROLLOUT_MIGRATION,
];

/** Applies every migration newer than the database's, under the advisory lock; returns the versions applied. */
export async function migrate(db: SqlClient, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query('CREATE TABLE IF NOT EXISTS fleet_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await tx.query<{ version: unknown }>('SELECT version FROM fleet_migrations')).rows.map((r) => num(r.version)));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO fleet_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}
