/**
 * `motobio model import`: an SB3 checkpoint to the files the unit runs.
 *
 *   MODEL.zip ─▶ readCheckpoint ─▶ PolicySpec ─┐
 *   [vecnormalize.pkl] ─▶ obs statistics ──────┼─▶ exportPolicy ─▶ (+ cue head from MAP.json) ─▶ NAME.fp32.onnx
 *   [MAP.json] ─▶ features, cues ──────────────┘                       │
 *   validation rows (the checkpoint's last observations + seeded perturbations) ─▶ NAME.validation.ndjson
 *                                                                      ▼
 *                          quantizeDynamic (then static QDQ) ─▶ int8 vs fp32 on the rows ─▶ NAME.int8.onnx
 *                                                                      ▼
 *                 NAME.manifest.json: files + hashes, checkpoint SHA-256, SB3 version, spaces, precision chosen and why
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MotobioError, errorMessage } from '../../util/errors.js';
import { sha256 } from '../../inference/manifest.js';
import { DataType, decodeModel, encodeModel, tensorFloats, type ModelProto } from '../../inference/onnx/model.js';
import { quantizeDynamic } from '../quantize/quantize.js';
import { calibrate, quantizeStatic } from '../quantize/quantize-static.js';
import { readCheckpoint } from './checkpoint.js';
import { appendCueHead, parseCoachingMap, type CoachingMap } from './coaching-map.js';
import { actionRange, compareActions, runPolicy, type ActionAgreement, type ActionKind } from './compare.js';
import { exportPolicy } from './export-onnx.js';
import type { PolicySpec } from './policy-spec.js';
import { readVecNormalize, type ObsNormalization } from './vecnormalize.js';

export interface ImportOptions {
  readonly checkpoint: string;
  readonly vecNormalize?: string;
  /** Import a checkpoint trained under VecNormalize without its statistics (rarely right). */
  readonly allowMissingVecNormalize?: boolean;
  readonly outDir: string;
  readonly name?: string;
  readonly map?: string;
  /** Validation rows to write (the checkpoint's own observations plus perturbations). */
  readonly rows?: number;
  readonly seed?: number;
}

export interface Sb3Block {
  readonly checkpoint: { readonly file: string; readonly sha256: string };
  readonly vecNormalize: { readonly file: string; readonly sha256: string; readonly clipObs: number; readonly epsilon: number; readonly count: number; readonly normObs: boolean } | null;
  readonly sb3Version: string;
  readonly algorithm: string;
  readonly policyClass: string;
  /** Bounds: null is unbounded (JSON has no infinity). */
  readonly observationSpace: { readonly shape: readonly number[]; readonly dtype: string; readonly low: (number | null)[]; readonly high: (number | null)[] };
  readonly actionSpace: { readonly kind: 'discrete'; readonly n: number; readonly start: number } | { readonly kind: 'box'; readonly shape: readonly number[]; readonly low: (number | null)[]; readonly high: (number | null)[] };
  readonly policy: { readonly activation: string; readonly netArch: PolicySpec['netArch']; readonly useSde: boolean; readonly squashOutput: boolean };
  readonly outputs: { readonly action: string; readonly head: 'logits' | 'mean'; readonly value: string; readonly cues: string | null };
  readonly precision: { readonly chosen: 'int8' | 'fp32'; readonly reason: string; readonly int8: (ActionAgreement & { readonly method: string }) | null };
  readonly coaching: { readonly map: string; readonly sha256: string } | null;
  readonly importMs: number;
}

export interface ImportResult {
  readonly manifestPath: string;
  readonly fp32Path: string;
  readonly int8Path: string | null;
  readonly sb3: Sb3Block;
  readonly fp32Bytes: number;
  readonly int8Bytes: number | null;
  readonly notes: string[];
}

const json = (v: readonly number[]) => v.map((x) => (Number.isFinite(x) ? x : null));

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
}

/**
 * Rows of raw observations: the checkpoint's last observations, then seeded Gaussian
 * perturbations of them (spread: VecNormalize's std when known, else the rows' own spread),
 * kept inside the observation space's finite bounds.
 */
