/**
 * Gate arithmetic of a staged rollout (docs/rollouts.md): pure functions, no database.
 *
 *   figures of the stage's units after the update ─┐
 *   figures of the same units before it ───────────┼─▶ evaluateGate(thresholds) ─▶ pass | fail | wait
 *   figures of the units not yet updated (control) ┤      (every check with its value and limit)
 *   the stage's update reports ────────────────────┘
 *
 * "wait" is "cannot decide yet": fewer units or decision periods than the minimum. On a small
 * fleet a percentage means little (10 bikes in a 5 % stage is one bike), so the gate counts.
 * Absolute limits (error rate, p95, failures, restarts, silent units) fail on their own. Rates
 * that depend on the ride (cues, safety alerts) and signal quality are compared: a stage fails
 * only when it is worse than every baseline it has (the same units before and the control
 * group), so a fleet-wide change (rain, a long motorway stretch) moving both does not halt it.
 */

export interface GroupFigures {
  /** Units with at least one decision in the window. */
  readonly units: number;
  /** Decision periods (decision records). */
  readonly decisions: number;
  /** Decisions that came out as an error (model_error, internal_error). */
  readonly errors: number;
  /** p95 of the decision latency, ms; null without decisions that carry one. */
  readonly latencyP95Ms: number | null;
  /** Boot ids beyond the first per unit in the window: crashes and restarts. */
  readonly restarts: number;
  /** Mean signal quality (0..1) of the feature records; null without any. */
  readonly quality: number | null;
  /** Safety alerts raised. */
  readonly safety: number;
  /** Coaching cues given (decisions with source "model" and an action other than none). */
  readonly cues: number;
  /** Units of the group that sent nothing for the silence limit. */
  readonly silent: number;
}

export interface StageReports {
  /** Units the stage was published to. */
  readonly published: number;
  readonly applied: number;
  /** Refused by the unit (a reason other than a redelivery). */
  readonly refused: number;
  /** Rolled back by the unit itself (trial failed, failed in use). */
  readonly rolledBack: number;
}

export interface Thresholds {
  /** Units with decisions after the update before the gate can decide. */
  readonly minUnits: number;
  /** Decision periods (all units of the stage together) before the gate can decide. */
  readonly minDecisions: number;
  /** Highest error share of decisions (plan: < 0.1 %). */
  readonly maxErrorRate: number;
  /** Highest decision p95, ms (plan: < 100 ms). */
  readonly maxP95Ms: number;
  /** Refusals plus device-side rollbacks allowed in a stage. */
  readonly maxUpdateFailures: number;
  readonly maxRestarts: number;
  /** Largest drop of mean signal quality (absolute, 0..1) vs every baseline. */
  readonly maxQualityDrop: number;
  /** Highest ratio of the safety-alert rate per decision vs every baseline. */
  readonly maxSafetyRatio: number;
  /** Highest ratio of the cue rate per decision vs every baseline. */
  readonly maxCueRatio: number;
  readonly maxSilent: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  minUnits: 1,
  minDecisions: 30,
  maxErrorRate: 0.001,
  maxP95Ms: 100,
  maxUpdateFailures: 0,
  maxRestarts: 0,
  maxQualityDrop: 0.1,
  maxSafetyRatio: 3,
  maxCueRatio: 3,
  maxSilent: 0,
};

export interface GateInput {
  readonly after: GroupFigures;
  readonly before: GroupFigures | null;
  readonly control: GroupFigures | null;
  readonly reports: StageReports;
}

export interface GateCheck {
  readonly name: string;
  readonly value: number | null;
  readonly limit: number;
  readonly ok: boolean;
  /** For comparisons: the figure of each baseline it was compared with. */
  readonly baselines?: Readonly<Record<string, number | null>>;
}

export interface GateVerdict {
  readonly decision: 'pass' | 'fail' | 'wait';
  /** Why, in words: the failed checks, or what is missing to decide. */
  readonly reason: string;
  readonly checks: readonly GateCheck[];
}

/**
 * A rate per decision with a floor of one event in the baseline's decisions: a baseline with no
 * cue at all would otherwise make any cue an infinite ratio. null without decisions.
 */
export function baselineRate(events: number, decisions: number): number | null {
  if (decisions <= 0) return null;
  return Math.max(events, 1) / decisions;
}

