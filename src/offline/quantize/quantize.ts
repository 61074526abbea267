/**
 * Dynamic int8 quantization on the ONNX graph, the scheme onnxruntime's quantize_dynamic
 * uses: weights int8 per output channel (symmetric, zero point 0), activations uint8
 * quantized at run time. Each Gemm / MatMul with a constant weight becomes
 *
 *   X ─DynamicQuantizeLinear─▶ Xq, Xscale, Xzp
 *   Xq, Wq, Xzp, Wzp ─MatMulInteger─▶ int32 ─Cast─▶ float ─Mul(Xscale·Wscale[n])─▶ (+ bias) ─▶ Y
 *
 * Weights use ±63 by default (reduce_range, see QuantizeOptions).
 * Nodes it cannot handle (transA, alpha/beta ≠ 1, a weight that is not an initializer) stay
 * float and are listed in the report.
 */
import { MotobioError } from '../../util/errors.js';
import { DataType, encodeModel, floatTensor, int8Tensor, intAttr, node, tensorFloats, type ModelProto, type NodeProto, type TensorProto } from '../../inference/onnx/model.js';

export interface QuantizeReport {
  readonly quantized: string[];
  readonly skipped: { node: string; why: string }[];
  readonly fp32Bytes: number;
  readonly int8Bytes: number;
}

export interface QuantizedWeight {
  /** [K, N] row-major, int8. */
  readonly q: Int8Array;
  /** One scale per output channel N. */
  readonly scale: Float32Array;
}

/** Symmetric per-output-channel int8 of a [K, N] weight (N = output channels). */
export function quantizePerChannel(w: Float32Array, k: number, n: number, qmax = 127): QuantizedWeight {
  const q = new Int8Array(k * n);
  const scale = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    let max = 0;
    for (let r = 0; r < k; r++) max = Math.max(max, Math.abs(w[r * n + c]));
    const s = max > 0 ? max / qmax : 1;
    scale[c] = s;
    for (let r = 0; r < k; r++) q[r * n + c] = Math.max(-qmax, Math.min(qmax, Math.round(w[r * n + c] / s)));
  }
  return { q, scale };
}

/** A MatMul/Gemm weight as a row-major [k, nOut] matrix, transposed when Gemm says transB. */
export function weightKxN(n: NodeProto, w: TensorProto): { wk: Float32Array; k: number; nOut: number } {
  const transB = n.opType === 'Gemm' && (attr(n, 'transB') ?? 0) !== 0;
  const raw = tensorFloats(w);
  const [d0, d1] = w.dims;
  const k = transB ? d1 : d0;
  const nOut = transB ? d0 : d1;
  if (!transB) return { wk: raw, k, nOut };
  const wk = new Float32Array(k * nOut);
  for (let o = 0; o < nOut; o++) for (let i = 0; i < k; i++) wk[i * nOut + o] = raw[o * k + i];
  return { wk, k, nOut };
}

function attr(n: NodeProto, name: string): number | undefined {
  const a = n.attributes.find((x) => x.name === name);
  return a?.i ?? a?.f;
}

export interface QuantizeOptions {
  /**
   * 7-bit weights (±63) instead of 8-bit. Default true: x86 AVX2 kernels multiply uint8 by int8
   * into saturating int16 pairs (255·127·2 > 32767), which flipped up to 15% of actions in our
   * tests; ±63 cannot saturate. onnxruntime's quantize_dynamic calls this reduce_range.
   */
  readonly reduceRange?: boolean;
  /**
   * Nodes to leave float, with the reason (reported in `skipped`): e.g. an imported policy's
   * output layers, when int8 there moves the actions too far (src/offline/sb3/import.ts).
   */
  readonly keepFloat?: (n: NodeProto) => string | undefined;
}

