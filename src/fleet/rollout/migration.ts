/**
 * The rollout controller's tables (docs/rollouts.md "State"). Appended to MIGRATIONS, so the
 * same advisory-locked, versioned `migrate` applies it. Version 19 (the number) keeps
 * clear of the small numbers other fleet changes take next.
 *
 *   update_versions   last signed version per kind: every rollout takes two (update, rollback)
 *   rollouts          one row per rollout: artefacts, versions, stages, thresholds, where it is
 *   rollout_units     one row per unit: its stage and its state (the intent rows)
 *   rollout_decisions every gate decision and rollback, with its figures
 */
import type { Migration } from '../migrations.js';

export const ROLLOUT_MIGRATION: Migration = {
  version: 19,
  name: 'staged rollouts: versions, rollouts, units, decisions',
  sql: `
CREATE TABLE update_versions (
  kind text PRIMARY KEY,
  last bigint NOT NULL
);

CREATE TABLE rollouts (
  id text PRIMARY KEY,
  kind text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Signed into every envelope of this rollout, so a republish is byte-identical.
  created text NOT NULL,
  artefact jsonb NOT NULL,
  artefact_sha256 text NOT NULL,
  previous jsonb NOT NULL,
  previous_sha256 text NOT NULL,
  version bigint NOT NULL,
  rollback_version bigint NOT NULL,
  selection text NOT NULL,
  stages jsonb NOT NULL,
  thresholds jsonb NOT NULL,
  soak_s real NOT NULL,
  report_timeout_s real NOT NULL,
  window_s real NOT NULL,
  -- running | paused | done | rolling_back | rolled_back
  state text NOT NULL,
  -- publish | reports | soak | gate (running); rollback_publish | rollback_wait (rolling_back)
  phase text NOT NULL,
  stage integer NOT NULL DEFAULT 0,
  phase_since timestamptz NOT NULL DEFAULT now(),
  abort_requested boolean NOT NULL DEFAULT false,
  last_decision jsonb,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rollout_units (
  rollout text NOT NULL REFERENCES rollouts (id),
  device text NOT NULL,
  stage integer NOT NULL,
  -- pending | intent | published | applied | refused | unit_rolled_back
  -- | rollback_intent | rollback_published | rolled_back
  state text NOT NULL,
  published_at timestamptz,
  reported_at timestamptz,
  reason text,
  rollback_published_at timestamptz,
  rolled_back_at timestamptz,
  PRIMARY KEY (rollout, device)
);

CREATE TABLE rollout_decisions (
  id bigserial PRIMARY KEY,
  rollout text NOT NULL REFERENCES rollouts (id),
  stage integer NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  decision text NOT NULL,
  reason text NOT NULL,
  figures jsonb
);
CREATE INDEX rollout_decisions_rollout ON rollout_decisions (rollout, id);
CREATE INDEX update_reports_version ON update_reports (device, kind, version);
`,
};
