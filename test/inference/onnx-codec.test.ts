import { describe, it, expect } from 'vitest';
import * as ort from 'onnxruntime-node';
import { buildMlpModel, type DenseLayer } from '../../src/inference/onnx/mlp.js';
import { decodeModel, encodeModel, defaultOpset, tensorFloats } from '../../src/inference/onnx/model.js';
import { isMotobioError } from '../../src/util/errors.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function layer(r: () => number, inSize: number, outSize: number): DenseLayer {
  return {
    inSize,
    outSize,
    weight: Array.from({ length: inSize * outSize }, () => r() - 0.5),
    bias: Array.from({ length: outSize }, () => r() - 0.5),
  };
}

/** Plain-JS forward pass of the same MLP, the reference the ONNX graph must match. */
function forward(layers: DenseLayer[], x: number[]): number[] {
  let h = x;
  layers.forEach((l, i) => {
    const out: number[] = [];
    for (let o = 0; o < l.outSize; o++) {
      let s = l.bias[o];
      for (let k = 0; k < l.inSize; k++) s += l.weight[o * l.inSize + k] * h[k];
      out.push(i < layers.length - 1 ? Math.tanh(s) : s);
    }
    h = out;
  });
  const m = Math.max(...h);
  const e = h.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

describe('ONNX protobuf codec and MLP builder', () => {
  for (const form of ['gemm', 'matmul'] as const) {
    it(`builds a ${form} MLP that onnxruntime runs and that matches a JS forward pass`, async () => {
      const r = rng(7);
      const layers = [layer(r, 12, 24), layer(r, 24, 24), layer(r, 24, 5)];
      const bytes = encodeModel(buildMlpModel({ layers, activation: 'tanh', form }));
      const session = await ort.InferenceSession.create(bytes);
      expect(session.inputNames).toEqual(['obs']);
      expect(session.outputNames).toEqual(['action_probs']);
      const x = Array.from({ length: 12 }, () => 2 * r() - 1);
      const out = await session.run({ obs: new ort.Tensor('float32', Float32Array.from(x), [1, 12]) });
      const got = Array.from(out['action_probs'].data as Float32Array);
      const want = forward(layers, x);
      got.forEach((p, i) => expect(p).toBeCloseTo(want[i], 5));
      await session.release();
    });
  }

  it('decodes and re-encodes a model byte for byte, including negative int64 attributes', () => {
    const r = rng(3);
    const model = buildMlpModel({ layers: [layer(r, 4, 8), layer(r, 8, 3)], activation: 'relu', metadata: { k: 'v' } });
    const bytes = encodeModel(model);
    const decoded = decodeModel(bytes, 'test');
    expect(decoded.graph.nodes.find((n) => n.opType === 'Softmax')?.attributes[0].i).toBe(-1);
    expect(decoded.metadata).toEqual({ k: 'v' });
    expect(defaultOpset(decoded)).toBe(17);
    expect(Buffer.from(encodeModel(decoded)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('rejects truncated and garbage bytes with a MODEL_INVALID error that says what to do', () => {
    const r = rng(5);
    const bytes = encodeModel(buildMlpModel({ layers: [layer(r, 4, 8), layer(r, 8, 3)], activation: 'tanh' }));
    for (const bad of [bytes.subarray(0, bytes.length - 7), Buffer.from('this is not a model at all')]) {
      let err: unknown;
      try {
        decodeModel(bad, 'bad.onnx');
      } catch (e) {
        err = e;
      }
      expect(isMotobioError(err, 'MODEL_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/bad\.onnx.*(re-export|re-copy)/);
    }
  });
});

describe('decoding from a Buffer (as readFileSync returns)', () => {
  it('gives the same weights as decoding from a plain Uint8Array, even inside a larger buffer', () => {
    const model = buildMlpModel({ layers: [{ inSize: 2, outSize: 2, weight: [1, 2, 3, 4], bias: [5, 6] }], activation: 'tanh' });
    const bytes = encodeModel(model);
    const big = Buffer.alloc(bytes.length + 64, 0xaa);
    big.set(bytes, 32);
    const inside = big.subarray(32, 32 + bytes.length);
    const w = decodeModel(inside, 'buffer').graph.initializers.find((t) => t.name.endsWith('weight'))!;
    expect(Array.from(tensorFloats(w))).toEqual([1, 2, 3, 4]);
    expect(w.rawData.buffer.byteLength).toBe(16);
    expect(Buffer.from(encodeModel(decodeModel(inside, 'buffer'))).equals(Buffer.from(bytes))).toBe(true);
  });
});

describe('decoder on damaged files', () => {
  it('3000 seeded byte flips, truncations and insertions: either a model or a MODEL_INVALID error, never anything else', () => {
    const r = rng(77);
    const good = encodeModel(buildMlpModel({ layers: [layer(r, 6, 8), layer(r, 8, 5)], activation: 'tanh' }));
    const other: unknown[] = [];
    for (let i = 0; i < 3000; i++) {
      let bytes = Uint8Array.from(good);
      const kind = i % 3;
      if (kind === 0) for (let k = 0; k < 1 + Math.floor(r() * 4); k++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      else if (kind === 1) bytes = bytes.subarray(0, Math.floor(r() * bytes.length));
      else {
        const at = Math.floor(r() * bytes.length);
        bytes = Uint8Array.from([...bytes.subarray(0, at), Math.floor(r() * 256), ...bytes.subarray(at)]);
      }
      try {
        decodeModel(bytes, 'fuzz');
      } catch (e) {
        if (!isMotobioError(e, 'MODEL_INVALID')) other.push(e);
      }
    }
    expect(other).toEqual([]);
  });
});