export function quantizeDynamic(input: ModelProto, options: QuantizeOptions = {}): { model: ModelProto; report: QuantizeReport } {
  const qmax = (options.reduceRange ?? true) ? 63 : 127;
  const g = input.graph;
  const inits = new Map(g.initializers.map((t) => [t.name, t]));
  const consumers = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const nodes: NodeProto[] = [];
  const added: TensorProto[] = [];
  const dropped = new Set<string>();
  const quantized: string[] = [];
  const skipped: { node: string; why: string }[] = [];

  g.nodes.forEach((n, idx) => {
    if (n.opType !== 'Gemm' && n.opType !== 'MatMul') {
      nodes.push(n);
      return;
    }
    const label = n.name || `${n.opType}_${idx}`;
    const [x, wName, bName] = n.inputs;
    const w = inits.get(wName);
    const why =
      !w ? 'weight is not a constant initializer'
      : w.dataType !== DataType.FLOAT ? 'weight is not float32'
      : w.dims.length !== 2 ? 'weight is not 2-D'
      : n.opType === 'Gemm' && (attr(n, 'transA') ?? 0) !== 0 ? 'Gemm with transA'
      : n.opType === 'Gemm' && ((attr(n, 'alpha') ?? 1) !== 1 || (attr(n, 'beta') ?? 1) !== 1) ? 'Gemm with alpha/beta other than 1'
      : options.keepFloat?.(n);
    if (why || !w) {
      skipped.push({ node: label, why: why ?? 'no weight' });
      nodes.push(n);
      return;
    }
    const { wk, k, nOut } = weightKxN(n, w);
    const { q, scale } = quantizePerChannel(wk, k, nOut, qmax);
    const p = `${label}_quant`;
    const out = n.outputs[0];
    added.push(int8Tensor(`${wName}_quantized`, [k, nOut], q));
    added.push(floatTensor(`${wName}_scale`, [nOut], scale));
    added.push(int8Tensor(`${wName}_zero_point`, [nOut], new Int8Array(nOut)));
    nodes.push(node('DynamicQuantizeLinear', [x], [`${p}_x_q`, `${p}_x_scale`, `${p}_x_zp`], `${p}_DynamicQuantizeLinear`));
    nodes.push(node('MatMulInteger', [`${p}_x_q`, `${wName}_quantized`, `${p}_x_zp`, `${wName}_zero_point`], [`${p}_int32`], `${p}_MatMulInteger`));
    nodes.push(node('Cast', [`${p}_int32`], [`${p}_float`], `${p}_Cast`, [intAttr('to', DataType.FLOAT)]));
    nodes.push(node('Mul', [`${p}_x_scale`, `${wName}_scale`], [`${p}_scale`], `${p}_ScaleMul`));
    const hasBias = n.opType === 'Gemm' && bName !== undefined && bName !== '';
    nodes.push(node('Mul', [`${p}_float`, `${p}_scale`], [hasBias ? `${p}_scaled` : out], `${p}_Mul`));
    if (hasBias) nodes.push(node('Add', [`${p}_scaled`, bName], [out], `${p}_BiasAdd`));
    if (consumers.get(wName) === 1) dropped.add(wName);
    quantized.push(label);
  });

  if (quantized.length === 0) {
    throw new MotobioError('MODEL_INVALID', `no Gemm/MatMul with a constant float weight to quantize (${skipped.map((s) => `${s.node}: ${s.why}`).join('; ') || 'the graph has none'}); is this already an int8 model?`);
  }
  const model: ModelProto = {
    ...input,
    graph: {
      ...g,
      nodes,
      initializers: [...g.initializers.filter((t) => !dropped.has(t.name)), ...added],
      // Stale shape hints for rewired tensors would only mislead onnxruntime.
      valueInfo: [],
    },
    metadata: { ...input.metadata, quantization: `dynamic int8, per-channel symmetric weights (±${qmax}), uint8 activations` },
  };
  return { model, report: { quantized, skipped, fp32Bytes: encodeModel(input).length, int8Bytes: encodeModel(model).length } };
}
