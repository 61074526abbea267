import { fileURLToPath } from 'node:url';
/** Builds small, real int8 policy models with manifests in a temp dir, for engine tests. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACTIONS, type FeatureSpec } from '../../src/inference/features.js';
import { sha256, type ModelManifest } from '../../src/inference/manifest.js';
import { buildMlpModel, DEFAULT_OPSET, type DenseLayer } from '../../src/inference/onnx/mlp.js';
import { decodeModel, encodeModel } from '../../src/inference/onnx/model.js';
import { quantizeDynamic } from '../../src/offline/quantize/quantize.js';

/** This test folder (import.meta.dirname needs Node 20.11; engines allow 20.9). */
const HERE = fileURLToPath(new URL('.', import.meta.url));

export const DEFAULT_MANIFEST = join(HERE, '../../models/default-policy.manifest.json');

export function defaultManifest(): ModelManifest {
  return JSON.parse(readFileSync(DEFAULT_MANIFEST, 'utf8')) as ModelManifest;
}

export function featureIndex(name: string): number {
  return defaultManifest().features.findIndex((f) => f.name === name);
}

/**
 * One Gemm layer: logit[action] = gain * z(feature), every other logit 0. With gain 10 the
 * action wins (p > 0.99) once the feature is 1 std above its mean and "none" wins below.
 */
export function singleFeatureLayer(feature: string, action: (typeof ACTIONS)[number], gain = 10): DenseLayer[] {
  const nIn = defaultManifest().features.length;
  const w = new Float32Array(ACTIONS.length * nIn);
  const b = new Float32Array(ACTIONS.length);
  w[ACTIONS.indexOf(action) * nIn + featureIndex(feature)] = gain;
  b[ACTIONS.indexOf(action)] = -gain;
  return [{ inSize: nIn, outSize: ACTIONS.length, weight: w, bias: b }];
}

export function writeModel(dir: string, name: string, layers: DenseLayer[], options: { version?: string; features?: FeatureSpec[] } = {}): string {
  mkdirSync(dir, { recursive: true });
  const fp32 = encodeModel(buildMlpModel({ layers, activation: 'tanh' }));
  const int8 = encodeModel(quantizeDynamic(decodeModel(fp32, name)).model);
  writeFileSync(join(dir, `${name}.fp32.onnx`), fp32);
  writeFileSync(join(dir, `${name}.int8.onnx`), int8);
  const base = defaultManifest();
  const manifest: ModelManifest = {
    schemaVersion: 1,
    name,
    version: options.version ?? '1.0.0-test',
    opset: DEFAULT_OPSET,
    model: { path: `${name}.int8.onnx`, sha256: sha256(int8), precision: 'int8' },
    reference: { path: `${name}.fp32.onnx`, sha256: sha256(fp32), precision: 'fp32' },
    input: { name: 'obs', shape: ['batch', base.features.length] },
    output: { name: 'action_probs', shape: ['batch', ACTIONS.length], kind: 'probabilities' },
    features: options.features ?? base.features,
    maxMissing: 4,
    actions: [...ACTIONS],
  };
  const path = join(dir, `${name}.manifest.json`);
  writeFileSync(path, JSON.stringify(manifest, null, 2));
  return path;
}
