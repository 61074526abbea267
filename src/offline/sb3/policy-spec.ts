/**
 * What an SB3 checkpoint's `data` JSON and state dict say the policy is, checked against
 * each other: policy class, spaces (bounds from NumPy text), activation, net_arch (SB3 1.x
 * shared layers + dict(pi, vf), or 2.x list / dict), gSDE and squash_output, and the layer
 * shapes actually stored.
 *
 *   data (JSON) ─▶ class, spaces, policy_kwargs, use_sde ─┐
 *   state dict ─▶ shared_net / policy_net / value_net / action_net / value_net / log_std ─┴─▶ PolicySpec (or a refusal naming the mismatch)
 */
import { MotobioError } from '../../util/errors.js';
import { NpArray, numpyGlobals, parseNumpyText } from './numpy.js';
import { PyGlobal, REFERENCE_ONLY, unpickle, type GlobalHandler } from './pickle.js';
import type { Tensor } from './state-dict.js';

export type Activation = 'tanh' | 'relu' | 'leaky_relu' | 'elu' | 'sigmoid' | 'silu' | 'gelu' | 'identity';

const ACTIVATIONS: Record<string, Activation> = {
  Tanh: 'tanh', ReLU: 'relu', LeakyReLU: 'leaky_relu', ELU: 'elu', Sigmoid: 'sigmoid', SiLU: 'silu', GELU: 'gelu', Identity: 'identity',
};

