/**
 * Static int8 quantization in QDQ form, from calibration rows: the fp32 model is run on the
 * rows with every Gemm/MatMul input exposed as an extra output, each activation gets a fixed
 * uint8 scale and zero point from its observed range, and weights are int8 per output channel.
 *
 *   X ─QuantizeLinear(s,zp)─DequantizeLinear─┐
 *   Wq ─DequantizeLinear(w_scale[n], axis=1)─┴─MatMul─(+ bias)─▶ Y
 *
 * onnxruntime fuses the DequantizeLinear → MatMul pattern into an integer kernel at load time.
 */
import { MotobioError } from '../../util/errors.js';
import { runRowsAll } from '../../inference/agreement.js';
import { DataType, encodeModel, floatTensor, int8Tensor, intAttr, node, type ModelProto, type NodeProto, type TensorProto } from '../../inference/onnx/model.js';
import { quantizePerChannel, weightKxN, type QuantizeOptions, type QuantizeReport } from './quantize.js';

export interface Range {
  min: number;
  max: number;
}

function eligible(model: ModelProto): { node: NodeProto; index: number; weight: TensorProto }[] {
  const inits = new Map(model.graph.initializers.map((t) => [t.name, t]));
  const out: { node: NodeProto; index: number; weight: TensorProto }[] = [];
  model.graph.nodes.forEach((n, index) => {
    if (n.opType !== 'Gemm' && n.opType !== 'MatMul') return;
    const w = inits.get(n.inputs[1]);
    if (!w || w.dataType !== DataType.FLOAT || w.dims.length !== 2) return;
    const attr = (name: string) => n.attributes.find((a) => a.name === name);
    if (n.opType === 'Gemm' && ((attr('transA')?.i ?? 0) !== 0 || (attr('alpha')?.f ?? 1) !== 1 || (attr('beta')?.f ?? 1) !== 1)) return;
    out.push({ node: n, index, weight: w });
  });
  return out;
}

/** Runs the float model on the rows and returns min/max of every quantizable activation. */
export async function calibrate(model: ModelProto, rows: readonly number[][]): Promise<Map<string, Range>> {
  const names = [...new Set(eligible(model).map((e) => e.node.inputs[0]))];
  const existing = new Set(model.graph.outputs.map((o) => o.name));
  const probe: ModelProto = {
    ...model,
    graph: { ...model.graph, outputs: [...model.graph.outputs, ...names.filter((n) => !existing.has(n)).map((name) => ({ name, elemType: DataType.FLOAT, shape: null }))] },
  };
  const outputs = await runRowsAll(encodeModel(probe), rows, names);
  const ranges = new Map<string, Range>();
  for (const name of names) {
    const data = outputs[name];
    let min = 0;
    let max = 0;
    for (const v of data) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    ranges.set(name, { min, max });
  }
  return ranges;
}

export function quantizeStatic(input: ModelProto, ranges: Map<string, Range>, options: QuantizeOptions = {}): { model: ModelProto; report: QuantizeReport } {
  const qmax = (options.reduceRange ?? true) ? 63 : 127;
  const targets = new Map(eligible(input).map((e) => [e.index, e]));
  if (targets.size === 0) throw new MotobioError('MODEL_INVALID', 'no Gemm/MatMul with a constant float weight to quantize; is this already an int8 model?');
  const consumers = new Map<string, number>();
  for (const n of input.graph.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const nodes: NodeProto[] = [];
  const added: TensorProto[] = [];
  const dropped = new Set<string>();
  const dequantized = new Map<string, string>();
  const quantized: string[] = [];
  const skipped: { node: string; why: string }[] = [];

  input.graph.nodes.forEach((n, idx) => {
    const target = targets.get(idx);
    if (!target) {
      if (n.opType === 'Gemm' || n.opType === 'MatMul') skipped.push({ node: n.name || `${n.opType}_${idx}`, why: 'weight not a constant 2-D float, or Gemm with transA/alpha/beta' });
      nodes.push(n);
      return;
    }
    const label = n.name || `${n.opType}_${idx}`;
    const [x, wName, bName] = n.inputs;
    const range = ranges.get(x);
    if (!range) throw new MotobioError('INTERNAL', `no calibration range for ${x}`);
    let xdq = dequantized.get(x);
    if (!xdq) {
      // Asymmetric uint8 over the observed range, which always includes 0 so 0 is exact.
      const scale = range.max > range.min ? (range.max - range.min) / 255 : 1;
      const zp = Math.max(0, Math.min(255, Math.round(-range.min / scale)));
      added.push(floatTensor(`${x}_scale`, [], [scale]));
      added.push({ name: `${x}_zero_point`, dims: [], dataType: DataType.UINT8, rawData: Uint8Array.of(zp) });
      nodes.push(node('QuantizeLinear', [x, `${x}_scale`, `${x}_zero_point`], [`${x}_quantized`], `${x}_QuantizeLinear`));
      xdq = `${x}_dequantized`;
      nodes.push(node('DequantizeLinear', [`${x}_quantized`, `${x}_scale`, `${x}_zero_point`], [xdq], `${x}_DequantizeLinear`));
      dequantized.set(x, xdq);
    }
    const { wk, k, nOut } = weightKxN(n, target.weight);
    const { q, scale } = quantizePerChannel(wk, k, nOut, qmax);
    added.push(int8Tensor(`${wName}_quantized`, [k, nOut], q));
    added.push(floatTensor(`${wName}_scale`, [nOut], scale));
    added.push(int8Tensor(`${wName}_zero_point`, [nOut], new Int8Array(nOut)));
    nodes.push(node('DequantizeLinear', [`${wName}_quantized`, `${wName}_scale`, `${wName}_zero_point`], [`${wName}_dequantized`], `${label}_weight_DequantizeLinear`, [intAttr('axis', 1)]));
    const out = n.outputs[0];
    const hasBias = n.opType === 'Gemm' && bName !== undefined && bName !== '';
    nodes.push(node('MatMul', [xdq, `${wName}_dequantized`], [hasBias ? `${label}_matmul` : out], `${label}_MatMul`));
    if (hasBias) nodes.push(node('Add', [`${label}_matmul`, bName], [out], `${label}_BiasAdd`));
    if (consumers.get(wName) === 1) dropped.add(wName);
    quantized.push(label);
  });

  const model: ModelProto = {
    ...input,
    graph: { ...input.graph, nodes, initializers: [...input.graph.initializers.filter((t) => !dropped.has(t.name)), ...added], valueInfo: [] },
    metadata: { ...input.metadata, quantization: `static QDQ int8, per-channel symmetric weights (±${qmax}), uint8 activations from calibration` },
  };
  return { model, report: { quantized, skipped, fp32Bytes: encodeModel(input).length, int8Bytes: encodeModel(model).length } };
}
