import { describe, it, expect } from 'vitest';
import * as ort from 'onnxruntime-node';
import { buildMlpModel, type DenseLayer } from '../../src/inference/onnx/mlp.js';
import { decodeModel, encodeModel, DataType } from '../../src/inference/onnx/model.js';
import { quantizeDynamic } from '../../src/offline/quantize/quantize.js';
import { agreement, syntheticRows } from '../../src/inference/agreement.js';
import { calibrate, quantizeStatic } from '../../src/offline/quantize/quantize-static.js';
import { isMotobioError } from '../../src/util/errors.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
}

/** Xavier-like random layer, the scale a trained small MLP has. */
function layer(r: () => number, inSize: number, outSize: number): DenseLayer {
  const a = Math.sqrt(6 / (inSize + outSize));
  return {
    inSize,
    outSize,
    weight: Array.from({ length: inSize * outSize }, () => (2 * r() - 1) * a),
    bias: Array.from({ length: outSize }, () => (r() - 0.5) * 0.2),
  };
}

describe('dynamic int8 quantizer on the ONNX protobuf', () => {
  for (const [form, activation] of [['gemm', 'tanh'], ['matmul', 'relu']] as const) {
    it(`quantizes a ${form}/${activation} float MLP built here; int8 agrees with fp32 on >= 99% of actions`, async () => {
      const r = rng(11);
      const fp32 = encodeModel(buildMlpModel({ layers: [layer(r, 16, 64), layer(r, 64, 64), layer(r, 64, 5)], activation, form }));
      const { model, report } = quantizeDynamic(decodeModel(fp32, 'float model'));
      const int8 = encodeModel(model);
      expect(report.quantized).toHaveLength(3);
      expect(report.skipped).toEqual([]);
      expect(report.int8Bytes).toBeLessThan(report.fp32Bytes * 0.45);

      const decoded = decodeModel(int8, 'int8 model');
      expect(decoded.graph.nodes.filter((n) => n.opType === 'MatMulInteger')).toHaveLength(3);
      expect(decoded.graph.nodes.some((n) => n.opType === 'Gemm' || n.opType === 'MatMul')).toBe(false);
      expect(decoded.graph.initializers.filter((t) => t.dataType === DataType.INT8).length).toBeGreaterThanOrEqual(3);

      const session = await ort.InferenceSession.create(int8);
      expect(session.inputNames).toEqual(['obs']);
      await session.release();

      const result = await agreement(fp32, int8, syntheticRows(2000, 16, 5));
      expect(result.rows).toBe(2000);
      expect(result.share).toBeGreaterThanOrEqual(0.99);
      expect(result.maxAbsProbDiff).toBeLessThan(0.1);
    });
  }

  it('refuses a model with nothing to quantize, saying so', () => {
    const r = rng(2);
    const once = quantizeDynamic(decodeModel(encodeModel(buildMlpModel({ layers: [layer(r, 4, 8), layer(r, 8, 3)], activation: 'tanh' })), 'm')).model;
    let err: unknown;
    try {
      quantizeDynamic(once);
    } catch (e) {
      err = e;
    }
    expect(isMotobioError(err, 'MODEL_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/already an int8 model/);
  });

  it('static QDQ from calibration rows: fixed activation scales, int8 weights, >= 98% agreement on held-out rows', async () => {
    const r = rng(23);
    const float = buildMlpModel({ layers: [layer(r, 16, 64), layer(r, 64, 64), layer(r, 64, 5)], activation: 'tanh' });
    const fp32 = encodeModel(float);
    const ranges = await calibrate(decodeModel(fp32, 'float'), syntheticRows(500, 16, 1));
    expect([...ranges.keys()]).toEqual(['obs', 'act0', 'act1']);
    // tanh outputs stay inside [-1, 1]; the normalised input spans several std.
    expect(ranges.get('act0')!.max).toBeLessThanOrEqual(1);
    expect(ranges.get('obs')!.min).toBeLessThan(-2);
    const { model, report } = quantizeStatic(decodeModel(fp32, 'float'), ranges);
    expect(report.quantized).toHaveLength(3);
    const ops = model.graph.nodes.map((n) => n.opType);
    expect(ops.filter((o) => o === 'QuantizeLinear')).toHaveLength(3);
    expect(ops.filter((o) => o === 'DequantizeLinear')).toHaveLength(6);
    expect(ops).not.toContain('Gemm');
    const result = await agreement(fp32, encodeModel(model), syntheticRows(2000, 16, 99));
    // Fixed activation scales are coarser than dynamic ones; on an untrained random net (many
    // near-ties) that costs about 1% of actions while probabilities stay close.
    expect(result.share).toBeGreaterThanOrEqual(0.98);
    expect(result.maxAbsProbDiff).toBeLessThan(0.1);
  });
});