export interface Linear {
  /** State-dict prefix, e.g. "mlp_extractor.policy_net.0". */
  readonly name: string;
  readonly inSize: number;
  readonly outSize: number;
  /** [out][in], row-major, as torch.nn.Linear stores it. */
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

export type ActionSpace =
  | { readonly kind: 'discrete'; readonly n: number; readonly start: number }
  | { readonly kind: 'box'; readonly dim: number; readonly shape: readonly number[]; readonly low: readonly number[]; readonly high: readonly number[] };

export interface ObsSpace {
  readonly shape: readonly number[];
  readonly dim: number;
  readonly dtype: string;
  readonly low: readonly number[];
  readonly high: readonly number[];
}

export interface PolicySpec {
  readonly sb3Version: string;
  readonly algorithm: 'PPO' | 'A2C' | 'unknown';
  readonly policyClass: string;
  readonly observation: ObsSpace;
  readonly action: ActionSpace;
  readonly activation: Activation;
  readonly shared: readonly Linear[];
  readonly pi: readonly Linear[];
  readonly vf: readonly Linear[];
  readonly actionNet: Linear;
  readonly valueNet: Linear;
  readonly useSde: boolean;
  readonly squashOutput: boolean;
  /** uint8 image-shaped observations are divided by 255 (SB3's normalize_images). */
  readonly scaleImages: boolean;
  readonly netArch: { readonly shared: readonly number[]; readonly pi: readonly number[]; readonly vf: readonly number[] };
  /** The checkpoint's own last observations: raw (`_last_original_obs` when VecNormalize was used). */
  readonly lastObs: number[][] | null;
  /** True when lastObs came from `_last_original_obs` (saved only under VecNormalize), false for `_last_obs`. */
  readonly lastObsFromOriginal: boolean;
}

type Json = Record<string, unknown>;

function bad(what: string, msg: string): never {
  throw new MotobioError('MODEL_INVALID', `${what}: ${msg}`);
}

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The class a cloudpickled `:serialized:` entry names, read without running it. */
function serializedGlobal(entry: unknown): string | null {
  if (!isObj(entry) || typeof entry[':serialized:'] !== 'string') return null;
  try {
    // Any name may be referred to, none called: a class reference is all such an entry holds.
    const v = unpickle(Buffer.from(entry[':serialized:'], 'base64'), { what: 'policy_class', globals: (): GlobalHandler => REFERENCE_ONLY });
    return v instanceof PyGlobal ? v.qualified : null;
  } catch {
    return null;
  }
}

function decodeArray(entry: unknown, what: string): NpArray | null {
  if (!isObj(entry) || typeof entry[':serialized:'] !== 'string') return null;
  const v = unpickle(Buffer.from(entry[':serialized:'], 'base64'), { what, globals: new Map(numpyGlobals()) });
  return v instanceof NpArray ? v : null;
}

function spaceType(entry: Json): string {
  const t = typeof entry[':type:'] === 'string' ? entry[':type:'] : '';
  const m = /'([\w.]+)'/.exec(t);
  return m ? m[1] : t;
}

function intOf(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isInteger(n) ? n : null;
}

function shapeOf(entry: Json): number[] | null {
  const s = entry.shape ?? entry._shape;
  return Array.isArray(s) && s.every((d) => Number.isInteger(d) && (d as number) >= 0) ? (s as number[]) : null;
}

function bounds(entry: Json, key: 'low' | 'high', count: number, what: string): number[] {
  const text = entry[key] ?? entry[`${key}_repr`];
  if (typeof text === 'number') return new Array<number>(count).fill(text);
  if (typeof text !== 'string') bad(what, `the space has no "${key}" bounds in data; the checkpoint was saved by an SB3 version this importer does not know`);
  return parseNumpyText(text, `${what} ${key}`, count);
}

function readObsSpace(data: Json, what: string): ObsSpace {
  const e = data.observation_space;
  if (!isObj(e)) bad(what, 'data has no observation_space');
  const type = spaceType(e);
  if (!type.endsWith('spaces.box.Box')) bad(what, `the observation space is ${type || 'unknown'}; only Box observations (a vector of numbers) can come from the unit's features`);
  const shape = shapeOf(e);
  if (!shape || shape.length === 0) bad(what, 'the observation space has no shape');
  const dim = shape.reduce((a, b) => a * b, 1);
  const dtype = typeof e.dtype === 'string' ? e.dtype : 'float32';
  // Bounds of multi-dimensional spaces print as nested arrays; the policy does not need them.
  const low = shape.length === 1 ? bounds(e, 'low', dim, `${what} observation_space`) : new Array<number>(dim).fill(-Infinity);
  const high = shape.length === 1 ? bounds(e, 'high', dim, `${what} observation_space`) : new Array<number>(dim).fill(Infinity);
  return { shape, dim, dtype, low, high };
}

function readActionSpace(data: Json, what: string): ActionSpace {
  const e = data.action_space;
  if (!isObj(e)) bad(what, 'data has no action_space');
  const type = spaceType(e);
  if (type.endsWith('spaces.discrete.Discrete')) {
    const n = intOf(e.n);
    if (n === null || n < 1) bad(what, `Discrete action space with n = ${JSON.stringify(e.n)}`);
    return { kind: 'discrete', n, start: intOf(e.start) ?? 0 };
  }
  if (type.endsWith('spaces.box.Box')) {
    const shape = shapeOf(e);
    if (!shape || shape.length !== 1) bad(what, `Box action space of shape ${JSON.stringify(shape)}; only 1-D action vectors are supported`);
    const dim = shape[0];
    return { kind: 'box', dim, shape, low: bounds(e, 'low', dim, `${what} action_space`), high: bounds(e, 'high', dim, `${what} action_space`) };
  }
  bad(what, `the action space is ${type || 'unknown'}; Discrete and Box are supported (MultiDiscrete, MultiBinary, Dict are not)`);
}

function readActivation(kwargs: Json, what: string): Activation {
  const a = kwargs.activation_fn;
  if (a === undefined) return 'tanh';
  const text = typeof a === 'string' ? a : (serializedGlobal(a) ?? JSON.stringify(a));
  const m = /torch\.nn\.modules\.activation\.(\w+)/.exec(text) ?? /^'?(\w+)'?$/.exec(text);
  const act = m ? ACTIVATIONS[m[1]] : undefined;
  if (!act) bad(what, `activation_fn ${text} is not supported (${Object.keys(ACTIVATIONS).join(', ')} are)`);
  return act;
}

interface DeclaredArch {
  shared: number[];
  pi: number[] | null;
  vf: number[] | null;
  /** True when a list of ints could mean shared (SB3 < 2) or separate (SB3 >= 2) layers. */
  ambiguousList: boolean;
}

function intList(v: unknown, what: string, name: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && (x as number) > 0)) bad(what, `net_arch ${name} is ${JSON.stringify(v)}, not a list of layer widths`);
  return v as number[];
}

function readNetArch(kwargs: Json, what: string): DeclaredArch | null {
  const na = kwargs.net_arch;
  if (na === undefined || na === null) return null;
  if (isObj(na)) return { shared: [], pi: intList(na.pi ?? [], what, 'pi'), vf: intList(na.vf ?? [], what, 'vf'), ambiguousList: false };
  if (!Array.isArray(na)) bad(what, `net_arch is ${JSON.stringify(na)}`);
  const shared: number[] = [];
  let pi: number[] | null = null;
  let vf: number[] | null = null;
  for (const item of na) {
    if (Number.isInteger(item)) shared.push(item as number);
    else if (isObj(item)) {
      pi = intList(item.pi ?? [], what, 'pi');
      vf = intList(item.vf ?? [], what, 'vf');
    } else bad(what, `net_arch item ${JSON.stringify(item)}`);
  }
  return { shared, pi, vf, ambiguousList: pi === null };
}