export function validationRows(spec: PolicySpec, vn: ObsNormalization | undefined, count: number, seed = 20): number[][] {
  const D = spec.observation.dim;
  const { low, high } = spec.observation;
  let base = spec.lastObs ?? [];
  if (base.length && !spec.lastObsFromOriginal && vn?.normObs) {
    // _last_obs is what the policy saw: normalised; undo it to get raw rows.
    base = base.map((r) => r.map((z, j) => z * Math.sqrt(vn.var[j] + vn.epsilon) + vn.mean[j]));
  }
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(r())) * Math.cos(2 * Math.PI * r());
  const centre = (j: number) => (base.length ? base.reduce((a, row) => a + row[j], 0) / base.length : vn ? vn.mean[j] : Number.isFinite(low[j]) && Number.isFinite(high[j]) ? (low[j] + high[j]) / 2 : 0);
  const sd = Array.from({ length: D }, (_, j) => {
    if (vn?.normObs) return 0.5 * Math.sqrt(vn.var[j] + vn.epsilon);
    const c = centre(j);
    const spread = base.length > 1 ? Math.sqrt(base.reduce((a, row) => a + (row[j] - c) ** 2, 0) / (base.length - 1)) : 0;
    const boxed = Number.isFinite(low[j]) && Number.isFinite(high[j]) ? (high[j] - low[j]) / 8 : Infinity;
    return Math.min(boxed, Math.max(spread, 0.1 * Math.abs(c), 0.05));
  });
  const rows: number[][] = base.slice(0, count).map((row) => [...row]);
  const start = base.length ? base : [Array.from({ length: D }, (_, j) => centre(j))];
  for (let i = rows.length; i < count; i++) {
    const b = start[i % start.length];
    rows.push(b.map((x, j) => Math.fround(Math.min(high[j], Math.max(low[j], x + sd[j] * gauss())))));
  }
  return rows;
}

