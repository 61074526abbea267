/**
 * `motobio model validate` for an imported SB3 policy: the files match their hashes, fp32
 * against a PyTorch reference file when one is given, int8 against fp32, latency of the
 * model the unit runs. One line per check, so a reviewer sees which one failed.
 *
 *   manifest ─▶ fp32 / int8 files (SHA-256) ─▶ reference.json? ─▶ fp32 error (logits|mean, value, action)
 *                                           └▶ validation rows (+ reference obs) ─▶ int8 vs fp32 actions ─▶ latency
 */
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { MotobioError, errorMessage } from '../../util/errors.js';
import { readDataset } from '../../inference/agreement.js';
import { readVerified, resolveBeside } from '../../inference/manifest.js';
import { loadOrt } from '../../inference/policy.js';
import { findManifest, percentile } from '../../inference/validate.js';
import { actionRange, compareActions, runPolicy, scaledError, type ActionAgreement, type ActionKind } from './compare.js';
import type { Sb3Block } from './import.js';
import { describeAgreement } from './import.js';

export const FP32_TOLERANCE = 1e-5;

export interface Sb3Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Sb3ValidationReport {
  readonly manifestPath: string;
  readonly ok: boolean;
  readonly checks: Sb3Check[];
  readonly fp32VsReference?: { rows: number; headError: number; valueError: number; actionError: number; actionsEqual?: number };
  readonly int8VsFp32?: ActionAgreement;
  readonly latencyMs?: { precision: string; p50: number; p99: number; samples: number };
  readonly sizes?: { fp32: number; int8: number | null };
}

interface ImportedManifest {
  name: string;
  model: { path: string; sha256: string; precision: 'fp32' | 'int8' };
  reference: { path: string; sha256: string; precision: 'fp32' };
  validationSet?: { path: string; sha256: string };
  input: { name: string; shape: [string, number] };
  sb3: Sb3Block;
}

export interface ReferenceFile {
  obs: number[][];
  logits?: number[][];
  mean?: number[][];
  action: (number | number[])[];
  value: number[];
}

/** True when the manifest at `path` (or in the folder) came from `motobio model import`. */
export function isImportedSb3(path: string): boolean {
  try {
    const m = JSON.parse(readFileSync(findManifest(path), 'utf8')) as Partial<ImportedManifest>;
    return typeof m.sb3 === 'object' && m.sb3 !== null;
  } catch {
    return false;
  }
}

function readReference(path: string, dim: number, head: 'logits' | 'mean'): ReferenceFile {
  if (!existsSync(path)) throw new MotobioError('USAGE', `${path}: no such reference file`);
  let r: Partial<ReferenceFile>;
  try {
    r = JSON.parse(readFileSync(path, 'utf8')) as Partial<ReferenceFile>;
  } catch (e) {
    throw new MotobioError('USAGE', `${path}: not JSON (${errorMessage(e)})`);
  }
  if (!Array.isArray(r.obs) || !r.obs.length || !r.obs.every((o) => Array.isArray(o) && o.length === dim)) throw new MotobioError('USAGE', `${path}: "obs" must be rows of ${dim} numbers`);
  if (!Array.isArray(r[head]) || !Array.isArray(r.value) || !Array.isArray(r.action)) throw new MotobioError('USAGE', `${path}: needs "${head}", "action" and "value" for each row (as the PyTorch reference files in ../shared/data/sb3 have)`);
  return r as ReferenceFile;
}

