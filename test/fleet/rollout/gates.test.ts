/** Gate arithmetic and cohorts with hand-worked cases (docs/rollouts.md "What the gates measure"). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_THRESHOLDS, evaluateGate, rateRatio, type GroupFigures } from '../../../src/fleet/rollout/gates.js';
import { assignCohorts } from '../../../src/fleet/rollout/cohorts.js';

const g = (o: Partial<GroupFigures> = {}): GroupFigures => ({ units: 2, decisions: 100, errors: 0, latencyP95Ms: 20, restarts: 0, quality: 0.9, safety: 1, cues: 10, silent: 0, ...o });
const reports = { published: 2, applied: 2, refused: 0, rolledBack: 0 };

describe('evaluateGate', () => {
  it('passes a stage that looks like its baselines', () => {
    const v = evaluateGate({ after: g(), before: g(), control: g(), reports });
    expect(v.decision).toBe('pass');
  });

  it('cannot decide with fewer units or decision periods than the minimum, and says which', () => {
    const v = evaluateGate({ after: g({ units: 1, decisions: 29 }), before: g(), control: g(), reports }, { ...DEFAULT_THRESHOLDS, minUnits: 2 });
    expect(v.decision).toBe('wait');
    expect(v.reason).toBe('cannot decide yet: 1 of the 2 units needed have decisions since the update; 29 of the 30 decision periods needed');
    // A tenfold cue rate does not fail a gate that has too little to go on ...
    expect(evaluateGate({ after: g({ decisions: 10, cues: 10 }), before: g(), control: g(), reports }).decision).toBe('wait');
  });

  it('fails on a refused or rolled-back update, a restart or a silent unit even below the minimum', () => {
    expect(evaluateGate({ after: g({ decisions: 0, units: 0 }), before: g(), control: null, reports: { ...reports, rolledBack: 1 } })).toMatchObject({ decision: 'fail', reason: 'update_failures 1 over the limit 0' });
    expect(evaluateGate({ after: g({ restarts: 1, decisions: 5 }), before: g(), control: null, reports }).decision).toBe('fail');
    expect(evaluateGate({ after: g({ silent: 1, decisions: 5 }), before: g(), control: null, reports }).decision).toBe('fail');
  });

  it('error rate: 1 in 1000 is not below 0.1 %, 1 in 1001 is', () => {
    expect(evaluateGate({ after: g({ decisions: 1000, errors: 1 }), before: g(), control: g(), reports }).decision).toBe('fail');
    expect(evaluateGate({ after: g({ decisions: 1001, errors: 1, cues: 100 }), before: g(), control: g(), reports }).decision).toBe('pass');
  });

  it('p95: 100 ms fails, 99.9 ms passes', () => {
    const v = evaluateGate({ after: g({ latencyP95Ms: 100 }), before: g(), control: g(), reports });
    expect(v).toMatchObject({ decision: 'fail', reason: 'decision_p95_ms 100 over the limit 100' });
    expect(evaluateGate({ after: g({ latencyP95Ms: 99.9 }), before: g(), control: g(), reports }).decision).toBe('pass');
  });

  it('cue rate tenfold vs both baselines fails; worse than only one baseline passes', () => {
    // after 100/100 = 1 per decision; before 10/100 = 0.1; ratio 10 > 3.
    const v = evaluateGate({ after: g({ cues: 100 }), before: g(), control: g(), reports });
    expect(v.decision).toBe('fail');
    expect(v.reason).toBe('cue_ratio 10 over the limit 3 (vs before 10, control 10)');
    // The control group rides the same way today (after 1.0, control 0.5 per decision): ratio 2.
    expect(evaluateGate({ after: g({ cues: 100 }), before: g(), control: g({ cues: 50 }), reports }).decision).toBe('pass');
  });

  it('a baseline without any event counts as one event (no infinite ratio)', () => {
    // after 3/100, before 0/100 -> floor 1/100: ratio 3, at the limit, passes; 4 fails.
    expect(rateRatio(g({ cues: 3 }), g({ cues: 0 }), (x) => x.cues)).toBeCloseTo(3, 9);
    expect(evaluateGate({ after: g({ cues: 3 }), before: g({ cues: 0 }), control: null, reports }).decision).toBe('pass');
    expect(evaluateGate({ after: g({ cues: 4 }), before: g({ cues: 0 }), control: null, reports }).decision).toBe('fail');
  });

  it('quality drop beyond 0.1 vs every baseline fails; safety ratio too', () => {
    expect(evaluateGate({ after: g({ quality: 0.75 }), before: g(), control: g(), reports }).reason).toContain('quality_drop 0.150 over the limit 0.1');
    expect(evaluateGate({ after: g({ safety: 4 }), before: g({ safety: 1 }), control: null, reports }).reason).toBe('safety_ratio 4 over the limit 3 (vs before 4, control n/a)');
  });

  it('the last stage has no control group: before alone decides', () => {
    expect(evaluateGate({ after: g({ cues: 40 }), before: g(), control: null, reports }).decision).toBe('fail');
    expect(evaluateGate({ after: g({ cues: 20 }), before: g(), control: null, reports }).decision).toBe('pass');
  });
});

describe('assignCohorts', () => {
  const units = Array.from({ length: 20 }, (_, i) => `bike-${String(i).padStart(3, '0')}`);

  it('20 units in 5 / 25 / 100 %: 1, 4 and 15', () => {
    const m = assignCohorts('r1', units);
    const sizes = [0, 1, 2].map((s) => [...m.values()].filter((x) => x === s).length);
    expect(sizes).toEqual([1, 4, 15]);
  });

  it('a stage has at least minUnits more units than the one before', () => {
    const m = assignCohorts('r1', units.slice(0, 10), [0.05, 0.25, 1], 2);
    expect([0, 1, 2].map((s) => [...m.values()].filter((x) => x === s).length)).toEqual([2, 2, 6]);
  });

  it('property: each unit in exactly one stage, sizes follow the shares, independent of order, same for a retry', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 1, maxLength: 200 }), fc.string({ minLength: 1, maxLength: 8 }), fc.nat(), (us, id, seed) => {
        const m = assignCohorts(id, us);
        expect(m.size).toBe(us.length);
        for (const u of us) expect([0, 1, 2]).toContain(m.get(u));
        const shuffled = [...us].sort((a, b) => ((a.charCodeAt(0) * (seed + 1)) % 7) - ((b.charCodeAt(0) * (seed + 1)) % 7));
        expect(assignCohorts(id, shuffled)).toEqual(m);
        const upTo = (s: number) => [...m.values()].filter((x) => x <= s).length;
        expect(upTo(0)).toBe(Math.min(us.length, Math.max(1, Math.ceil(0.05 * us.length - 1e-9))));
        expect(upTo(1)).toBeGreaterThanOrEqual(Math.min(us.length, Math.ceil(0.25 * us.length - 1e-9)));
        expect(upTo(2)).toBe(us.length);
      }),
      { numRuns: 200 },
    );
  });
});
