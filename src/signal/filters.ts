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

/**
 * A running sum over the last `length` samples. Kept as plain state so that fused loops
 * (SlopeBand, BaselineRemover.run) step several of them with MovingAverage's exact arithmetic.
 */
export interface Boxcar {
  readonly buf: Float64Array;
  readonly length: number;
  pos: number;
  sum: number;
  // Running sums drift by rounding; re-summing once per lap of the buffer keeps hours-long
  // streams exact at a cost of one extra add per sample.
  fresh: number;
}

export function boxcar(length: number): Boxcar {
  if (!Number.isInteger(length) || length < 1) throw new RangeError(`moving average length must be a positive integer, got ${length}`);
  return { buf: new Float64Array(length), length, pos: 0, sum: 0, fresh: 0 };
}

/** Fills the window with `x`, so a stream that starts at a DC offset does not ring. */
export function primeBoxcar(b: Boxcar, x: number): void {
  b.buf.fill(x);
  b.sum = x * b.length;
  b.fresh = x * b.pos;
}

/** Running mean over the last `length` samples; group delay (length-1)/2. */
export class MovingAverage {
  readonly length: number;
  readonly delay: number;
  private readonly s: Boxcar;
  private readonly one = new Float64Array(1);

  constructor(length: number) {
    this.s = boxcar(length);
    this.length = length;
    this.delay = (length - 1) / 2;
  }

  step(x: number): number {
    this.one[0] = x;
    this.run(this.one, this.one, 1);
    return this.one[0];
  }

  /** `step` over `src[0..len)` into `dst` (which may be `src`): the same arithmetic, no call per sample. */
  run(src: Float64Array, dst: Float64Array, len: number): void {
    const s = this.s;
    const buf = s.buf;
    const length = s.length;
    let pos = s.pos;
    let sum = s.sum;
    let fresh = s.fresh;
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
    s.pos = pos;
    s.sum = sum;
    s.fresh = fresh;
  }

  prime(x: number): void {
    primeBoxcar(this.s, x);
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
  private readonly a: Boxcar;
  private readonly b: Boxcar;
  private readonly d: DelayLine;
  private primed = false;
  private readonly one = new Float64Array(1);
  private readonly oneOut = new Float64Array(1);

  constructor(length: number) {
    this.a = boxcar(length);
    this.b = boxcar(length);
    this.delay = length - 1;
    this.d = new DelayLine(this.delay);
  }

  step(x: number): number {
    this.one[0] = x;
    this.run(this.one, this.oneOut, 1);
    return this.oneOut[0];
  }

  private prime(x: number): void {
    if (this.primed) return;
    primeBoxcar(this.a, x);
    primeBoxcar(this.b, x);
    this.d.prime(x);
    this.primed = true;
  }

  /**
   * `step` over `src[0..len)` into `dst`, both boxcars fused in one loop (their running sums
   * overlap instead of queueing pass after pass). `dst` must differ from `src`.
   */
  run(src: Float64Array, dst: Float64Array, len: number): void {
    if (len === 0) return;
    this.prime(src[0]);
    this.d.run(src, dst, len);
    const a = this.a;
    const b = this.b;
    const aBuf = a.buf;
    const bBuf = b.buf;
    const length = a.length;
    let aPos = a.pos;
    let aSum = a.sum;
    let aFresh = a.fresh;
    let bPos = b.pos;
    let bSum = b.sum;
    let bFresh = b.fresh;
    for (let i = 0; i < len; i++) {
      const x = src[i];
      const aOld = aBuf[aPos];
      aBuf[aPos] = x;
      aFresh += x;
      if (aPos + 1 === length) {
        aPos = 0;
        aSum = aFresh;
        aFresh = 0;
      } else {
        aPos++;
        aSum += x - aOld;
      }
      const y = aSum / length;
      const bOld = bBuf[bPos];
      bBuf[bPos] = y;
      bFresh += y;
      if (bPos + 1 === length) {
        bPos = 0;
        bSum = bFresh;
        bFresh = 0;
      } else {
        bPos++;
        bSum += y - bOld;
      }
      dst[i] -= bSum / length;
    }
    a.pos = aPos;
    a.sum = aSum;
    a.fresh = aFresh;
    b.pos = bPos;
    b.sum = bSum;
    b.fresh = bFresh;
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
