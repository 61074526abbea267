import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as modelCommand } from '../../src/cli/commands/model.js';
import { run as benchCommand } from '../../src/cli/commands/bench.js';
import { MANIFEST_SCHEMA } from '../../src/inference/manifest.js';
import { buildMlpModel } from '../../src/inference/onnx/mlp.js';
import { decodeModel, encodeModel } from '../../src/inference/onnx/model.js';
import { isMotobioError } from '../../src/util/errors.js';

/** This test folder (import.meta.dirname needs Node 20.11; engines allow 20.9). */
const HERE = fileURLToPath(new URL('.', import.meta.url));

const MODELS = join(HERE, '../../models');

/** Runs a command module's run() and captures what it prints. */
async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    return { code: await fn(), out };
  } finally {
    spy.mockRestore();
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-cmd-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('motobio model validate', () => {
  it('exits 0 on the shipped model and prints one ok line per check', async () => {
    const { code, out } = await capture(() => modelCommand(['validate', '--model', MODELS, '--samples', '20']));
    expect(code).toBe(0);
    for (const check of ['manifest', 'model', 'reference', 'validation set', 'int8 agreement', 'latency']) expect(out).toMatch(new RegExp(`ok +${check}`));
    expect(out).toContain('model is valid');
  });

  it('exits 1 and names the failing check when a file was tampered with', async () => {
    cpSync(MODELS, dir, { recursive: true });
    const validation = join(dir, 'default-policy.validation.ndjson');
    writeFileSync(validation, readFileSync(validation, 'utf8').replace('"obs":[', '"obs":[0,'));
    const { code, out } = await capture(() => modelCommand(['validate', '--model', join(dir, 'default-policy.int8.onnx'), '--samples', '5']));
    expect(code).toBe(1);
    expect(out).toMatch(/FAIL validation set .*SHA-256/);
    expect(out).toContain('model is NOT valid');
  });

  it('a missing --model is a usage error that says what to pass', async () => {
    const err = await modelCommand(['validate']).catch((e: unknown) => e);
    expect(isMotobioError(err, 'USAGE')).toBe(true);
    expect((err as Error).message).toContain('--model PATH is required');
  });
});

describe('motobio model quantize', () => {
  it('quantizes a float model, writes it 0600, reports size change and agreement', async () => {
    let s = 9;
    const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
    const layer = (i: number, o: number) => ({ inSize: i, outSize: o, weight: Array.from({ length: i * o }, () => (2 * r() - 1) * Math.sqrt(6 / (i + o))), bias: Array.from({ length: o }, () => (r() - 0.5) * 0.2) });
    const input = join(dir, 'policy.onnx');
    writeFileSync(input, encodeModel(buildMlpModel({ layers: [layer(16, 32), layer(32, 32), layer(32, 5)], activation: 'tanh' })));
    const output = join(dir, 'policy.int8.onnx');
    const calibration = join(dir, 'cal.ndjson');
    writeFileSync(calibration, Array.from({ length: 300 }, () => JSON.stringify({ obs: Array.from({ length: 16 }, () => 4 * r() - 2) })).join('\n'));
    const { code, out } = await capture(() => modelCommand(['quantize', '--in', input, '--out', output, '--calibration', calibration]));
    expect(out).not.toContain('WARNING');
    expect(code).toBe(0);
    expect(out).toMatch(/quantized 3 node\(s\)/);
    expect(out).toMatch(/size \d+ -> \d+ bytes/);
    expect(out).toMatch(/agreement fp32 vs int8: \d+\/300 = (99\.\d\d|100\.00)%/);
    expect(statSync(output).mode & 0o777).toBe(0o600);
    expect(decodeModel(readFileSync(output), output).graph.nodes.some((n) => n.opType === 'MatMulInteger')).toBe(true);
  });

  it('--static fixes activation scales from the calibration rows (QDQ form)', async () => {
    let s = 4;
    const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
    const layer = (i: number, o: number) => ({ inSize: i, outSize: o, weight: Array.from({ length: i * o }, () => (2 * r() - 1) * Math.sqrt(6 / (i + o))), bias: Array.from({ length: o }, () => (r() - 0.5) * 0.2) });
    const input = join(dir, 'policy.onnx');
    writeFileSync(input, encodeModel(buildMlpModel({ layers: [layer(16, 32), layer(32, 5)], activation: 'relu', form: 'matmul' })));
    const calibration = join(dir, 'cal.ndjson');
    writeFileSync(calibration, Array.from({ length: 500 }, () => JSON.stringify({ obs: Array.from({ length: 16 }, () => 4 * r() - 2) })).join('\n'));
    const output = join(dir, 'qdq.onnx');
    const { code, out } = await capture(() => modelCommand(['quantize', '--in', input, '--out', output, '--calibration', calibration, '--static']));
    expect(out).toMatch(/quantized 2 node\(s\) \(static QDQ\)/);
    const share = Number(/= ([\d.]+)% same action/.exec(out)![1]);
    // An untrained random net has near-ties that int8 may flip; the exit code must follow the 99% rule.
    expect(share).toBeGreaterThanOrEqual(97);
    expect(code).toBe(share >= 99 ? 0 : 1);
    expect(decodeModel(readFileSync(output), output).graph.nodes.filter((n) => n.opType === 'QuantizeLinear')).toHaveLength(2);
    const err = await modelCommand(['quantize', '--in', input, '--out', output, '--static']).catch((e: unknown) => e);
    expect((err as Error).message).toContain('--static needs --calibration');
  });

  it('a calibration row of the wrong width names the line', async () => {
    const input = join(dir, 'p.onnx');
    writeFileSync(input, encodeModel(buildMlpModel({ layers: [{ inSize: 4, outSize: 3, weight: new Array<number>(12).fill(0.1), bias: [0, 0, 0] }], activation: 'tanh' })));
    const cal = join(dir, 'cal.ndjson');
    writeFileSync(cal, '{"obs":[1,2,3,4]}\n{"obs":[1,2]}\n');
    const err = await modelCommand(['quantize', '--in', input, '--out', join(dir, 'o.onnx'), '--calibration', cal]).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`${cal}:2: "obs" has 2 values, the model takes 4`);
  });
});

describe('motobio bench latency', () => {
  it('prints p50/p95/p99 for inference alone and end to end on a real recording', async () => {
    const { code, out } = await capture(() => benchCommand(['latency', '--samples', '30', '--model', MODELS, '--record', join(HERE, '../../../shared/data/mitdb/119')]));
    expect(code).toBe(0);
    expect(out).toMatch(/inference alone +p50 [\d.]+ +p95 [\d.]+ +p99 [\d.]+/);
    expect(out).toMatch(/end to end \(-> decision\) +p50 [\d.]+ +p95 [\d.]+ +p99 [\d.]+/);
  });
});

it('models/manifest.schema.json is the schema the code checks with', () => {
  expect(JSON.parse(readFileSync(join(MODELS, 'manifest.schema.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(MANIFEST_SCHEMA)));
});
