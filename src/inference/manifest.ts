/**
 * The model manifest: what a policy file expects as input, what it outputs, and the hash
 * that ties the two together. `models/manifest.schema.json` is written from MANIFEST_SCHEMA
 * by the model build script, so the file in the repo and the check in the code cannot drift.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { MotobioError, errorMessage } from '../util/errors.js';
import { KNOWN_FEATURES, RELATIVE_FEATURES, isAction, type Action, type FeatureSpec } from './features.js';
import { DATA_TYPE_NAMES, DataType, decodeModel, defaultOpset, type Dim, type ModelProto } from './onnx/model.js';

export interface ModelFileRef {
  readonly path: string;
  readonly sha256: string;
  readonly precision: 'fp32' | 'int8';
}

export interface TensorRef {
  readonly name: string;
  readonly shape: readonly (number | string)[];
}

export interface ModelManifest {
  readonly schemaVersion: 1;
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly opset: number;
  /** The file the unit runs. */
  readonly model: ModelFileRef;
  /** The float model it was quantized from, for agreement checks. */
  readonly reference?: ModelFileRef;
  /** ndjson rows {obs, features?, label?} for fp32-vs-int8 agreement. */
  readonly validationSet?: { readonly path: string; readonly sha256: string };
  readonly input: TensorRef;
  readonly output: TensorRef & { readonly kind: 'probabilities' };
  readonly features: readonly FeatureSpec[];
  /** More missing features than this and the model is not run for that decision. */
  readonly maxMissing: number;
  readonly actions: readonly Action[];
  /** Set by `motobio model import` for a Stable-Baselines3 policy (src/offline/sb3/import.ts Sb3Block). */
  readonly sb3?: { readonly precision?: { readonly chosen: 'int8' | 'fp32'; readonly reason: string } } & Record<string, unknown>;
}

const dim = { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', minLength: 1 }] };
const fileRef = {
  type: 'object',
  required: ['path', 'sha256', 'precision'],
  additionalProperties: false,
  properties: {
    path: { type: 'string', minLength: 1 },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    precision: { enum: ['fp32', 'int8'] },
  },
};

export const MANIFEST_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://motobio.invalid/schemas/model-manifest-v1.json',
  title: 'motobio policy model manifest',
  type: 'object',
  required: ['schemaVersion', 'name', 'version', 'opset', 'model', 'input', 'output', 'features', 'maxMissing', 'actions'],
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    schemaVersion: { const: 1 },
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]*$' },
    version: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    opset: { type: 'integer', minimum: 13, maximum: 23 },
    model: fileRef,
    reference: fileRef,
    validationSet: {
      type: 'object',
      required: ['path', 'sha256'],
      additionalProperties: false,
      properties: { path: { type: 'string', minLength: 1 }, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
    },
    input: {
      type: 'object',
      required: ['name', 'shape'],
      additionalProperties: false,
      properties: { name: { type: 'string', minLength: 1 }, shape: { type: 'array', items: dim, minItems: 2, maxItems: 2 } },
    },
    output: {
      type: 'object',
      required: ['name', 'shape', 'kind'],
      additionalProperties: false,
      properties: {
        name: { type: 'string', minLength: 1 },
        shape: { type: 'array', items: dim, minItems: 2, maxItems: 2 },
        kind: { const: 'probabilities' },
      },
    },
    features: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'unit', 'mean', 'std', 'clip', 'fill'],
        additionalProperties: false,
        properties: {
          name: { type: 'string' },
          unit: { type: 'string' },
          description: { type: 'string' },
          transform: { enum: ['none', 'log1p'] },
          mean: { type: 'number' },
          std: { type: 'number', exclusiveMinimum: 0 },
          clip: { type: 'number', exclusiveMinimum: 0 },
          fill: { type: 'number' },
          required: { type: 'boolean' },
          relative: { enum: ['rider'] },
        },
      },
    },
    maxMissing: { type: 'integer', minimum: 0 },
    actions: { type: 'array', minItems: 2, items: { type: 'string' } },
    sb3: { type: 'object', description: 'origin of a policy imported from Stable-Baselines3 (motobio model import)' },
  },
} as const;

let validator: ReturnType<Ajv['compile']> | undefined;

