/**
 * Imported SB3 policies in the unit's decision engine: with a coaching map they load and
 * decide from the unit's features (the same cue as the graph's own action); without one the
 * engine refuses them with the reason; a map naming observations the unit cannot produce is
 * refused at import.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { DecisionEngine } from '../../src/inference/engine.js';
import { rawFeatures } from '../../src/inference/features.js';
import { readManifest, type ModelManifest } from '../../src/inference/manifest.js';
import { importSb3 } from '../../src/offline/sb3/import.js';
import type { SignalFeatures } from '../../src/signal/types.js';
import { isMotobioError } from '../../src/util/errors.js';
import { SHARED, rng } from './sb3-fixtures.js';

const out = mkdtempSync(join(tmpdir(), 'motobio-sb3-map-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const RIDE = { restingHrBpm: 62, minutesRiding: 10, riding: true, sensorConnected: true };

function signal(endS: number, s: Partial<SignalFeatures>): SignalFeatures {
  return { endS, hrBpm: 80, hrSlopeBpmPerMin: 0, rmssdMs: 40, sdnnMs: 50, pnn50: 0.2, lfHf: 1.5, quality: 0.9, ectopicShare: 0, leadOff: false, secondsSinceBeat: 0.5, ...s };
}

function writeMap(name: string, map: unknown): string {
  const p = join(out, `${name}.map.json`);
  writeFileSync(p, JSON.stringify(map));
  return p;
}

/** CartPole's 4 observations from HR above rest, HR slope, log RMSSD and quality. */
const CARTPOLE_MAP = {
  observations: [
    { index: 0, feature: 'hr_above_rest_bpm', scale: 0.01, offset: 0, fill: 0, required: true },
    { index: 1, feature: 'hr_slope_bpm_per_min', scale: 0.1, fill: 0 },
    { index: 2, feature: 'rmssd_ms', transform: 'log1p', scale: 0.05, offset: -0.18, fill: 40 },
    { index: 3, feature: 'quality', scale: 0.4, offset: -0.36, fill: 0.9 },
  ],
  actions: ['none', 'breathing_cue'],
  maxMissing: 1,
};

/** What the graph says for a raw observation vector, straight from its own `action` output. */
async function graphAction(modelPath: string, obs: number[]): Promise<number[]> {
  const s = await ort.InferenceSession.create(readFileSync(modelPath));
  try {
    const r = await s.run({ obs: new ort.Tensor('float32', Float32Array.from(obs), [1, obs.length]) });
    return Array.from(r.action.data as ArrayLike<number | bigint>, (v) => Number(v));
  } finally {
    await s.release();
  }
}

function obsFor(m: ModelManifest, sig: SignalFeatures): number[] {
  const raw: Record<string, number | null> = {
    hr_above_rest_bpm: sig.hrBpm === null ? null : sig.hrBpm - RIDE.restingHrBpm,
    hr_slope_bpm_per_min: sig.hrSlopeBpmPerMin,
    rmssd_ms: sig.rmssdMs,
    quality: sig.quality,
  };
  // The map's own formula, scale * T(x) + offset, computed independently of the engine.
  return CARTPOLE_MAP.observations.map((o, i) => {
    const x = raw[o.feature] ?? m.features[i].fill;
    const t = o.transform === 'log1p' ? Math.log1p(x) : x;
    return (o.scale ?? 1) * t + (o.offset ?? 0);
  });
}

