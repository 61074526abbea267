import { describe, expect, it } from 'vitest';
import { readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import { readAnnotations, beatSamples } from '../../src/sources/wfdb/annotations.js';
import { matchBeats } from '../../src/offline/signal-eval/match.js';
import { runChain } from '../../src/offline/signal-eval/run-record.js';
import { RPeakDetector } from '../../src/signal/detector.js';
import { resample, syntheticEcg } from '../helpers/synthetic-ecg.js';

const FIX = 'test/fixtures';

function load(name: string) {
  const rec = readRecord(`${FIX}/${name}`);
  const sig = rec.signals[0];
  return { mv: toPhysical(sig), fs: sig.fs, ref: beatSamples(readAnnotations(rec.base)) };
}

function detect(mv: Float64Array, fs: number, chunk = 64): number[] {
  const d = new RPeakDetector({ fs });
  const out: number[] = [];
  for (let i = 0; i < mv.length; i += chunk) for (const b of d.push(mv.subarray(i, i + chunk))) out.push(b.sample);
  return out;
}

describe('R-peak detection on real annotated ECG', () => {
  it.each([
    ['mitdb-118-5min', 99.7],
    ['mitdb-208-2min', 99.0],
    ['qtdb-sel302-2min', 99.5],
  ])('%s: Se and +P at least %s%%', (name, min) => {
    const { mv, fs, ref } = load(name);
    const m = matchBeats(ref, detect(mv, fs), fs);
    expect((100 * m.tp) / (m.tp + m.fn)).toBeGreaterThanOrEqual(min);
    expect((100 * m.tp) / (m.tp + m.fp)).toBeGreaterThanOrEqual(min);
  });

  it('finds aberrated premature beats that sit under the threshold when a compensatory pause follows (mitdb 201)', () => {
    const { mv, fs, ref } = load('mitdb-201-1min-420s');
    const anns = readAnnotations(`${FIX}/mitdb-201-1min-420s`).filter((a) => ref.includes(a.sample));
    // Aberrated APCs ('a', code 4) followed by a pause of 1.2 s or more: too short for search-back.
    const paused = anns.filter((a, i) => a.code === 4 && i + 1 < anns.length && anns[i + 1].sample - a.sample >= 1.2 * fs).map((a) => a.sample);
    expect(paused.length).toBe(5);
    const found = detect(mv, fs);
    expect(matchBeats(paused, found, fs).fn).toBe(0);
    expect(matchBeats(ref, found, fs).fp).toBe(0);
  });

  it('arms search-back again when it fired before the missed beat was even a candidate (mitdb 203, 50.6-51.8 s)', () => {
    const { mv, fs, ref } = load('mitdb-203-1min-20s');
    // Before, the early search found nothing and stayed disarmed: these three beats in a row were lost.
    const run = [30.64, 31.21, 31.78].map((t) => ref.find((r) => Math.abs(r / fs - t) < 0.02)!);
    const found = detect(mv, fs);
    expect(matchBeats(run, found, fs).fn).toBe(0);
    const m = matchBeats(ref, found, fs);
    expect(m.fn).toBe(0);
    expect(m.fp).toBeLessThanOrEqual(1);
  });

  it('finds the first beat after a flutter episode (mitdb 207, 235-295 s)', () => {
    const { mv, fs, ref } = load('mitdb-207-1min-235s');
    const anns = readAnnotations(`${FIX}/mitdb-207-1min-235s`);
    // Flutter episodes run from '[' (32) to ']' (33); the waves inside are not beats.
    const episodes: [number, number][] = [];
    let open: number | undefined;
    for (const a of anns) {
      if (a.code === 32) open = a.sample;
      else if (a.code === 33 && open !== undefined) {
        episodes.push([open, a.sample]);
        open = undefined;
      }
    }
    expect(episodes.length).toBe(3);
    const found = detect(mv, fs);
    // The beat that ends each of the two long episodes (262.3 and 281.7 s in the record).
    const firstAfter = episodes.slice(1).map(([, end]) => ref.find((r) => r > end)!);
    expect(matchBeats(firstAfter, found, fs).fn).toBe(0);
    const outside = found.filter((s) => !episodes.some(([a, b]) => s >= a && s <= b));
    expect(matchBeats(ref, outside, fs).fp).toBe(0);
  });

  it('takes no hump three times as wide as the beats for a beat, even where the noise ratio is low (mitdb 118, 1624.3 s)', () => {
    const { mv, fs, ref } = load('mitdb-118-1min-1590s');
    const m = matchBeats(ref, detect(mv, fs), fs);
    expect(m.fp).toBe(0);
    expect(m.fn).toBe(0);
  });

  it('at the end of a recording, reports the beat still inside the filters, and none in its last 100 ms', () => {
    const { mv, fs, ref } = load('mitdb-118-5min');
    const last = ref[ref.length - 3];
    const cut = mv.subarray(0, last + Math.round(0.15 * fs));
    const withFlush = runChain(cut, fs);
    expect(withFlush.beats.some((b) => Math.abs(b.sample - last) <= 0.15 * fs)).toBe(true);
    expect(matchBeats(ref.filter((r) => r <= last), withFlush.beats.map((b) => b.sample), fs).fp).toBe(0);
    // Every interval is labelled, the last ones without lookahead.
    expect(withFlush.rr.length).toBe(withFlush.beats.length - 1);

    const d = new RPeakDetector({ fs });
    const streamed = d.push(cut).map((b) => b.sample);
    expect(streamed.some((s) => Math.abs(s - last) <= 0.15 * fs)).toBe(false);
    const tail = d.flush();
    expect(tail.map((b) => b.sample).every((s) => s < cut.length - 0.1 * fs)).toBe(true);
    expect(d.flush()).toEqual([]);
    expect(() => d.push([0])).toThrow(/flushed/);
    // A QRS cut in its upstroke (within the last 100 ms) is not reported.
    const d2 = new RPeakDetector({ fs });
    d2.push(mv.subarray(0, last + Math.round(0.02 * fs)));
    expect(d2.flush().some((b) => Math.abs(b.sample - last) <= 0.15 * fs)).toBe(false);
  });

  it('locates R peaks within a few milliseconds of the reference (timing spread <= 6 ms)', () => {
    const { mv, fs, ref } = load('mitdb-118-5min');
    const m = matchBeats(ref, detect(mv, fs), fs);
    const mean = m.offsetsS.reduce((a, b) => a + b, 0) / m.offsetsS.length;
    const sd = Math.sqrt(m.offsetsS.reduce((a, b) => a + (b - mean) ** 2, 0) / m.offsetsS.length);
    expect(sd * 1000).toBeLessThanOrEqual(6);
    expect(Math.abs(mean * 1000)).toBeLessThan(10);
  });

  it.each([130, 250, 360, 496, 500])('works at %s Hz (the same record resampled)', (fsOut) => {
    const { mv, fs, ref } = load('mitdb-118-5min');
    const x = resample(mv, fs, fsOut);
    const refOut = ref.map((s) => Math.round((s * fsOut) / fs));
    const m = matchBeats(refOut, detect(x, fsOut), fsOut);
    expect(m.fn + m.fp).toBeLessThanOrEqual(3);
  });

  it('at 130 Hz (Polar H10) interpolates the R peak: RR intervals closer to the reference than whole samples allow', () => {
    const { mv, fs, ref } = load('mitdb-118-5min');
    const x = resample(mv, fs, 130);
    const d = new RPeakDetector({ fs: 130 });
    const beats = d.push(x);
    const refS = ref.map((r) => r / fs);
    const rrError = (times: number[]): number => {
      // Match each beat to its reference, then compare successive intervals.
      const pairs = times.map((t) => [t, refS.reduce((b, r) => (Math.abs(r - t) < Math.abs(b - t) ? r : b), Infinity)] as const);
      let sq = 0;
      let n = 0;
      for (let i = 1; i < pairs.length; i++) {
        const e = pairs[i][0] - pairs[i - 1][0] - (pairs[i][1] - pairs[i - 1][1]);
        if (Math.abs(e) < 0.05) {
          sq += e * e;
          n++;
        }
      }
      return Math.sqrt(sq / n) * 1000;
    };
    const interpolated = rrError(beats.map((b) => b.timeS));
    const whole = rrError(beats.map((b) => b.sample / 130));
    expect(interpolated).toBeLessThan(whole * 0.9);
    expect(interpolated).toBeLessThan(6);
  });

  it('finds the same beats whatever the chunk size', () => {
    const { mv, fs } = load('qtdb-sel302-2min');
    const a = detect(mv, fs, 1);
    expect(detect(mv, fs, 7)).toEqual(a);
    expect(detect(mv, fs, 5000)).toEqual(a);
  });

  it('is causal: the beats of the first k minutes equal those of the whole record, except in its last second', () => {
    const { mv, fs } = load('mitdb-118-5min');
    const whole = detect(mv, fs);
    for (const minutes of [1, 2.5, 4]) {
      const k = Math.round(minutes * 60 * fs);
      const part = detect(mv.subarray(0, k), fs);
      const cut = k - fs;
      expect(part.filter((s) => s < cut)).toEqual(whole.filter((s) => s < cut));
    }
  });

  // Late beats are search-back finds, flagged `late`. In noise and among wide ectopic beats the
  // detector defers doubtful candidates to search-back rather than report a false beat on time
  // (whole records: mitdb 2.0 % late, 118e06 12.7 %), so these caps bound that trade, not zero it.
  it.each([
    ['mitdb-118-5min', 0.02],
    ['mitdb-208-2min', 0.22],
    ['nstdb-118e06-1min', 0.32],
  ] as const)('%s: every beat not flagged late is reported within 300 ms of its R wave; late share <= %s', (name, lateShare) => {
    const { mv, fs } = load(name);
    const run = runChain(mv, fs, { chunk: 1 });
    expect(run.maxReportDelayS).toBeLessThanOrEqual(0.3);
    expect(run.lateBeats).toBeLessThanOrEqual(run.beats.length * lateShare);
  });
});

describe('R-peak detection on synthetic edge cases', () => {
  const fs = 250;
  it.each([30, 60, 120, 180, 220])('finds every beat at %s bpm', (bpm) => {
    const { mv, beats } = syntheticEcg({ fs, seconds: 60, bpm });
    const m = matchBeats(beats, detect(mv, fs), fs);
    expect(m.fn).toBeLessThanOrEqual(1);
    expect(m.fp).toBe(0);
  });

  it('follows a sudden tachycardia (70 to 190 bpm in one beat) and back', () => {
    const { mv, beats } = syntheticEcg({ fs, seconds: 90, bpm: (t) => (t > 30 && t < 60 ? 190 : 70) });
    const m = matchBeats(beats, detect(mv, fs), fs);
    expect(m.fn).toBeLessThanOrEqual(2);
    expect(m.fp).toBeLessThanOrEqual(1);
  });

  it('is not fooled by 50 Hz mains of half the QRS amplitude', () => {
    const { mv, beats } = syntheticEcg({ fs: 500, seconds: 60, bpm: 75 });
    for (let i = 0; i < mv.length; i++) mv[i] += 0.6 * Math.sin((2 * Math.PI * 50 * i) / 500);
    const m = matchBeats(beats, detect(mv, 500), 500);
    expect(m.fn + m.fp).toBeLessThanOrEqual(1);
  });

  it('rides out baseline wander (0.3 Hz, 2 mV)', () => {
    const { mv, beats } = syntheticEcg({ fs, seconds: 60, bpm: 75 });
    for (let i = 0; i < mv.length; i++) mv[i] += 2 * Math.sin((2 * Math.PI * 0.3 * i) / fs);
    const m = matchBeats(beats, detect(mv, fs), fs);
    expect(m.fn + m.fp).toBeLessThanOrEqual(1);
  });

  it('starts on a flat line (sensor not yet on the chest) and then finds every beat', () => {
    const { mv, fs: rfs, ref } = load('mitdb-118-5min');
    const lead = 10 * rfs;
    const x = new Float64Array(mv.length + lead).fill(mv[0], 0, lead);
    x.set(mv, lead);
    const m = matchBeats(
      ref.map((r) => r + lead),
      detect(x, rfs),
      rfs,
    );
    expect(m.fn + m.fp).toBeLessThanOrEqual(3);
  });

  it('finds no beats in a flat line and no NaN anywhere', () => {
    const d = new RPeakDetector({ fs });
    expect(d.push(new Float64Array(fs * 30).fill(0.5))).toEqual([]);
  });

  it('after a minute of flutter, keeps its QRS level: humps of a quarter of the QRS between beats stay noise', () => {
    const a = syntheticEcg({ fs, seconds: 30, bpm: 70 });
    const b = syntheticEcg({ fs, seconds: 30, bpm: 70 });
    const mid = Math.round(0.43 * fs);
    for (const beat of b.beats) {
      for (let i = beat + mid - 20; i <= beat + mid + 20 && i < b.mv.length; i++) {
        const d = (i - beat - mid) / (0.012 * fs);
        b.mv[i] += 0.36 * Math.exp(-0.5 * d * d);
      }
    }
    const flutter = Float64Array.from({ length: 60 * fs }, (_, i) => 0.8 * Math.sin((2 * Math.PI * 4 * i) / fs));
    const mv = new Float64Array(a.mv.length + flutter.length + b.mv.length);
    mv.set(a.mv, 0);
    mv.set(flutter, a.mv.length);
    const resume = a.mv.length + flutter.length;
    mv.set(b.mv, resume);
    const found = detect(mv, fs);
    expect(found.filter((s) => s > a.mv.length + 2 * fs && s < resume)).toEqual([]);
    const after = matchBeats(b.beats.map((s) => s + resume), found.filter((s) => s > resume), fs);
    // Leaving flutter takes a few seconds of QRS-like signal (checkVf); the beats after that are all found.
    expect(after.fn).toBeLessThanOrEqual(5);
    expect(after.fp).toBe(0);
  });

  it('finds beats again after the amplitude collapses to a fifth (electrode re-seated)', () => {
    const { mv, beats } = syntheticEcg({ fs, seconds: 60, bpm: 70 });
    for (let i = 30 * fs; i < mv.length; i++) mv[i] *= 0.2;
    const found = detect(mv, fs);
    const late = beats.filter((b) => b > 40 * fs);
    const m = matchBeats(late, found.filter((s) => s > 40 * fs - 10), fs);
    expect(m.fn).toBe(0);
  });
});
