/**
 * O(1)-per-sample linear-phase building blocks. Every filter in the chain is a cascade of
 * boxcars (running sums), so each has an exact integer group delay of (L-1)/2 samples: the
 * chain's delay is known at construction and beats map back onto the input timeline exactly.
 * Lengths are given in seconds and rounded to odd sample counts, which is what makes the
 * chain sample-rate independent.
 */

export function oddLength(seconds: number, fs: number, min = 1): number {
  const n = Math.max(min, Math.round(seconds * fs));
  return n % 2 === 1 ? n : n + 1;
}

/** Running mean over the last `length` samples; group delay (length-1)/2. */
export class MovingAverage {
  readonly length: number;
  readonly delay: number;
  private readonly buf: Float64Array;
  private pos = 0;
  private sum = 0;
  // Running sums drift by rounding; re-summing once per lap of the buffer keeps hours-long
  // streams exact at a cost of one extra add per sample.
  private fresh = 0;

  constructor(length: number) {
    if (!Number.isInteger(length) || length < 1) throw new RangeError(`moving average length must be a positive integer, got ${length}`);
    this.length = length;
    this.delay = (length - 1) / 2;
    this.buf = new Float64Array(length);
  }

  step(x: number): number {
    const pos = this.pos;
    const old = this.buf[pos];
    this.buf[pos] = x;
    this.fresh += x;
    if (pos + 1 === this.length) {
      // One lap done: the exact sum of the buffer is what was added during the lap.
      this.pos = 0;
      this.sum = this.fresh;
      this.fresh = 0;
    } else {
      this.pos = pos + 1;
      this.sum += x - old;
    }
    return this.sum / this.length;
  }

  /** `step` over `src[0..len)` into `dst` (which may be `src`): the same arithmetic, no call per sample. */
  run(src: Float64Array, dst: Float64Array, len: number): void {
    const buf = this.buf;
    const length = this.length;
    let pos = this.pos;
    let sum = this.sum;
    let fresh = this.fresh;
    for (let i = 0; i < len; i++) {
      const x = src[i];
      const old = buf[pos];
      buf[pos] = x;
      fresh += x;
      if (pos + 1 === length) {
        pos = 0;
        sum = fresh;
        fresh = 0;
      } else {
        pos = pos + 1;
        sum += x - old;
      }
      dst[i] = sum / length;
    }
    this.pos = pos;
    this.sum = sum;
    this.fresh = fresh;
  }

  /** Fills the window with `x`, so a stream that starts at a DC offset does not ring. */
  prime(x: number): void {
    this.buf.fill(x);
    this.sum = x * this.length;
    this.fresh = x * this.pos;
  }
}

/** Fixed delay of `n` samples, used to line one branch up with a slower one. */
export class DelayLine {
  private readonly buf: Float64Array;
  private pos = 0;
  constructor(readonly n: number) {
    this.buf = new Float64Array(Math.max(1, n));
  }
  step(x: number): number {
    if (this.n === 0) return x;
    const out = this.buf[this.pos];
    this.buf[this.pos] = x;
    this.pos = this.pos + 1 === this.n ? 0 : this.pos + 1;
    return out;
  }
  /** `step` over `src[0..len)` into `dst` (which may be `src`). */
  run(src: Float64Array, dst: Float64Array, len: number): void {
    if (this.n === 0) {
      if (dst !== src) dst.set(src.subarray(0, len));
      return;
    }
    const buf = this.buf;
    const n = this.n;
    let pos = this.pos;
    for (let i = 0; i < len; i++) {
      const x = src[i];
      dst[i] = buf[pos];
      buf[pos] = x;
      pos = pos + 1 === n ? 0 : pos + 1;
    }
    this.pos = pos;
  }
  prime(x: number): void {
    this.buf.fill(x);
  }
}

/**
 * High-pass as "signal minus its centred moving average": linear phase, delay (L-1)/2.
 * Two passes of the average make the stop band steeper (-26 dB side lobes instead of -13).
 */
export class BaselineRemover {
  readonly delay: number;
  private readonly a: MovingAverage;
  private readonly b: MovingAverage;
  private readonly d: DelayLine;
  private primed = false;

  constructor(length: number) {
    this.a = new MovingAverage(length);
    this.b = new MovingAverage(length);
    this.delay = this.a.delay + this.b.delay;
    this.d = new DelayLine(this.delay);
  }

  step(x: number): number {
    if (!this.primed) {
      this.a.prime(x);
      this.b.prime(x);
      this.d.prime(x);
      this.primed = true;
    }
    return this.d.step(x) - this.b.step(this.a.step(x));
  }

  /** `step` over `src[0..len)` into `dst`; `tmp` is scratch of at least `len`. `dst` must differ from `src`. */
  run(src: Float64Array, dst: Float64Array, tmp: Float64Array, len: number): void {
    if (len === 0) return;
    if (!this.primed) {
      const x = src[0];
      this.a.prime(x);
      this.b.prime(x);
      this.d.prime(x);
      this.primed = true;
    }
    this.a.run(src, tmp, len);
    this.b.run(tmp, tmp, len);
    this.d.run(src, dst, len);
    for (let i = 0; i < len; i++) dst[i] -= tmp[i];
  }
}

/** Cascade of `stages` equal boxcars: a cheap low-pass with a sinc^k response. */
export class BoxcarLowpass {
  readonly delay: number;
  private readonly stages: MovingAverage[];
  private primed = false;
  constructor(length: number, stages = 2) {
    this.stages = Array.from({ length: stages }, () => new MovingAverage(length));
    this.delay = this.stages.reduce((d, s) => d + s.delay, 0);
  }
  step(x: number): number {
    if (!this.primed) {
      for (const s of this.stages) s.prime(x);
      this.primed = true;
    }
    const st = this.stages;
    let y = x;
    for (let i = 0; i < st.length; i++) y = st[i].step(y);
    return y;
  }

  /** `step` over `src[0..len)` into `dst` (which may be `src`). */
  run(src: Float64Array, dst: Float64Array, len: number): void {
    if (len === 0) return;
    if (!this.primed) {
      for (const s of this.stages) s.prime(src[0]);
      this.primed = true;
    }
    let from = src;
    for (const s of this.stages) {
      s.run(from, dst, len);
      from = dst;
    }
  }
}
