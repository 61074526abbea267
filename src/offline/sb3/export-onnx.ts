/**
 * The deterministic SB3 policy as one fp32 ONNX graph, written with the house ONNX writer
 * (src/inference/onnx/model.ts). Everything SB3's predict(deterministic=True) does after
 * the raw observation is inside the graph, so nothing can be forgotten on the unit:
 *
 *   obs [batch, D] raw ─(÷255 for uint8 images)─(VecNormalize in float64: (x-mean)/sqrt(var+eps), clip ±clip_obs)─▶ x
 *   x ─shared Gemm+act─┬─ pi Gemm+act ─ action_net ─▶ logits ─ArgMax(+start)─▶ action int64 [batch]   (Discrete)
 *                      │                           └▶ mean ─ clip to bounds | tanh + rescale ─▶ action float32 [batch, A]   (Box)
 *                      └─ vf Gemm+act ─ value_net ─Reshape─▶ value [batch]
 *   Discrete also gives probs = Softmax(logits), the output the unit's decision engine reads.
 */
import { MotobioError } from '../../util/errors.js';
import { DEFAULT_IR_VERSION, DEFAULT_OPSET } from '../../inference/onnx/mlp.js';
import { DataType, floatAttr, floatTensor, intAttr, node, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../../inference/onnx/model.js';
import type { Activation, Linear, PolicySpec } from './policy-spec.js';
import type { ObsNormalization } from './vecnormalize.js';

export interface ExportOptions {
  readonly name: string;
  readonly vecNormalize?: ObsNormalization;
  readonly metadata?: Record<string, string>;
}

export function doubleTensor(name: string, dims: number[], data: ArrayLike<number>): TensorProto {
  const d = Float64Array.from(data);
  return { name, dims, dataType: DataType.DOUBLE, rawData: new Uint8Array(d.buffer) };
}

export function int64Tensor(name: string, dims: number[], data: readonly number[]): TensorProto {
  const d = BigInt64Array.from(data.map((v) => BigInt(v)));
  return { name, dims, dataType: DataType.INT64, rawData: new Uint8Array(d.buffer) };
}

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private n = 0;
  fresh(base: string): string {
    return `${base}_${this.n++}`;
  }
  op(opType: string, inputs: string[], output: string, attributes: NodeProto['attributes'] = [], name?: string): string {
    this.nodes.push(node(opType, inputs, [output], name ?? `${opType}_${this.nodes.length}`, attributes));
    return output;
  }
  init(t: TensorProto): string {
    this.initializers.push(t);
    return t.name;
  }
}

function activation(g: GraphBuilder, act: Activation, x: string, base: string): string {
  switch (act) {
    case 'tanh':
      return g.op('Tanh', [x], `${base}_tanh`);
    case 'relu':
      return g.op('Relu', [x], `${base}_relu`);
    case 'leaky_relu':
      return g.op('LeakyRelu', [x], `${base}_lrelu`, [floatAttr('alpha', 0.01)]);
    case 'elu':
      return g.op('Elu', [x], `${base}_elu`, [floatAttr('alpha', 1)]);
    case 'sigmoid':
      return g.op('Sigmoid', [x], `${base}_sigmoid`);
    case 'silu':
      return g.op('Mul', [x, g.op('Sigmoid', [x], `${base}_sig`)], `${base}_silu`);
    case 'gelu': {
      // torch's exact GELU: 0.5 x (1 + erf(x / sqrt 2)).
      const sqrt2 = g.init(floatTensor(`${base}_sqrt2`, [], [Math.SQRT2]));
      const one = g.init(floatTensor(`${base}_one`, [], [1]));
      const half = g.init(floatTensor(`${base}_half`, [], [0.5]));
      const e = g.op('Erf', [g.op('Div', [x, sqrt2], `${base}_scaled`)], `${base}_erf`);
      return g.op('Mul', [g.op('Mul', [x, half], `${base}_halfx`), g.op('Add', [e, one], `${base}_erf1`)], `${base}_gelu`);
    }
    case 'identity':
      return x;
  }
}

function dense(g: GraphBuilder, x: string, l: Linear, out: string): string {
  const w = g.init(floatTensor(`${l.name}.weight`, [l.outSize, l.inSize], l.weight));
  const b = g.init(floatTensor(`${l.name}.bias`, [l.outSize], l.bias));
  // Named after the layer, so the quantizer's report (and keepFloat) speaks SB3.
  return g.op('Gemm', [x, w, b], out, [intAttr('transB', 1)], l.name);
}

function trunk(g: GraphBuilder, x: string, layers: readonly Linear[], act: Activation, base: string): string {
  let cur = x;
  layers.forEach((l, i) => {
    cur = activation(g, act, dense(g, cur, l, `${base}${i}`), `${base}${i}`);
  });
  return cur;
}

