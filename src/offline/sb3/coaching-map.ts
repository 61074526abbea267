/**
 * The coaching map: how the unit feeds an imported policy and what its actions mean.
 *
 *   MAP.json ─▶ observations[i] = {feature, transform, scale, offset, fill, required}
 *                 obs[i] = scale * T(feature value) + offset        (T = none | log1p)
 *            ─▶ actions: Discrete: cue per action index (several indices may share a cue)
 *                        Box: one action dimension cut at ascending thresholds into cues
 *
 * Without a map a model is generic and the daemon will not coach with it. With one, every
 * observation must be a feature the unit computes (src/inference/features.ts), or the
 * import is refused naming the ones it cannot produce.
 */
import { MotobioError } from '../../util/errors.js';
import { ACTIONS, KNOWN_FEATURES, isAction, type Action, type FeatureSpec } from '../../inference/features.js';
import { DataType, intAttr, node, type ModelProto, type NodeProto, type TensorProto } from '../../inference/onnx/model.js';
import { floatTensor } from '../../inference/onnx/model.js';
import { int64Tensor } from './export-onnx.js';
import type { PolicySpec } from './policy-spec.js';

export interface MapObservation {
  readonly index: number;
  readonly feature: string;
  readonly transform?: 'none' | 'log1p';
  readonly scale?: number;
  readonly offset?: number;
  readonly fill: number;
  readonly required?: boolean;
  readonly unit?: string;
}

export type CueHead =
  | { readonly kind: 'discrete'; readonly cueOf: readonly Action[] }
  | { readonly kind: 'box'; readonly index: number; readonly thresholds: readonly number[]; readonly cues: readonly Action[] };

export interface CoachingMap {
  readonly features: FeatureSpec[];
  /** Cues in the order of the model's `cue_probs` output. */
  readonly cues: Action[];
  readonly head: CueHead;
  readonly maxMissing: number;
}

/** Normalised values are not clipped by the unit: VecNormalize (in the graph) does that. */
const NO_CLIP = 1e9;

