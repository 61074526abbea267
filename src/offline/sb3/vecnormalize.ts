/**
 * `vecnormalize.pkl`: a full pickle of SB3's VecNormalize wrapper. Only the observation
 * statistics are kept (obs_rms mean/var/count, clip_obs, epsilon, norm_obs); the wrapper,
 * the gym spaces in it and their RNG state are rebuilt as inert attribute bags, and any
 * global outside this allow-list is refused by name.
 */
import { MotobioError } from '../../util/errors.js';
import { NpArray, numpyGlobals } from './numpy.js';
import { INERT_CLASS, PyObject, unpickle, type GlobalHandler } from './pickle.js';

export interface ObsNormalization {
  readonly mean: Float64Array;
  readonly var: Float64Array;
  readonly count: number;
  readonly clipObs: number;
  readonly epsilon: number;
  readonly normObs: boolean;
}

const INERT = [
  'stable_baselines3.common.vec_env.vec_normalize.VecNormalize',
  'stable_baselines3.common.running_mean_std.RunningMeanStd',
  'numpy.random._pickle.__randomstate_ctor',
  'numpy.random._pickle.__bit_generator_ctor',
  'numpy.random._pickle.__generator_ctor',
  'numpy.random.mtrand.RandomState',
  'numpy.random._generator.Generator',
  'numpy.random._mt19937.MT19937',
  'numpy.random._pcg64.PCG64',
  'collections.OrderedDict',
  ...['gym', 'gymnasium'].flatMap((g) => ['box.Box', 'discrete.Discrete', 'multi_discrete.MultiDiscrete', 'multi_binary.MultiBinary', 'dict.Dict', 'tuple.Tuple'].map((s) => `${g}.spaces.${s}`)),
];

export function vecNormalizeGlobals(): Map<string, GlobalHandler> {
  return new Map<string, GlobalHandler>([...numpyGlobals(), ...INERT.map((n): [string, GlobalHandler] => [n, INERT_CLASS])]);
}

function num(o: PyObject, name: string, what: string, fallback?: number): number {
  const v = o.get(name);
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v === undefined && fallback !== undefined) return fallback;
  throw new MotobioError('MODEL_INVALID', `${what}: ${name} is ${v === undefined ? 'missing' : 'not a finite number'}; is this a VecNormalize save file?`);
}

export function readVecNormalize(bytes: Uint8Array, what: string, obsDim: number): ObsNormalization {
  const root = unpickle(bytes, { what, globals: vecNormalizeGlobals() });
  if (!(root instanceof PyObject) || !root.cls.endsWith('VecNormalize')) {
    throw new MotobioError('MODEL_INVALID', `${what}: not a pickled VecNormalize (found ${root instanceof PyObject ? root.cls : typeof root}); pass the file VecNormalize.save() wrote`);
  }
  const rms = root.get('obs_rms');
  if (!(rms instanceof PyObject)) {
    throw new MotobioError('MODEL_INVALID', `${what}: obs_rms is ${rms === undefined ? 'missing' : 'not a RunningMeanStd'}${rms && typeof rms === 'object' ? ' (a dict of statistics: Dict observation spaces are not supported)' : ''}`);
  }
  const mean = rms.get('mean');
  const variance = rms.get('var');
  if (!(mean instanceof NpArray) || !(variance instanceof NpArray)) throw new MotobioError('MODEL_INVALID', `${what}: obs_rms.mean / obs_rms.var are not numeric arrays`);
  const size = (a: NpArray) => a.data.length;
  if (size(mean) !== obsDim || size(variance) !== obsDim) {
    throw new MotobioError('MODEL_INVALID', `${what}: the observation statistics have ${size(mean)} means and ${size(variance)} variances but the policy takes ${obsDim} observations; this VecNormalize file belongs to another model`);
  }
  for (let i = 0; i < obsDim; i++) {
    if (!Number.isFinite(mean.data[i]) || !Number.isFinite(variance.data[i]) || variance.data[i] < 0) {
      throw new MotobioError('MODEL_INVALID', `${what}: observation ${i} has mean ${mean.data[i]} and variance ${variance.data[i]}; the statistics are corrupt`);
    }
  }
  const normObs = root.get('norm_obs');
  return {
    mean: mean.data,
    var: variance.data,
    count: num(rms, 'count', what, 0),
    clipObs: num(root, 'clip_obs', what),
    epsilon: num(root, 'epsilon', what, 1e-8),
    normObs: normObs === undefined ? true : normObs === true,
  };
}
