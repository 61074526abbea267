import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { addNoise, noiseFromPair, qrsAmplitudeMv, snrFromName } from '../../src/offline/signal-eval/noise-stress.js';
import { beatSamples, readAnnotations } from '../../src/sources/wfdb/annotations.js';
import { readRecord, toPhysical } from '../../src/sources/wfdb/record.js';

// The same minute of nstdb 118 (300-360 s, electrode motion) clean, at -6 dB and at 6 dB.
const CLEAN = 'test/fixtures/mitdb-118-1min-300s';
const E_6 = 'test/fixtures/nstdb-118e_6-1min';
const E06 = 'test/fixtures/nstdb-118e06-1min';
const CLI = 'dist/src/cli/main.js';
const motobio = (...args: string[]) => spawnSync('node', [CLI, ...args], { encoding: 'utf8' });

function load(base: string): { mv: Float64Array; beats: number[] } {
  return { mv: toPhysical(readRecord(base).signals[0]), beats: beatSamples(readAnnotations(base)) };
}

describe('noise stress (nstdb built again on any record)', () => {
  it('reads the SNR from nstdb record names', () => {
    expect(snrFromName('118e24')).toBe(24);
    expect(snrFromName('118e06')).toBe(6);
    expect(snrFromName('118e00')).toBe(0);
    expect(snrFromName('nstdb-118e_6-1min')).toBe(-6);
    expect(snrFromName('118')).toBeUndefined();
  });

  it('rebuilds nstdb 118e06 sample for sample from mitdb 118 and the noise in 118e_6', () => {
    const src = noiseFromPair(E_6, CLEAN);
    expect(src.refSnrDb).toBe(-6);
    const clean = load(CLEAN);
    const built = addNoise(clean.mv, 360, clean.beats, src, 6);
    const nstdb = toPhysical(readRecord(E06).signals[0]);
    expect(built.length).toBe(nstdb.length);
    // The databases store the same samples against baselines 5.12 mV apart: compare shapes.
    const diff = Float64Array.from(built, (v, i) => v - nstdb[i]).sort();
    const offset = diff[diff.length >> 1];
    const adc = 1 / 200; // mV per ADC unit in both
    let worst = 0;
    let sum = 0;
    let squares = 0;
    for (let i = 0; i < built.length; i++) {
      worst = Math.max(worst, Math.abs(built[i] - nstdb[i] - offset));
      sum += built[i] - clean.mv[i];
      squares += (built[i] - clean.mv[i]) ** 2;
    }
    // Both records were rounded to ADC units on their way to disk: 1.6 units at most here. With
    // the SNR 0.2 dB off, half the samples would be 3 units or more away, the worst 24.
    expect(worst / adc).toBeLessThan(2);
    // And there was noise to match: this minute at 6 dB holds 1.1 mV (SD) against a 2.7 mV QRS.
    const mean = sum / built.length;
    const sd = Math.sqrt(squares / built.length - mean * mean);
    expect(sd).toBeGreaterThan(0.8);
    expect(sd).toBeLessThan(1.5);
  });

  it('scales the noise with the record\'s QRS amplitude, so the SNR holds on a larger QRS', () => {
    const src = noiseFromPair(E_6, CLEAN);
    const clean = load(CLEAN);
    const doubled = clean.mv.map((v) => 2 * v);
    expect(qrsAmplitudeMv(doubled, 360, clean.beats)).toBeCloseTo(2 * qrsAmplitudeMv(clean.mv, 360, clean.beats), 9);
    const a = addNoise(clean.mv, 360, clean.beats, src, 6);
    const b = addNoise(doubled, 360, clean.beats, src, 6);
    const c = addNoise(clean.mv, 360, clean.beats, src, 0);
    let worst = 0;
    let ratio0 = 0;
    let ratio6 = 0;
    for (let i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs(b[i] - doubled[i] - 2 * (a[i] - clean.mv[i])));
      ratio0 += (c[i] - clean.mv[i]) ** 2;
      ratio6 += (a[i] - clean.mv[i]) ** 2;
    }
    expect(worst).toBeLessThan(1e-12);
    // 6 dB lower SNR is twice the noise amplitude.
    expect(Math.sqrt(ratio0 / ratio6)).toBeCloseTo(10 ** (6 / 20), 9);
  });

  it('resamples and repeats the noise for a record at another rate and longer than it', () => {
    const src = noiseFromPair(E_6, CLEAN);
    const fs = 250;
    const len = 2 * 60 * fs; // two minutes at 250 Hz against one minute of 360 Hz noise
    const mv = new Float64Array(len);
    const beats: number[] = [];
    for (let b = 100; b < len - 100; b += fs) {
      beats.push(b);
      mv[b] = 1; // a 1 mV spike per second: QRS amplitude 1 mV
    }
    const out = addNoise(mv, fs, beats, src, 6);
    const gain = (1 / src.refAmplitudeMv) * 10 ** ((-6 - 6) / 20);
    // t = 2.5 s falls on noise sample 900 exactly, and a minute later the noise starts over.
    expect(out[625]).toBeCloseTo(gain * src.noise[900], 12);
    expect(out[625 + 60 * fs]).toBeCloseTo(gain * src.noise[900], 12);
  });

  it('motobio eval --noise scores a record once per SNR, and more noise costs beats', () => {
    const r = motobio('eval', '--noise', `${E_6}:${CLEAN}`, '--snr', '12,-6', 'test/fixtures/mitdb-118-5min', '--json');
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { records: { record: string; whole: { fn: number; fp: number } }[]; figures: Record<string, unknown> };
    expect(rep.records.map((x) => x.record)).toEqual(['mitdb-118-5min@12dB', 'mitdb-118-5min@-6dB']);
    const [hi, lo] = rep.records;
    expect(lo.whole.fn + lo.whole.fp).toBeGreaterThan(hi.whole.fn + hi.whole.fp + 20);
    expect(Object.keys(rep.figures)).toEqual(expect.arrayContaining(['fixtures@12dB.se', 'fixtures@-6dB.ppv']));
  });

  it('leaves out the record the noise was taken against (that would be nstdb again)', () => {
    const r = motobio('eval', '--noise', `${E_6}:${CLEAN}`, '--snr', '6', CLEAN, 'test/fixtures/mitdb-208-2min', '--json');
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { records: { record: string }[] };
    expect(rep.records.map((x) => x.record)).toEqual(['mitdb-208-2min@6dB']);
  });

  it('motobio eval --noise says what is wrong with a bad noise pair or SNR list', () => {
    const noColon = motobio('eval', '--noise', E_6, CLEAN);
    expect(noColon.status).not.toBe(0);
    expect(noColon.stderr).toContain('NOISY:CLEAN');
    const noSnr = motobio('eval', '--noise', `${CLEAN}:${CLEAN}`, CLEAN);
    expect(noSnr.status).not.toBe(0);
    expect(noSnr.stderr).toContain('118e_6 for -6 dB');
    const badList = motobio('eval', '--noise', `${E_6}:${CLEAN}`, '--snr', '6,loud', CLEAN);
    expect(badList.status).not.toBe(0);
    expect(badList.stderr).toContain('--snr');
    for (const x of [noColon, noSnr, badList]) expect(x.stderr).not.toMatch(/\n\s+at /);
  });
});