function bad(where: string, msg: string): never {
  throw new MotobioError('MODEL_INVALID', `${where}: ${msg}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const UNITS: Record<string, string> = {
  hr_bpm: 'bpm', hr_above_rest_bpm: 'bpm', hr_slope_bpm_per_min: 'bpm/min', rmssd_ms: 'ms', sdnn_ms: 'ms', pnn50: 'fraction', lf_hf: 'ratio',
  quality: '0..1', ectopic_share: 'fraction', minutes_riding: 'min', minutes_since_cue: 'min',
};

export function parseCoachingMap(json: unknown, spec: PolicySpec, where: string): CoachingMap {
  if (!isObj(json)) bad(where, 'the map is not a JSON object with "observations" and "actions"');
  const obs = json.observations;
  if (!Array.isArray(obs)) bad(where, '"observations" must be an array of {index, feature, fill, ...}');
  const D = spec.observation.dim;
  const byIndex = new Map<number, MapObservation>();
  const problems: string[] = [];
  const cannot: string[] = [];
  obs.forEach((o: unknown, i) => {
    if (!isObj(o)) return problems.push(`observations[${i}] is not an object`);
    const index = typeof o.index === 'number' ? o.index : i;
    if (!Number.isInteger(index) || index < 0 || index >= D) return problems.push(`observations[${i}].index ${String(o.index)} is outside the model's ${D} observations`);
    if (byIndex.has(index)) return problems.push(`observation ${index} is mapped twice`);
    if (typeof o.feature !== 'string') return problems.push(`observation ${index} has no "feature"`);
    if (!KNOWN_FEATURES.includes(o.feature)) cannot.push(`observation ${index} = "${o.feature}"`);
    const scale = o.scale ?? 1;
    const offset = o.offset ?? 0;
    if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) problems.push(`observation ${index}: scale must be a positive number, got ${JSON.stringify(o.scale)}`);
    if (typeof offset !== 'number' || !Number.isFinite(offset)) problems.push(`observation ${index}: offset must be a number, got ${JSON.stringify(o.offset)}`);
    if (o.transform !== undefined && o.transform !== 'none' && o.transform !== 'log1p') problems.push(`observation ${index}: transform must be "none" or "log1p", got ${JSON.stringify(o.transform)}`);
    if (typeof o.fill !== 'number' || !Number.isFinite(o.fill)) problems.push(`observation ${index} ("${o.feature}"): "fill" (the raw value used when the unit cannot compute it) is required`);
    byIndex.set(index, o as unknown as MapObservation);
  });
  if (cannot.length) {
    bad(where, `the model needs observations the unit cannot produce: ${cannot.join(', ')}. The unit computes ${KNOWN_FEATURES.join(', ')} (docs/inference.md, "Training contract"); retrain on those or fix the map`);
  }
  const unmapped = Array.from({ length: D }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (unmapped.length) problems.push(`observations ${unmapped.join(', ')} of the model's ${D} have no feature in the map`);
  const features: FeatureSpec[] = [];
  for (let i = 0; i < D && problems.length === 0; i++) {
    const o = byIndex.get(i)!;
    const scale = o.scale ?? 1;
    const offset = o.offset ?? 0;
    // The unit computes (T(x) - mean) / std: scale * T(x) + offset is that with std = 1/scale.
    features.push({
      name: o.feature,
      unit: o.unit ?? UNITS[o.feature] ?? (o.feature.startsWith('last_action_') ? 'one-hot' : ''),
      transform: o.transform ?? 'none',
      mean: -offset / scale,
      std: 1 / scale,
      clip: NO_CLIP,
      fill: o.fill,
      ...(o.required ? { required: true } : {}),
    });
  }
  const head = parseHead(json.actions, spec, problems);
  const maxMissing = json.maxMissing ?? 0;
  if (typeof maxMissing !== 'number' || !Number.isInteger(maxMissing) || maxMissing < 0) problems.push(`"maxMissing" must be a non-negative integer, got ${JSON.stringify(json.maxMissing)}`);
  if (problems.length || !head) bad(where, problems.join('; '));
  const cues = head.kind === 'discrete' ? [...new Set(head.cueOf)] : [...new Set(head.cues)];
  if (!cues.includes('none')) bad(where, 'no action means "none": the unit must be able to stay silent; map at least one action to "none"');
  return { features, cues, head, maxMissing: maxMissing as number };
}

function cue(v: unknown, what: string, problems: string[]): Action {
  if (typeof v === 'string' && isAction(v)) return v;
  problems.push(`${what} is ${JSON.stringify(v)}, not a cue the unit can deliver (${ACTIONS.join(', ')})`);
  return 'none';
}

function parseHead(actions: unknown, spec: PolicySpec, problems: string[]): CueHead | null {
  if (spec.action.kind === 'discrete') {
    const n = spec.action.n;
    const list = Array.isArray(actions) ? actions : isObj(actions) ? Array.from({ length: n }, (_, i) => actions[String(i + (spec.action.kind === 'discrete' ? spec.action.start : 0))]) : null;
    if (!list || list.length !== n) {
      problems.push(`"actions" must give a cue for each of the ${n} discrete actions (an array, or an object keyed by action number), got ${JSON.stringify(actions)}`);
      return null;
    }
    return { kind: 'discrete', cueOf: list.map((c, i) => cue(c, `action ${i}`, problems)) };
  }
  if (!isObj(actions) || !Array.isArray(actions.cues)) {
    problems.push('a Box policy\'s "actions" must be {"index": action dimension, "cues": [{"below": x, "cue": ...}, ..., {"cue": ...}]}');
    return null;
  }
  const index = actions.index ?? 0;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= spec.action.dim) {
    problems.push(`actions.index ${JSON.stringify(actions.index)} is not one of the model's ${spec.action.dim} action dimensions`);
    return null;
  }
  const thresholds: number[] = [];
  const cues: Action[] = [];
  actions.cues.forEach((c: unknown, i: number, all: unknown[]) => {
    if (!isObj(c)) return problems.push(`actions.cues[${i}] is not an object`);
    cues.push(cue(c.cue, `actions.cues[${i}].cue`, problems));
    const last = i === all.length - 1;
    if (last) {
      if (c.below !== undefined) problems.push('the last of actions.cues takes every value above the others and has no "below"');
    } else if (typeof c.below !== 'number' || !Number.isFinite(c.below)) problems.push(`actions.cues[${i}].below must be a number`);
    else if (thresholds.length && c.below <= thresholds[thresholds.length - 1]) problems.push('actions.cues "below" thresholds must rise');
    else thresholds.push(c.below);
  });
  if (cues.length < 2) problems.push('a Box map needs at least two cues');
  if (new Set(cues).size !== cues.length) problems.push('each cue may appear once in a Box map');
  return { kind: 'box', index, thresholds, cues };
}

