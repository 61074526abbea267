/**
 * A failed calibration never replaces the last good profile. Two real calibrations over a
 * socat pty (a real record, then a lead-off stream) into the same calibration folder: the
 * profile in force stays the passing one byte for byte, both attempts are in the history, and
 * the daemon's calibration stage applies the pass and reports both on a real health server's
 * /status (with ages) and in `motobio status`'s text.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCalibration } from '../../src/calibration/session.js';
import { calibrationInForce, calibrationHistory, HISTORY_KEEP, recordCalibration } from '../../src/calibration/store.js';
import { sensorCalibration } from '../../src/calibration/in-force.js';
import { loadConfig } from '../../src/config/load.js';
import { Clock } from '../../src/core/clock.js';
import { HealthServer, type DaemonStatus } from '../../src/daemon/health.js';
import { Telemetry } from '../../src/daemon/telemetry.js';
import { formatStatus } from '../../src/cli/commands/status.js';
import { createLogger } from '../../src/util/log.js';
import { PtyPair, PtyWriter } from '../helpers/pty.js';
import { feed, loadRecording, MITDB_118, TEST_ADC } from '../sources/serial-feed.js';
import { Writable } from 'node:stream';
import type { CalibrationProfile } from '../../src/calibration/profile.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function pty(dir: string, what: 'record' | 'lead-off'): Promise<string> {
  const pair = new PtyPair(dir, what === 'record' ? 'ttyA' : 'ttyB');
  await pair.plug();
  const writer = new PtyWriter(pair.writerPath);
  await writer.open();
  const ac = new AbortController();
  const rec = loadRecording(MITDB_118, TEST_ADC);
  const feeding =
    what === 'record'
      ? feed(writer, rec.counts, { protocol: 'text', fs: rec.fs, speed: 1, signal: ac.signal })
      : (async () => {
          for (let i = 0; i < 240 && !ac.signal.aborted; i++) {
            await writer.write(Buffer.from('!\n'.repeat(90), 'latin1'));
            await new Promise((r) => setTimeout(r, 250));
          }
        })();
  cleanups.push(async () => {
    ac.abort();
    await feeding;
    await writer.close();
    await pair.close();
  });
  return pair.devicePath;
}

describe('calibration history: the last passing profile stays in force', () => {
  it('a failed attempt is recorded but not applied; /status and motobio status show the profile in force, its age and the failure', async () => {
    const root = mkdtempSync(join(tmpdir(), 'motobio-calhist-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const cal = join(root, 'calibration');
    const good = await runCalibration({ device: await pty(root, 'record'), seconds: 12, fs: 360, adc: TEST_ADC, technician: 't', unit: 'u', sensorId: 'hc05', dir: cal });
    expect(good.profile.result, good.profile.reasons.join('; ')).toBe('pass');
    const inForce = join(cal, 'hc05.json');
    expect(good.file).toBe(inForce);
    const before = readFileSync(inForce, 'utf8');

    const bad = await runCalibration({ device: await pty(root, 'lead-off'), seconds: 10, fs: 360, adc: TEST_ADC, technician: 't', unit: 'u', sensorId: 'hc05', dir: cal });
    expect(bad.profile.result).toBe('fail');
    expect(bad.recorded?.applied).toBe(false);
    expect(bad.recorded?.inForce?.time).toBe(good.profile.time);
    expect(bad.file).toMatch(/hc05\/history\/\d{8}T\d{6}\.\d{3}Z-fail\.json$/);
    // The profile in force is untouched; both attempts are in the history, newest first.
    expect(readFileSync(inForce, 'utf8')).toBe(before);
    expect(calibrationHistory(cal, 'hc05').map((h) => h.result)).toEqual(['fail', 'pass']);
    const got = calibrationInForce(cal, 'hc05');
    expect(got.profile).toEqual(good.profile);
    expect(got.lastAttempt?.result).toBe('fail');

    // The daemon's calibration stage, reporting into a real Telemetry served by a real health server.
    const config = loadConfig({ env: {} }).config;
    const telemetry = new Telemetry({ processMetrics: false });
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }) });
    const ctx = { config: { ...config, calibration_dir: cal, source: { ...config.source, kind: 'serial' as const, device: '/dev/ttyHC05' } }, configFile: undefined, cwd: root, log, clock: new Clock(), telemetry };
    // sensorIdFor('/dev/ttyHC05') is serial-ttyHC05: file the same attempts under that id.
    for (const h of calibrationHistory(cal, 'hc05').reverse()) recordCalibration(cal, { ...(h.profile as CalibrationProfile), sensor_id: 'serial-ttyHC05' });
    expect(sensorCalibration(ctx as never)).toEqual(good.profile.apply);
    expect(lines.join('')).toMatch(/"level":40.*failed: leads off.*the earlier passing profile stays in force/);

    const health = new HealthServer({ host: '127.0.0.1', port: 0, log, telemetry, clock: ctx.clock, state: () => 'running', info: { version: 't', device: 'd', startedAtMs: Date.now(), configFile: undefined, source: 'serial', links: [] } });
    await health.start(new AbortController().signal);
    cleanups.push(() => health.stop());
    const status = (await (await fetch(`http://127.0.0.1:${health.port}/status`)).json()) as DaemonStatus;
    expect(status.calibration).toMatchObject({ state: 'calibrated', sensor: 'serial-ttyHC05', calibratedAt: good.profile.time, lastAttempt: { result: 'fail', time: bad.profile.time } });
    expect(status.calibration?.ageS).toBeGreaterThanOrEqual(10);
    expect(status.calibration?.ageS).toBeLessThan(600);
    const text = formatStatus(status);
    expect(text).toMatch(/calibration: serial-ttyHC05 calibrated .* \(\d+ s ago\); last attempt FAILED \d+ s ago \(leads off .*\), the earlier profile stays in force/);
  }, 90_000);

  it('keeps the newest attempts only, and an old failed <sensor>.json falls back to the last pass in the history', () => {
    const cal = mkdtempSync(join(tmpdir(), 'motobio-calhist-'));
    cleanups.push(() => rmSync(cal, { recursive: true, force: true }));
    const example = JSON.parse(readFileSync('calibration/example.json', 'utf8')) as CalibrationProfile;
    const pass = { ...example, sensor_id: 's1' };
    const fail: CalibrationProfile = { ...pass, result: 'fail', reasons: ['leads off'] };
    recordCalibration(cal, pass, new Date(Date.UTC(2026, 0, 1)));
    for (let i = 0; i < HISTORY_KEEP + 5; i++) recordCalibration(cal, fail, new Date(Date.UTC(2026, 0, 2, 0, 0, i)));
    expect(readdirSync(join(cal, 's1', 'history'))).toHaveLength(HISTORY_KEEP);
    expect(calibrationInForce(cal, 's1').profile?.result).toBe('pass');
    // An older release wrote failures over the profile; with a pass in the history, that one is used.
    mkdirSync(join(cal, 's2', 'history'), { recursive: true });
    writeFileSync(join(cal, 's2', 'history', '20260101T000000.000Z-pass.json'), JSON.stringify({ ...pass, sensor_id: 's2' }));
    writeFileSync(join(cal, 's2.json'), JSON.stringify({ ...fail, sensor_id: 's2' }));
    const got = calibrationInForce(cal, 's2');
    expect(got.profile?.result).toBe('pass');
    expect(got.note).toMatch(/holds a failed calibration; the last passing profile .* from the history is used/);
  });
});
