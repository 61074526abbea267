/**
 * The inference stage as the daemon opens it (src/inference/stage.ts): configuration in,
 * Decision[] out, model choice and the rules-only fallback reported in the status.
 */
import { fileURLToPath } from 'node:url';
import { describe, it, expect, afterEach } from 'vitest';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDecisions } from '../../src/inference/stage.js';
import { loadConfig } from '../../src/config/load.js';
import { Telemetry } from '../../src/daemon/telemetry.js';
import { Clock } from '../../src/core/clock.js';
import type { StageContext } from '../../src/core/context.js';
import type { SignalFeatures } from '../../src/signal/types.js';
import { silentLogger } from '../../src/util/log.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const MODELS = join(HERE, '../../models');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function context(modelDir: string): { ctx: StageContext; telemetry: Telemetry } {
  const cwd = mkdtempSync(join(tmpdir(), 'motobio-de-'));
  dirs.push(cwd);
  const { config } = loadConfig({ resolvePaths: true, env: {}, cwd });
  const telemetry = new Telemetry({ processMetrics: false });
  const ctx: StageContext = {
    config: { ...config, inference: { ...config.inference, model_dir: modelDir, rules: { ...config.inference.rules, hr_high_bpm: 170, no_beat_s: 8 } } },
    configFile: undefined,
    cwd,
    log: silentLogger,
    clock: new Clock(),
    telemetry,
  };
  return { ctx, telemetry };
}

const open = (ctx: StageContext) => openDecisions(ctx, { modelDir: () => ({ dir: ctx.config.inference.model_dir, fromUpdate: false }) });

const features = (t: number, patch: Partial<SignalFeatures> = {}): SignalFeatures => ({
  endS: t,
  hrBpm: 72,
  hrSlopeBpmPerMin: 0,
  rmssdMs: 40,
  sdnnMs: 50,
  pnn50: 0.2,
  lfHf: 1.5,
  quality: 0.9,
  ectopicShare: 0,
  leadOff: false,
  secondsSinceBeat: 0.5,
  ...patch,
});

describe('the inference stage (config in, Decision[] out)', () => {
  it('loads the model from inference.model_dir and returns one coaching decision naming the model', async () => {
    const { ctx, telemetry } = context(MODELS);
    const engine = await open(ctx);
    expect(telemetry.snapshot().components['inference']).toMatchObject({ state: 'running' });
    const out = await engine.decide(features(100), ctx.clock.stamp());
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ kind: 'coaching', name: 'none' });
    expect(out[0].detail).toMatchObject({ model: { name: 'default-policy', precision: 'int8' } });
    await engine.close();
  });

  it('applies inference.rules: hr_high_bpm and no_beat_s become safety decisions', async () => {
    const { ctx } = context(MODELS);
    const engine = await open(ctx);
    for (const t of [0, 10]) await engine.decide(features(t, { hrBpm: 175 }), ctx.clock.stamp());
    const high = await engine.decide(features(20, { hrBpm: 175 }), ctx.clock.stamp());
    expect(high.map((d) => [d.kind, d.name])).toEqual([['safety', 'hr_high'], ['coaching', 'safety_alert']]);
    const lost = await engine.decide(features(30, { hrBpm: null, secondsSinceBeat: 9 }), ctx.clock.stamp());
    expect(lost.filter((d) => d.kind === 'safety').map((d) => d.name)).toEqual(['sensor_lost']);
    await engine.close();
  });

  it('with no usable model it runs on the rules alone, raises MODEL_UNAVAILABLE and says why in the status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'motobio-de-models-'));
    dirs.push(dir);
    cpSync(MODELS, dir, { recursive: true });
    writeFileSync(join(dir, 'default-policy.int8.onnx'), 'corrupt');
    const { ctx, telemetry } = context(dir);
    const engine = await open(ctx);
    expect(telemetry.snapshot().components['inference']).toMatchObject({ state: 'rules_only', lastError: expect.stringMatching(/SHA-256/) as unknown });
    expect(telemetry.alarms.has('MODEL_UNAVAILABLE')).toBe(true);
    const out = await engine.decide(features(30, { secondsSinceBeat: 20, hrBpm: null }), ctx.clock.stamp());
    expect(out.map((d) => d.name)).toEqual(['sensor_lost', 'safety_alert']);

    const { ctx: ctx2, telemetry: t2 } = context(join(dir, 'nowhere'));
    const none = await open(ctx2);
    expect(t2.snapshot().components['inference']).toMatchObject({ state: 'rules_only', lastError: expect.stringMatching(/no model manifest/) as unknown });
    expect((await none.decide(features(5), ctx2.clock.stamp()))[0].detail).toMatchObject({ reason: 'model_unavailable' });
    await engine.close();
    await none.close();
  });
});
