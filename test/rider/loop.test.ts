/**
 * The whole loop on a real recording (qtdb sel302, an exercise test whose heart rate climbs):
 * EcgChain ─▶ RideInput (no GPS: the assumption) ─▶ DecisionEngine (a real int8 model that
 * allows two calming cues on a high heart rate, chooseCue from the rider) ─▶ cue deliveries
 * ─▶ CueOutcomeStage ─▶ cue_outcome records in the real SQLite outbox and rewards in the
 * rider's profile, in the same file.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssumedRideSource } from '../../src/context/assumed.js';
import { CueOutcomeStage, type CueOutcome } from '../../src/cues/outcome.js';
import { DecisionEngine, type DecisionRecord } from '../../src/inference/engine.js';
import { ACTIONS } from '../../src/inference/features.js';
import { createRiderAdaptation } from '../../src/rider/adaptation.js';
import { seeded } from '../../src/rider/random.js';
import { RideInput, type DecisionContextFields } from '../../src/rider/ride-input.js';
import { parseRiderProfileSettings } from '../../src/rider/settings.js';
import { RiderStore } from '../../src/rider/store.js';
import { EcgChain } from '../../src/signal/chain.js';
import { readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import { Outbox } from '../../src/store/outbox.js';
import { defaultManifest, featureIndex, writeModel } from '../inference/model-fixtures.js';

const DATA = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/data');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-loop-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function twoCalmingCues(): string {
  const nIn = defaultManifest().features.length;
  const w = new Float32Array(ACTIONS.length * nIn);
  const b = new Float32Array(ACTIONS.length);
  for (const a of ['breathing_cue', 'relax_posture_cue'] as const) {
    w[ACTIONS.indexOf(a) * nIn + featureIndex('hr_bpm')] = 10;
    b[ACTIONS.indexOf(a)] = -10;
  }
  return writeModel(dir, 'two-cues', [{ inSize: nIn, outSize: ACTIONS.length, weight: w, bias: b }]);
}

describe('ride, rider and cue outcome together', () => {
  it('cues chosen by the rider profile, each measured, rewarded and kept in the store file', async () => {
    const path = join(dir, 'store.db');
    const outbox = Outbox.open(path, { deviceId: 'unit-1' });
    const db = new Database(path);
    const rider = createRiderAdaptation({ db, settings: parseRiderProfileSettings({ id: 'ana', baseline: { warmup_s: 120 } }), random: seeded(11) });
    const engine = await DecisionEngine.create({
      manifestPath: twoCalmingCues(),
      decision: { confirmations: 2, minProbability: 0.4, cooldownS: 180, sameActionCooldownS: 200 },
      chooseCue: rider.chooseCue,
    });
    const input = new RideInput({ context: new AssumedRideSource(), learner: rider.learner });
    let mono = 1_000_000;
    const outcomes: CueOutcome[] = [];
    const stage = new CueOutcomeStage({
      monoNow: () => mono,
      emit: (o) => {
        outcomes.push(o);
        outbox.append([{ type: 'cue_outcome', priority: 'decision', payload: o }]);
        rider.onOutcome(o);
      },
    });
    const rec = readRecord(join(DATA, 'qtdb/sel302'));
    const fs = rec.signals[0].fs;
    const mv = toPhysical(rec.signals[0]);
    const chain = new EcgChain({ fs });
    const decisions: { d: DecisionRecord; ctx: DecisionContextFields }[] = [];
    let next = 5;
    for (let i = 0; i < mv.length; i += fs / 4) {
      mono += 250;
      const out = chain.push(mv.subarray(i, i + fs / 4));
      stage.chunk(chain.timeS);
      stage.chain(out, chain.timeS);
      if (chain.timeS < next) continue;
      next += 5;
      const features = chain.features();
      const { ride, record } = input.forDecision(features);
      const d = await engine.decide({ signal: features, ride });
      decisions.push({ d, ctx: record });
      for (const t of d.safetyTriggers) stage.safety(features.endS, t.rule);
      if (d.action !== 'none' && d.action !== 'safety_alert') {
        stage.delivered({ decisionSeq: decisions.length, kind: 'coaching', name: d.action, state: 'played', startMonoMs: mono, endMonoMs: mono + 2500, language: 'es', prompt: 'voice' });
      }
    }
    stage.flush();
    await engine.close();

    const cues = decisions.filter((x) => x.d.reason === 'emitted');
    expect(cues.length).toBeGreaterThanOrEqual(3);
    // Each cue was a choice between the two kinds the policy allowed, and is measured once.
    for (const c of cues) expect(c.d.choice?.allowed.length).toBeGreaterThanOrEqual(1);
    expect(outcomes.map((o) => o.decisionSeq)).toEqual(cues.map((c) => decisions.indexOf(c) + 1));
    const complete = outcomes.filter((o) => o.complete);
    expect(complete.length).toBeGreaterThanOrEqual(2);
    // Every decision record says where its ride context came from; the baseline is learned after the warm-up.
    expect(decisions.every((x) => x.ctx.context.source === 'assumed' && x.ctx.context.assumed)).toBe(true);
    expect(decisions[0].ctx.rider?.baselineSource).toBe('none');
    expect(decisions[decisions.length - 1].ctx.rider).toMatchObject({ id: 'ana', baselineSource: 'learned', rides: 1 });
    expect(decisions[decisions.length - 1].d.inputs.ride.restingHrBpm).toBeGreaterThan(60);

    // In the store file: the outcomes as records, the rewards in the rider's arms.
    const stored = [...outbox.iterate()].filter((r) => r.type === 'cue_outcome');
    expect(stored).toHaveLength(outcomes.length);
    const arms = new RiderStore(db).arms('ana');
    expect(arms.reduce((a, b) => a + b.total, 0)).toBe(complete.length);
    db.close();
    outbox.close();
  });
});