/**
 * Adds `cue_probs` [batch, cues]: for Discrete the policy's probabilities summed per cue,
 * for Box a one-hot of the interval the chosen action value falls in. Built from ops the
 * quantizer leaves alone, so the cue head is exact in the int8 model too.
 */
export function appendCueHead(model: ModelProto, map: CoachingMap): ModelProto {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const k = map.cues.length;
  const head = map.head;
  if (head.kind === 'discrete') {
    const identity = head.cueOf.length === k && head.cueOf.every((c, i) => map.cues[i] === c);
    if (identity) nodes.push(node('Identity', ['probs'], ['cue_probs'], 'cue_probs_Identity'));
    else {
      const parts = map.cues.map((c, j) => {
        const idx = head.cueOf.flatMap((x, i) => (x === c ? [i] : []));
        inits.push(int64Tensor(`cue${j}_indices`, [idx.length], idx));
        inits.push(int64Tensor(`cue${j}_axes`, [1], [1]));
        nodes.push(node('Gather', ['probs', `cue${j}_indices`], [`cue${j}_probs`], `cue${j}_Gather`, [intAttr('axis', 1)]));
        nodes.push(node('ReduceSum', [`cue${j}_probs`, `cue${j}_axes`], [`cue${j}_sum`], `cue${j}_ReduceSum`, [intAttr('keepdims', 1)]));
        return `cue${j}_sum`;
      });
      nodes.push(node('Concat', parts, ['cue_probs'], 'cue_probs_Concat', [intAttr('axis', 1)]));
    }
  } else {
    // c_0 = 1, c_j = [a >= t_j], c_k = 0; cue i gets c_i - c_{i+1}.
    inits.push(int64Tensor('cue_action_index', [], [head.index]));
    inits.push(int64Tensor('cue_column', [2], [-1, 1]));
    inits.push(floatTensor('cue_thresholds', [head.thresholds.length], head.thresholds));
    inits.push(int64Tensor('cue_pad_left', [4], [0, 1, 0, 0]));
    inits.push(int64Tensor('cue_pad_right', [4], [0, 0, 0, 1]));
    inits.push(floatTensor('cue_one', [], [1]));
    inits.push(floatTensor('cue_zero', [], [0]));
    nodes.push(node('Gather', ['action', 'cue_action_index'], ['cue_value'], 'cue_Gather', [intAttr('axis', 1)]));
    nodes.push(node('Reshape', ['cue_value', 'cue_column'], ['cue_value_col'], 'cue_Reshape'));
    nodes.push(node('GreaterOrEqual', ['cue_value_col', 'cue_thresholds'], ['cue_ge'], 'cue_GreaterOrEqual'));
    nodes.push(node('Cast', ['cue_ge'], ['cue_step'], 'cue_Cast', [intAttr('to', DataType.FLOAT)]));
    nodes.push(node('Pad', ['cue_step', 'cue_pad_left', 'cue_one'], ['cue_upper'], 'cue_PadLeft'));
    nodes.push(node('Pad', ['cue_step', 'cue_pad_right', 'cue_zero'], ['cue_lower'], 'cue_PadRight'));
    nodes.push(node('Sub', ['cue_upper', 'cue_lower'], ['cue_probs'], 'cue_Sub'));
  }
  return {
    ...model,
    graph: {
      ...model.graph,
      nodes: [...model.graph.nodes, ...nodes],
      initializers: [...model.graph.initializers, ...inits],
      outputs: [...model.graph.outputs, { name: 'cue_probs', elemType: DataType.FLOAT, shape: ['batch', k] }],
    },
  };
}
