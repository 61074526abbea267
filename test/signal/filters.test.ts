import { describe, expect, it } from 'vitest';
import { BaselineRemover, BoxcarLowpass, DelayLine, MovingAverage, oddLength } from '../../src/signal/filters.js';
import { SlopeBand } from '../../src/signal/slope-band.js';
import { QualityIndex } from '../../src/signal/quality.js';

/** Deterministic pseudo-random signal with a DC offset, so priming matters. */
function signal(n: number, seed = 1): Float64Array {
  const out = new Float64Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = 1.5 + Math.sin(i / 17) + s / 2147483648 - 0.5;
  }
  return out;
}

/** Runs `run` over blocks of the given sizes, cycling through them. */
function blocks(x: Float64Array, sizes: number[], run: (src: Float64Array, dst: Float64Array, len: number) => void): Float64Array {
  const out = new Float64Array(x.length);
  let k = 0;
  for (let i = 0; i < x.length; ) {
    const len = Math.min(sizes[k++ % sizes.length], x.length - i);
    const src = x.slice(i, i + len);
    const dst = new Float64Array(len);
    run(src, dst, len);
    out.set(dst, i);
    i += len;
  }
  return out;
}

describe('block filtering (run) is the per-sample filter (step), bit for bit', () => {
  const x = signal(5000);
  const sizes = [1, 7, 512, 333, 2];

  it('MovingAverage, across the lap that re-sums the buffer', () => {
    const a = new MovingAverage(37);
    const b = new MovingAverage(37);
    a.prime(x[0]);
    b.prime(x[0]);
    const ref = x.map((v) => a.step(v));
    expect(blocks(x, sizes, (s, d, n) => b.run(s, d, n))).toEqual(ref);
  });

  it('DelayLine, including a zero delay', () => {
    for (const n of [0, 1, 18]) {
      const a = new DelayLine(n);
      const b = new DelayLine(n);
      const ref = x.map((v) => a.step(v));
      expect(blocks(x, sizes, (s, d, len) => b.run(s, d, len))).toEqual(ref);
    }
  });

  it('BoxcarLowpass and BaselineRemover, which prime themselves on their first sample', () => {
    const a = new BoxcarLowpass(9, 2);
    const b = new BoxcarLowpass(9, 2);
    expect(blocks(x, sizes, (s, d, n) => b.run(s, d, n))).toEqual(x.map((v) => a.step(v)));
    // BaselineRemover runs its two boxcars fused; the reference is the plain composition.
    const ma = new MovingAverage(109);
    const mb = new MovingAverage(109);
    const dl = new DelayLine(108);
    ma.prime(x[0]);
    mb.prime(x[0]);
    dl.prime(x[0]);
    const ref = x.map((v) => dl.step(v) - mb.step(ma.step(v)));
    const c = new BaselineRemover(109);
    const e = new BaselineRemover(109);
    expect(blocks(x, sizes, (s, d, n) => e.run(s, d, n))).toEqual(ref);
    expect(x.map((v) => c.step(v))).toEqual(ref);
  });

  it('SlopeBand, fused, is boxcar² low-pass, centred high-pass and |lagged difference| in sequence', () => {
    const fs = 360;
    const options = { lowpassS: 0.02, highpassS: 0.1, lagS: 0.005 };
    const band = new SlopeBand(fs, options);
    const lp = new BoxcarLowpass(oddLength(options.lowpassS, fs, 3), 2);
    const avgLen = oddLength(options.highpassS, fs, 3);
    const avg = new MovingAverage(avgLen);
    const centre = new DelayLine((avgLen - 1) / 2);
    const k = Math.round(options.lagS * fs);
    const lag = new DelayLine(2 * k);
    avg.prime(x[0]);
    centre.prime(x[0]);
    const refLow: number[] = [];
    const refSlope: number[] = [];
    for (const v of x) {
      const l = lp.step(v);
      const h = centre.step(l) - avg.step(l);
      refLow.push(l);
      refSlope.push(Math.abs(h - lag.step(h)));
    }
    const low = blocks(x, sizes, (s, d, n) => band.run(s, d, new Float64Array(n), n));
    const band2 = new SlopeBand(fs, options);
    const slope = blocks(x, sizes, (s, d, n) => band2.run(s, new Float64Array(n), d, n));
    expect(Array.from(low)).toEqual(refLow);
    expect(Array.from(slope)).toEqual(refSlope);
    expect(band.delay).toBe(lp.delay + (avgLen - 1) / 2 + k);
  });

  it('QualityIndex gives the same windows whatever the chunking, with lead-off (NaN) stretches inside blocks', () => {
    const fs = 250;
    const y = signal(30 * fs, 7);
    for (let i = 3000; i < 3400; i++) y[i] = NaN;
    y[5001] = NaN;
    const windows = (chunk: number) => {
      const q = new QualityIndex(fs);
      const out = [];
      for (let i = 0; i < y.length; i += chunk) out.push(...q.push(y.subarray(i, i + chunk)));
      return out;
    };
    const one = windows(1);
    expect(one.length).toBe(15);
    expect(one.some((w) => w.leadOff)).toBe(true);
    expect(windows(7)).toEqual(one);
    expect(windows(600)).toEqual(one);
    expect(windows(y.length)).toEqual(one);
  });
});
