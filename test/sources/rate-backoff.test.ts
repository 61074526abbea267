import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Backoff } from '../../src/sources/backoff.js';
import { RateEstimator, RATE_MIN_SPAN_MS } from '../../src/sources/rate.js';
import { ChunkAligner } from '../../src/sources/timeline.js';

describe('RateEstimator', () => {
  it('measures samples on the sensor timeline (lost ones included) over arrival time, in bursts', () => {
    const r = new RateEstimator(10_000);
    // 250 Hz delivered in 100 ms bursts of 25; one burst is lost on the radio and the next
    // one's sequence number says so.
    let sample = 0;
    for (let t = 0; t <= 12_000; t += 100) {
      sample += 25;
      if (t !== 5_000) r.add(sample, t);
    }
    expect(r.rateHz()).toBeCloseTo(250, 0);
  });

  it('says nothing until it has seen enough time', () => {
    const r = new RateEstimator();
    r.add(100, 0);
    r.add(200, RATE_MIN_SPAN_MS - 1);
    expect(r.rateHz()).toBeUndefined();
  });
});

describe('Backoff', () => {
  it('grows, is capped, and is jittered within [cap/2, cap]', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 0.999999, noNaN: true }), { minLength: 20, maxLength: 20 }), (rs) => {
        let k = 0;
        const b = new Backoff({ initialMs: 250, maxMs: 10_000, random: () => rs[k++] });
        for (let i = 0; i < 20; i++) {
          const cap = Math.min(10_000, 250 * 2 ** i);
          const d = b.next();
          expect(d).toBeGreaterThanOrEqual(cap / 2);
          expect(d).toBeLessThanOrEqual(cap);
        }
      }),
    );
    const b = new Backoff({ random: () => 0.5 });
    b.next();
    b.next();
    b.reset();
    expect(b.attempts).toBe(0);
  });
});

describe('ChunkAligner', () => {
  it('fills lost samples with NaN and drops repeated ones', () => {
    const a = new ChunkAligner();
    const mv = (xs: number[]): Float64Array => Float64Array.from(xs);
    expect([...a.push({ start: 10, mv: mv([1, 2]), receivedAtMs: 0 })]).toEqual([1, 2]);
    expect([...a.push({ start: 14, mv: mv([5]), receivedAtMs: 0 })]).toEqual([NaN, NaN, 5]);
    expect([...a.push({ start: 14, mv: mv([5, 6]), receivedAtMs: 0 })]).toEqual([6]);
    expect([...a.push({ start: 12, mv: mv([3]), receivedAtMs: 0 })]).toEqual([]);
    expect(a.position).toBe(16);
  });
});