export async function validateSb3(path: string, options: { reference?: string; samples?: number } = {}): Promise<Sb3ValidationReport> {
  const checks: Sb3Check[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const manifestPath = findManifest(path);
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as ImportedManifest;
  if (!m.sb3) throw new MotobioError('USAGE', `${manifestPath}: not an imported SB3 policy; use "motobio model validate" without --reference`);
  const s = m.sb3;
  const head = s.outputs.head;
  const dim = m.input.shape[1];
  add('manifest', true, `${m.name}: SB3 ${s.sb3Version} ${s.algorithm}, ${dim} observations -> ${s.actionSpace.kind === 'discrete' ? `Discrete(${s.actionSpace.n})` : `Box(${s.actionSpace.shape.join('x')})`}, ${s.policy.activation} ${JSON.stringify(s.policy.netArch)}${s.vecNormalize ? ', VecNormalize in the graph' : ''}`);
  add('coaching', true, s.coaching ? `map ${s.coaching.map}: the unit can coach with it` : 'no coaching map: generic model, the daemon will not coach with it (import with --map)');

  let fp32: Uint8Array;
  let int8: Uint8Array | null = null;
  try {
    fp32 = readVerified(manifestPath, m.reference).bytes;
    add('fp32 file', true, `${m.reference.path}: SHA-256 ok (${fp32.length} bytes)`);
  } catch (e) {
    add('fp32 file', false, errorMessage(e));
    return { manifestPath, ok: false, checks };
  }
  const int8Path = m.reference.path.replace(/\.fp32\.onnx$/, '.int8.onnx');
  if (m.model.precision === 'int8') {
    try {
      int8 = readVerified(manifestPath, m.model).bytes;
      add('int8 file', true, `${m.model.path}: SHA-256 ok (${int8.length} bytes, ${((100 * int8.length) / fp32.length).toFixed(1)}% of fp32)`);
    } catch (e) {
      add('int8 file', false, errorMessage(e));
    }
  } else {
    add('precision', true, `the unit runs fp32: ${s.precision.reason}`);
    const candidate = resolveBeside(manifestPath, int8Path);
    if (existsSync(candidate)) int8 = readFileSync(candidate);
  }

  let report: Sb3ValidationReport = { manifestPath, ok: false, checks, sizes: { fp32: fp32.length, int8: int8?.length ?? null } };
  const kindFor = (actions: Float64Array): ActionKind =>
    s.actionSpace.kind === 'discrete' ? { kind: 'discrete' } : { kind: 'box', dim: s.actionSpace.shape[0], range: actionRange(s.actionSpace.low.map((v) => v ?? -Infinity), s.actionSpace.high.map((v) => v ?? Infinity), actions) };

  let refObs: number[][] = [];
  if (options.reference) {
    try {
      const ref = readReference(options.reference, dim, head);
      refObs = ref.obs;
      const out = await runPolicy(fp32, ref.obs, head);
      const headError = scaledError(out.head, ref[head]!.flat());
      const valueError = scaledError(out.value, ref.value);
      const refAction = ref.action.flat();
      let actionsEqual: number | undefined;
      let actionError = 0;
      if (s.actionSpace.kind === 'discrete') {
        actionsEqual = refAction.filter((a, i) => a === out.action[i]).length;
        actionError = actionsEqual === ref.obs.length ? 0 : 1;
      } else actionError = scaledError(out.action, refAction);
      const ok = headError <= FP32_TOLERANCE && valueError <= FP32_TOLERANCE && actionError <= FP32_TOLERANCE;
      report = { ...report, fp32VsReference: { rows: ref.obs.length, headError, valueError, actionError, ...(actionsEqual !== undefined ? { actionsEqual } : {}) } };
      add('fp32 vs reference', ok, `${ref.obs.length} rows of ${options.reference}: ${head} max error ${headError.toExponential(2)}, value ${valueError.toExponential(2)}, ${actionsEqual !== undefined ? `actions ${actionsEqual}/${ref.obs.length} equal` : `action ${actionError.toExponential(2)}`} (need <= ${FP32_TOLERANCE}, absolute up to magnitude 1, relative beyond)`);
    } catch (e) {
      add('fp32 vs reference', false, errorMessage(e));
    }
  }

  let rows: number[][] = [];
  try {
    if (m.validationSet) rows = readDataset(readVerified(manifestPath, m.validationSet).path, dim).map((r) => r.obs);
  } catch (e) {
    add('validation rows', false, errorMessage(e));
  }
  rows = [...rows, ...refObs];
  if (int8 && rows.length) {
    try {
      const a = await runPolicy(fp32, rows, head);
      const b = await runPolicy(int8, rows, head, true);
      const agreement = compareActions(kindFor(a.action), b.action, a.action, rows.length);
      report = { ...report, int8VsFp32: agreement };
      const usedInt8 = m.model.precision === 'int8';
      add('int8 vs fp32', agreement.ok || !usedInt8, `${describeAgreement(agreement)} on the validation rows${refObs.length ? ' and the reference observations' : ''}${usedInt8 ? '' : ' (int8 not used by the unit)'}`);
    } catch (e) {
      add('int8 vs fp32', false, errorMessage(e));
    }
  }

  const samples = options.samples ?? 1000;
  if (samples > 0 && rows.length) {
    const bytes = m.model.precision === 'int8' && int8 ? int8 : fp32;
    const ort = await loadOrt();
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
    try {
      const times: number[] = [];
      for (let i = 0; i < samples + 20; i++) {
        const feeds = { obs: new ort.Tensor('float32', Float32Array.from(rows[i % rows.length]), [1, dim]) };
        const t0 = performance.now();
        await session.run(feeds);
        if (i >= 20) times.push(performance.now() - t0);
      }
      times.sort((x, y) => x - y);
      const latency = { precision: m.model.precision, p50: percentile(times, 0.5), p99: percentile(times, 0.99), samples };
      report = { ...report, latencyMs: latency };
      add('latency', true, `${m.model.precision} inference p50 ${latency.p50.toFixed(3)} ms, p99 ${latency.p99.toFixed(3)} ms over ${samples} runs of 1x${dim}`);
    } finally {
      await session.release();
    }
  }
  return { ...report, checks, ok: checks.every((c) => c.ok) };
}