/** Parses and checks a manifest's own consistency (not yet the model file). */
export function parseManifest(text: string, where: string): ModelManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MotobioError('MODEL_INVALID', `${where}: not valid JSON (${errorMessage(e)}); fix the manifest or re-copy it`);
  }
  const generic = genericPolicyProblem(json);
  if (generic) throw new MotobioError('MODEL_INVALID', `${where}: ${generic}`);
  validator ??= new Ajv({ allErrors: true, strict: false }).compile(MANIFEST_SCHEMA);
  if (!validator(json)) {
    const errs = (validator.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}`).join('; ');
    throw new MotobioError('MODEL_INVALID', `${where}: manifest does not match the schema (models/manifest.schema.json): ${errs}`);
  }
  const m = json as ModelManifest;
  const problems: string[] = [];
  const nIn = m.input.shape[1];
  if (typeof nIn === 'number' && nIn !== m.features.length) {
    problems.push(`input ${m.input.name} takes ${nIn} values but ${m.features.length} features are listed`);
  }
  const nOut = m.output.shape[1];
  if (typeof nOut === 'number' && nOut !== m.actions.length) {
    problems.push(`output ${m.output.name} gives ${nOut} values but ${m.actions.length} actions are listed`);
  }
  const seen = new Set<string>();
  for (const f of m.features) {
    if (!KNOWN_FEATURES.includes(f.name)) problems.push(`feature "${f.name}" is not one the unit computes (known: ${KNOWN_FEATURES.join(', ')})`);
    // An imported policy may feed one feature to several observations (other scale or transform).
    if (seen.has(f.name) && m.sb3 === undefined) problems.push(`feature "${f.name}" is listed twice`);
    if (f.relative !== undefined && !(f.name in RELATIVE_FEATURES)) problems.push(`feature "${f.name}" cannot be relative to the rider (only ${Object.keys(RELATIVE_FEATURES).join(', ')})`);
    seen.add(f.name);
  }
  for (const a of m.actions as readonly string[]) if (!isAction(a)) problems.push(`action "${a}" is not one the unit can deliver`);
  if (!m.actions.includes('none')) problems.push('the actions must include "none"');
  if (problems.length) throw new MotobioError('MODEL_INVALID', `${where}: ${problems.join('; ')}`);
  return m;
}

/** An imported SB3 policy without a coaching map is valid but cannot coach: say what is missing. */
function genericPolicyProblem(json: unknown): string | null {
  if (typeof json !== 'object' || json === null || !('sb3' in json) || 'features' in json) return null;
  const name = (json as { name?: unknown }).name;
  return `"${typeof name === 'string' ? name : '?'}" is a generic Stable-Baselines3 policy with no coaching map: nothing says which of the unit's features feed its observations or which cue each action means, so the unit will not coach with it. Re-import it with "motobio model import MODEL.zip --map MAP.json ..." (docs/inference.md, "Coaching map")`;
}

