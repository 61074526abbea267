/**
 * `motobio model evaluate`: real recordings replayed through the signal chain, the decision
 * engine (the policy and the safety rules) as on the unit, one decision per decision period.
 * It is what a rollout's reviewer reads before stage one: what the model would say, how
 * often, and how often the rules overrode it; with a second model, where the two differ.
 *
 *   WFDB record ─1 s chunks─▶ EcgChain ─every period─▶ features ─▶ DecisionEngine(model A) ─▶ tallies
 *                                                         └──────▶ DecisionEngine(model B) ─▶ differences
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { EcgChain } from '../../signal/chain.js';
import { channelOf, readRecord, toPhysical } from '../../sources/wfdb/record.js';
import { MotobioError } from '../../util/errors.js';
import { DecisionEngine, type DecisionRecord } from '../../inference/engine.js';
import type { PolicyIdentity } from '../../inference/policy.js';
import { findManifest } from '../../inference/validate.js';

export interface ModelTally {
  readonly model: PolicyIdentity | null;
  readonly loadError: string | null;
  readonly decisions: number;
  /** The model's own top action per decision (before thresholds, hysteresis, cooldown, rules). */
  readonly modelActions: Record<string, number>;
  /** What would have reached the rider. */
  readonly delivered: Record<string, number>;
  readonly cuesPerHour: number;
  /** Decisions where the model wanted a cue and a safety rule fired or was active instead. */
  readonly ruleOverrides: number;
  readonly reasons: Record<string, number>;
}

export interface EvaluationReport {
  readonly records: string[];
  readonly hours: number;
  readonly periodS: number;
  readonly a: ModelTally;
  readonly b?: ModelTally;
  /** Decisions where the two models' own actions differ. */
  readonly differences?: {
    readonly count: number;
    readonly share: number;
    /** "A action -> B action": decisions, for every pair that differs. */
    readonly pairs: Record<string, number>;
    readonly examples: { record: string; t: number; a: string | null; b: string | null }[];
  };
}

class Tally {
  decisions = 0;
  modelActions: Record<string, number> = {};
  delivered: Record<string, number> = {};
  reasons: Record<string, number> = {};
  cues = 0;
  overrides = 0;
  add(r: DecisionRecord): void {
    this.decisions++;
    const ma = r.modelAction ?? '(not run)';
    this.modelActions[ma] = (this.modelActions[ma] ?? 0) + 1;
    this.delivered[r.action] = (this.delivered[r.action] ?? 0) + 1;
    this.reasons[r.reason] = (this.reasons[r.reason] ?? 0) + 1;
    if (r.action !== 'none') this.cues++;
    if (r.modelAction && r.modelAction !== 'none' && (r.reason === 'safety' || r.reason === 'safety_active')) this.overrides++;
  }
  done(model: PolicyIdentity | null, loadError: string | null, hours: number): ModelTally {
    return { model, loadError, decisions: this.decisions, modelActions: this.modelActions, delivered: this.delivered, cuesPerHour: hours > 0 ? this.cues / hours : 0, ruleOverrides: this.overrides, reasons: this.reasons };
  }
}

async function engineFor(path: string): Promise<{ engine: DecisionEngine; error: string | null }> {
  let error: string | null = null;
  const engine = await DecisionEngine.create({
    manifestPath: findManifest(path),
    load: { requireInt8: false },
    onEvent: (e) => {
      if (e.type === 'model_load_failed') error = e.error;
    },
  });
  return { engine, error };
}

