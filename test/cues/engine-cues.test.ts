/**
 * The real decision engine (bundled int8 model and the safety rules) into the cue stage
 * through the daemon's wiring, on aplay and ALSA's file PCM: a sustained high heart rate gives
 * a safety alert the rider hears, linked to its decision's seq; it repeats while the engine
 * reports the rule active and stops when the heart rate comes down.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Clock } from '../../src/core/clock.js';
import { loadConfig } from '../../src/config/load.js';
import type { StageContext } from '../../src/core/context.js';
import { Telemetry } from '../../src/daemon/telemetry.js';
import { openDecisions } from '../../src/inference/stage.js';
import type { SignalFeatures } from '../../src/signal/types.js';
import type { CueDelivery } from '../../src/cues/types.js';
import { createCueStage, decisionToCue } from '../../src/cues/wiring.js';
import { silentLogger } from '../../src/util/log.js';
import { waitFor } from '../sources/wait.js';
import { filePcm } from './alsa.js';

const MODELS = fileURLToPath(new URL('../../models', import.meta.url));

const features = (t: number, hrBpm: number): SignalFeatures => ({
  endS: t,
  hrBpm,
  hrSlopeBpmPerMin: 0,
  rmssdMs: 30,
  sdnnMs: 40,
  pnn50: 0.1,
  lfHf: 2,
  quality: 0.9,
  ectopicShare: 0,
  leadOff: false,
  secondsSinceBeat: 0.4,
});

describe('decision engine -> cue stage', () => {
  it('plays the hr_high alert for a sustained high heart rate, linked by seq, repeating only while the rule holds', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'motobio-engine-cues-'));
    const pcm = filePcm();
    const { config } = loadConfig({ resolvePaths: true, env: {}, cwd });
    const clock = new Clock();
    const telemetry = new Telemetry({ processMetrics: false });
    const ctx: StageContext = {
      config: { ...config, inference: { ...config.inference, model_dir: MODELS, rules: { ...config.inference.rules, hr_high_bpm: 170 } } },
      configFile: undefined,
      cwd,
      log: silentLogger,
      clock,
      telemetry,
    };
    const engine = await openDecisions(ctx, { modelDir: () => ({ dir: MODELS, fromUpdate: false }) });
    const deliveries: CueDelivery[] = [];
    const stage = createCueStage(ctx, {
      settings: { language: 'es', audio: { output: 'alsa', device: pcm.device, safety_repeat_max: 5, safety_repeat_gap_s: 0.5 } },
      onDelivery: (d) => deliveries.push(d),
      env: pcm.env,
    });
    const safetySeqs: number[] = [];
    const decide = async (t: number, hr: number): Promise<void> => {
      for (const d of await engine.decide(features(t, hr), clock.stamp())) {
        // As the pipeline does: the record's stamp, then the cue with it.
        const stamp = clock.stamp();
        if (d.kind === 'safety') safetySeqs.push(stamp.seq);
        decisionToCue(stage, d, stamp);
      }
    };
    try {
      await stage.start(new AbortController().signal);
      expect(stage.status().state).toBe('ready');
      for (let t = 5; t <= 40; t += 5) await decide(t, 195);
      expect(safetySeqs).toHaveLength(1);
      await waitFor(() => stage.status().playing?.decisionSeq === safetySeqs[0], 10_000, 'the alert to play');
      // The next periods: the rate comes down, the engine's safetyActive no longer lists hr_high.
      await decide(45, 80);
      await waitFor(() => deliveries.some((d) => d.decisionSeq === safetySeqs[0]), 20_000, 'the alert delivery');
      const d = deliveries.find((x) => x.decisionSeq === safetySeqs[0])!;
      expect(d).toMatchObject({ kind: 'safety', name: 'hr_high', state: 'played', repeat: 1, prompt: 'voice', language: 'es' });
      // While the rule held the engine held the policy's cues back, and its record's mirror of the alert was no second cue.
      expect(deliveries.filter((x) => x.kind === 'coaching' && x.decisionSeq > safetySeqs[0])).toEqual([]);
      expect(pcm.samples().some((v) => v !== 0)).toBe(true);
    } finally {
      await stage.stop();
      await engine.close();
      pcm.cleanup();
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 60_000);
});
