import { describe, expect, it } from 'vitest';
import { checkRatchet, floorOf, raise, type Figures } from '../../src/signal/eval/ratchet.js';

const fig = (value: number, target?: number, better: 'higher' | 'lower' = 'higher') => (target === undefined ? { value, better } : { value, better, target });

describe('accuracy ratchet', () => {
  it('holds an unmet figure at its recorded value', () => {
    const recorded: Figures = { 'mitdb.ppv': fig(99.55, 99.8) };
    expect(floorOf(recorded['mitdb.ppv'])).toBe(99.55);
    expect(checkRatchet(recorded, { 'mitdb.ppv': fig(99.54, 99.8) }).regressions).toHaveLength(1);
    expect(checkRatchet(recorded, { 'mitdb.ppv': fig(99.6, 99.8) }).improvements).toEqual(['mitdb.ppv: 99.55 -> 99.6']);
  });

  it('holds a met figure at its target, so surplus Se can be traded for +P', () => {
    const recorded: Figures = { 'nstdb/118e06.se': fig(99.166, 95), 'mitdb.timingSdMs': fig(5.75, 6, 'lower') };
    const traded = checkRatchet(recorded, { 'nstdb/118e06.se': fig(97.5, 95), 'mitdb.timingSdMs': fig(5.9, 6, 'lower') });
    expect(traded.regressions).toEqual([]);
    const below = checkRatchet(recorded, { 'nstdb/118e06.se': fig(94.9, 95), 'mitdb.timingSdMs': fig(6.1, 6, 'lower') });
    expect(below.regressions).toEqual([
      'nstdb/118e06.se: 94.9 is worse than its target 95 (recorded 99.166, which met it)',
      'mitdb.timingSdMs: 6.1 is worse than its target 6 (recorded 5.75, which met it)',
    ]);
  });

  it('--update records a met figure as measured and keeps the best of an unmet one', () => {
    const recorded: Figures = { 'nstdb/118e06.se': fig(99.166, 95), 'nstdb/118e06.ppv': fig(83, 95) };
    const out = raise(recorded, { 'nstdb/118e06.se': fig(97.5, 95), 'nstdb/118e06.ppv': fig(82, 95), 'nstdb/118e_6.se': fig(80) });
    expect(out['nstdb/118e06.se'].value).toBe(97.5);
    expect(out['nstdb/118e06.ppv'].value).toBe(83);
    expect(out['nstdb/118e_6.se']).toBeUndefined();
  });
});
