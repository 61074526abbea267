/**
 * Writes SB3-format checkpoints the way SB3 and PyTorch lay them out (a `data` JSON with
 * NumPy-text bounds and cloudpickled entries, a torch.save() zip with a protocol-2 pickle
 * and raw storages), for architectures the shared checkpoints do not cover, plus a float64
 * forward pass of the same network to check the exported graph against.
 */
import { readFileSync } from 'node:fs';
import { strToU8, unzipSync, zipSync } from 'fflate';

export const SHARED = new URL('../../../shared/data/sb3/', import.meta.url).pathname;
export const CHECKPOINTS = ['CartPole-v1', 'LunarLanderContinuous-v2', 'Walker2d-v3', 'MountainCarContinuous-v0'] as const;
export const HAS_VECNORMALIZE: Record<string, boolean> = { 'CartPole-v1': false, 'LunarLanderContinuous-v2': false, 'Walker2d-v3': true, 'MountainCarContinuous-v0': true };

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
}

/** A tiny pickle writer: just the opcodes torch and numpy write. */
export class PickleWriter {
  private parts: number[] = [];
  private memo = 0;
  op(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  proto(v: number): this {
    return this.op(0x80, v);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...strToU8(`${module}\n${name}\n`));
  }
  str(s: string): this {
    const b = strToU8(s);
    return this.op(0x58, ...u32(b.length), ...b);
  }
  bytes(b: Uint8Array): this {
    return this.op(0x42, ...u32(b.length), ...b);
  }
  int(v: number): this {
    return this.op(0x4a, ...i32(v));
  }
  float(v: number): this {
    const b = new DataView(new ArrayBuffer(8));
    b.setFloat64(0, v, false);
    return this.op(0x47, ...new Uint8Array(b.buffer));
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  tupleOf(values: number[]): this {
    this.mark();
    for (const v of values) this.int(v);
    return this.tuple();
  }
  put(): this {
    return this.op(0x71, this.memo++ & 0xff);
  }
  finish(): Uint8Array {
    return Uint8Array.from([...this.parts, 0x2e]);
  }
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
function i32(n: number): number[] {
  return u32(n >>> 0);
}

export interface TensorSpec {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** torch.save(state_dict) as torch >= 1.6 writes it: archive/data.pkl + archive/data/<key>. */
export function torchZip(tensors: TensorSpec[], options: { storageType?: string; prefix?: string; truncate?: string } = {}): Uint8Array {
  const prefix = options.prefix ?? 'archive';
  const w = new PickleWriter().proto(2).global('collections', 'OrderedDict').op(0x29).op(0x52).mark();
  const files: Record<string, Uint8Array> = {};
  tensors.forEach((t, i) => {
    const key = String(i);
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    w.str(t.name).global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global('torch', options.storageType ?? 'FloatStorage').str(key).str('cpu').int(t.data.length).tuple().op(0x51);
    w.int(0).tupleOf(t.shape).tupleOf(stride).op(0x89).global('collections', 'OrderedDict').op(0x29).op(0x52).tuple().op(0x52);
    const bytes = new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
    files[`${prefix}/data/${key}`] = t.name === options.truncate ? bytes.subarray(0, bytes.length - 4) : bytes;
  });
  w.op(0x75);
  files[`${prefix}/data.pkl`] = w.finish();
  files[`${prefix}/version`] = strToU8('3\n');
  return zipSync(files, { level: 0 });
}

/** A cloudpickled class reference, as SB3 stores policy_class. */
export function classPickle(module: string, name: string): string {
  const m = strToU8(module);
  const n = strToU8(name);
  return Buffer.from(Uint8Array.from([0x80, 4, 0x8c, m.length, ...m, 0x8c, n.length, ...n, 0x93, 0x2e])).toString('base64');
}

/** A pickled float32 ndarray of the given shape, as numpy writes it. */
export function ndarrayPickle(shape: number[], values: number[]): Uint8Array {
  const f = Float32Array.from(values);
  const w = new PickleWriter().proto(2).global('numpy.core.multiarray', '_reconstruct').global('numpy', 'ndarray').int(0).op(0x85).op(0x43, 1, 0x62).op(0x87).op(0x52);
  w.mark().int(1).tupleOf(shape).global('numpy', 'dtype').str('f4').op(0x89).op(0x88).op(0x87).op(0x52);
  w.mark().int(3).str('<').op(0x4e, 0x4e, 0x4e).int(-1).int(-1).int(0).tuple().op(0x62);
  w.op(0x89).bytes(new Uint8Array(f.buffer)).tuple().op(0x62);
  return w.finish();
}

export function numpyText(v: number[]): string {
  return `[${v.map((x) => (x === Infinity ? 'inf' : x === -Infinity ? '-inf' : Number.isInteger(x) ? `${x}.` : String(x))).join(' ')}]`;
}

export type Act = 'Tanh' | 'ReLU' | 'ELU' | 'LeakyReLU' | 'Sigmoid' | 'SiLU' | 'GELU';

export interface ArchSpec {
  obsDim: number;
  shared: number[];
  pi: number[];
  vf: number[];
  activation: Act;
  action: { kind: 'discrete'; n: number; start?: number } | { kind: 'box'; low: number[]; high: number[] };
  /** How net_arch is written in data: SB3 1.x list with a dict, 2.x dict, or left out (default). */
  netArchStyle: 'v1' | 'v2' | 'none';
  sb3Version: string;
  useSde?: boolean;
  squashOutput?: boolean;
  seed: number;
  /** Scale of the weights (bigger drives Tanh into saturation and ReLU into large values). */
  gain?: number;
}

export interface Layer {
  name: string;
  w: Float32Array;
  b: Float32Array;
  inSize: number;
  outSize: number;
}

export interface BuiltCheckpoint {
  zip: Uint8Array;
  layers: { shared: Layer[]; pi: Layer[]; vf: Layer[]; action: Layer; value: Layer };
  data: Record<string, unknown>;
  tensors: TensorSpec[];
}

function makeLayer(r: () => number, name: string, inSize: number, outSize: number, gain: number): Layer {
  const a = gain * Math.sqrt(6 / (inSize + outSize));
  return {
    name,
    inSize,
    outSize,
    w: Float32Array.from({ length: inSize * outSize }, () => (2 * r() - 1) * a),
    b: Float32Array.from({ length: outSize }, () => (r() - 0.5) * 0.2),
  };
}

export function buildCheckpoint(a: ArchSpec, edit?: (data: Record<string, unknown>, tensors: TensorSpec[]) => void): BuiltCheckpoint {
  const r = rng(a.seed);
  const gain = a.gain ?? 1;
  const seq = (prefix: string, inSize: number, widths: number[]) => {
    const out: Layer[] = [];
    let size = inSize;
    widths.forEach((wd, i) => {
      out.push(makeLayer(r, `${prefix}.${2 * i}`, size, wd, gain));
      size = wd;
    });
    return { layers: out, size };
  };
  const shared = seq('mlp_extractor.shared_net', a.obsDim, a.shared);
  const pi = seq('mlp_extractor.policy_net', shared.size, a.pi);
  const vf = seq('mlp_extractor.value_net', shared.size, a.vf);
  const nOut = a.action.kind === 'discrete' ? a.action.n : a.action.low.length;
  const action = makeLayer(r, 'action_net', pi.size, nOut, gain);
  const value = makeLayer(r, 'value_net', vf.size, 1, gain);
  const tensors: TensorSpec[] = [];
  if (a.action.kind === 'box') {
    tensors.push(a.useSde ? { name: 'log_std', shape: [pi.size, nOut], data: new Float32Array(pi.size * nOut).fill(-2) } : { name: 'log_std', shape: [nOut], data: new Float32Array(nOut).fill(-0.5) });
  }
  for (const l of [...shared.layers, ...pi.layers, ...vf.layers, action, value]) {
    tensors.push({ name: `${l.name}.weight`, shape: [l.outSize, l.inSize], data: l.w }, { name: `${l.name}.bias`, shape: [l.outSize], data: l.b });
  }
  const kwargs: Record<string, unknown> = {};
  if (a.netArchStyle === 'v1') kwargs.net_arch = [...a.shared, { pi: a.pi, vf: a.vf }];
  if (a.netArchStyle === 'v2') kwargs.net_arch = { pi: a.pi, vf: a.vf };
  if (a.squashOutput) kwargs.squash_output = true;
  let policyKwargs: unknown = kwargs;
  if (a.activation !== 'Tanh') {
    // A class in the kwargs makes SB3 cloudpickle the dict and keep str() of each item.
    policyKwargs = { ':type:': "<class 'dict'>", ':serialized:': 'gAR9lC4=', ...kwargs, activation_fn: `<class 'torch.nn.modules.activation.${a.activation}'>` };
  }
  const obsLow = new Array<number>(a.obsDim).fill(-Infinity);
  const obsHigh = new Array<number>(a.obsDim).fill(Infinity);
  const lastObs = Array.from({ length: 2 * a.obsDim }, () => 2 * r() - 1);
  const data: Record<string, unknown> = {
    policy_class: { ':type:': "<class 'abc.ABCMeta'>", ':serialized:': classPickle('stable_baselines3.common.policies', 'ActorCriticPolicy'), __module__: 'stable_baselines3.common.policies' },
    policy_kwargs: policyKwargs,
    observation_space: { ':type:': "<class 'gymnasium.spaces.box.Box'>", ':serialized:': '', dtype: 'float32', _shape: [a.obsDim], low: numpyText(obsLow), high: numpyText(obsHigh) },
    action_space:
      a.action.kind === 'discrete'
        ? { ':type:': "<class 'gymnasium.spaces.discrete.Discrete'>", ':serialized:': '', n: String(a.action.n), start: String(a.action.start ?? 0), _shape: [], dtype: 'int64' }
        : { ':type:': "<class 'gymnasium.spaces.box.Box'>", ':serialized:': '', dtype: 'float32', _shape: [nOut], low: numpyText(a.action.low), high: numpyText(a.action.high) },
    use_sde: a.useSde ?? false,
    clip_range: { ':type:': "<class 'function'>", ':serialized:': '' },
    _last_obs: { ':type:': "<class 'numpy.ndarray'>", ':serialized:': Buffer.from(ndarrayPickle([2, a.obsDim], lastObs)).toString('base64') },
    _last_original_obs: null,
  };
  edit?.(data, tensors);
  const zip = zipSync({
    data: strToU8(JSON.stringify(data)),
    'policy.pth': torchZip(tensors),
    'pytorch_variables.pth': torchZip([]),
    _stable_baselines3_version: strToU8(a.sb3Version),
  });
  return { zip, layers: { shared: shared.layers, pi: pi.layers, vf: vf.layers, action, value }, data, tensors };
}

function act(name: Act, x: number): number {
  switch (name) {
    case 'Tanh':
      return Math.tanh(x);
    case 'ReLU':
      return Math.max(0, x);
    case 'ELU':
      return x > 0 ? x : Math.expm1(x);
    case 'LeakyReLU':
      return x > 0 ? x : 0.01 * x;
    case 'Sigmoid':
      return 1 / (1 + Math.exp(-x));
    case 'SiLU':
      return x / (1 + Math.exp(-x));
    case 'GELU':
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
  }
}

/** Abramowitz-Stegun 7.1.26 is not enough at 1e-5; use the series / continued fraction. */
function erf(x: number): number {
  const t = Math.abs(x);
  if (t < 3) {
    let sum = t;
    let term = t;
    for (let n = 1; n < 200; n++) {
      term *= (-t * t) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x) * (1 - Math.exp(-t * t) / (t * Math.sqrt(Math.PI)) * (1 - 1 / (2 * t * t) + 3 / (4 * t ** 4)));
}

function forwardLayers(x: number[], layers: Layer[], a: Act): number[] {
  let cur = x;
  for (const l of layers) cur = linear(cur, l).map((v) => act(a, v));
  return cur;
}

function linear(x: number[], l: Layer): number[] {
  return Array.from({ length: l.outSize }, (_, o) => {
    let s = l.b[o];
    for (let i = 0; i < l.inSize; i++) s += l.w[o * l.inSize + i] * x[i];
    return s;
  });
}

/** SB3's deterministic predict, in float64. */
export function referenceForward(c: BuiltCheckpoint, a: ArchSpec, obs: number[]): { head: number[]; value: number; action: number[] } {
  const s = forwardLayers(obs, c.layers.shared, a.activation);
  const head = linear(forwardLayers(s, c.layers.pi, a.activation), c.layers.action);
  const value = linear(forwardLayers(s, c.layers.vf, a.activation), c.layers.value)[0];
  let action: number[];
  if (a.action.kind === 'discrete') {
    let best = 0;
    head.forEach((v, i) => {
      if (v > head[best]) best = i;
    });
    action = [best + (a.action.start ?? 0)];
  } else if (a.squashOutput) {
    const { low, high } = a.action;
    action = head.map((m, i) => low[i] + 0.5 * (Math.tanh(m) + 1) * (high[i] - low[i]));
  } else {
    const { low, high } = a.action;
    action = head.map((m, i) => Math.min(high[i], Math.max(low[i], m)));
  }
  return { head, value, action };
}

export function sharedZip(name: string): Uint8Array {
  return readFileSync(`${SHARED}${name}.zip`);
}

/** Re-packs an SB3 zip with one entry changed (policy.pth entries can be edited too). */
export function repack(zip: Uint8Array, change: (files: Record<string, Uint8Array>) => void): Uint8Array {
  const files = unzipSync(zip);
  change(files);
  return zipSync(files, { level: 0 });
}
