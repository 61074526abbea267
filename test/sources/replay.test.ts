import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { ReplaySource } from '../../src/sources/replay.js';
import { readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import type { SampleChunk } from '../../src/sources/types.js';
import { sourceContract } from './contract.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/mitdb-118-5min', import.meta.url));

sourceContract('replay', () => Promise.resolve({ source: new ReplaySource({ record: FIXTURE, speed: 20 }), cleanup: () => Promise.resolve() }));

describe('ReplaySource', () => {
  it('hands over every sample of the record, in order, as fast as the consumer takes them', async () => {
    const src = new ReplaySource({ record: FIXTURE, speed: 0 });
    const chunks: SampleChunk[] = [];
    src.on('samples', (c) => chunks.push(c));
    let ended = false;
    src.on('end', () => (ended = true));
    await src.start();
    await src.finished();
    expect(ended).toBe(true);
    const expected = toPhysical(readRecord(FIXTURE).signals[0]);
    const got = new Float64Array(chunks.reduce((n, c) => n + c.mv.length, 0));
    let at = 0;
    for (const c of chunks) {
      expect(c.start).toBe(at);
      got.set(c.mv, at);
      at += c.mv.length;
    }
    expect(got).toEqual(expected);
    expect(src.status().state).toBe('ended');
    expect(src.status().gaps).toBe(0);
  });

  it('paces chunks at the record rate times the speed factor', async () => {
    const src = new ReplaySource({ record: FIXTURE, speed: 10, durationS: 30 });
    const t0 = performance.now();
    await src.start();
    await src.finished();
    // 30 s at 10x is 3 s of wall time; only a lower bound is meaningful on a loaded machine.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2_900);
    expect(src.length).toBe(30 * 360);
  });

  it('keeps counting the timeline across loops and can be cut to a window', async () => {
    const src = new ReplaySource({ record: FIXTURE, speed: 0, startS: 10, durationS: 2, loop: true });
    const starts: number[] = [];
    src.on('samples', (c) => {
      starts.push(c.start);
      if (c.start >= 3 * 720) void src.stop();
    });
    await src.start();
    await src.finished();
    expect(starts[0]).toBe(0);
    expect(starts.some((s) => s >= 720)).toBe(true);
    expect(src.status().gaps).toBe(0);
  });

  it('rejects a bad speed and an empty window with a clear message', () => {
    expect(() => new ReplaySource({ record: FIXTURE, speed: -1 })).toThrow(/speed must be 0/);
    expect(() => new ReplaySource({ record: FIXTURE, startS: 10_000 })).toThrow(/nothing to replay/);
    expect(() => new ReplaySource({ record: FIXTURE, channel: 3 })).toThrow(/no channel 3/);
  });
});
