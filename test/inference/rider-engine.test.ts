/**
 * The engine's seams for the ride context and the rider (issue 17): no coaching cue during a
 * real stop (safety still acts), features relative to the rider where the manifest asks, and a
 * cue chooser that can only pick among the kinds the policy and the cooldowns allow.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecisionEngine, type CueChoiceRequest } from '../../src/inference/engine.js';
import { ACTIONS, specFeatures, type RideContext } from '../../src/inference/features.js';
import { parseManifest } from '../../src/inference/manifest.js';
import type { SignalFeatures } from '../../src/signal/types.js';
import { DEFAULT_MANIFEST, defaultManifest, featureIndex, singleFeatureLayer, writeModel } from './model-fixtures.js';

const CALM: SignalFeatures = { endS: 0, hrBpm: 70, hrSlopeBpmPerMin: 0, rmssdMs: 45, sdnnMs: 55, pnn50: 0.2, lfHf: 1.2, quality: 0.95, ectopicShare: 0, leadOff: false, secondsSinceBeat: 0.5 };
const RIDING: RideContext = { restingHrBpm: 62, minutesRiding: 20, riding: true, sensorConnected: true };
const at = (t: number, patch: Partial<SignalFeatures> = {}): SignalFeatures => ({ ...CALM, endS: t, ...patch });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-rider-engine-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** High HR: breathing_cue and relax_posture_cue at p ~ 0.5 each (breathing on top by index). */
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

describe('riding and stopping', () => {
  it('holds coaching cues during a real stop but not at a red light; safety fires either way', async () => {
    const engine = await DecisionEngine.create({ manifestPath: writeModel(dir, 'hr-breathing', singleFeatureLayer('hr_bpm', 'breathing_cue')), decision: { confirmations: 1 } });
    const stopped: RideContext = { ...RIDING, riding: false, minutesRiding: 0 };
    expect(await engine.decide({ signal: at(100, { hrBpm: 120 }), ride: stopped })).toMatchObject({ action: 'none', reason: 'not_riding', modelAction: 'breathing_cue' });
    // Back on the road (or halted at a red light, which the ride context reports as riding).
    expect(await engine.decide({ signal: at(110, { hrBpm: 120 }), ride: RIDING })).toMatchObject({ action: 'breathing_cue', reason: 'emitted' });
    // A sustained high heart rate is a safety alert while stopped too.
    const e2 = await DecisionEngine.create({ safety: { maxHrBpm: 150, hrSustainS: 20 } });
    await e2.decide({ signal: at(0, { hrBpm: 190 }), ride: stopped });
    expect(await e2.decide({ signal: at(25, { hrBpm: 190 }), ride: stopped })).toMatchObject({ action: 'safety_alert', source: 'safety' });
    await engine.close();
    await e2.close();
  });

  it('minutes_riding is what the ride context says, not time since the engine started', async () => {
    const engine = await DecisionEngine.create({ manifestPath: writeModel(dir, 'hr-breathing', singleFeatureLayer('hr_bpm', 'breathing_cue')) });
    const r = await engine.decide({ signal: at(5000), ride: { ...RIDING, minutesRiding: 3.5 } });
    expect(r.inputs.features['minutes_riding']).toBe(3.5);
    await engine.close();
  });
});

describe('suggest_break on the shipped policy counts riding time', () => {
  it('a long uptime with a short ride since the last real stop is no break; a long ride is; a real stop holds it', async () => {
    const engine = await DecisionEngine.create({ manifestPath: DEFAULT_MANIFEST, decision: { confirmations: 2 } });
    const run = async (t0: number, ride: RideContext) => {
      const out = [];
      for (let k = 0; k < 4; k++) out.push(await engine.decide({ signal: at(t0 + k * 5), ride }));
      return out;
    };
    // 150 min since the daemon started, but only 20 min since the last real stop.
    const short = await run(150 * 60, { ...RIDING, minutesRiding: 20 });
    expect(short.every((r) => r.modelAction !== 'suggest_break')).toBe(true);
    // Stopped with 110 riding minutes behind: the policy wants a break, the engine holds it.
    const stopped = await run(160 * 60, { ...RIDING, minutesRiding: 110, riding: false });
    expect(stopped.some((r) => r.modelAction === 'suggest_break')).toBe(true);
    expect(stopped.every((r) => r.action === 'none')).toBe(true);
    expect(stopped.some((r) => r.reason === 'not_riding')).toBe(true);
    // Riding 110 minutes: the break is suggested.
    const long = await run(170 * 60, { ...RIDING, minutesRiding: 110 });
    expect(long.some((r) => r.action === 'suggest_break' && r.reason === 'emitted')).toBe(true);
    await engine.close();
  });
});

