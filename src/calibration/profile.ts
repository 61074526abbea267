/**
 * Technicians' calibration profiles (calibration/profile.schema.json): one JSON file per
 * sensor, `<calibration_dir>/<sensor_id>.json`, written by `motobio calibrate ecg` and read
 * here by the daemon. Only a profile that passed is applied; a failed one is an audit
 * record and is reported, not used (./store.ts keeps the history; ./in-force.ts applies).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { MotobioError, errorMessage } from '../util/errors.js';
import { formatPath } from '../config/env.js';
import { packageRoot } from '../core/package.js';

export interface CalibrationProfile {
  schema_version: 1;
  sensor_id: string;
  sensor: { kind: 'serial' | 'ble'; device: string; firmware: string; model?: string };
  unit: string;
  technician: string;
  time: string;
  clock_synchronized?: boolean;
  result: 'pass' | 'fail';
  reasons: string[];
  measured: {
    duration_s: number;
    fs_nominal_hz: number;
    fs_measured_hz: number;
    lead_off: boolean;
    baseline_mv: number;
    noise_floor_uv_rms: number;
    amplitude_mv: number;
    polarity: 1 | -1;
    hr_bpm: number | null;
    hr_reference_bpm?: number | null;
    quality: number;
  };
  apply: { gain: number; invert: boolean; fs_hz: number };
}

export const SENSOR_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The id a sensor's profile is filed under: `serial-ttyUSB0`, `ble-Polar-H10-1234`. */
export function sensorIdFor(device: string): string {
  const d = device.trim();
  const id = d.startsWith('/') ? `serial-${basename(d)}` : `ble-${d.replace(/[^A-Za-z0-9._-]+/g, '-')}`;
  return id.slice(0, 64);
}

let validator: ValidateFunction | undefined;

function compile(): ValidateFunction {
  if (validator) return validator;
  const schema = JSON.parse(readFileSync(join(packageRoot(), 'calibration', 'profile.schema.json'), 'utf8')) as object;
  const ajv = new Ajv({ allErrors: true, strict: true });
  // ISO 8601 with an offset, as Date.parse understands it.
  ajv.addFormat('date-time', (s: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s)));
  validator = ajv.compile(schema);
  return validator;
}

/** Validates a parsed profile; the error lists every problem with its path. */
export function validateCalibration(value: unknown, source: string): CalibrationProfile {
  const validate = compile();
  if (validate(value)) return value as CalibrationProfile;
  const lines = (validate.errors ?? []).map((e) => {
    const segs: (string | number)[] = e.instancePath
      .split('/')
      .slice(1)
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    if (e.keyword === 'required') segs.push((e.params as { missingProperty: string }).missingProperty);
    if (e.keyword === 'additionalProperties') segs.push((e.params as { additionalProperty: string }).additionalProperty);
    const msg = e.keyword === 'required' ? 'is required' : e.keyword === 'additionalProperties' ? 'is not a calibration setting' : (e.message ?? 'is invalid');
    return `  ${formatPath(segs) || '(profile)'}: ${msg}`;
  });
  throw new MotobioError('CALIBRATION_INVALID', `invalid calibration profile ${source}:\n${lines.join('\n')}\nRecalibrate the sensor with "motobio calibrate ecg" rather than editing the file.`);
}

/**
 * The profile for `sensorId` in `dir`, or undefined when the sensor was never calibrated.
 * Throws CONFIG_INVALID for a file that is there but unreadable or invalid.
 */
export function loadCalibration(dir: string, sensorId: string): CalibrationProfile | undefined {
  if (!SENSOR_ID_PATTERN.test(sensorId)) throw new MotobioError('USAGE', `"${sensorId}" is not a valid sensor id (letters, digits, ".", "_" or "-")`);
  const file = join(dir, `${sensorId}.json`);
  if (!existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MotobioError('CALIBRATION_INVALID', `cannot read calibration profile ${file}: ${errorMessage(e)}; recalibrate the sensor with "motobio calibrate ecg"`);
  }
  const profile = validateCalibration(value, file);
  if (profile.sensor_id !== sensorId) {
    throw new MotobioError('CALIBRATION_INVALID', `calibration profile ${file} is for sensor "${profile.sensor_id}", not "${sensorId}"; it was renamed by hand: recalibrate`);
  }
  return profile;
}

/** What the daemon applies: a passed profile's settings, or nothing (with the reason). */
export function applicableCalibration(profile: CalibrationProfile | undefined): { apply: CalibrationProfile['apply'] } | { apply: undefined; reason: string } {
  if (!profile) return { apply: undefined, reason: 'sensor not calibrated: raw values are used' };
  if (profile.result !== 'pass') return { apply: undefined, reason: `the last calibration (${profile.time}) failed: ${profile.reasons.join('; ') || 'no reason recorded'}` };
  return { apply: profile.apply };
}