/** The Linear layers of an nn.Sequential, in order; activations in between have no parameters. */
function sequential(sd: Map<string, Tensor>, prefix: string, used: Set<string>, what: string): Linear[] {
  const indices = new Set<number>();
  for (const k of sd.keys()) {
    if (!k.startsWith(`${prefix}.`)) continue;
    const m = /^(\d+)\.(weight|bias)$/.exec(k.slice(prefix.length + 1));
    if (!m) bad(what, `state-dict entry "${k}" is not a Linear layer's weight or bias; only MLP policies are supported`);
    indices.add(Number(m[1]));
  }
  const sorted = [...indices].sort((a, b) => a - b);
  sorted.forEach((idx, i) => {
    if (idx !== 2 * i) bad(what, `${prefix} has Linear layers at indices ${sorted.join(', ')}; an MLP alternates Linear and a parameter-free activation (0, 2, 4, ...)`);
  });
  return sorted.map((i) => linear(sd, `${prefix}.${i}`, used, what));
}

function linear(sd: Map<string, Tensor>, name: string, used: Set<string>, what: string): Linear {
  const w = sd.get(`${name}.weight`);
  const b = sd.get(`${name}.bias`);
  if (!w) bad(what, `state dict has no ${name}.weight`);
  if (!b) bad(what, `state dict has no ${name}.bias (a Linear layer without bias is not what SB3 builds)`);
  if (w.shape.length !== 2) bad(what, `${name}.weight has shape [${w.shape.join(', ')}], a Linear weight is [out, in]`);
  if (b.shape.length !== 1 || b.shape[0] !== w.shape[0]) bad(what, `${name}.bias has shape [${b.shape.join(', ')}] but the weight has ${w.shape[0]} outputs`);
  for (const t of [w, b]) for (const x of t.data) if (!Number.isFinite(x)) bad(what, `${name} holds a non-finite weight (${x}); the checkpoint diverged or is corrupt`);
  used.add(`${name}.weight`);
  used.add(`${name}.bias`);
  return { name, outSize: w.shape[0], inSize: w.shape[1], weight: w.data, bias: b.data };
}

function widths(layers: readonly Linear[]): number[] {
  return layers.map((l) => l.outSize);
}

function chain(layers: readonly Linear[], inSize: number, label: string, what: string): number {
  let size = inSize;
  for (const l of layers) {
    if (l.inSize !== size) bad(what, `${l.name}.weight takes ${l.inSize} inputs but ${label} gives it ${size}; the state dict's shapes do not fit together`);
    size = l.outSize;
  }
  return size;
}

function versionAtLeast(v: string, major: number): boolean {
  const m = /^(\d+)/.exec(v);
  return m !== null && Number(m[1]) >= major;
}

function lastObservations(data: Json, dim: number, what: string): { rows: number[][] | null; fromOriginal: boolean } {
  const orig = decodeArray(data._last_original_obs, `${what} _last_original_obs`);
  const arr = orig ?? decodeArray(data._last_obs, `${what} _last_obs`);
  if (!arr || arr.data.length === 0 || arr.data.length % dim !== 0) return { rows: null, fromOriginal: false };
  const rows: number[][] = [];
  for (let r = 0; r < arr.data.length / dim; r++) rows.push(Array.from(arr.data.subarray(r * dim, (r + 1) * dim)));
  return { rows, fromOriginal: orig !== null };
}

const SUPPORTED_CLASSES = ['ActorCriticPolicy', 'MlpPolicy'];

