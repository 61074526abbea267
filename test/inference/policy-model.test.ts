import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyModel } from '../../src/inference/policy.js';
import { validateModel } from '../../src/inference/validate.js';
import { sha256, type ModelManifest } from '../../src/inference/manifest.js';
import { isMotobioError } from '../../src/util/errors.js';
import { DEFAULT_MANIFEST } from './model-fixtures.js';

/** This test folder (import.meta.dirname needs Node 20.11; engines allow 20.9). */
const HERE = fileURLToPath(new URL('.', import.meta.url));

const MODELS = join(HERE, '../../models');
const NAME = 'default-policy.manifest.json';

async function loadError(path: string, options = {}): Promise<Error> {
  try {
    const m = await PolicyModel.load(path, options);
    await m.release();
  } catch (e) {
    expect(isMotobioError(e, 'MODEL_INVALID')).toBe(true);
    return e as Error;
  }
  throw new Error('expected the load to fail');
}

describe('the shipped default policy (real files in models/, real onnxruntime)', () => {
  it('loads as int8, checks out, and returns a probability per action', async () => {
    const model = await PolicyModel.load(DEFAULT_MANIFEST);
    expect(model.identity.precision).toBe('int8');
    expect(model.actions).toEqual(['none', 'breathing_cue', 'relax_posture_cue', 'suggest_break', 'safety_alert']);
    const p = await model.infer(new Float32Array(model.manifest.features.length).fill(0.3));
    expect(p).toHaveLength(5);
    expect(Array.from(p).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    await model.release();
  });

  it('passes "model validate": hashes, shapes, int8, >= 99% fp32-vs-int8 agreement on its validation set', async () => {
    const report = await validateModel(DEFAULT_MANIFEST, { samples: 50 });
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.agreement!.rows).toBeGreaterThanOrEqual(500);
    expect(report.agreement!.share).toBeGreaterThanOrEqual(0.99);
  });
});

describe('bad model files give a clear MODEL_INVALID error', () => {
  let dir: string;
  let manifestPath: string;
  let manifest: ModelManifest;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'motobio-model-'));
    cpSync(MODELS, dir, { recursive: true });
    manifestPath = join(dir, NAME);
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as ModelManifest;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const writeManifest = (m: unknown) => writeFileSync(manifestPath, JSON.stringify(m));

  it('hash mismatch: names the file, both hashes and what to do', async () => {
    const file = join(dir, manifest.model.path);
    const bytes = readFileSync(file);
    bytes[bytes.length - 20] ^= 0xff;
    writeFileSync(file, bytes);
    const e = await loadError(manifestPath);
    expect(e.message).toContain(manifest.model.sha256);
    expect(e.message).toMatch(/SHA-256 is [0-9a-f]{64} but .* says .*re-copy/);
  });

  it('corrupt protobuf (with a matching hash): says it is not a valid ONNX model', async () => {
    const file = join(dir, manifest.model.path);
    const bytes = readFileSync(file).subarray(0, 300);
    writeFileSync(file, bytes);
    writeManifest({ ...manifest, model: { ...manifest.model, sha256: sha256(bytes) } });
    const e = await loadError(manifestPath);
    expect(e.message).toMatch(/not a valid ONNX protobuf|not an ONNX model/);
  });

  it('a manifest with the wrong input count: says how many each side has', async () => {
    writeManifest({ ...manifest, features: manifest.features.slice(1) });
    const e = await loadError(manifestPath);
    expect(e.message).toContain(`takes ${manifest.features.length} values but ${manifest.features.length - 1} features are listed`);
  });

  it('a manifest whose shape matches its features but not the graph: names both shapes', async () => {
    writeManifest({ ...manifest, features: manifest.features.slice(1), input: { ...manifest.input, shape: ['batch', manifest.features.length - 1] } });
    const e = await loadError(manifestPath);
    expect(e.message).toMatch(/input shape is \["batch",16\], the manifest says \["batch",15\]/);
  });

  it('wrong input name, unknown feature, schema errors are each named', async () => {
    writeManifest({ ...manifest, input: { ...manifest.input, name: 'observation' } });
    expect((await loadError(manifestPath)).message).toContain('input is named "obs", the manifest says "observation"');
    writeManifest({ ...manifest, features: [{ ...manifest.features[0], name: 'blood_pressure' }, ...manifest.features.slice(1)] });
    expect((await loadError(manifestPath)).message).toContain('feature "blood_pressure" is not one the unit computes');
    writeManifest({ ...manifest, features: [{ ...manifest.features[0], std: 0 }, ...manifest.features.slice(1)] });
    expect((await loadError(manifestPath)).message).toMatch(/does not match the schema.*\/features\/0\/std/);
    writeFileSync(manifestPath, '{ not json');
    expect((await loadError(manifestPath)).message).toMatch(/not valid JSON/);
  });

  it('an fp32 model passed off as int8 is refused; an fp32 manifest is refused by the unit', async () => {
    writeManifest({ ...manifest, model: { ...manifest.reference!, precision: 'int8' } });
    expect((await loadError(manifestPath)).message).toContain('the manifest says int8 but the graph has no int8 weights/ops');
    writeManifest({ ...manifest, model: manifest.reference });
    expect((await loadError(manifestPath)).message).toContain('the unit runs int8 models');
  });

  it('"model validate" fails (not throws) and lists the failing check', async () => {
    writeManifest({ ...manifest, opset: 13 });
    const report = await validateModel(manifestPath, { samples: 5 });
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'model')?.detail).toContain('opset is 17, the manifest says 13');
  });
});