export function readManifest(path: string): ModelManifest {
  if (!existsSync(path)) throw new MotobioError('MODEL_INVALID', `${path}: no such manifest; pass the .json manifest that sits next to the .onnx file`);
  return parseManifest(readFileSync(path, 'utf8'), path);
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function resolveBeside(manifestPath: string, file: string): string {
  return isAbsolute(file) ? file : resolve(dirname(manifestPath), file);
}

/** Reads a file the manifest names and checks its SHA-256. */
export function readVerified(manifestPath: string, ref: { path: string; sha256: string }): { path: string; bytes: Buffer } {
  const path = resolveBeside(manifestPath, ref.path);
  if (!existsSync(path)) throw new MotobioError('MODEL_INVALID', `${path}: missing (named by ${manifestPath}); copy the model file next to its manifest`);
  const bytes = readFileSync(path);
  const got = sha256(bytes);
  if (got !== ref.sha256) {
    throw new MotobioError('MODEL_INVALID', `${path}: SHA-256 is ${got} but ${manifestPath} says ${ref.sha256}; the file is corrupt or belongs to another manifest, re-copy both`);
  }
  return { path, bytes };
}

/** Ops an MLP policy and its quantized forms use; anything else is refused before onnxruntime sees it. */
export const ALLOWED_OPS: ReadonlySet<string> = new Set([
  'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Tanh', 'Relu', 'Sigmoid', 'Softmax', 'Identity', 'Flatten', 'Reshape', 'Cast',
  'DynamicQuantizeLinear', 'MatMulInteger', 'QuantizeLinear', 'DequantizeLinear',
  // Imported SB3 policies (src/offline/sb3/export-onnx.ts, coaching-map.ts): activations, VecNormalize clip, argmax, cue head.
  'LeakyRelu', 'Elu', 'Erf', 'Max', 'Min', 'ArgMax', 'Gather', 'ReduceSum', 'Concat', 'GreaterOrEqual', 'Pad',
]);

const INT8_OPS = new Set(['MatMulInteger', 'DequantizeLinear', 'QuantizeLinear']);

function sameDim(a: Dim, b: number | string): boolean {
  if (typeof b === 'string') return a === null || typeof a === 'string';
  return a === b;
}

/** Checks the decoded graph against the manifest; returns the decoded model. */
export function checkModelAgainstManifest(bytes: Uint8Array, path: string, m: ModelManifest, ref: ModelFileRef): ModelProto {
  const model = decodeModel(bytes, path);
  const problems: string[] = [];
  const opset = defaultOpset(model);
  if (opset !== m.opset) problems.push(`opset is ${opset}, the manifest says ${m.opset}`);
  const g = model.graph;
  const initNames = new Set(g.initializers.map((t) => t.name));
  const realInputs = g.inputs.filter((i) => !initNames.has(i.name));
  if (realInputs.length !== 1) problems.push(`the graph has ${realInputs.length} inputs (${realInputs.map((i) => i.name).join(', ')}), a policy has exactly one`);
  const input = realInputs[0];
  if (input) {
    if (input.name !== m.input.name) problems.push(`input is named "${input.name}", the manifest says "${m.input.name}"`);
    if (input.elemType !== DataType.FLOAT) problems.push(`input is ${DATA_TYPE_NAMES[input.elemType] ?? input.elemType}, expected float32`);
    if (!input.shape || input.shape.length !== 2 || !m.input.shape.every((d, i) => sameDim(input.shape![i], d))) {
      problems.push(`input shape is ${JSON.stringify(input.shape)}, the manifest says ${JSON.stringify(m.input.shape)}`);
    }
  }
  const output = g.outputs.find((o) => o.name === m.output.name);
  if (!output) problems.push(`no output named "${m.output.name}" (the graph has ${g.outputs.map((o) => o.name).join(', ')})`);
  else if (!output.shape || output.shape.length !== 2 || !m.output.shape.every((d, i) => sameDim(output.shape![i], d))) {
    problems.push(`output shape is ${JSON.stringify(output.shape)}, the manifest says ${JSON.stringify(m.output.shape)}`);
  }
  const badOps = [...new Set(g.nodes.filter((n) => (n.domain !== '' && n.domain !== 'ai.onnx') || !ALLOWED_OPS.has(n.opType)).map((n) => `${n.domain ? n.domain + '.' : ''}${n.opType}`))];
  if (badOps.length) problems.push(`unsupported ops ${badOps.join(', ')} (allowed: ${[...ALLOWED_OPS].join(', ')})`);
  if (ref.precision === 'int8') {
    const hasInt8Op = g.nodes.some((n) => INT8_OPS.has(n.opType));
    const hasInt8Weights = g.initializers.some((t) => t.dataType === DataType.INT8 || t.dataType === DataType.UINT8);
    if (!hasInt8Op || !hasInt8Weights) problems.push('the manifest says int8 but the graph has no int8 weights/ops; run "motobio model quantize" on it');
  }
  if (problems.length) throw new MotobioError('MODEL_INVALID', `${path}: ${problems.join('; ')}`);
  return model;
}

/** The manifest in a model directory: default-policy.manifest.json, else the only one (undefined when none or several). */
export function manifestIn(dir: string): string | undefined {
  const preferred = join(dir, 'default-policy.manifest.json');
  if (existsSync(preferred)) return preferred;
  try {
    const found = readdirSync(dir).filter((f) => f.endsWith('.manifest.json'));
    return found.length === 1 ? join(dir, found[0]) : undefined;
  } catch {
    return undefined;
  }
}
