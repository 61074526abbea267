import { describe, expect, it } from 'vitest';
import { EcgChain } from '../../src/signal/chain.js';
import { readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import { syntheticEcg } from '../helpers/synthetic-ecg.js';
import type { QualityWindow } from '../../src/signal/types.js';

function qualityOf(mv: Float64Array, fs: number): QualityWindow[] {
  const chain = new EcgChain({ fs });
  const out: QualityWindow[] = [];
  for (let i = 0; i < mv.length; i += 100) out.push(...chain.push(mv.subarray(i, i + 100)).quality);
  return out.slice(3); // after the filters have settled
}

const mean = (q: QualityWindow[]): number => q.reduce((a, b) => a + b.sqi, 0) / q.length;

describe('signal-quality index', () => {
  const fs = 360;
  it('rates clean real ECG high', () => {
    const rec = readRecord('test/fixtures/mitdb-118-5min');
    expect(mean(qualityOf(toPhysical(rec.signals[0]), fs))).toBeGreaterThan(0.8);
  });

  it('falls on electrode-motion noise (nstdb 118e06) compared with the clean record', () => {
    const clean = mean(qualityOf(toPhysical(readRecord('test/fixtures/mitdb-118-5min').signals[0]).subarray(300 * 0, 60 * fs), fs));
    const noisy = mean(qualityOf(toPhysical(readRecord('test/fixtures/nstdb-118e06-1min').signals[0]), fs));
    expect(noisy).toBeLessThan(clean - 0.15);
  });

  it('is 0 on a flat line and flags it', () => {
    const q = qualityOf(new Float64Array(fs * 20).fill(0.3), fs);
    expect(q.every((w) => w.sqi === 0 && w.flat)).toBe(true);
  });

  it('is 0 and flags lead-off while the sensor reports it (NaN samples), then recovers', () => {
    const { mv } = syntheticEcg({ fs, seconds: 40, bpm: 70 });
    mv.fill(NaN, 10 * fs, 20 * fs);
    const q = qualityOf(mv, fs);
    const during = q.filter((w) => w.endS > 11 && w.endS <= 20);
    const after = q.filter((w) => w.endS > 26);
    expect(during.every((w) => w.leadOff && w.sqi === 0)).toBe(true);
    expect(mean(after)).toBeGreaterThan(0.7);
  });

  it('falls on clipping', () => {
    const { mv } = syntheticEcg({ fs, seconds: 30, bpm: 70, amplitude: 3 });
    for (let i = 0; i < mv.length; i++) mv[i] = Math.max(-0.3, Math.min(0.3, mv[i]));
    const q = qualityOf(mv, fs);
    expect(q.some((w) => w.clipped)).toBe(true);
    expect(mean(q)).toBeLessThan(0.6);
  });

  it('falls on muscle noise (broadband, a third of the QRS amplitude)', () => {
    const { mv } = syntheticEcg({ fs, seconds: 30, bpm: 70 });
    const clean = mean(qualityOf(mv.slice(), fs));
    let seed = 1;
    const rnd = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
    for (let i = 0; i < mv.length; i++) mv[i] += 0.8 * rnd();
    expect(mean(qualityOf(mv, fs))).toBeLessThan(clean - 0.3);
  });
});

describe('calibration scale', () => {
  it('undoes swapped electrodes: an inverted record with scale -1 gives the beats of the original', () => {
    const rec = readRecord('test/fixtures/mitdb-208-2min');
    const mv = toPhysical(rec.signals[0]);
    const beatsOf = (x: Float64Array, scale?: number): number[] =>
      new EcgChain({ fs: 360, ...(scale === undefined ? {} : { scale }) }).push(x).beats.map((b) => b.sample);
    const original = beatsOf(mv);
    expect(beatsOf(mv.map((v) => -v), -1)).toEqual(original);
    expect(() => new EcgChain({ fs: 360, scale: 0 })).toThrow(/non-zero/);
  });
});

describe('chain features', () => {
  it('gives heart rate, HRV after 60 s and LF/HF after 120 s, null before', () => {
    const fs = 250;
    const { mv } = syntheticEcg({ fs, seconds: 150, bpm: (t) => 70 + 5 * Math.sin(2 * Math.PI * 0.25 * t) });
    const chain = new EcgChain({ fs });
    let at30 = chain.features();
    for (let i = 0; i < mv.length; i += 250) {
      chain.push(mv.subarray(i, i + 250));
      if (i === 30 * fs) at30 = chain.features();
    }
    expect(at30.hrBpm).toBeGreaterThan(60);
    expect(at30.rmssdMs).toBeNull();
    expect(at30.lfHf).toBeNull();
    const f = chain.features();
    expect(f.hrBpm).toBeGreaterThan(63);
    expect(f.hrBpm).toBeLessThan(77);
    expect(f.rmssdMs).toBeGreaterThan(5);
    expect(f.lfHf).not.toBeNull();
    // Respiratory-rate modulation (0.25 Hz) is high-frequency power.
    expect(f.lfHf!).toBeLessThan(1);
    expect(f.secondsSinceBeat).toBeLessThan(1.5);
  });

  it('takes RR intervals from a beat-reporting strap and ignores zero RR values', () => {
    const chain = new EcgChain();
    let t = 0;
    for (let i = 0; i < 100; i++) {
      t += 0.8;
      chain.pushRr([800, 0], t, true);
    }
    const f = chain.features();
    expect(f.hrBpm).toBeCloseTo(75, 0);
    expect(f.rmssdMs).toBeCloseTo(0, 3);
    expect(f.quality).toBe(1);
    chain.pushRr([], t + 1, false);
    expect(chain.features().leadOff).toBe(true);
  });
});

describe('heart rate after a sudden, sustained change of rate', () => {
  // A rider's rate can jump and stay there (exertion, an arrhythmia starting): the 10-s heart rate
  // the safety rules read must follow it, not keep "correcting" the new beats back to the old rate.
  it.each([
    ['a step', (t: number) => (t < 40 ? 72 : 130)],
    ['a 30-s ramp', (t: number) => (t < 40 ? 72 : Math.min(130, 72 + ((t - 40) * 58) / 30))],
  ])('follows %s from 72 to 130 bpm', (_name, bpm) => {
    const fs = 250;
    const { mv } = syntheticEcg({ fs, seconds: 100, bpm });
    const chain = new EcgChain({ fs });
    let at35: number | null = null;
    for (let i = 0; i < mv.length; i += 125) {
      chain.push(mv.subarray(i, i + 125));
      if (i === 35 * fs) at35 = chain.features().hrBpm;
    }
    expect(at35).not.toBeNull();
    expect(Math.abs((at35 ?? 0) - 72)).toBeLessThan(3);
    expect(Math.abs((chain.features().hrBpm ?? 0) - 130)).toBeLessThan(4);
  });
});