describe.each(['CartPole-v1', 'LunarLanderContinuous-v2', 'Walker2d-v3', 'MountainCarContinuous-v0'])('%s under a test map in the decision engine', (name) => {
  it('loads, decides from the unit\'s features, and its model action is the cue of the graph\'s own action', async () => {
    const ref = JSON.parse(readFileSync(`${SHARED}${name}.reference.json`, 'utf8')) as { obs: number[][]; discrete: boolean; vecnormalize: boolean };
    const dim = ref.obs[0].length;
    const names = ['hr_above_rest_bpm', 'hr_slope_bpm_per_min', 'rmssd_ms', 'sdnn_ms', 'quality', 'pnn50', 'lf_hf', 'minutes_riding'];
    // Centred on the checkpoint's own observations so the policy sees inputs of its usual scale.
    const centre = Array.from({ length: dim }, (_, j) => ref.obs.reduce((a, o) => a + o[j], 0) / ref.obs.length);
    const observations = Array.from({ length: dim }, (_, i) => ({ index: i, feature: names[i % names.length], scale: 0.02, offset: centre[i], fill: 0 }));
    const actions = ref.discrete ? ['none', 'breathing_cue', 'suggest_break', 'relax_posture_cue'].slice(0, 2) : { index: 0, cues: [{ below: 0, cue: 'none' }, { cue: 'breathing_cue' }] };
    const r = await importSb3({
      checkpoint: `${SHARED}${name}.zip`,
      ...(ref.vecnormalize ? { vecNormalize: `${SHARED}${name}.vecnormalize.pkl` } : {}),
      outDir: join(out, `mapped-${name}`),
      map: writeMap(name, { observations, actions }),
    });
    const m = readManifest(r.manifestPath);
    const engine = await DecisionEngine.create({ manifestPath: r.manifestPath });
    try {
      expect(engine.status().model).not.toBeNull();
      const rand = rng(13);
      for (let i = 0; i < 12; i++) {
        const sig = signal(100 + 5 * i, { hrBpm: 55 + 90 * rand(), hrSlopeBpmPerMin: 30 * rand() - 15, rmssdMs: 5 + 90 * rand(), sdnnMs: 10 + 90 * rand(), quality: rand(), pnn50: rand(), lfHf: 4 * rand() });
        const rec = await engine.decide({ signal: sig, ride: RIDE });
        expect(rec.reason).not.toBe('model_error');
        const raw = rawFeatures(names, sig, RIDE, { lastAction: 'none', minutesSinceCue: null });
        const obs = observations.map((o) => 0.02 * raw[o.feature]! + o.offset);
        const [a] = await graphAction(join(out, `mapped-${name}`, m.model.path), obs);
        expect(rec.modelAction).toBe(ref.discrete ? (actions as string[])[a] : a < 0 ? 'none' : 'breathing_cue');
      }
    } finally {
      await engine.close();
    }
  });
});

