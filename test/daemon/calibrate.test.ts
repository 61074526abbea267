/**
 * `motobio calibrate ecg` against a real pseudo-terminal fed with a real record: the measured
 * heart rate matches the record's own, the profile validates and is private; a lead-off stream
 * fails with the reason; swapped electrodes are found and corrected.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCalibration } from '../../src/calibration/session.js';
import { loadCalibration } from '../../src/calibration/profile.js';
import { beatSamples, readAnnotations } from '../../src/sources/wfdb/annotations.js';
import { PtyPair, PtyWriter } from '../helpers/pty.js';
import { feed, loadRecording, MITDB_118, TEST_ADC } from '../sources/serial-feed.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function ptyFed(counts: ArrayLike<number> | 'lead-off', fs: number): Promise<{ device: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-cal-'));
  const pair = new PtyPair(dir);
  await pair.plug();
  const writer = new PtyWriter(pair.writerPath);
  await writer.open();
  const ac = new AbortController();
  let feeding: Promise<unknown>;
  if (counts === 'lead-off') {
    // What an AD8232 sketch prints while LO+/LO- are high: one "!" line per sample.
    feeding = (async () => {
      for (let i = 0; i < 60 * 4 && !ac.signal.aborted; i++) {
        await writer.write(Buffer.from('!\n'.repeat(fs / 4), 'latin1'));
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
  } else feeding = feed(writer, counts, { protocol: 'text', fs, speed: 1, signal: ac.signal });
  cleanups.push(async () => {
    ac.abort();
    await feeding;
    await writer.close();
    await pair.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { device: pair.devicePath, dir };
}

describe('motobio calibrate ecg', () => {
  it('passes a real record on a pty, measures its heart rate within 2 bpm, and writes a valid private profile', async () => {
    const rec = loadRecording(MITDB_118, TEST_ADC);
    const { device, dir } = await ptyFed(rec.counts, rec.fs);
    const messages: string[] = [];
    const { profile, file } = await runCalibration({
      device,
      seconds: 20,
      fs: rec.fs,
      adc: TEST_ADC,
      technician: 'T. Tester',
      unit: 'bike-001',
      sensorId: 'hc05-test',
      dir: join(dir, 'calibration'),
      onProgress: (p) => messages.push(p.message),
    });
    expect(profile.result, profile.reasons.join('; ')).toBe('pass');
    // The record's own heart rate over the same stretch (reference beats of the first 25 s).
    const ref = beatSamples(readAnnotations(MITDB_118)).filter((s) => s < 25 * rec.fs);
    const refHr = (60 * (ref.length - 1) * rec.fs) / (ref[ref.length - 1] - ref[0]);
    expect(Math.abs(profile.measured.hr_bpm! - refHr)).toBeLessThanOrEqual(2);
    expect(profile.measured.polarity).toBe(1);
    expect(Math.abs(profile.measured.fs_measured_hz - 360)).toBeLessThan(18);
    expect(profile.measured.amplitude_mv).toBeGreaterThan(0.3);
    expect(messages.some((m) => /heart rate \d+ bpm/.test(m))).toBe(true);
    expect(file).toBe(join(dir, 'calibration', 'hc05-test.json'));
    expect(statSync(file!).mode & 0o077).toBe(0);
    expect(loadCalibration(join(dir, 'calibration'), 'hc05-test')).toEqual(profile);
  });

  it('finds swapped electrodes (inverted QRS) and corrects them in software', async () => {
    const rec = loadRecording(MITDB_118, TEST_ADC);
    const mid = 2 ** ((TEST_ADC.bits ?? 10) - 1);
    const inverted = Int32Array.from(rec.counts, (c) => 2 * mid - c);
    const { device, dir } = await ptyFed(inverted, rec.fs);
    const { profile } = await runCalibration({ device, seconds: 15, fs: rec.fs, adc: TEST_ADC, technician: 't', unit: 'u', dir });
    expect(profile.result, profile.reasons.join('; ')).toBe('pass');
    expect(profile.measured.polarity).toBe(-1);
    expect(profile.apply.invert).toBe(true);
    expect(profile.reasons.join()).toMatch(/polarity inverted/);
  });

  it('fails a lead-off stream with the reason a technician can act on, and records the failure', async () => {
    const { device, dir } = await ptyFed('lead-off', 360);
    const { profile, file } = await runCalibration({ device, seconds: 10, fs: 360, adc: TEST_ADC, technician: 't', unit: 'u', sensorId: 'lo', dir });
    expect(profile.result).toBe('fail');
    expect(profile.measured.lead_off).toBe(true);
    expect(profile.reasons.join()).toMatch(/leads off \d+ % of the time: check that all three electrodes touch skin/);
    expect(JSON.parse(readFileSync(file!, 'utf8'))).toMatchObject({ result: 'fail' });
  });

  it('fails with the reason when nothing arrives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'motobio-cal-'));
    const pair = new PtyPair(dir);
    await pair.plug();
    cleanups.push(async () => {
      await pair.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const { profile } = await runCalibration({ device: pair.devicePath, seconds: 10, fs: 250, technician: 't', unit: 'u' });
    expect(profile.result).toBe('fail');
    expect(profile.reasons[0]).toMatch(/no ECG samples within 10 s.*powered, paired/);
  });
});
