/**
 * `motobio bench latency`: time from the end of a decision window to the recorded decision
 * (features from the window's beats, vectorise, int8 inference, safety rules, hysteresis),
 * and inference alone. Beats come from a real recording's reference annotations.
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { readAnnotations, BEAT_CODES } from '../sources/wfdb/annotations.js';
import { readHeader } from '../sources/wfdb/record.js';
import { MotobioError } from '../util/errors.js';
import { annotatedBeats, featuresAt, intervals, type AnnotatedBeat } from './build/beat-features.js';
import { DecisionEngine } from './engine.js';
import type { PolicyIdentity } from './policy.js';
import { percentile } from './validate.js';

export interface Percentiles {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

export interface LatencyReport {
  readonly samples: number;
  readonly warmup: number;
  readonly record: string;
  readonly model: PolicyIdentity | null;
  readonly inferenceMs: Percentiles;
  readonly featuresMs: Percentiles;
  readonly endToEndMs: Percentiles;
}

function stats(xs: number[]): Percentiles {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 0.5), p95: percentile(s, 0.95), p99: percentile(s, 0.99), max: s[s.length - 1] };
}

export async function measureLatency(options: { manifestPath: string; record: string; samples: number; warmup?: number }): Promise<LatencyReport> {
  if (!existsSync(`${options.record}.atr`)) {
    throw new MotobioError('USAGE', `${options.record}.atr: not found; pass --record with a WFDB record that has beat annotations, e.g. ../shared/data/mitdb/119`);
  }
  const header = readHeader(options.record);
  const { beats, artefacts } = annotatedBeats(readAnnotations(options.record), header.frameRate, BEAT_CODES);
  const ends: number[] = [];
  for (let t = 130; t <= beats[beats.length - 1].timeS; t += 10) ends.push(t);
  if (ends.length === 0) throw new MotobioError('USAGE', `${options.record}: shorter than the 130 s a decision window needs`);
  // A live chain keeps only the recent beats; slice the same way so the features stage is not charged for a 30-min history.
  const recent = (t: number): AnnotatedBeat[] => beats.filter((b) => b.timeS > t - 125 && b.timeS <= t);
  const windows = ends.map((t) => recent(t));

  let failure: string | null = null;
  const engine = await DecisionEngine.create({
    manifestPath: options.manifestPath,
    onEvent: (e) => {
      if (e.type === 'model_load_failed') failure = e.error;
    },
  });
  if (failure !== null || engine.status().model === null) {
    await engine.close();
    throw new MotobioError('MODEL_INVALID', `cannot benchmark: ${failure ?? 'no model loaded'}`);
  }
  const warmup = options.warmup ?? 50;
  const inference: number[] = [];
  const feats: number[] = [];
  const total: number[] = [];
  const ride = { restingHrBpm: 65, minutesRiding: 30, riding: true, sensorConnected: true };
  for (let i = 0; i < warmup + options.samples; i++) {
    const k = i % windows.length;
    const t0 = performance.now();
    const w = windows[k];
    const signal = featuresAt(w, intervals(w), artefacts, ends[k], { baseQuality: () => 1 });
    const t1 = performance.now();
    // Stream time must advance even when the record wraps around.
    const record = await engine.decide({ signal: { ...signal, endS: i * 10 + 130 }, ride: { ...ride, minutesRiding: 30 + i / 6 } });
    const t2 = performance.now();
    if (i < warmup) continue;
    feats.push(t1 - t0);
    total.push(t2 - t0);
    if (record.latencyMs.inference !== null) inference.push(record.latencyMs.inference);
  }
  const model = engine.status().model;
  await engine.close();
  if (inference.length === 0) throw new MotobioError('MODEL_INVALID', 'the model never ran during the benchmark; run "motobio model validate" on it');
  return { samples: options.samples, warmup, record: options.record, model, inferenceMs: stats(inference), featuresMs: stats(feats), endToEndMs: stats(total) };
}

export function formatLatency(r: LatencyReport): string {
  const row = (name: string, p: Percentiles) => `  ${name.padEnd(26)} p50 ${p.p50.toFixed(3)}  p95 ${p.p95.toFixed(3)}  p99 ${p.p99.toFixed(3)}  max ${p.max.toFixed(3)} ms`;
  return [
    `latency over ${r.samples} decisions (after ${r.warmup} warm-up), model ${r.model ? `${r.model.name} ${r.model.version} ${r.model.precision}` : 'none'}, beats from ${r.record}`,
    row('inference alone', r.inferenceMs),
    row('features (window -> vector)', r.featuresMs),
    row('end to end (-> decision)', r.endToEndMs),
  ].join('\n');
}
