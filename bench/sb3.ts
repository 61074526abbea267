/**
 * SB3 import benchmark: for each shared RL-Zoo checkpoint, the time to read the zip and
 * write the fp32 graph, the whole `model import` (int8 search and validation rows included),
 * file sizes and single-row inference p50/p99 of the model the unit runs; then the p99 of a
 * whole decision on the unit's path (signal chain -> features -> imported int8 policy under
 * a coaching map -> safety rules -> record) over a real ECG. Printed, never asserted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { formatLatency, measureLatency } from '../src/offline/bench/latency.js';
import { encodeModel } from '../src/inference/onnx/model.js';
import { loadOrt } from '../src/inference/policy.js';
import { readCheckpoint } from '../src/offline/sb3/checkpoint.js';
import { exportPolicy } from '../src/offline/sb3/export-onnx.js';
import { importSb3 } from '../src/offline/sb3/import.js';
import { readVecNormalize } from '../src/offline/sb3/vecnormalize.js';
import { percentile } from '../src/inference/validate.js';

const DATA = process.env['MOTOBIO_SB3_DATA'] ?? '../shared/data/sb3';
const RECORD = process.env['MOTOBIO_BENCH_RECORD'] ?? '../shared/data/mitdb/119';
const CHECKPOINTS: [string, boolean][] = [
  ['CartPole-v1', false],
  ['LunarLanderContinuous-v2', false],
  ['Walker2d-v3', true],
  ['MountainCarContinuous-v0', true],
];

async function rowLatency(model: Uint8Array, dim: number, samples: number): Promise<{ p50: number; p99: number }> {
  const ort = await loadOrt();
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const times: number[] = [];
  for (let i = 0; i < samples + 100; i++) {
    const feeds = { obs: new ort.Tensor('float32', Float32Array.from({ length: dim }, (_, j) => Math.sin(i + j)), [1, dim]) };
    const t0 = performance.now();
    await s.run(feeds);
    if (i >= 100) times.push(performance.now() - t0);
  }
  await s.release();
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
}

export async function run(): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'motobio-bench-sb3-'));
  try {
    process.stdout.write('== sb3 import (RL Zoo checkpoints, 64x64 Tanh MLPs)\n');
    for (const [name, vn] of CHECKPOINTS) {
      const zip = readFileSync(join(DATA, `${name}.zip`));
      // Parse + export alone, best of 5 (the first run also pays for JIT warm-up).
      let parse = Infinity;
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const spec = readCheckpoint(zip, name);
        const stats = vn ? readVecNormalize(readFileSync(join(DATA, `${name}.vecnormalize.pkl`)), name, spec.observation.dim) : undefined;
        encodeModel(exportPolicy(spec, { name, ...(stats ? { vecNormalize: stats } : {}) }));
        parse = Math.min(parse, performance.now() - t0);
      }
      const t0 = performance.now();
      const r = await importSb3({ checkpoint: join(DATA, `${name}.zip`), ...(vn ? { vecNormalize: join(DATA, `${name}.vecnormalize.pkl`) } : {}), outDir: join(out, name) });
      const whole = performance.now() - t0;
      const unit = readFileSync(r.sb3.precision.chosen === 'int8' ? r.int8Path! : r.fp32Path);
      const lat = await rowLatency(unit, r.sb3.observationSpace.shape.reduce((a, b) => a * b, 1), 3000);
      process.stdout.write(
        `  ${name.padEnd(26)} read+export ${parse.toFixed(1)} ms, whole import ${whole.toFixed(0)} ms; fp32 ${r.fp32Bytes} B, int8 ${r.int8Bytes} B; unit runs ${r.sb3.precision.chosen}; 1-row inference p50 ${lat.p50.toFixed(3)} p99 ${lat.p99.toFixed(3)} ms\n`,
      );
    }
    // The unit's path: an imported int8 policy under a coaching map in the decision engine.
    const map = join(out, 'map.json');
    writeFileSync(
      map,
      JSON.stringify({
        observations: [
          { feature: 'hr_above_rest_bpm', scale: 0.01, fill: 0 },
          { feature: 'hr_slope_bpm_per_min', scale: 0.1, fill: 0 },
          { feature: 'rmssd_ms', scale: 0.005, offset: -0.2, fill: 40 },
          { feature: 'quality', scale: 0.2, offset: -0.18, fill: 0.9 },
        ],
        actions: ['none', 'breathing_cue'],
      }),
    );
    const mapped = await importSb3({ checkpoint: join(DATA, 'CartPole-v1.zip'), outDir: join(out, 'mapped'), map });
    process.stdout.write(`  unit's path, imported ${mapped.sb3.precision.chosen} CartPole policy under a coaching map:\n`);
    process.stdout.write(`${formatLatency(await measureLatency({ manifestPath: mapped.manifestPath, record: RECORD, samples: 3000 }))}\n`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) await run();
