import { describe, expect, it } from 'vitest';
import { checkSb3Import, compareSb3 } from '../../src/package/smoke-sb3.js';

describe('package smoke: SB3 import on the target', () => {
  it('imports the bundled RL-Zoo checkpoint to the same int8 bytes and actions every time, and the comparison catches a changed action or file', async () => {
    const a = await checkSb3Import();
    const b = await checkSb3Import();
    expect(a.precision).toBe('int8');
    expect(a.rows).toBe(128);
    expect(new Set(a.actions)).toEqual(new Set([0, 1]));
    expect(b).toEqual(a);
    expect(compareSb3(b, a, 'x64')).toEqual([]);
    const flipped = { ...b, actions: b.actions.map((x, i) => (i === 5 ? 1 - x : x)) };
    expect(compareSb3(flipped, a, 'x64')).toEqual([expect.stringMatching(/another action than on x64 on rows 5 \(1 of 128\)/)]);
    expect(compareSb3({ ...b, int8Sha256: '0'.repeat(64) }, a, 'x64')[0]).toMatch(/int8 file differs/);
    expect(compareSb3(undefined, a, 'x64')[0]).toMatch(/no imported-model check/);
  }, 60_000);
});
