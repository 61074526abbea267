/**
 * A calibration shows the strip as it runs: runCalibration against a real pseudo-terminal fed
 * with mitdb 118 (real time), its chunks into the calibration strip (the live view's
 * downsampling and watch's braille). The strip fills during the run, and the beats it marks are
 * the record's own reference beats (the cardiologists' annotations, not the chain's output),
 * each under its R peak in the braille.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCalibration } from '../../src/calibration/session.js';
import { calibrationStrip } from '../../src/cli/watch/calibration-strip.js';
import { BEAT_MARK } from '../../src/cli/watch/screen.js';
import { beatSamples, readAnnotations } from '../../src/sources/wfdb/annotations.js';
import { PtyPair, PtyWriter } from '../helpers/pty.js';
import { feed, loadRecording, MITDB_118, TEST_ADC } from '../sources/serial-feed.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('calibration strip', () => {
  it('fills while the calibration measures and marks the record’s own beats', async () => {
    const rec = loadRecording(MITDB_118, TEST_ADC);
    const dir = mkdtempSync(join(tmpdir(), 'motobio-calstrip-'));
    const pair = new PtyPair(dir);
    await pair.plug();
    const writer = new PtyWriter(pair.writerPath);
    await writer.open();
    const ac = new AbortController();
    const feeding = feed(writer, rec.counts, { protocol: 'text', fs: rec.fs, speed: 1, signal: ac.signal });
    cleanups.push(async () => {
      ac.abort();
      await feeding;
      await writer.close();
      await pair.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const strip = calibrationStrip(5);
    const during: string[][] = [];
    const { profile } = await runCalibration({
      device: pair.devicePath,
      seconds: 12,
      fs: rec.fs,
      adc: TEST_ADC,
      technician: 't',
      unit: 'u',
      onChunk: (o, fs) => strip.chunk(o, fs),
      onProgress: (p) => {
        if (p.step === 'measure') during.push(strip.lines(80, 6));
      },
    });
    expect(profile.result, profile.reasons.join('; ')).toBe('pass');
    // Shown as it runs: the progress ticks had a strip, with marks, before the end.
    const shown = during.filter((l) => l.length === 7);
    expect(shown.length).toBeGreaterThanOrEqual(8);
    const last = shown[shown.length - 1];
    expect(last.slice(0, 6).join('').match(/[\u2801-\u28ff]/g)?.length ?? 0).toBeGreaterThan(80);
    // mitdb 118 runs at about 70-80 bpm: 5 to 7 beats in a 5-s strip, minus the one not reported yet.
    const marks = last[6].split(BEAT_MARK).length - 1;
    expect(marks).toBeGreaterThanOrEqual(4);
    expect(marks).toBeLessThanOrEqual(8);

    // Each mark sits under an R peak: trace in the top strip rows within a column of it.
    const cols = [...last[6]].flatMap((c, i) => (c === BEAT_MARK ? [i] : []));
    const top = (c: number) => last.slice(0, 2).some((row) => [c - 1, c, c + 1].some((x) => /[\u2801-\u28ff]/.test([...row][x] ?? ' ')));
    for (const c of cols) expect(top(c), `trace above the mark in column ${c}\n${last.join('\n')}`).toBe(true);

    // The marked beats are the annotated ones, all shifted alike: the pty keeps what was written
    // before the port opened, so the source's sample 0 is some way into the record.
    const ref = beatSamples(readAnnotations(MITDB_118));
    const m = strip.model;
    const shownBeats = m.beats.filter((b) => b >= m.end - 5 * rec.fs);
    expect(shownBeats.length).toBeGreaterThanOrEqual(4);
    const offsets = shownBeats.map((b) => ref.reduce((a, r) => (Math.abs(r - b) < Math.abs(a - b) ? r : a), ref[0]) - b);
    // Within EC57's match window (150 ms across, as the accuracy ratchet scores beats) of the median shift.
    const mid = [...offsets].sort((a, b) => a - b)[Math.floor(offsets.length / 2)];
    for (const d of offsets) expect(Math.abs(d - mid), `offsets ${offsets.join(', ')}`).toBeLessThanOrEqual(0.075 * rec.fs);
    expect(m.fs).toBe(rec.fs);
  }, 60_000);
});