export async function evaluateModels(options: { model: string; against?: string; records: string[]; periodS?: number; restingHrBpm?: number }): Promise<EvaluationReport> {
  if (options.records.length === 0) throw new MotobioError('USAGE', 'model evaluate: give one or more WFDB records, e.g. ../shared/data/drivedb/drive05');
  const periodS = options.periodS ?? 5;
  const records = options.records.map((r) => r.replace(/\.(hea|dat)$/, ''));
  for (const r of records) if (!existsSync(`${r}.hea`)) throw new MotobioError('USAGE', `model evaluate: ${r}.hea not found; pass WFDB record paths without the extension`);
  const a = await engineFor(options.model);
  const b = options.against ? await engineFor(options.against) : undefined;
  const ta = new Tally();
  const tb = new Tally();
  let diff = 0;
  let compared = 0;
  const examples: { record: string; t: number; a: string | null; b: string | null }[] = [];
  const pairs: Record<string, number> = {};
  let seconds = 0;
  let idA: PolicyIdentity | null = null;
  let idB: PolicyIdentity | null = null;
  try {
    for (const rec of records) {
      const record = readRecord(rec);
      const signal = channelOf(record, 0);
      const mv = toPhysical(signal);
      const fs = signal.fs;
      const chain = new EcgChain({ fs });
      await a.engine.resetRide();
      await b?.engine.resetRide();
      const total = Math.floor(mv.length / fs);
      for (let s = 0; s < total; s++) {
        chain.push(mv.subarray(s * fs, (s + 1) * fs));
        if ((s + 1) % periodS !== 0) continue;
        const signalFeatures = { ...chain.features(), endS: s + 1 };
        const ride = { restingHrBpm: options.restingHrBpm ?? 65, minutesRiding: (s + 1) / 60, riding: true, sensorConnected: true };
        const ra = await a.engine.decide({ signal: signalFeatures, ride });
        ta.add(ra);
        if (b) {
          const rb = await b.engine.decide({ signal: signalFeatures, ride });
          tb.add(rb);
          compared++;
          if (ra.modelAction !== rb.modelAction) {
            diff++;
            const key = `${ra.modelAction ?? '(not run)'} -> ${rb.modelAction ?? '(not run)'}`;
            pairs[key] = (pairs[key] ?? 0) + 1;
            if (examples.length < 10) examples.push({ record: basename(rec), t: s + 1, a: ra.modelAction, b: rb.modelAction });
          }
        }
      }
      seconds += total;
    }
  } finally {
    idA = a.engine.status().model;
    idB = b?.engine.status().model ?? null;
    await a.engine.close();
    await b?.engine.close();
  }
  const hours = seconds / 3600;
  return {
    records,
    hours,
    periodS,
    a: ta.done(idA, a.error, hours),
    ...(b ? { b: tb.done(idB, b.error, hours) } : {}),
    ...(b ? { differences: { count: diff, share: compared ? diff / compared : 0, pairs, examples } } : {}),
  };
}

export function formatEvaluation(r: EvaluationReport): string {
  const pct = (n: number, d: number) => (d ? `${((100 * n) / d).toFixed(1)}%` : '-');
  const dist = (m: Record<string, number>, d: number) => Object.entries(m).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v} (${pct(v, d)})`).join(', ');
  const one = (label: string, t: ModelTally) => [
    `${label}: ${t.model ? `${t.model.name} ${t.model.version} ${t.model.precision}` : `no model (${t.loadError ?? 'not loaded'}), rules only`}`,
    `  model's own action: ${dist(t.modelActions, t.decisions)}`,
    `  delivered:          ${dist(t.delivered, t.decisions)}`,
    `  cues per hour ${t.cuesPerHour.toFixed(2)}; rule overrides ${t.ruleOverrides} (${pct(t.ruleOverrides, t.decisions)} of decisions)`,
    `  reasons: ${dist(t.reasons, t.decisions)}`,
  ];
  const lines = [`${r.records.length} record(s), ${r.hours.toFixed(2)} h, one decision every ${r.periodS} s (${r.a.decisions} decisions)`, ...one('model', r.a)];
  if (r.b) lines.push(...one('against', r.b));
  if (r.differences) {
    lines.push(`differences: the models' own actions differ in ${r.differences.count} decisions (${(100 * r.differences.share).toFixed(1)}%)`);
    for (const [pair, n] of Object.entries(r.differences.pairs).sort((x, y) => y[1] - x[1])) lines.push(`  ${pair}: ${n}`);
    lines.push(`  first: ${r.differences.examples.map((e) => `${e.record} t=${e.t}s ${e.a ?? '-'}/${e.b ?? '-'}`).join(', ')}`);
  }
  return lines.join('\n') + '\n';
}
