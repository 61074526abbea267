/**
 * Regressions the soak (test/faults/soak.test.ts) found at replay speed 1000: a replay behind
 * schedule never yielded to the event loop (health, timers and the decisions waiting on the
 * data starved for a whole pass), and the rate estimator's shift() per chunk was quadratic in
 * the 10 s window (100 000 points at 10 000 chunks/s).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { ReplaySource } from '../../src/sources/replay.js';
import { RateEstimator } from '../../src/sources/rate.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/mitdb-118-5min', import.meta.url));

/** The estimator as it was before (shift per point): the reference for the new one. */
function naiveRate(points: readonly [number, number][], windowMs: number): number | undefined {
  const kept: [number, number][] = [];
  for (const p of points) {
    kept.push(p);
    while (kept.length > 2 && kept[1][1] <= p[1] - windowMs) kept.shift();
  }
  const first = kept[0];
  const last = kept[kept.length - 1];
  if (!first || !last || last[1] - first[1] < 2000) return undefined;
  return ((last[0] - first[0]) * 1000) / (last[1] - first[1]);
}

describe('replay at high speed', () => {
  it('RateEstimator gives what the shift-per-point version gave, over long random streams', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 300 })), { minLength: 1, maxLength: 5000 }), fc.integer({ min: 500, max: 20_000 }), (steps, windowMs) => {
        const r = new RateEstimator(windowMs);
        const points: [number, number][] = [];
        let s = 0;
        let t = 0;
        for (const [ds, dt] of steps) {
          s += ds;
          t += dt;
          points.push([s, t]);
          r.add(s, t);
        }
        expect(r.rateHz()).toBe(naiveRate(points, windowMs));
      }),
      { numRuns: 60 },
    );
  });

  it('a replay that falls behind schedule still lets timers run during a pass', async () => {
    // A consumer slower than the requested speed: 1 ms of work per 0.1 s chunk at speed 1000
    // (0.1 ms budget) keeps the replay behind for the whole pass.
    const src = new ReplaySource({ record: FIXTURE, speed: 1000, durationS: 60 });
    let chunks = 0;
    src.on('samples', () => {
      chunks++;
      const until = performance.now() + 1;
      while (performance.now() < until) {
        /* busy: the consumer's work */
      }
    });
    let ticks = 0;
    let chunksAtFirstTick: number | undefined;
    const timer = setInterval(() => {
      ticks++;
      chunksAtFirstTick ??= chunks;
    }, 5);
    await src.start();
    await src.finished();
    clearInterval(timer);
    expect(chunks).toBe(600);
    expect(ticks, 'a 5 ms timer never fired while 600 chunks were replayed').toBeGreaterThan(0);
    expect(chunksAtFirstTick, 'the timer fired only after the whole pass').toBeLessThan(600);
  });
});
