/**
 * Running an imported policy on rows of raw observations and comparing two runs: fp32 with a
 * PyTorch reference (error on logits/mean and value, actions), int8 with fp32 (Discrete:
 * share of equal actions; Box: largest and 99th-percentile action difference as a share of
 * the action range).
 */
import { loadOrt } from '../../inference/policy.js';
import { percentile } from '../../inference/validate.js';

export interface PolicyOutputs {
  readonly rows: number;
  /** Discrete: [rows] action numbers; Box: [rows * dim]. */
  readonly action: Float64Array;
  /** logits or mean, [rows * width]. */
  readonly head: Float32Array;
  readonly value: Float32Array;
}

export type ActionKind = { kind: 'discrete' } | { kind: 'box'; dim: number; range: readonly number[] };

/**
 * Runs the rows through a model. `oneByOne` runs each row as its own batch of 1, as the unit
 * does: dynamic int8 picks its activation scale per batch, so a big batch would measure a
 * different (coarser) quantization than the one the unit gets.
 */
export async function runPolicy(model: Uint8Array, obs: readonly (readonly number[])[], headName: 'logits' | 'mean', oneByOne = false): Promise<PolicyOutputs> {
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const width = obs[0].length;
    const batches = oneByOne ? obs.map((r) => [r]) : [obs];
    const action: number[] = [];
    const head: number[] = [];
    const value: number[] = [];
    for (const batch of batches) {
      const flat = new Float32Array(batch.length * width);
      batch.forEach((r, i) => flat.set(r, i * width));
      const out = await session.run({ obs: new ort.Tensor('float32', flat, [batch.length, width]) }, ['action', headName, 'value']);
      const a = out.action.data;
      for (const v of a as Iterable<number | bigint>) action.push(Number(v));
      for (const v of out[headName].data as Float32Array) head.push(v);
      for (const v of out.value.data as Float32Array) value.push(v);
    }
    return { rows: obs.length, action: Float64Array.from(action), head: Float32Array.from(head), value: Float32Array.from(value) };
  } finally {
    await session.release();
  }
}

/** |a - b| up to magnitude 1, relative to |b| beyond (the tolerance rule). */
export function scaledError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i]));
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

export interface ActionAgreement {
  readonly rows: number;
  /** Discrete: rows with the same action. */
  readonly equal?: number;
  readonly share?: number;
  /** Box: |diff| / range over every row and dimension. */
  readonly maxShareOfRange?: number;
  readonly p99ShareOfRange?: number;
  readonly ok: boolean;
}

export const MIN_DISCRETE_AGREEMENT = 0.99;
export const MAX_BOX_P99_SHARE = 0.02;

export function compareActions(kind: ActionKind, a: Float64Array, b: Float64Array, rows: number): ActionAgreement {
  if (kind.kind === 'discrete') {
    let equal = 0;
    for (let i = 0; i < rows; i++) if (a[i] === b[i]) equal++;
    const share = equal / rows;
    return { rows, equal, share, ok: share >= MIN_DISCRETE_AGREEMENT };
  }
  const shares: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let d = 0; d < kind.dim; d++) {
      const i = r * kind.dim + d;
      shares.push(Math.abs(a[i] - b[i]) / kind.range[d]);
    }
  }
  shares.sort((x, y) => x - y);
  const p99 = percentile(shares, 0.99);
  return { rows, maxShareOfRange: shares[shares.length - 1], p99ShareOfRange: p99, ok: p99 <= MAX_BOX_P99_SHARE };
}

/** The action range per dimension: high - low, or the fp32 actions' spread where a bound is infinite. */
export function actionRange(low: readonly number[], high: readonly number[], fp32Actions: Float64Array): number[] {
  const dim = low.length;
  return low.map((lo, d) => {
    const r = high[d] - lo;
    if (Number.isFinite(r) && r > 0) return r;
    let min = Infinity;
    let max = -Infinity;
    for (let i = d; i < fp32Actions.length; i += dim) {
      min = Math.min(min, fp32Actions[i]);
      max = Math.max(max, fp32Actions[i]);
    }
    return max > min ? max - min : 1;
  });
}
