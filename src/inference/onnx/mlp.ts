/**
 * Builds the ONNX graph of an MLP policy the way torch.onnx exports a Stable-Baselines3
 * actor: Linear layers as Gemm (transB=1, PyTorch's [out, in] weight layout) or as MatMul +
 * Add, Tanh or Relu between them, Softmax over the action logits at the end.
 *
 *   obs [batch, F] ─Gemm─Tanh─ ... ─Gemm─▶ logits ─Softmax─▶ action_probs [batch, A]
 */
import { DataType, floatTensor, intAttr, node, type ModelProto, type NodeProto, type TensorProto } from './model.js';

export interface DenseLayer {
  /** Row-major [out][in], as torch.nn.Linear stores it. */
  readonly weight: Float32Array | Float64Array | readonly number[];
  readonly bias: Float32Array | Float64Array | readonly number[];
  readonly inSize: number;
  readonly outSize: number;
}

export interface MlpSpec {
  readonly layers: readonly DenseLayer[];
  readonly activation: 'tanh' | 'relu';
  /** 'gemm' as torch.onnx writes nn.Linear; 'matmul' as some exporters do (MatMul then Add). */
  readonly form?: 'gemm' | 'matmul';
  readonly inputName?: string;
  readonly outputName?: string;
  readonly opset?: number;
  readonly docString?: string;
  readonly metadata?: Record<string, string>;
}

export const DEFAULT_OPSET = 17;
/** IR version 8 goes with opset 17 (ONNX 1.12+), which onnxruntime 1.30 reads. */
export const DEFAULT_IR_VERSION = 8;

export function buildMlpModel(spec: MlpSpec): ModelProto {
  const inputName = spec.inputName ?? 'obs';
  const outputName = spec.outputName ?? 'action_probs';
  const form = spec.form ?? 'gemm';
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let current = inputName;
  spec.layers.forEach((layer, i) => {
    if (layer.weight.length !== layer.inSize * layer.outSize || layer.bias.length !== layer.outSize) {
      throw new Error(`layer ${i}: weight/bias sizes do not match ${layer.outSize}x${layer.inSize}`);
    }
    const last = i === spec.layers.length - 1;
    const out = last ? 'logits' : `dense${i}`;
    const w = `policy.layer${i}.weight`;
    const b = `policy.layer${i}.bias`;
    initializers.push(floatTensor(b, [layer.outSize], layer.bias));
    if (form === 'gemm') {
      initializers.push(floatTensor(w, [layer.outSize, layer.inSize], layer.weight));
      nodes.push(node('Gemm', [current, w, b], [out], `Gemm_${i}`, [intAttr('transB', 1)]));
    } else {
      // MatMul wants [in, out]: transpose PyTorch's layout.
      const t = new Float32Array(layer.inSize * layer.outSize);
      for (let o = 0; o < layer.outSize; o++) for (let k = 0; k < layer.inSize; k++) t[k * layer.outSize + o] = layer.weight[o * layer.inSize + k];
      initializers.push(floatTensor(w, [layer.inSize, layer.outSize], t));
      nodes.push(node('MatMul', [current, w], [`${out}_mm`], `MatMul_${i}`));
      nodes.push(node('Add', [`${out}_mm`, b], [out], `Add_${i}`));
    }
    current = out;
    if (!last) {
      const act = `act${i}`;
      nodes.push(node(spec.activation === 'tanh' ? 'Tanh' : 'Relu', [current], [act], `${spec.activation === 'tanh' ? 'Tanh' : 'Relu'}_${i}`));
      current = act;
    }
  });
  nodes.push(node('Softmax', [current], [outputName], 'Softmax', [intAttr('axis', -1)]));
  const first = spec.layers[0];
  const lastLayer = spec.layers[spec.layers.length - 1];
  return {
    irVersion: DEFAULT_IR_VERSION,
    opsetImports: [{ domain: '', version: spec.opset ?? DEFAULT_OPSET }],
    producerName: 'motobio-edge',
    producerVersion: '1',
    domain: '',
    modelVersion: 1,
    docString: spec.docString ?? '',
    graph: {
      name: 'policy',
      nodes,
      initializers,
      inputs: [{ name: inputName, elemType: DataType.FLOAT, shape: ['batch', first.inSize] }],
      outputs: [{ name: outputName, elemType: DataType.FLOAT, shape: ['batch', lastLayer.outSize] }],
      valueInfo: [],
    },
    metadata: { ...(spec.metadata ?? {}) },
  };
}
