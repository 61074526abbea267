import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecisionEngine, type EngineEvent } from '../../src/inference/engine.js';
import type { SignalFeatures } from '../../src/signal/types.js';
import type { RideContext } from '../../src/inference/features.js';
import { DEFAULT_MANIFEST, defaultManifest, singleFeatureLayer, writeModel } from './model-fixtures.js';

/** This test folder (import.meta.dirname needs Node 20.11; engines allow 20.9). */
const HERE = fileURLToPath(new URL('.', import.meta.url));

const CALM: SignalFeatures = {
  endS: 0,
  hrBpm: 70,
  hrSlopeBpmPerMin: 0,
  rmssdMs: 45,
  sdnnMs: 55,
  pnn50: 0.2,
  lfHf: 1.2,
  quality: 0.95,
  ectopicShare: 0,
  leadOff: false,
  secondsSinceBeat: 0.5,
};
const RIDE: RideContext = { restingHrBpm: 62, minutesRiding: 20, riding: true, sensorConnected: true };

function at(t: number, patch: Partial<SignalFeatures> = {}): SignalFeatures {
  return { ...CALM, endS: t, ...patch };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-engine-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A real int8 model that says breathing_cue with p > 0.99 whenever HR is > 1 std above the mean. */
function breathingOnHighHr(): string {
  return writeModel(dir, 'hr-breathing', singleFeatureLayer('hr_bpm', 'breathing_cue'));
}

describe('decision engine on the shipped default policy', () => {
  it('records inputs, probabilities, model identity and latency for every decision', async () => {
    const engine = await DecisionEngine.create({ manifestPath: DEFAULT_MANIFEST });
    const r = await engine.decide({ signal: at(100), ride: RIDE });
    expect(r.kind).toBe('decision');
    expect(r.model).toMatchObject({ name: 'default-policy', precision: 'int8', sha256: defaultManifest().model.sha256 });
    expect(Object.keys(r.probabilities!)).toEqual(['none', 'breathing_cue', 'relax_posture_cue', 'suggest_break', 'safety_alert']);
    expect(Object.values(r.probabilities!).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    expect(r.inputs.features['hr_bpm']).toBe(70);
    expect(r.inputs.features['hr_above_rest_bpm']).toBe(8);
    expect(r.inputs.features['last_action_none']).toBe(1);
    expect(r.latencyMs.inference).toBeGreaterThan(0);
    expect(r.latencyMs.total).toBeGreaterThanOrEqual(r.latencyMs.inference!);
    expect(r.modelAction).toBe('none');
    await engine.close();
  });

  it('NaN and infinite features: optional ones are filled as the manifest says, a missing HR skips the model', async () => {
    const engine = await DecisionEngine.create({ manifestPath: DEFAULT_MANIFEST });
    const filled = await engine.decide({ signal: at(100, { rmssdMs: Number.POSITIVE_INFINITY, lfHf: Number.NaN }), ride: RIDE });
    expect(filled.inputs.missing).toEqual(['rmssd_ms', 'lf_hf']);
    expect(filled.inputs.features['rmssd_ms']).toBeNull();
    expect(filled.reason).not.toBe('model_error');
    expect(filled.probabilities).not.toBeNull();

    const noHr = await engine.decide({ signal: at(110, { hrBpm: Number.NaN }), ride: RIDE });
    expect(noHr.reason).toBe('features_missing');
    expect(noHr.action).toBe('none');
    expect(noHr.probabilities).toBeNull();
    expect(noHr.inputs.missing).toContain('hr_bpm');

    const tooMany = await engine.decide({ signal: at(120, { hrSlopeBpmPerMin: null, rmssdMs: null, sdnnMs: null, pnn50: null, lfHf: null }), ride: RIDE });
    expect(tooMany.reason).toBe('features_missing');
    await engine.close();
  });
});

describe('safety rules always win', () => {
  it('sustained high HR with good signal fires hr_high over whatever the model says, and holds model cues back', async () => {
    const engine = await DecisionEngine.create({ manifestPath: breathingOnHighHr(), decision: { confirmations: 1 } });
    const high = { hrBpm: 195 };
    const first = await engine.decide({ signal: at(100, high), ride: RIDE });
    // Not yet sustained: the model's cue goes through.
    expect(first.safetyTriggers).toEqual([]);
    expect(first.action).toBe('breathing_cue');
    await engine.decide({ signal: at(110, high), ride: RIDE });
    const fired = await engine.decide({ signal: at(120, high), ride: RIDE });
    expect(fired.action).toBe('safety_alert');
    expect(fired.source).toBe('safety');
    expect(fired.safetyTriggers.map((t) => t.rule)).toEqual(['hr_high']);
    expect(fired.safetyTriggers[0]).toMatchObject({ sinceS: 100, value: 195, threshold: 185 });
    expect(fired.modelAction).toBe('breathing_cue');
    // Still high: no repeat until repeatS, and the model may not cue meanwhile.
    const held = await engine.decide({ signal: at(130, high), ride: RIDE });
    expect(held.action).toBe('none');
    expect(held.safetyActive).toEqual(['hr_high']);
    expect(held.reason).toBe('safety_active');
    await engine.close();
  });

  it('high HR on a poor signal does not count; leads off, sensor lost and low quality while riding do', async () => {
    const engine = await DecisionEngine.create({ safety: { leadOffS: 10, lowQualityS: 60 } });
    for (let t = 0; t <= 60; t += 10) expect((await engine.decide({ signal: at(t, { hrBpm: 200, quality: 0.4 }), ride: RIDE })).safetyTriggers).toEqual([]);

    const leads = await DecisionEngine.create();
    await leads.decide({ signal: at(0, { leadOff: true }), ride: RIDE });
    expect((await leads.decide({ signal: at(10, { leadOff: true }), ride: RIDE })).safetyTriggers.map((t) => t.rule)).toEqual(['leads_off']);
    // Parked: leads off is expected, no alert.
    const parked = await DecisionEngine.create();
    await parked.decide({ signal: at(0, { leadOff: true }), ride: { ...RIDE, riding: false } });
    expect((await parked.decide({ signal: at(60, { leadOff: true }), ride: { ...RIDE, riding: false } })).safetyTriggers).toEqual([]);

    const lost = await DecisionEngine.create();
    const r = await lost.decide({ signal: at(30, { secondsSinceBeat: 20, hrBpm: null }), ride: RIDE });
    expect(r.safetyTriggers.map((t) => t.rule)).toEqual(['sensor_lost']);
    expect(r.action).toBe('safety_alert');

    const q = await DecisionEngine.create({ safety: { lowQualityS: 60 } });
    for (let t = 0; t < 60; t += 10) expect((await q.decide({ signal: at(t, { quality: 0.1 }), ride: RIDE })).safetyTriggers).toEqual([]);
    expect((await q.decide({ signal: at(60, { quality: 0.1 }), ride: RIDE })).safetyTriggers.map((t) => t.rule)).toEqual(['quality_low']);
    for (const e of [engine, leads, parked, lost, q]) await e.close();
  });

  it('rules keep working when the model file is corrupt; the failure is reported, nothing throws', async () => {
    const path = breathingOnHighHr();
    writeFileSync(join(dir, 'hr-breathing.int8.onnx'), 'garbage');
    const events: EngineEvent[] = [];
    const engine = await DecisionEngine.create({ manifestPath: path, onEvent: (e) => events.push(e) });
    expect(events.map((e) => e.type)).toEqual(['model_load_failed']);
    expect(engine.status().model).toBeNull();
    expect(engine.status().lastModelError).toMatch(/SHA-256/);
    const r = await engine.decide({ signal: at(30, { secondsSinceBeat: 30, hrBpm: null }), ride: RIDE });
    expect(r.reason).toBe('safety');
    expect(r.action).toBe('safety_alert');
    expect(r.modelError).toMatch(/SHA-256/);
    const calm = await engine.decide({ signal: at(40), ride: RIDE });
    expect(calm).toMatchObject({ action: 'none', reason: 'model_unavailable', model: null });
    await engine.close();
  });
});

describe('hysteresis and cooldown', () => {
  it('needs the cue confirmed, then holds back any cue for cooldownS and the same cue for sameActionCooldownS', async () => {
    const engine = await DecisionEngine.create({
      manifestPath: breathingOnHighHr(),
      decision: { confirmations: 2, cooldownS: 180, sameActionCooldownS: 600, minProbability: 0.6 },
    });
    const high = { hrBpm: 120 };
    const d = (t: number, patch = high) => engine.decide({ signal: at(t, patch), ride: RIDE });
    expect(await d(100)).toMatchObject({ action: 'none', reason: 'confirming', modelAction: 'breathing_cue' });
    expect(await d(110)).toMatchObject({ action: 'breathing_cue', source: 'model', reason: 'emitted' });
    // The next decision sees the cue it just gave.
    const after = await d(120);
    expect(after.inputs.history).toMatchObject({ lastAction: 'breathing_cue' });
    expect(after.inputs.features['last_action_breathing_cue']).toBe(1);
    expect(after.reason).toBe('confirming');
    expect(await d(130)).toMatchObject({ action: 'none', reason: 'cooldown' });
    // Past the general cooldown but not the same-cue one.
    expect(await d(400)).toMatchObject({ action: 'none' });
    expect((await d(410)).reason).toBe('cooldown');
    // A calm reading breaks the streak: confirmation starts again.
    expect(await d(700, { hrBpm: 70 })).toMatchObject({ action: 'none', modelAction: 'none' });
    expect((await d(720)).reason).toBe('confirming');
    expect(await d(730)).toMatchObject({ action: 'breathing_cue', reason: 'emitted' });
    await engine.close();
  });

  it('a decision without model output (missing HR) breaks the confirmation streak', async () => {
    const engine = await DecisionEngine.create({ manifestPath: breathingOnHighHr(), decision: { confirmations: 2 } });
    expect((await engine.decide({ signal: at(100, { hrBpm: 120 }), ride: RIDE })).reason).toBe('confirming');
    expect((await engine.decide({ signal: at(110, { hrBpm: Number.NaN }), ride: RIDE })).reason).toBe('features_missing');
    expect((await engine.decide({ signal: at(120, { hrBpm: 120 }), ride: RIDE })).reason).toBe('confirming');
    expect((await engine.decide({ signal: at(130, { hrBpm: 120 }), ride: RIDE })).action).toBe('breathing_cue');
    await engine.close();
  });

  it('a top action below minProbability is not a cue', async () => {
    const engine = await DecisionEngine.create({ manifestPath: breathingOnHighHr(), decision: { confirmations: 1, minProbability: 0.999999 } });
    // HR at exactly mean + 1 std gives logit 0 vs 0: p = 0.2 each.
    const m = defaultManifest().features[0];
    const r = await engine.decide({ signal: at(100, { hrBpm: m.mean + 1.05 * m.std }), ride: RIDE });
    expect(r.modelAction).toBe('breathing_cue');
    expect(r.reason).toBe('below_threshold');
    expect(r.action).toBe('none');
    await engine.close();
  });
});

describe('hot swap', () => {
  it('validates before switching: a bad candidate is rejected and the running model stays', async () => {
    const events: EngineEvent[] = [];
    const engine = await DecisionEngine.create({ manifestPath: DEFAULT_MANIFEST, onEvent: (e) => events.push(e) });
    const bad = writeModel(dir, 'bad', singleFeatureLayer('hr_bpm', 'breathing_cue'));
    writeFileSync(join(dir, 'bad.int8.onnx'), 'not a model');
    const res = await engine.swapModel(bad);
    expect(res.ok).toBe(false);
    expect(!res.ok && res.error).toMatch(/SHA-256/);
    expect(engine.status().model?.name).toBe('default-policy');
    expect(events.map((e) => e.type)).toEqual(['model_loaded', 'model_swap_rejected']);

    const good = await engine.swapModel(breathingOnHighHr());
    expect(good).toMatchObject({ ok: true, model: { name: 'hr-breathing' } });
    expect(engine.status()).toMatchObject({ model: { name: 'hr-breathing' }, fallback: { name: 'default-policy' } });
    const r = await engine.decide({ signal: at(100), ride: RIDE });
    expect(r.model?.name).toBe('hr-breathing');
    await engine.close();
  });

  it('rolls back to the previous model when the new one fails in use, within the same decision', async () => {
    const events: EngineEvent[] = [];
    const engine = await DecisionEngine.create({ manifestPath: DEFAULT_MANIFEST, onEvent: (e) => events.push(e) });
    // Passes the all-zero test inference, but any raised HR overflows a logit to Infinity -> NaN probabilities.
    const broken = writeModel(dir, 'overflows', singleFeatureLayer('hr_bpm', 'breathing_cue', 3e38));
    expect((await engine.swapModel(broken)).ok).toBe(true);
    const r = await engine.decide({ signal: at(100, { hrBpm: 150 }), ride: RIDE });
    expect(r.model?.name).toBe('default-policy');
    expect(r.probabilities).not.toBeNull();
    expect(engine.status()).toMatchObject({ model: { name: 'default-policy' }, fallback: null, rollbacks: 1, modelFailures: 1 });
    expect(events.map((e) => e.type)).toEqual(['model_loaded', 'model_swapped', 'model_failed', 'model_rolled_back']);
    expect(engine.status().lastModelError).toMatch(/not a probability/);
    await engine.close();
  });
});

describe('robustness', () => {
  it('malformed input gives an internal_error record instead of a throw, and the next decision works', async () => {
    const engine = await DecisionEngine.create({ manifestPath: DEFAULT_MANIFEST });
    const bad = await engine.decide({ signal: undefined as unknown as SignalFeatures, ride: RIDE });
    expect(bad).toMatchObject({ action: 'none', reason: 'internal_error' });
    expect(bad.modelError).toMatch(/^decision failed: /);
    const good = await engine.decide({ signal: at(10), ride: RIDE });
    expect(good.probabilities).not.toBeNull();
    await engine.close();
  });

  it('no beat ever seen while riding, or a NaN quality, still reaches the rules', async () => {
    const engine = await DecisionEngine.create({ safety: { sensorLostS: 15, lowQualityS: 20 } });
    const none = { hrBpm: null, secondsSinceBeat: null, quality: Number.NaN };
    expect((await engine.decide({ signal: at(0, none), ride: RIDE })).safetyTriggers).toEqual([]);
    expect((await engine.decide({ signal: at(10, none), ride: RIDE })).safetyTriggers).toEqual([]);
    const fired = await engine.decide({ signal: at(20, none), ride: RIDE });
    expect(fired.safetyTriggers.map((t) => [t.rule, t.message])).toEqual([
      ['sensor_lost', 'no heartbeat seen while riding for 20 s'],
      ['quality_low', 'signal quality below 0.3 for 20 s'],
    ]);
    await engine.close();
  });

  it('resetRide() forgets the last cue and the safety onsets', async () => {
    const engine = await DecisionEngine.create({ manifestPath: breathingOnHighHr(), decision: { confirmations: 1 } });
    expect((await engine.decide({ signal: at(100, { hrBpm: 120 }), ride: RIDE })).action).toBe('breathing_cue');
    await engine.decide({ signal: at(110, { hrBpm: 200 }), ride: RIDE });
    await engine.resetRide();
    const r = await engine.decide({ signal: at(5, { hrBpm: 200 }), ride: { ...RIDE, minutesRiding: 0 } });
    expect(r.inputs.history).toEqual({ lastAction: 'none', minutesSinceCue: null });
    expect(r.action).toBe('breathing_cue');
    expect(r.safetyTriggers).toEqual([]);
    await engine.close();
  });
});


describe('hot swap runs the full validation when the manifest allows it', () => {
  it('refuses a candidate whose validation set disagrees with it, keeping the running model', async () => {
    const { cpSync, readFileSync } = await import('node:fs');
    const { sha256 } = await import('../../src/inference/manifest.js');
    const copy = join(dir, 'copy');
    cpSync(join(HERE, '../../models'), copy, { recursive: true });
    // Tamper with one row's obs (and re-hash it) so it no longer follows from its raw features.
    const vPath = join(copy, 'default-policy.validation.ndjson');
    const text = readFileSync(vPath, 'utf8').replace(/"obs":\[[^\]]*\]/, (m) => m.replace('[', '[9,').replace(/,[^,\]]*\]$/, ']'));
    writeFileSync(vPath, text);
    const mPath = join(copy, 'default-policy.manifest.json');
    const m = JSON.parse(readFileSync(mPath, 'utf8')) as { validationSet: { sha256: string } };
    m.validationSet.sha256 = sha256(Buffer.from(text));
    writeFileSync(mPath, JSON.stringify(m));
    const engine = await DecisionEngine.create({ manifestPath: breathingOnHighHr() });
    const res = await engine.swapModel(mPath);
    expect(res.ok).toBe(false);
    expect(!res.ok && res.error).toMatch(/validation set: .*normalis/);
    expect(engine.status().model?.name).toBe('hr-breathing');
    expect((await engine.swapModel(DEFAULT_MANIFEST)).ok).toBe(true);
    await engine.close();
  });
});