describe('coaching map', () => {
  it('a mapped Discrete policy loads in the decision engine and its model action is the graph\'s own action, cue by cue', async () => {
    const r = await importSb3({ checkpoint: `${SHARED}CartPole-v1.zip`, outDir: join(out, 'cartpole'), map: writeMap('cartpole', CARTPOLE_MAP) });
    const m = readManifest(r.manifestPath);
    expect(m.actions).toEqual(['none', 'breathing_cue']);
    expect(m.features.map((f) => f.name)).toEqual(['hr_above_rest_bpm', 'hr_slope_bpm_per_min', 'rmssd_ms', 'quality']);
    const engine = await DecisionEngine.create({ manifestPath: r.manifestPath });
    try {
      expect(engine.status().model?.precision).toBe(m.model.precision);
      const rand = rng(5);
      const seen = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const sig = signal(100 + 5 * i, { hrBpm: 60 + 80 * rand(), hrSlopeBpmPerMin: 20 * rand() - 10, rmssdMs: 5 + 80 * rand(), quality: 0.5 + 0.5 * rand() });
        const rec = await engine.decide({ signal: sig, ride: RIDE });
        const [a] = await graphAction(join(out, 'cartpole', m.model.path), obsFor(m, sig));
        expect(rec.modelAction).toBe(CARTPOLE_MAP.actions[a]);
        seen.add(rec.modelAction!);
      }
      // The check means something only if the policy says both things over these inputs.
      expect(seen.size).toBe(2);
    } finally {
      await engine.close();
    }
  });

  it('a mapped Box policy (MountainCar, gSDE, VecNormalize) cuts its action into cues at the map\'s thresholds', async () => {
    const map = {
      observations: [
        { index: 0, feature: 'hr_above_rest_bpm', scale: 0.02, offset: -0.9, fill: 0 },
        { index: 1, feature: 'hr_slope_bpm_per_min', scale: 0.005, fill: 0 },
      ],
      actions: { index: 0, cues: [{ below: -0.3, cue: 'breathing_cue' }, { below: 0.3, cue: 'none' }, { cue: 'suggest_break' }] },
    };
    const r = await importSb3({ checkpoint: `${SHARED}MountainCarContinuous-v0.zip`, vecNormalize: `${SHARED}MountainCarContinuous-v0.vecnormalize.pkl`, outDir: join(out, 'mc'), map: writeMap('mc', map) });
    const m = readManifest(r.manifestPath);
    expect(m.actions).toEqual(['breathing_cue', 'none', 'suggest_break']);
    const engine = await DecisionEngine.create({ manifestPath: r.manifestPath });
    try {
      const rand = rng(9);
      const seen = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const hr = 62 + 60 * rand();
        const slope = 30 * rand() - 15;
        const rec = await engine.decide({ signal: signal(100 + 5 * i, { hrBpm: hr, hrSlopeBpmPerMin: slope }), ride: RIDE });
        const [a] = await graphAction(join(out, 'mc', m.model.path), [0.02 * (hr - RIDE.restingHrBpm) - 0.9, 0.005 * slope]);
        const cue = a < -0.3 ? 'breathing_cue' : a < 0.3 ? 'none' : 'suggest_break';
        expect(rec.modelAction).toBe(cue);
        seen.add(cue);
      }
      expect(seen.size).toBeGreaterThanOrEqual(2);
    } finally {
      await engine.close();
    }
  });

  it('hot swap from the shipped policy to an imported one passes the full validation (int8 agreement on its rows)', async () => {
    const r = await importSb3({ checkpoint: `${SHARED}CartPole-v1.zip`, outDir: join(out, 'swap'), map: writeMap('swap', CARTPOLE_MAP) });
    const engine = await DecisionEngine.create({ manifestPath: new URL('../../models/default-policy.manifest.json', import.meta.url).pathname });
    try {
      expect(engine.status().model?.name).toBe('default-policy');
      const swapped = await engine.swapModel(r.manifestPath);
      expect(swapped).toMatchObject({ ok: true, model: { name: 'cartpole-v1', precision: 'int8' } });
      const rec = await engine.decide({ signal: signal(100, {}), ride: RIDE });
      expect(rec.model?.name).toBe('cartpole-v1');
      expect(['none', 'breathing_cue']).toContain(rec.modelAction);
    } finally {
      await engine.close();
    }
  });

  it('without a map the model is generic: the engine refuses it for coaching and says what is missing', async () => {
    const r = await importSb3({ checkpoint: `${SHARED}CartPole-v1.zip`, outDir: join(out, 'generic') });
    const events: string[] = [];
    const engine = await DecisionEngine.create({ manifestPath: r.manifestPath, onEvent: (e) => events.push(e.type) });
    try {
      expect(engine.status().model).toBeNull();
      expect(events).toEqual(['model_load_failed']);
      expect(engine.status().lastModelError).toMatch(/generic Stable-Baselines3 policy with no coaching map.*--map MAP\.json/);
      // Safety rules still run.
      const rec = await engine.decide({ signal: signal(100, {}), ride: RIDE });
      expect(rec.source).toBe('none');
    } finally {
      await engine.close();
    }
  });

  it('a map naming observations the unit cannot produce is refused at import, naming them', async () => {
    const bad = {
      ...CARTPOLE_MAP,
      observations: [CARTPOLE_MAP.observations[0], { index: 1, feature: 'speed_kmh', fill: 0 }, { index: 2, feature: 'lean_angle_deg', fill: 0 }, CARTPOLE_MAP.observations[3]],
    };
    const err = await importSb3({ checkpoint: `${SHARED}CartPole-v1.zip`, outDir: join(out, 'bad'), map: writeMap('bad', bad) }).catch((e: unknown) => e);
    expect(isMotobioError(err, 'MODEL_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/observations the unit cannot produce: observation 1 = "speed_kmh", observation 2 = "lean_angle_deg"/);
  });

  it('a map that leaves observations out, has no "none" or an unknown cue is refused, naming what', async () => {
    const partial = { ...CARTPOLE_MAP, observations: CARTPOLE_MAP.observations.slice(0, 2) };
    await expect(importSb3({ checkpoint: `${SHARED}CartPole-v1.zip`, outDir: join(out, 'p'), map: writeMap('p', partial) })).rejects.toThrow(/observations 2, 3 of the model's 4 have no feature/);
    const noNone = { ...CARTPOLE_MAP, actions: ['breathing_cue', 'suggest_break'] };
    await expect(importSb3({ checkpoint: `${SHARED}CartPole-v1.zip`, outDir: join(out, 'n'), map: writeMap('n', noNone) })).rejects.toThrow(/no action means "none"/);
    const unknownCue = { ...CARTPOLE_MAP, actions: ['none', 'wheelie'] };
    await expect(importSb3({ checkpoint: `${SHARED}CartPole-v1.zip`, outDir: join(out, 'u'), map: writeMap('u', unknownCue) })).rejects.toThrow(/action 1 is "wheelie", not a cue the unit can deliver/);
  });
});
