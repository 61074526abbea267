/**
 * A calibration shows the strip as it runs: runCalibration against a real pseudo-terminal fed
 * with mitdb 118 (real time), its chunks into the calibration strip (the live view's
 * downsampling and watch's braille). The strip fills during the run, and the beats it marks are
 * the record's own reference beats (the cardiologists' annotations, not the chain's output),
 * each under its R peak in the braille.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCalibration } from '../../src/calibration/session.js';
import { calibrationStrip } from '../../src/cli/watch/calibration-strip.js';
import { BEAT_MARK } from '../../src/cli/watch/screen.js';
import { beatSamples, readAnnotations } from '../../src/sources/wfdb/annotations.js';
import { PtyPair, PtyWriter } from '../helpers/pty.js';
import { feed, loadRecording, MITDB_118, TEST_ADC } from '../sources/serial-feed.js';
import { REPO, waitFor } from '../daemon/helpers.js';
import { DEFAULT_ADC } from '../../src/sources/serial/adc.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fedPty(counts: ArrayLike<number>, fs: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-calstrip-'));
  const pair = new PtyPair(dir);
  await pair.plug();
  const writer = new PtyWriter(pair.writerPath);
  await writer.open();
  const ac = new AbortController();
  const feeding = feed(writer, counts, { protocol: 'text', fs, speed: 1, signal: ac.signal });
  cleanups.push(async () => {
    ac.abort();
    await feeding;
    await writer.close();
    await pair.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return pair.devicePath;
}

describe('calibration strip', () => {
  it('is on the technician\'s terminal while `motobio calibrate ecg` runs (tmux, 80x24)', async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first`);
    // The command's own ADC scaling (10-bit AD8232 board): it has no option for another.
    const rec = loadRecording(MITDB_118, DEFAULT_ADC);
    const device = await fedPty(rec.counts, rec.fs);
    const out = mkdtempSync(join(tmpdir(), 'motobio-calstrip-out-'));
    const socket = `motobio-cal-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8', env: { ...process.env, LANG: 'C.UTF-8' } });
    cleanups.push(() => {
      try {
        // kill-server leaves its socket file behind.
        const path = tmux('display-message', '-p', '#{socket_path}').trim();
        tmux('kill-server');
        rmSync(path, { force: true });
      } catch {
        // Already gone.
      }
      rmSync(out, { recursive: true, force: true });
    });
    tmux('new-session', '-d', '-s', 'cal', '-x', '80', '-y', '24', `${process.execPath} ${MAIN} calibrate ecg --device ${device} --fs ${rec.fs} --seconds 12 --dir ${out}; echo CAL_EXIT=$?; sleep 600`);
    const capture = () => tmux('capture-pane', '-p', '-t', 'cal');
    // While it measures: a strip with marks, and the reading under it (redrawn in place, not scrolled).
    const screen = await waitFor(
      'the strip during the calibration',
      () => {
        const t = capture();
        return (t.match(/[\u2801-\u28ff]/g)?.length ?? 0) > 60 && t.split(BEAT_MARK).length - 1 >= 3 && /\d+ s: heart rate \d+ bpm/.test(t) && !t.includes('CAL_EXIT=') ? t : undefined;
      },
      30_000,
      250,
    );
    expect(screen.split('\n').filter((l) => /\d+ s: heart rate/.test(l)).length, screen).toBe(1);
    await waitFor('the calibration to end', () => capture().includes('CAL_EXIT='), 40_000, 250);
    expect(capture()).toMatch(/result +(PASS|FAIL)/);
  }, 90_000);

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