export function rate(events: number, decisions: number): number | null {
  return decisions > 0 ? events / decisions : null;
}

/** after / baseline, or null when either is unknown. */
export function rateRatio(after: GroupFigures, base: GroupFigures | null, pick: (g: GroupFigures) => number): number | null {
  if (!base) return null;
  const a = rate(pick(after), after.decisions);
  const b = baselineRate(pick(base), base.decisions);
  return a === null || b === null ? null : a / b;
}

const baselinesOf = (i: GateInput) => ({ before: i.before, control: i.control });

/** Worse than every baseline it has: the smallest ratio over the known ones must exceed the limit. */
function compared(name: string, i: GateInput, limit: number, pick: (g: GroupFigures) => number): GateCheck {
  const ratios: Record<string, number | null> = {};
  for (const [k, g] of Object.entries(baselinesOf(i))) ratios[k] = rateRatio(i.after, g, pick);
  const known = Object.values(ratios).filter((r): r is number => r !== null);
  const value = known.length > 0 ? Math.min(...known) : null;
  return { name, value, limit, ok: value === null || value <= limit, baselines: ratios };
}

function qualityCheck(i: GateInput, limit: number): GateCheck {
  const drops: Record<string, number | null> = {};
  for (const [k, g] of Object.entries(baselinesOf(i))) drops[k] = g?.quality != null && i.after.quality !== null ? g.quality - i.after.quality : null;
  const known = Object.values(drops).filter((r): r is number => r !== null);
  const value = known.length > 0 ? Math.min(...known) : null;
  return { name: 'quality_drop', value, limit, ok: value === null || value <= limit, baselines: drops };
}

export function evaluateGate(i: GateInput, t: Thresholds = DEFAULT_THRESHOLDS): GateVerdict {
  const a = i.after;
  const failures = i.reports.refused + i.reports.rolledBack;
  const checks: GateCheck[] = [
    { name: 'update_failures', value: failures, limit: t.maxUpdateFailures, ok: failures <= t.maxUpdateFailures },
    { name: 'error_rate', value: rate(a.errors, a.decisions), limit: t.maxErrorRate, ok: a.decisions === 0 || a.errors / a.decisions < t.maxErrorRate },
    { name: 'decision_p95_ms', value: a.latencyP95Ms, limit: t.maxP95Ms, ok: a.latencyP95Ms === null || a.latencyP95Ms < t.maxP95Ms },
    { name: 'restarts', value: a.restarts, limit: t.maxRestarts, ok: a.restarts <= t.maxRestarts },
    { name: 'silent_units', value: a.silent, limit: t.maxSilent, ok: a.silent <= t.maxSilent },
    qualityCheck(i, t.maxQualityDrop),
    compared('safety_ratio', i, t.maxSafetyRatio, (g) => g.safety),
    compared('cue_ratio', i, t.maxCueRatio, (g) => g.cues),
  ];
  const bad = checks.filter((c) => !c.ok);
  // Failures that need no minimum: a refused or rolled-back update, or a unit gone silent, is
  // already a fact on one unit; a rate is not.
  const hard = bad.filter((c) => c.name === 'update_failures' || c.name === 'restarts' || c.name === 'silent_units');
  if (hard.length > 0) return { decision: 'fail', reason: describe(hard), checks };
  const missing: string[] = [];
  if (a.units < t.minUnits) missing.push(`${a.units} of the ${t.minUnits} units needed have decisions since the update`);
  if (a.decisions < t.minDecisions) missing.push(`${a.decisions} of the ${t.minDecisions} decision periods needed`);
  if (missing.length > 0) return { decision: 'wait', reason: `cannot decide yet: ${missing.join('; ')}`, checks };
  if (bad.length > 0) return { decision: 'fail', reason: describe(bad), checks };
  return { decision: 'pass', reason: `every check within its limit over ${a.units} unit(s) and ${a.decisions} decision periods`, checks };
}

const fmt = (v: number | null) => (v === null ? 'n/a' : Number.isInteger(v) ? String(v) : v.toPrecision(3));

function describe(bad: readonly GateCheck[]): string {
  return bad
    .map((c) => {
      const vs = c.baselines ? ` (vs ${Object.entries(c.baselines).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')})` : '';
      return `${c.name} ${fmt(c.value)} over the limit ${fmt(c.limit)}${vs}`;
    })
    .join('; ');
}
