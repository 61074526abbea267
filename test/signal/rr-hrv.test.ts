import { describe, expect, it } from 'vitest';
import { RrSeries } from '../../src/signal/rr.js';
import { bandPowers, computeHrv } from '../../src/signal/hrv.js';
import type { RrInterval } from '../../src/signal/types.js';

function label(rrs: number[]): RrInterval[] {
  const s = new RrSeries();
  const out: RrInterval[] = [];
  let t = 0;
  for (const rr of rrs) {
    t += rr / 1000;
    out.push(...s.pushInterval(t, rr));
  }
  out.push(...s.flush());
  return out;
}

/** A realistic NN series: 800 ms with respiratory variation. */
function baseSeries(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 800 + 25 * Math.sin(i / 2.5) + (i % 3) * 4);
}

describe('RR artefact handling (Lipponen & Tarvainen 2019)', () => {
  it('leaves a clean series alone', () => {
    expect(label(baseSeries(200)).every((r) => r.label === 'normal')).toBe(true);
  });

  it('labels a missed beat and splits it', () => {
    const rr = baseSeries(150);
    rr.splice(100, 2, rr[100] + rr[101]);
    const r = label(rr)[100];
    expect(r.label).toBe('missed');
    expect(r.correctedMs).toBeCloseTo(r.rrMs / 2, 5);
  });

  it('labels an extra beat', () => {
    const rr = baseSeries(150);
    rr.splice(100, 1, 300, rr[100] - 300);
    expect(label(rr)[100].label).toBe('extra');
  });

  it('labels an ectopic (premature, then compensatory pause) beat and interpolates it', () => {
    const rr = baseSeries(150);
    rr[100] = 520;
    rr[101] = 1080;
    const out = label(rr);
    expect(out[100].label).toBe('ectopic');
    expect(Math.abs(out[100].correctedMs - 800)).toBeLessThan(60);
  });

  it('follows a sudden, sustained change of rate within a few beats (72 to 130 bpm and back)', () => {
    const slow = (n: number) => Array.from({ length: n }, (_, i) => 833 + 15 * Math.sin(i / 2.5));
    const fast = (n: number) => Array.from({ length: n }, (_, i) => 461 + 8 * Math.sin(i / 2.5));
    const out = label([...slow(120), ...fast(120), ...slow(120)]);
    // A handful of transition beats may be held; after that the corrected series is the measured one.
    for (const seg of [out.slice(130, 240), out.slice(250, 358)]) {
      for (const r of seg) expect(r.correctedMs).toBeCloseTo(r.rrMs, 5);
    }
    expect(out.slice(120, 130).filter((r) => r.label !== 'normal').length).toBeLessThanOrEqual(7);
  });
});

describe('HRV', () => {
  const intervals = (rrs: number[]): RrInterval[] => {
    let t = 0;
    return rrs.map((rr) => ((t += rr / 1000), { timeS: t, rrMs: rr, correctedMs: rr, label: 'normal' as const }));
  };

  it('computes RMSSD, SDNN and pNN50 of a known alternating series', () => {
    const rr = Array.from({ length: 100 }, (_, i) => (i % 2 ? 760 : 840));
    const iv = intervals(rr);
    const h = computeHrv(iv, iv[iv.length - 1].timeS, 80, 1);
    expect(h.rmssdMs).toBeCloseTo(80, 6);
    expect(h.sdnnMs).toBeCloseTo(40.2, 1);
    expect(h.pnn50).toBe(1);
    expect(h.hrBpm).toBeCloseTo(75, 0);
  });

  it('puts 0.1 Hz modulation in LF and 0.25 Hz in HF', () => {
    for (const [f, lfWins] of [[0.1, true], [0.25, false]] as const) {
      const times: number[] = [];
      const nn: number[] = [];
      let t = 0;
      while (t < 300) {
        const rr = 800 + 40 * Math.sin(2 * Math.PI * f * t);
        t += rr / 1000;
        times.push(t);
        nn.push(rr);
      }
      const { lf, hf } = bandPowers(times, nn);
      expect(lfWins ? lf > 10 * hf : hf > 10 * lf).toBe(true);
      // 40 ms amplitude sine: variance 800 ms^2, most of it in its band.
      expect(Math.max(lf, hf)).toBeGreaterThan(500);
      expect(Math.max(lf, hf)).toBeLessThan(1000);
    }
  });

  it('gives null, not a guess, when the window is short, dirty or noisy', () => {
    const iv = intervals(Array.from({ length: 200 }, () => 800));
    const end = iv[iv.length - 1].timeS;
    expect(computeHrv(iv, end, 30, 1).rmssdMs).toBeNull();
    expect(computeHrv(iv, end, 90, 1).lfHf).toBeNull();
    expect(computeHrv(iv, end, 90, 0.2).rmssdMs).toBeNull();
    const dirty = iv.map((r, i) => (i % 3 === 0 ? { ...r, label: 'ectopic' as const } : r));
    expect(computeHrv(dirty, end, 120, 1).rmssdMs).toBeNull();
    expect(computeHrv(iv, end, 120, 1).rmssdMs).not.toBeNull();
  });
});
