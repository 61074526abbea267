/**
 * Stable cohorts: which stage of a rollout a unit belongs to.
 *
 *   units ──sha256(rollout id + "\n" + unit id)──▶ rank ──cumulative stage shares──▶ stage 0..n-1
 *
 * The order comes from the hash alone, so the same units are the canary whenever the same
 * rollout id is planned again (a retry), whatever order the units are listed in, and a unit is
 * in exactly one stage. Stage k takes the units ranked below ceil(share_k x N), but at least
 * `minUnits` more than the stage before (a 5 % stage of 10 bikes is one bike, not none).
 */
import { createHash } from 'node:crypto';
import { MotobioError } from '../../util/errors.js';

export const DEFAULT_STAGES: readonly number[] = [0.05, 0.25, 1];

export const cohortKey = (rolloutId: string, unit: string): string => createHash('sha256').update(`${rolloutId}\n${unit}`).digest('hex');

/** Cumulative shares, strictly increasing, the last one 1. */
export function checkStages(stages: readonly number[]): void {
  if (stages.length === 0) throw new MotobioError('USAGE', 'a rollout needs at least one stage');
  for (const [i, s] of stages.entries()) {
    if (!(s > 0 && s <= 1)) throw new MotobioError('USAGE', `stage ${i + 1} is ${s}: each stage is a cumulative share of the fleet above 0 and at most 1 (e.g. 0.05,0.25,1)`);
    if (i > 0 && !(s > stages[i - 1])) throw new MotobioError('USAGE', `stages must grow: stage ${i + 1} (${s}) is not above stage ${i} (${stages[i - 1]})`);
  }
  if (stages[stages.length - 1] !== 1) throw new MotobioError('USAGE', `the last stage must be 1 (the whole selection), got ${stages[stages.length - 1]}`);
}

/** unit → stage index. Duplicates in `units` count once. */
export function assignCohorts(rolloutId: string, units: readonly string[], stages: readonly number[] = DEFAULT_STAGES, minUnits = 1): Map<string, number> {
  checkStages(stages);
  const ranked = [...new Set(units)].map((u) => ({ u, k: cohortKey(rolloutId, u) })).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.u < b.u ? -1 : 1));
  const n = ranked.length;
  const out = new Map<string, number>();
  let from = 0;
  for (const [i, share] of stages.entries()) {
    const to = i === stages.length - 1 ? n : Math.min(n, Math.max(Math.ceil(share * n - 1e-9), from + minUnits));
    for (let r = from; r < to; r++) out.set(ranked[r].u, i);
    from = Math.max(from, to);
  }
  return out;
}
