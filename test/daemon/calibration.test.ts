import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applicableCalibration, loadCalibration, validateCalibration, type CalibrationProfile } from '../../src/calibration/profile.js';
import { isMotobioError } from '../../src/util/errors.js';
import { REPO, tempDir } from './helpers.js';

const example = JSON.parse(readFileSync(join(REPO, 'calibration', 'example.json'), 'utf8')) as CalibrationProfile;
let dir: { path: string; cleanup: () => void } | undefined;
afterEach(() => dir?.cleanup());

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isMotobioError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('calibration profiles', () => {
  it('the example in calibration/ is valid against the schema', () => {
    expect(validateCalibration(example, 'example.json').sensor_id).toBe('hc05-00211304a1b2');
  });

  it('loads <dir>/<sensor_id>.json, and nothing for a sensor never calibrated', () => {
    dir = tempDir('motobio-cal-');
    writeFileSync(join(dir.path, `${example.sensor_id}.json`), JSON.stringify(example));
    expect(loadCalibration(dir.path, example.sensor_id)?.apply).toEqual({ gain: 1, invert: true, fs_hz: 249.6 });
    expect(loadCalibration(dir.path, 'other-sensor')).toBeUndefined();
  });

  it('names each invalid field by path', () => {
    const bad = structuredClone(example) as unknown as { measured: Record<string, unknown>; apply: Record<string, unknown>; time: string };
    bad.measured['polarity'] = 0;
    bad.measured['hr_bpm'] = 400;
    delete bad.apply['gain'];
    bad.time = 'yesterday';
    const msg = errorOf(() => validateCalibration(bad, 'x.json'));
    expect(msg).toContain('measured.polarity:');
    expect(msg).toContain('measured.hr_bpm: must be <= 250');
    expect(msg).toContain('apply.gain: is required');
    expect(msg).toContain('time: must match format "date-time"');
    expect(msg).toContain('motobio calibrate ecg');
  });

  it('rejects a file renamed to another sensor, broken JSON and a bad sensor id', () => {
    dir = tempDir('motobio-cal-');
    writeFileSync(join(dir.path, 'other.json'), JSON.stringify(example));
    expect(errorOf(() => loadCalibration(dir!.path, 'other'))).toContain('is for sensor "hc05-00211304a1b2", not "other"');
    writeFileSync(join(dir.path, 'broken.json'), '{"schema_version": 1,');
    expect(errorOf(() => loadCalibration(dir!.path, 'broken'))).toContain('cannot read calibration profile');
    expect(errorOf(() => loadCalibration(dir!.path, '../etc/passwd'))).toContain('not a valid sensor id');
  });

  it('applies only a profile that passed', () => {
    expect(applicableCalibration(example).apply).toEqual(example.apply);
    const failed: CalibrationProfile = { ...example, result: 'fail', reasons: ['lead-off during the check'] };
    expect(applicableCalibration(failed)).toEqual({ apply: undefined, reason: `the last calibration (${example.time}) failed: lead-off during the check` });
    expect(applicableCalibration(undefined).apply).toBeUndefined();
  });
});