export function exportPolicy(spec: PolicySpec, options: ExportOptions): ModelProto {
  const g = new GraphBuilder();
  const D = spec.observation.dim;
  let x = 'obs';
  if (spec.scaleImages) x = g.op('Div', [x, g.init(floatTensor('image_scale', [], [255]))], 'obs_scaled');
  const vn = options.vecNormalize;
  if (vn && vn.normObs) {
    if (vn.mean.length !== D) throw new MotobioError('MODEL_INVALID', `VecNormalize statistics have ${vn.mean.length} values, the policy takes ${D}`);
    // In float64 as NumPy computes it, then float32 as SB3 hands it to torch.
    const std = Array.from(vn.var, (v) => Math.sqrt(v + vn.epsilon));
    const x64 = g.op('Cast', [x], 'obs_f64', [intAttr('to', DataType.DOUBLE)]);
    const centred = g.op('Sub', [x64, g.init(doubleTensor('vecnormalize.mean', [D], vn.mean))], 'obs_centred');
    const z = g.op('Div', [centred, g.init(doubleTensor('vecnormalize.std', [D], std))], 'obs_z');
    const lo = g.op('Max', [z, g.init(doubleTensor('vecnormalize.clip_low', [], [-vn.clipObs]))], 'obs_clip_low');
    const hi = g.op('Min', [lo, g.init(doubleTensor('vecnormalize.clip_high', [], [vn.clipObs]))], 'obs_clipped');
    x = g.op('Cast', [hi], 'obs_normalized', [intAttr('to', DataType.FLOAT)]);
  }
  const shared = trunk(g, x, spec.shared, spec.activation, 'shared');
  const latentPi = trunk(g, shared, spec.pi, spec.activation, 'pi');
  const latentVf = trunk(g, shared, spec.vf, spec.activation, 'vf');
  const value2d = dense(g, latentVf, spec.valueNet, 'value_2d');
  g.op('Reshape', [value2d, g.init(int64Tensor('value_shape', [1], [-1]))], 'value');

  const outputs: ValueInfoProto[] = [];
  if (spec.action.kind === 'discrete') {
    const logits = dense(g, latentPi, spec.actionNet, 'logits');
    const arg = g.op('ArgMax', [logits], spec.action.start === 0 ? 'action' : 'action_index', [intAttr('axis', 1), intAttr('keepdims', 0)]);
    if (spec.action.start !== 0) g.op('Add', [arg, g.init(int64Tensor('action_start', [], [spec.action.start]))], 'action');
    g.op('Softmax', [logits], 'probs', [intAttr('axis', -1)]);
    outputs.push(
      { name: 'action', elemType: DataType.INT64, shape: ['batch'] },
      { name: 'logits', elemType: DataType.FLOAT, shape: ['batch', spec.action.n] },
      { name: 'value', elemType: DataType.FLOAT, shape: ['batch'] },
      { name: 'probs', elemType: DataType.FLOAT, shape: ['batch', spec.action.n] },
    );
  } else {
    const A = spec.action.dim;
    const { low, high } = spec.action;
    const mean = dense(g, latentPi, spec.actionNet, 'mean');
    if (spec.squashOutput) {
      if (![...low, ...high].every(Number.isFinite)) throw new MotobioError('MODEL_INVALID', 'squash_output with unbounded action space: SB3 cannot rescale to infinite bounds');
      // BasePolicy.unscale_action: low + 0.5 * (tanh(mean) + 1) * (high - low), in float32.
      const t = g.op('Tanh', [mean], 'mean_tanh');
      const p1 = g.op('Add', [t, g.init(floatTensor('one', [], [1]))], 'squash_p1');
      const half = g.op('Mul', [g.init(floatTensor('half', [], [0.5])), p1], 'squash_half');
      const range = Float32Array.from(high.map((h, i) => Math.fround(h) - Math.fround(low[i])));
      const scaled = g.op('Mul', [half, g.init(floatTensor('action_range', [A], range))], 'squash_scaled');
      g.op('Add', [g.init(floatTensor('action_low', [A], low)), scaled], 'action');
    } else {
      // np.clip(actions, low, high) = min(max(a, low), high); infinite bounds pass values through.
      const lo = g.op('Max', [mean, g.init(floatTensor('action_low', [A], low))], 'action_clip_low');
      g.op('Min', [lo, g.init(floatTensor('action_high', [A], high))], 'action');
    }
    outputs.push(
      { name: 'action', elemType: DataType.FLOAT, shape: ['batch', A] },
      { name: 'mean', elemType: DataType.FLOAT, shape: ['batch', A] },
      { name: 'value', elemType: DataType.FLOAT, shape: ['batch'] },
    );
  }
  return {
    irVersion: DEFAULT_IR_VERSION,
    opsetImports: [{ domain: '', version: DEFAULT_OPSET }],
    producerName: 'motobio-edge sb3 import',
    producerVersion: '1',
    domain: '',
    modelVersion: 1,
    docString: `Stable-Baselines3 ${spec.sb3Version} ${spec.algorithm} ${spec.policyClass}, deterministic policy`,
    graph: {
      name: options.name,
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [{ name: 'obs', elemType: DataType.FLOAT, shape: ['batch', D] }],
      outputs,
      valueInfo: [],
    },
    metadata: { ...(options.metadata ?? {}) },
  };
}