export function readPolicySpec(data: Json, sb3Version: string, sd: Map<string, Tensor>, what: string): PolicySpec {
  const policyClass = serializedGlobal(data.policy_class) ?? (isObj(data.policy_class) && typeof data.policy_class.__module__ === 'string' ? `${data.policy_class.__module__}.?` : 'unknown');
  const className = policyClass.split('.').pop() ?? '';
  if (!SUPPORTED_CLASSES.includes(className)) {
    bad(what, `policy class ${policyClass} is not supported; only the actor-critic MlpPolicy of PPO and A2C (stable_baselines3.common.policies.ActorCriticPolicy) is`);
  }
  const kwargsRaw = data.policy_kwargs;
  const kwargs: Json = isObj(kwargsRaw) ? kwargsRaw : {};
  if (kwargs.features_extractor_class !== undefined) {
    const fe = JSON.stringify(kwargs.features_extractor_class);
    if (!/FlattenExtractor/.test(fe)) bad(what, `features_extractor_class ${fe} is not supported; only the default FlattenExtractor is`);
  }
  const observation = readObsSpace(data, what);
  const action = readActionSpace(data, what);
  const activation = readActivation(kwargs, what);
  const useSde = data.use_sde === true;
  const squashOutput = kwargs.squash_output === true && useSde;

  const used = new Set<string>();
  const shared = sequential(sd, 'mlp_extractor.shared_net', used, what);
  const pi = sequential(sd, 'mlp_extractor.policy_net', used, what);
  const vf = sequential(sd, 'mlp_extractor.value_net', used, what);
  const actionNet = linear(sd, 'action_net', used, what);
  const valueNet = linear(sd, 'value_net', used, what);
  const logStd = sd.get('log_std');
  if (logStd) used.add('log_std');
  const unknown = [...sd.keys()].filter((k) => !used.has(k));
  if (unknown.length) bad(what, `state-dict entries ${unknown.slice(0, 8).join(', ')}${unknown.length > 8 ? ', ...' : ''} are not part of an MLP actor-critic; a custom network or feature extractor is not supported`);

  // Shapes must chain: obs -> shared -> (pi -> action_net, vf -> value_net).
  const afterShared = chain(shared, observation.dim, `the ${observation.dim}-value observation`, what);
  const latentPi = chain(pi, afterShared, 'the shared layers', what);
  const latentVf = chain(vf, afterShared, 'the shared layers', what);
  if (actionNet.inSize !== latentPi) bad(what, `action_net.weight takes ${actionNet.inSize} inputs but the policy trunk gives ${latentPi}`);
  if (valueNet.inSize !== latentVf) bad(what, `value_net.weight takes ${valueNet.inSize} inputs but the value trunk gives ${latentVf}`);
  if (valueNet.outSize !== 1) bad(what, `value_net has ${valueNet.outSize} outputs, a critic has 1`);
  const nOut = action.kind === 'discrete' ? action.n : action.dim;
  if (actionNet.outSize !== nOut) bad(what, `action_net has ${actionNet.outSize} outputs but the ${action.kind === 'discrete' ? `Discrete(${nOut})` : `${nOut}-dimensional Box`} action space needs ${nOut}`);
  if (action.kind === 'box') {
    if (!logStd) bad(what, 'a Box policy without log_std in its state dict');
    // gSDE: [latent, actions], or [latent, 1] with full_std=False.
    const lsOk = useSde ? logStd.shape.length === 2 && (logStd.shape[1] === action.dim || logStd.shape[1] === 1) : logStd.shape.length === 1 && logStd.shape[0] === action.dim;
    if (!lsOk) bad(what, `log_std has shape [${logStd.shape.join(', ')}], which does not fit ${useSde ? 'gSDE' : 'a diagonal Gaussian'} over ${action.dim} actions${useSde ? '' : ' (is use_sde missing from data?)'}`);
  }

  // The declared net_arch must match what is stored.
  const declared = readNetArch(kwargs, what);
  const got = { shared: widths(shared), pi: widths(pi), vf: widths(vf) };
  if (declared) {
    const eq = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
    const asShared = { shared: declared.shared, pi: declared.pi ?? [], vf: declared.vf ?? [] };
    const asSeparate = { shared: [], pi: declared.shared, vf: declared.shared };
    const candidates = declared.ambiguousList ? (versionAtLeast(sb3Version, 2) ? [asSeparate] : [asShared, asSeparate]) : [asShared];
    const ok = candidates.some((c) => eq(c.shared, got.shared) && eq(c.pi, got.pi) && eq(c.vf, got.vf));
    if (!ok) {
      const show = (c: { shared: readonly number[]; pi: readonly number[]; vf: readonly number[] }) => `shared [${c.shared.join(', ')}], pi [${c.pi.join(', ')}], vf [${c.vf.join(', ')}]`;
      bad(what, `the state dict's layers (${show(got)}) disagree with net_arch ${JSON.stringify(kwargs.net_arch)} in data (${candidates.map(show).join(' or ')}); the policy.pth belongs to another model or data was edited`);
    }
  }
  const last = lastObservations(data, observation.dim, what);
  const algorithm = 'clip_range' in data ? 'PPO' : 'rms_prop_eps' in data || 'normalize_advantage' in data ? 'A2C' : 'unknown';
  return {
    sb3Version,
    algorithm,
    policyClass,
    observation,
    action,
    activation,
    shared,
    pi,
    vf,
    actionNet,
    valueNet,
    useSde,
    squashOutput,
    scaleImages: observation.shape.length === 3 && observation.dtype === 'uint8' && kwargs.normalize_images !== false,
    netArch: got,
    lastObs: last.rows,
    lastObsFromOriginal: last.fromOriginal,
  };
}
