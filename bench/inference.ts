/**
 * Inference benchmark: p50/p95/p99 of int8 inference alone and of a whole decision (window
 * features -> vectorise -> inference -> safety rules -> record), the same figures as
 * `motobio bench latency`, plus fp32 vs int8 inference. Printed, never asserted.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { measureLatency, formatLatency } from '../src/offline/bench/latency.js';
import { PolicyModel } from '../src/inference/policy.js';
import { readDataset } from '../src/inference/agreement.js';
import { resolveBeside } from '../src/inference/manifest.js';
import { percentile } from '../src/inference/validate.js';

const MANIFEST = process.env['MOTOBIO_BENCH_MODEL'] ?? 'models/default-policy.manifest.json';
const RECORD = process.env['MOTOBIO_BENCH_RECORD'] ?? '../shared/data/mitdb/119';

async function inferOnly(useReference: boolean, samples: number): Promise<string> {
  const model = await PolicyModel.load(MANIFEST, { useReference });
  const rows = readDataset(resolveBeside(MANIFEST, model.manifest.validationSet!.path), model.manifest.features.length);
  const times: number[] = [];
  for (let i = 0; i < samples + 100; i++) {
    const obs = Float32Array.from(rows[i % rows.length].obs);
    const t0 = performance.now();
    await model.infer(obs);
    if (i >= 100) times.push(performance.now() - t0);
  }
  await model.release();
  times.sort((a, b) => a - b);
  return `  ${model.file.precision} inference (${model.sizeBytes} B)`.padEnd(30) + ` p50 ${percentile(times, 0.5).toFixed(3)}  p95 ${percentile(times, 0.95).toFixed(3)}  p99 ${percentile(times, 0.99).toFixed(3)} ms`;
}

export async function run(): Promise<void> {
  process.stdout.write('== inference\n');
  process.stdout.write(`${formatLatency(await measureLatency({ manifestPath: MANIFEST, record: RECORD, samples: 5000 }))}\n`);
  process.stdout.write(`${await inferOnly(false, 5000)}\n${await inferOnly(true, 5000)}\n`);
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) await run();
