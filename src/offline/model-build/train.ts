/**
 * A small, deterministic MLP trainer (tanh hidden layers, softmax output, class-weighted
 * cross-entropy, Adam). Enough to fit the bootstrap policy to its teacher in seconds; the
 * real policy comes from the server team's PPO training.
 */
import type { DenseLayer } from '../../inference/onnx/mlp.js';

export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TrainOptions {
  readonly hidden: readonly number[];
  readonly epochs: number;
  readonly batch: number;
  readonly lr: number;
  readonly seed: number;
  readonly weightDecay?: number;
  /** Gaussian noise added to normalised inputs while training: a smoother policy loses fewer actions to int8 rounding. */
  readonly inputNoise?: number;
  readonly log?: (line: string) => void;
}

interface Layer {
  w: Float64Array; // [out][in]
  b: Float64Array;
  inSize: number;
  outSize: number;
  mw: Float64Array;
  vw: Float64Array;
  mb: Float64Array;
  vb: Float64Array;
  gw: Float64Array;
  gb: Float64Array;
}

export class Mlp {
  readonly layers: Layer[];

  constructor(sizes: readonly number[], rnd: () => number) {
    this.layers = [];
    for (let i = 0; i + 1 < sizes.length; i++) {
      const inSize = sizes[i];
      const outSize = sizes[i + 1];
      const a = Math.sqrt(6 / (inSize + outSize));
      const w = new Float64Array(inSize * outSize).map(() => (2 * rnd() - 1) * a);
      const z = () => new Float64Array(inSize * outSize);
      const zb = () => new Float64Array(outSize);
      this.layers.push({ w, b: zb(), inSize, outSize, mw: z(), vw: z(), mb: zb(), vb: zb(), gw: z(), gb: zb() });
    }
  }

  /** Activations of every layer (input first, probabilities last). */
  forward(x: ArrayLike<number>): Float64Array[] {
    const acts: Float64Array[] = [Float64Array.from(x)];
    this.layers.forEach((l, li) => {
      const h = acts[acts.length - 1];
      const out = new Float64Array(l.outSize);
      for (let o = 0; o < l.outSize; o++) {
        let s = l.b[o];
        const row = o * l.inSize;
        for (let k = 0; k < l.inSize; k++) s += l.w[row + k] * h[k];
        out[o] = s;
      }
      if (li < this.layers.length - 1) for (let o = 0; o < out.length; o++) out[o] = Math.tanh(out[o]);
      else {
        let m = -Infinity;
        for (const v of out) m = Math.max(m, v);
        let z = 0;
        for (let o = 0; o < out.length; o++) z += out[o] = Math.exp(out[o] - m);
        for (let o = 0; o < out.length; o++) out[o] /= z;
      }
      acts.push(out);
    });
    return acts;
  }

  predict(x: ArrayLike<number>): number {
    const p = this.forward(x)[this.layers.length];
    let best = 0;
    for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
    return best;
  }

  accumulate(acts: Float64Array[], label: number, weight: number): number {
    const L = this.layers.length;
    const p = acts[L];
    let delta = Float64Array.from(p);
    delta[label] -= 1;
    for (let o = 0; o < delta.length; o++) delta[o] *= weight;
    for (let li = L - 1; li >= 0; li--) {
      const l = this.layers[li];
      const h = acts[li];
      for (let o = 0; o < l.outSize; o++) {
        const d = delta[o];
        l.gb[o] += d;
        const row = o * l.inSize;
        for (let k = 0; k < l.inSize; k++) l.gw[row + k] += d * h[k];
      }
      if (li > 0) {
        const prev = new Float64Array(l.inSize);
        for (let o = 0; o < l.outSize; o++) {
          const d = delta[o];
          const row = o * l.inSize;
          for (let k = 0; k < l.inSize; k++) prev[k] += l.w[row + k] * d;
        }
        for (let k = 0; k < prev.length; k++) prev[k] *= 1 - h[k] * h[k];
        delta = prev;
      }
    }
    return -Math.log(Math.max(p[label], 1e-12)) * weight;
  }

  applyAdam(lr: number, t: number, n: number, wd: number): void {
    const b1 = 0.9;
    const b2 = 0.999;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    for (const l of this.layers) {
      for (const [p, g, m, v, decay] of [
        [l.w, l.gw, l.mw, l.vw, wd],
        [l.b, l.gb, l.mb, l.vb, 0],
      ] as const) {
        for (let i = 0; i < p.length; i++) {
          const gi = g[i] / n + decay * p[i];
          m[i] = b1 * m[i] + (1 - b1) * gi;
          v[i] = b2 * v[i] + (1 - b2) * gi * gi;
          p[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + 1e-8);
          g[i] = 0;
        }
      }
    }
  }

  /**
   * Rounds every weight to the grid the int8 quantizer will use (symmetric, per output channel,
   * ±qmax), so the fp32 reference and its int8 form share exactly the same weights and differ
   * only by activation rounding.
   */
  snapToInt8Grid(qmax: number): void {
    for (const l of this.layers) {
      for (let o = 0; o < l.outSize; o++) {
        let max = 0;
        for (let k = 0; k < l.inSize; k++) max = Math.max(max, Math.abs(l.w[o * l.inSize + k]));
        const s = max > 0 ? max / qmax : 1;
        for (let k = 0; k < l.inSize; k++) l.w[o * l.inSize + k] = Math.max(-qmax, Math.min(qmax, Math.round(l.w[o * l.inSize + k] / s))) * s;
      }
    }
  }

  toDense(): DenseLayer[] {
    return this.layers.map((l) => ({ weight: Float32Array.from(l.w), bias: Float32Array.from(l.b), inSize: l.inSize, outSize: l.outSize }));
  }
}

/** Fits an MLP to (x, y); class weights 1/sqrt(frequency) so rare cues are not ignored. */
export function train(xs: readonly Float32Array[], ys: readonly number[], classes: number, opts: TrainOptions): Mlp {
  const rnd = mulberry32(opts.seed);
  const mlp = new Mlp([xs[0].length, ...opts.hidden, classes], rnd);
  const counts = new Array<number>(classes).fill(0);
  for (const y of ys) counts[y]++;
  const cw = counts.map((c) => (c > 0 ? Math.sqrt(ys.length / (classes * c)) : 0));
  const order = xs.map((_, i) => i);
  const sigma = opts.inputNoise ?? 0;
  const noisy = (x: Float32Array): Float32Array => {
    if (sigma === 0) return x;
    const out = Float32Array.from(x);
    for (let i = 0; i < out.length; i++) out[i] += sigma * Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
    return out;
  };
  let t = 0;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    // Step decay: settle into a minimum for the last third.
    const lr = epoch < (opts.epochs * 2) / 3 ? opts.lr : opts.lr / 5;
    let loss = 0;
    for (let s = 0; s < order.length; s += opts.batch) {
      const end = Math.min(order.length, s + opts.batch);
      for (let k = s; k < end; k++) {
        const i = order[k];
        loss += mlp.accumulate(mlp.forward(noisy(xs[i])), ys[i], cw[ys[i]]);
      }
      mlp.applyAdam(lr, ++t, end - s, opts.weightDecay ?? 1e-5);
    }
    if (opts.log && (epoch % 10 === 9 || epoch === opts.epochs - 1)) opts.log(`epoch ${epoch + 1}: loss ${(loss / order.length).toFixed(4)}`);
  }
  return mlp;
}
