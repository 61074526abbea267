/**
 * `motobio model validate`: every check a model must pass before it goes on a bike, each
 * reported on its own line so a technician sees exactly which one failed.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MotobioError, errorMessage } from '../util/errors.js';
import { readDataset, type DatasetRow } from './agreement.js';
import { vectorise } from './features.js';
import { readManifest, readVerified, type ModelManifest } from './manifest.js';
import { PolicyModel, argmax } from './policy.js';

export const MIN_AGREEMENT = 0.99;

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface ValidationReport {
  readonly manifestPath: string;
  readonly ok: boolean;
  readonly checks: Check[];
  readonly agreement?: { rows: number; agree: number; share: number };
  readonly latencyMs?: { p50: number; p99: number; samples: number };
}

/** Finds the manifest for a path that may be the manifest, its .onnx file or their folder. */
export function findManifest(path: string): string {
  if (!existsSync(path)) throw new MotobioError('USAGE', `${path}: no such file or folder; pass a model manifest (.json), its .onnx file or the folder holding them`);
  if (statSync(path).isDirectory()) {
    const found = readdirSync(path).filter((f) => f.endsWith('.manifest.json'));
    if (found.length !== 1) throw new MotobioError('USAGE', `${path}: expected exactly one *.manifest.json in the folder, found ${found.length}; pass the manifest itself`);
    return join(path, found[0]);
  }
  if (path.endsWith('.onnx')) {
    const dir = dirname(path);
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.manifest.json'))) {
      try {
        const m = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Partial<ModelManifest>;
        if (m.model?.path === basename(path) || m.reference?.path === basename(path)) return join(dir, f);
      } catch {
        // Not our manifest; keep looking.
      }
    }
    throw new MotobioError('USAGE', `${path}: no *.manifest.json next to it names this file; a model is validated through its manifest`);
  }
  return path;
}

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export async function validateModel(path: string, options: { samples?: number } = {}): Promise<ValidationReport> {
  const checks: Check[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  let manifestPath = path;
  let manifest: ModelManifest | undefined;
  try {
    manifestPath = findManifest(path);
    manifest = readManifest(manifestPath);
    add('manifest', true, `${manifest.name} ${manifest.version}: ${manifest.features.length} features -> ${manifest.actions.length} actions, opset ${manifest.opset}`);
  } catch (e) {
    add('manifest', false, errorMessage(e));
    return { manifestPath, ok: false, checks };
  }

  let int8: PolicyModel | undefined;
  let fp32: PolicyModel | undefined;
  try {
    int8 = await PolicyModel.load(manifestPath, { requireInt8: true });
    add('model', true, `${int8.modelPath}: SHA-256 ok, input/output names and shapes ok, ops ok, int8 present, test inference ok (${int8.sizeBytes} bytes)`);
  } catch (e) {
    add('model', false, errorMessage(e));
  }
  try {
    if (!manifest.reference) throw new MotobioError('MODEL_INVALID', 'the manifest lists no fp32 reference model, so int8 agreement cannot be checked; add "reference"');
    fp32 = await PolicyModel.load(manifestPath, { useReference: true });
    add('reference', true, `${fp32.modelPath}: SHA-256 ok, loads and runs (${fp32.sizeBytes} bytes)`);
  } catch (e) {
    add('reference', false, errorMessage(e));
  }

  let rows: DatasetRow[] | undefined;
  try {
    if (!manifest.validationSet) throw new MotobioError('MODEL_INVALID', 'the manifest lists no validation set; add "validationSet" (ndjson rows with "obs")');
    const { path: vPath } = readVerified(manifestPath, manifest.validationSet);
    rows = readDataset(vPath, manifest.features.length);
    // Rows that carry raw features must normalise to their stored obs: proves the manifest's stats are the training stats.
    let worst = 0;
    for (const r of rows) {
      if (!r.features) continue;
      const obs = vectorise(manifest.features, r.features).obs;
      for (let i = 0; i < obs.length; i++) worst = Math.max(worst, Math.abs(obs[i] - r.obs[i]));
    }
    if (worst > 1e-4) throw new MotobioError('MODEL_INVALID', `${vPath}: normalising the rows' raw features with the manifest gives values up to ${worst.toFixed(4)} away from their stored obs; the manifest's mean/std/clip do not match the model's training`);
    add('validation set', true, `${vPath}: ${rows.length} rows, SHA-256 ok, normalisation matches`);
  } catch (e) {
    add('validation set', false, errorMessage(e));
  }

  let agreementResult: ValidationReport['agreement'];
  if (int8 && fp32 && rows) {
    const width = manifest.features.length;
    const flat = new Float32Array(rows.length * width);
    rows.forEach((r, i) => flat.set(r.obs, i * width));
    try {
      const a = await fp32.inferBatch(flat, rows.length);
      const b = await int8.inferBatch(flat, rows.length);
      const k = manifest.actions.length;
      let agree = 0;
      for (let r = 0; r < rows.length; r++) if (argmax(a, r * k, k) === argmax(b, r * k, k)) agree++;
      agreementResult = { rows: rows.length, agree, share: agree / rows.length };
      const ok = agreementResult.share >= MIN_AGREEMENT;
      add('int8 agreement', ok, `${agree}/${rows.length} = ${(100 * agreementResult.share).toFixed(2)}% same action as fp32 (need >= ${100 * MIN_AGREEMENT}%)${ok ? '' : '; re-quantize or retrain the model'}`);
    } catch (e) {
      add('int8 agreement', false, errorMessage(e));
    }
  }

  let latency: ValidationReport['latencyMs'];
  if (int8 && rows && (options.samples ?? 1000) > 0) {
    const n = options.samples ?? 1000;
    const width = manifest.features.length;
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const obs = Float32Array.from(rows[i % rows.length].obs);
      const t0 = performance.now();
      await int8.infer(obs);
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    latency = { p50: percentile(times, 0.5), p99: percentile(times, 0.99), samples: n };
    add('latency', true, `int8 inference p50 ${latency.p50.toFixed(3)} ms, p99 ${latency.p99.toFixed(3)} ms over ${n} runs of 1x${width}`);
  }
  await int8?.release();
  await fp32?.release();
  return { manifestPath, ok: checks.every((c) => c.ok), checks, ...(agreementResult ? { agreement: agreementResult } : {}), ...(latency ? { latencyMs: latency } : {}) };
}
