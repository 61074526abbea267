import { describe, expect, it } from 'vitest';
import { EcgChain } from '../../src/signal/chain.js';
import { readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import { SafetyRules, type SafetyTrigger } from '../../src/inference/safety.js';
import type { RideContext } from '../../src/inference/features.js';
import type { SignalFeatures } from '../../src/signal/types.js';

const RIDE: RideContext = { restingHrBpm: 62, minutesRiding: 20, riding: true, sensorConnected: true };
const RHYTHM_RULES = new Set(['sustained_vt', 'vf', 'pause', 'af_onset', 'nsvt', 'af_short']);

/** A fixture through the chain with a safety decision every second, as the daemon's decision period does. */
function replay(name: string): { triggers: SafetyTrigger[]; records: SafetyTrigger[] } {
  const sig = readRecord(`test/fixtures/${name}`).signals[0];
  const mv = toPhysical(sig);
  const chain = new EcgChain({ fs: sig.fs });
  const rules = new SafetyRules();
  const triggers: SafetyTrigger[] = [];
  const records: SafetyTrigger[] = [];
  for (let i = 0; i < mv.length; i += sig.fs) {
    chain.push(mv.subarray(i, Math.min(mv.length, i + sig.fs)));
    const r = rules.evaluate(chain.features(), RIDE);
    triggers.push(...r.triggers.filter((t) => RHYTHM_RULES.has(t.rule)));
    records.push(...(r.records ?? []));
  }
  return { triggers, records };
}

describe('rhythm safety rules on replayed records', () => {
  it('raises VF as an emergency during mitdb 207 flutter, with the episode to keep as a strip', () => {
    const { triggers } = replay('mitdb-207-1min-235s');
    const vf = triggers.filter((t) => t.rule === 'vf');
    expect(vf.length).toBeGreaterThan(0);
    expect(vf[0].severity).toBe('emergency');
    // The first flutter episode of the excerpt runs 7.3-11.6 s, the long one 13.1-26.7 s.
    expect(vf[0].episode!.startS).toBeGreaterThan(6);
    expect(vf[0].episode!.startS).toBeLessThan(27);
    expect(triggers.some((t) => t.rule === 'af_onset' || t.rule === 'sustained_vt')).toBe(false);
  });

  it('raises the 3.7-s pause of mitdb 201 as an emergency', () => {
    const { triggers } = replay('mitdb-201-2min-330s');
    const p = triggers.filter((t) => t.rule === 'pause');
    expect(p).toHaveLength(1);
    expect(p[0].severity).toBe('emergency');
    expect(p[0].episode!.startS).toBeCloseTo(48, 0);
  });

  it('keeps AF shorter than a minute (mitdb 203 excerpt) as a record, not a prompt', () => {
    const { triggers, records } = replay('mitdb-203-1min-20s');
    expect(records.some((r) => r.rule === 'af_short' && r.severity === 'record')).toBe(true);
    expect(triggers.some((t) => t.rule === 'af_onset' || t.rule === 'af_short')).toBe(false);
  });

  it('raises no rhythm rule on clean sinus rhythm (mitdb 118)', () => {
    const { triggers, records } = replay('mitdb-118-5min');
    expect(triggers).toHaveLength(0);
    expect(records).toHaveLength(0);
  });

  it('raises no rhythm alarm while the chain says the rhythm cannot be judged', () => {
    const base: SignalFeatures = { endS: 100, hrBpm: 80, hrSlopeBpmPerMin: 0, rmssdMs: 30, sdnnMs: 40, pnn50: 0.1, lfHf: 1, quality: 0.9, ectopicShare: 0, leadOff: false, secondsSinceBeat: 0.5 };
    const vf = { type: 'VF' as const, startS: 90, endS: 100, detectedS: 92, closed: false, confidence: 1, evidence: {} };
    const rules = new SafetyRules();
    expect(rules.evaluate({ ...base, rhythm: { open: [vf], recent: [], judgeable: false } }, RIDE).triggers).toHaveLength(0);
    expect(rules.evaluate({ ...base, endS: 101, leadOff: true, rhythm: { open: [vf], recent: [], judgeable: true } }, RIDE).triggers.filter((t) => t.rule === 'vf')).toHaveLength(0);
    // Confirmation: VF must hold 2 s of decisions on a judgeable signal.
    expect(rules.evaluate({ ...base, endS: 102, rhythm: { open: [vf], recent: [], judgeable: true } }, RIDE).triggers).toHaveLength(0);
    const fired = rules.evaluate({ ...base, endS: 104, rhythm: { open: [vf], recent: [], judgeable: true } }, RIDE).triggers;
    expect(fired.map((t) => [t.rule, t.severity])).toEqual([['vf', 'emergency']]);
  });
});
