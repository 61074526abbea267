import { describe, expect, it } from 'vitest';
import { compareSmoke, PROB_TOLERANCE } from '../../src/package/smoke-compare.js';
import type { SmokeResult } from '../../src/package/smoke-checks.js';

function run(arch: string, probs: number[][], actions = probs.map((p) => (p[0] >= p[1] ? 'none' : 'suggest_break'))): SmokeResult {
  return {
    node: 'v20',
    arch,
    model: { precision: 'int8', rows: probs.length, actions, probs },
    store: { written: 50, read: 50, roundTrip: true },
    signal: { record: 'r', samples: 10, beats: 2, first: [1, 5], last: [1, 5], sha256: 'x' },
  };
}

describe('smoke comparison across architectures', () => {
  const ref = run('x64', [
    [0.9, 0.1],
    [0.3, 0.7],
  ]);

  it('accepts int8 rounding between kernels: the 0.0103 seen between arm64 and x86', () => {
    const arm = run('arm64', [
      [0.8897, 0.1103],
      [0.3, 0.7],
    ]);
    expect(compareSmoke(arm, ref)).toEqual([]);
  });

  it('reports probabilities further apart than the tolerance, and any action that differs', () => {
    const far = run('arm64', [
      [0.9 - 2 * PROB_TOLERANCE, 0.1 + 2 * PROB_TOLERANCE],
      [0.3, 0.7],
    ]);
    expect(compareSmoke(far, ref).join('\n')).toContain('probabilities differ by up to 0.04');
    const flipped = run('arm64', ref.model.probs, ['suggest_break', 'suggest_break']);
    expect(compareSmoke(flipped, ref).join('\n')).toContain('row 0 chose suggest_break, reference (x64) chose none');
  });
});
