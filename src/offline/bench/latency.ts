/**
 * `motobio bench latency`: time from the end of a decision window to the recorded decision
 * (EcgChain.features(), vectorise, int8 inference, safety rules, hysteresis, record), and
 * inference alone. The ECG is a real recording pushed through the real signal chain in 1 s
 * chunks; only the decision step is timed, one decision per second of signal.
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { EcgChain } from '../../signal/chain.js';
import { channelOf, readRecord, toPhysical } from '../../sources/wfdb/record.js';
import { MotobioError } from '../../util/errors.js';
import { DecisionEngine } from '../../inference/engine.js';
import type { PolicyIdentity } from '../../inference/policy.js';
import { percentile } from '../../inference/validate.js';

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

/** Seconds of signal before the first timed decision, so every HRV window is full. */
const LEAD_IN_S = 130;

export async function measureLatency(options: { manifestPath: string; record: string; samples: number; warmup?: number }): Promise<LatencyReport> {
  if (!existsSync(`${options.record}.hea`)) {
    throw new MotobioError('USAGE', `${options.record}.hea: not found; pass --record with a WFDB ECG record, e.g. ../shared/data/mitdb/119`);
  }
  const signal = channelOf(readRecord(options.record), 0);
  const mv = toPhysical(signal);
  const fs = signal.fs;
  const seconds = Math.floor(mv.length / fs);
  if (seconds <= LEAD_IN_S + 10) throw new MotobioError('USAGE', `${options.record}: ${seconds} s is too short; the benchmark needs more than ${LEAD_IN_S + 10} s of ECG`);

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
  let chain = new EcgChain({ fs });
  let second = 0;
  let streamS = 0;
  for (let i = 0; i < warmup + options.samples; ) {
    // Loop the recording with a fresh chain when it runs out.
    if (second >= seconds) {
      chain = new EcgChain({ fs });
      second = 0;
    }
    chain.push(mv.subarray(second * fs, (second + 1) * fs));
    second++;
    streamS++;
    if (second < LEAD_IN_S) continue;
    const t0 = performance.now();
    const features = chain.features();
    const t1 = performance.now();
    // Stream time must keep advancing when the recording wraps around.
    const record = await engine.decide({
      signal: { ...features, endS: streamS },
      ride: { restingHrBpm: 65, minutesRiding: streamS / 60, riding: true, sensorConnected: true },
    });
    const t2 = performance.now();
    if (i++ < warmup) continue;
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
    `latency over ${r.samples} decisions (after ${r.warmup} warm-up), model ${r.model ? `${r.model.name} ${r.model.version} ${r.model.precision}` : 'none'}, ECG from ${r.record}`,
    row('inference alone', r.inferenceMs),
    row('EcgChain.features()', r.featuresMs),
    row('end to end (-> decision)', r.endToEndMs),
  ].join('\n');
}