describe('rider-relative features', () => {
  it('a manifest feature marked relative: rider is taken against the rider baseline; absent baseline is missing', () => {
    const specs = [
      { name: 'hr_bpm', unit: 'bpm', mean: 0, std: 10, clip: 5, fill: 0, relative: 'rider' as const },
      { name: 'rmssd_ms', unit: 'ratio', mean: 1, std: 0.3, clip: 5, fill: 1, relative: 'rider' as const },
      { name: 'sdnn_ms', unit: 'ms', mean: 50, std: 20, clip: 5, fill: 50 },
    ];
    const h = { lastAction: 'none' as const, minutesSinceCue: null };
    expect(specFeatures(specs, at(0, { hrBpm: 80, rmssdMs: 30 }), { ...RIDING, restingHrBpm: 60, rmssdBaselineMs: 40 }, h)).toEqual({ hr_bpm: 20, rmssd_ms: 0.75, sdnn_ms: 55 });
    expect(specFeatures(specs, at(0, { hrBpm: 80 }), { ...RIDING, restingHrBpm: null, rmssdBaselineMs: null }, h)).toEqual({ hr_bpm: null, rmssd_ms: null, sdnn_ms: 55 });
  });

  it('the manifest accepts relative only where the unit knows how; the bootstrap model stays absolute', () => {
    const m = defaultManifest();
    expect(m.features.every((f) => f.relative === undefined)).toBe(true);
    const ok = { ...m, features: m.features.map((f) => (f.name === 'hr_bpm' ? { ...f, relative: 'rider' } : f)) };
    expect(parseManifest(JSON.stringify(ok), 'test').features.find((f) => f.name === 'hr_bpm')?.relative).toBe('rider');
    const bad = { ...m, features: m.features.map((f) => (f.name === 'quality' ? { ...f, relative: 'rider' } : f)) };
    expect(() => parseManifest(JSON.stringify(bad), 'test')).toThrow(/"quality" cannot be relative to the rider/);
  });
});

describe('cue chooser seam', () => {
  it('is asked only when a cue is due, among the allowed kinds; it cannot add a kind or skip a cooldown', async () => {
    const asked: CueChoiceRequest[] = [];
    const engine = await DecisionEngine.create({
      manifestPath: twoCalmingCues(),
      decision: { confirmations: 2, minProbability: 0.4, cooldownS: 180, sameActionCooldownS: 600 },
      chooseCue: (c) => {
        asked.push(c);
        return asked.length === 1 ? 'relax_posture_cue' : 'suggest_break';
      },
    });
    const d = (t: number) => engine.decide({ signal: at(t, { hrBpm: 120 }), ride: RIDING });
    expect((await d(100)).reason).toBe('confirming');
    expect(asked).toHaveLength(0);
    const first = await d(110);
    expect(first).toMatchObject({ action: 'relax_posture_cue', reason: 'emitted', choice: { proposed: 'breathing_cue', chosen: 'relax_posture_cue' } });
    expect([...asked[0].allowed].sort()).toEqual(['breathing_cue', 'relax_posture_cue']);
    // The general cooldown holds whatever the chooser would like.
    for (let t = 120; t < 290; t += 10) expect((await d(t)).action).toBe('none');
    expect(asked).toHaveLength(1);
    // After it: relax_posture_cue is in its same-kind cooldown, so it is not allowed; the
    // chooser's answer outside the allowed kinds is ignored.
    const second = await d(300);
    expect(second.action).toBe('breathing_cue');
    expect(asked[1].allowed).toEqual(['breathing_cue']);
    await engine.close();
  });
});