function writePrivate(path: string, data: string | Uint8Array): void {
  writeFileSync(path, data, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function safeName(raw: string): string {
  const n = raw.toLowerCase().replace(/\.zip$/, '').replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '');
  if (!n) throw new MotobioError('USAGE', `model import: cannot make a model name from "${raw}"; pass --name NAME (letters, digits, . _ -)`);
  return n;
}

/**
 * Quantizes an imported policy graph, keeping more layers float until int8 meets the action
 * target against fp32 on the rows; returns the best attempt and what each attempt reached.
 * Works from the graph alone (Gemm nodes named after SB3 layers), so `model quantize` can use it.
 */
export async function chooseInt8(fp32Model: ModelProto, rows: number[][], fp32Out: Awaited<ReturnType<typeof runPolicy>>, kind: ActionKind): Promise<{ bytes: Uint8Array; method: string; agreement: ActionAgreement; tried: string[] }> {
  const head = kind.kind === 'discrete' ? 'logits' : 'mean';
  const tried: string[] = [];
  let best: { bytes: Uint8Array; method: string; agreement: ActionAgreement } | null = null;
  // Most of the arithmetic is in the hidden layers; the output layers write the action
  // directly (no squashing to hide the error), and the first sees raw-scale inputs. Each
  // step keeps more of those float, as onnxruntime's users do with nodes_to_exclude.
  const heads = new Set(['action_net', 'value_net']);
  // The first layers are the Gemms fed by the (normalised) observation.
  const inputs = new Set(['obs', 'obs_scaled', 'obs_normalized']);
  const first = new Set(fp32Model.graph.nodes.filter((n) => n.opType === 'Gemm' && inputs.has(n.inputs[0])).map((n) => n.name));
  const attempts: [string, () => Promise<ModelProto>][] = [
    ['dynamic int8 (±63 weights), every layer', async () => quantizeDynamic(fp32Model).model],
    ['dynamic int8, action_net and value_net kept float', async () => quantizeDynamic(fp32Model, { keepFloat: (n) => (heads.has(n.name) ? 'output layer kept float for action accuracy' : undefined) }).model],
    [
      'dynamic int8 of the hidden layers, first and output layers kept float',
      async () => quantizeDynamic(fp32Model, { keepFloat: (n) => (heads.has(n.name) || first.has(n.name) ? 'first/output layer kept float for action accuracy' : undefined) }).model,
    ],
    ['static QDQ int8 calibrated on the validation rows', async () => quantizeStatic(fp32Model, await calibrate(fp32Model, rows)).model],
  ];
  for (const [method, make] of attempts) {
    const bytes = encodeModel(await make());
    const out = await runPolicy(bytes, rows, head, true);
    const agreement = compareActions(kind, out.action, fp32Out.action, rows.length);
    tried.push(`${method}: ${describeAgreement(agreement)}`);
    if (!best || better(agreement, best.agreement)) best = { bytes, method, agreement };
    if (agreement.ok) break;
  }
  return { ...best!, tried };
}

function better(a: ActionAgreement, b: ActionAgreement): boolean {
  if (a.share !== undefined && b.share !== undefined) return a.share > b.share;
  return (a.p99ShareOfRange ?? Infinity) < (b.p99ShareOfRange ?? Infinity);
}

/** For `model quantize` on a graph `model import` wrote: the action kind and range from the graph. */
export async function quantizeImportedGraph(fp32: Uint8Array, rows: number[][], what: string): Promise<{ chosen: Awaited<ReturnType<typeof chooseInt8>>; kind: ActionKind }> {
  const model = decodeModel(fp32, what);
  const action = model.graph.outputs.find((o) => o.name === 'action');
  const discrete = action?.elemType === DataType.INT64;
  const fp32Out = await runPolicy(fp32, rows, discrete ? 'logits' : 'mean');
  const inits = new Map(model.graph.initializers.map((t) => [t.name, t]));
  const bound = (name: string) => {
    const t = inits.get(name);
    return t ? Array.from(tensorFloats(t)) : [];
  };
  const low = bound('action_low');
  const high = bound('action_high');
  const dim = fp32Out.action.length / rows.length;
  const kind: ActionKind = discrete
    ? { kind: 'discrete' }
    : { kind: 'box', dim, range: actionRange(low.length === dim ? low : new Array<number>(dim).fill(-Infinity), high.length === dim ? high : low.map((l, i) => l + (bound('action_range')[i] ?? Infinity)), fp32Out.action) };
  return { chosen: await chooseInt8(model, rows, fp32Out, kind), kind };
}

export function describeAgreement(a: ActionAgreement): string {
  if (a.share !== undefined) return `${a.equal}/${a.rows} = ${(100 * a.share).toFixed(2)}% equal actions (need >= 99%)`;
  return `action difference max ${(100 * (a.maxShareOfRange ?? 0)).toFixed(3)}%, p99 ${(100 * (a.p99ShareOfRange ?? 0)).toFixed(3)}% of the action range over ${a.rows} rows (need p99 <= 2%)`;
}

export async function importSb3(options: ImportOptions): Promise<ImportResult> {
  const t0 = performance.now();
  if (!existsSync(options.checkpoint)) throw new MotobioError('USAGE', `model import: ${options.checkpoint}: no such file; pass the SB3 model .zip`);
  const zipBytes = readFileSync(options.checkpoint);
  const spec = readCheckpoint(zipBytes, options.checkpoint);
  const notes: string[] = [];
  let vn: ObsNormalization | undefined;
  let vnBytes: Buffer | undefined;
  if (options.vecNormalize) {
    if (!existsSync(options.vecNormalize)) throw new MotobioError('USAGE', `model import: ${options.vecNormalize}: no such file`);
    vnBytes = readFileSync(options.vecNormalize);
    vn = readVecNormalize(vnBytes, options.vecNormalize, spec.observation.dim);
    if (!vn.normObs) notes.push('VecNormalize has norm_obs = false: observations are passed through unnormalised');
  } else if (spec.lastObs && spec.lastObsFromOriginal) {
    // _last_original_obs is only saved under VecNormalize.
    const msg = `${options.checkpoint} was trained under VecNormalize (its data has _last_original_obs) but no --vecnormalize FILE.pkl was given; without the running mean and variance the policy would see the wrong inputs`;
    if (!options.allowMissingVecNormalize) throw new MotobioError('USAGE', `model import: ${msg}. Pass --vecnormalize (the zoo saves it as vecnormalize.pkl beside the model), or --no-vecnormalize if the statistics are applied elsewhere`);
    notes.push(`WARNING: ${msg}`);
  }
  const map: CoachingMap | undefined = options.map ? parseCoachingMap(readJson(options.map), spec, options.map) : undefined;
  const name = safeName(options.name ?? basename(options.checkpoint));

  let fp32Model = exportPolicy(spec, {
    name,
    ...(vn ? { vecNormalize: vn } : {}),
    metadata: { sb3_version: spec.sb3Version, checkpoint_sha256: sha256(zipBytes), source: basename(options.checkpoint) },
  });
  if (map) fp32Model = appendCueHead(fp32Model, map);
  const fp32 = encodeModel(fp32Model);
  const head = spec.action.kind === 'discrete' ? 'logits' : 'mean';
  const rows = validationRows(spec, vn, options.rows ?? 512, options.seed ?? 20);
  const fp32Out = await runPolicy(fp32, rows, head);
  const kind: ActionKind = spec.action.kind === 'discrete' ? { kind: 'discrete' } : { kind: 'box', dim: spec.action.dim, range: actionRange(spec.action.low, spec.action.high, fp32Out.action) };
  const q = await chooseInt8(decodeModel(fp32, name), rows, fp32Out, kind);
  const chosen: 'int8' | 'fp32' = q.agreement.ok ? 'int8' : 'fp32';
  const reason = q.agreement.ok
    ? `${q.method}: ${describeAgreement(q.agreement)} against fp32 on the validation rows`
    : `int8 cannot match fp32 closely enough for this network (${q.tried.join('; ')}); the unit runs the fp32 model`;
  if (!q.agreement.ok) notes.push(`int8 NOT used: ${reason}`);

  mkdirSync(options.outDir, { recursive: true, mode: 0o700 });
  const fp32Path = join(options.outDir, `${name}.fp32.onnx`);
  const int8Path = join(options.outDir, `${name}.int8.onnx`);
  const rowsPath = join(options.outDir, `${name}.validation.ndjson`);
  writePrivate(fp32Path, fp32);
  writePrivate(int8Path, q.bytes);
  const rowsText = rows.map((obs, i) => JSON.stringify({ obs, label: i < (spec.lastObs?.length ?? 0) ? 'checkpoint_last_obs' : 'perturbed' })).join('\n') + '\n';
  writePrivate(rowsPath, rowsText);

  const fileRef = (path: string, bytes: Uint8Array, precision: 'fp32' | 'int8') => ({ path: basename(path), sha256: sha256(bytes), precision });
  const importMs = performance.now() - t0;
  const sb3: Sb3Block = {
    checkpoint: { file: basename(options.checkpoint), sha256: sha256(zipBytes) },
    vecNormalize: vn && vnBytes && options.vecNormalize ? { file: basename(options.vecNormalize), sha256: sha256(vnBytes), clipObs: vn.clipObs, epsilon: vn.epsilon, count: vn.count, normObs: vn.normObs } : null,
    sb3Version: spec.sb3Version,
    algorithm: spec.algorithm,
    policyClass: spec.policyClass,
    observationSpace: { shape: spec.observation.shape, dtype: spec.observation.dtype, low: json(spec.observation.low), high: json(spec.observation.high) },
    actionSpace: spec.action.kind === 'discrete' ? { kind: 'discrete', n: spec.action.n, start: spec.action.start } : { kind: 'box', shape: spec.action.shape, low: json(spec.action.low), high: json(spec.action.high) },
    policy: { activation: spec.activation, netArch: spec.netArch, useSde: spec.useSde, squashOutput: spec.squashOutput },
    outputs: { action: 'action', head, value: 'value', cues: map ? 'cue_probs' : null },
    precision: { chosen, reason, int8: { ...q.agreement, method: q.method } },
    coaching: map && options.map ? { map: basename(options.map), sha256: sha256(readFileSync(options.map)) } : null,
    importMs,
  };
  const manifest = {
    schemaVersion: 1,
    name,
    version: sha256(zipBytes).slice(0, 12),
    description: `${spec.algorithm} ${basename(options.checkpoint)} (SB3 ${spec.sb3Version}), imported by motobio model import`,
    opset: 17,
    model: chosen === 'int8' ? fileRef(int8Path, q.bytes, 'int8') : fileRef(fp32Path, fp32, 'fp32'),
    reference: fileRef(fp32Path, fp32, 'fp32'),
    validationSet: { path: basename(rowsPath), sha256: sha256(Buffer.from(rowsText)) },
    input: { name: 'obs', shape: ['batch', spec.observation.dim] },
    ...(map
      ? {
          output: { name: 'cue_probs', shape: ['batch', map.cues.length], kind: 'probabilities' },
          features: map.features,
          maxMissing: map.maxMissing,
          actions: map.cues,
        }
      : {}),
    sb3,
  };
  const manifestPath = join(options.outDir, `${name}.manifest.json`);
  writePrivate(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  return { manifestPath, fp32Path, int8Path, sb3, fp32Bytes: fp32.length, int8Bytes: q.bytes.length, notes };
}

function readJson(path: string): unknown {
  if (!existsSync(path)) throw new MotobioError('USAGE', `${path}: no such file`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new MotobioError('USAGE', `${path}: not valid JSON (${errorMessage(e)})`);
  }
}
