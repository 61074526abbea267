/**
 * Where calibrations are kept, so a failed attempt never replaces a good profile:
 *
 *   motobio calibrate ecg ──▶ recordCalibration ──▶ <dir>/<sensor>/history/<UTC time>-pass|fail.json  (every attempt, newest HISTORY_KEEP)
 *                                              └─ pass only ─▶ <dir>/<sensor>.json                  (the profile in force)
 *   daemon start ──▶ calibrationInForce(<dir>, <sensor>) ──▶ the profile in force + the last attempt (for status)
 *
 * `<sensor>.json` is where the daemon has always read its profile, so only a passing profile
 * is ever written there. One left failed by an older release is not applied: the newest
 * passing profile in the history is used instead.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, removeDurable, writeFileDurable } from '../update/durable-fs.js';
import { MotobioError, errorMessage } from '../util/errors.js';
import { loadCalibration, SENSOR_ID_PATTERN, validateCalibration, type CalibrationProfile } from './profile.js';

/** Attempts kept per sensor: months of weekly checks, a few hundred kB at most. */
export const HISTORY_KEEP = 20;

const HISTORY_NAME = /^(\d{8}T\d{6}\.\d{3}Z)(?:-\d+)?-(pass|fail)\.json$/;

export interface RecordedCalibration {
  /** The attempt's file in the history. */
  readonly historyFile: string;
  /** The profile in force after this attempt: this one when it passed, else the earlier one (if any). */
  readonly inForceFile: string | undefined;
  readonly inForce: CalibrationProfile | undefined;
  /** True when this attempt became the profile in force. */
  readonly applied: boolean;
}

export function historyDir(dir: string, sensorId: string): string {
  return join(dir, sensorId, 'history');
}

export function profileFile(dir: string, sensorId: string): string {
  return join(dir, `${sensorId}.json`);
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '');
}

/** Files the attempt in the history; a passing one also becomes the profile in force. */
export function recordCalibration(dir: string, profile: CalibrationProfile, now = new Date()): RecordedCalibration {
  const id = profile.sensor_id;
  if (!SENSOR_ID_PATTERN.test(id)) throw new MotobioError('USAGE', `"${id}" is not a valid sensor id (letters, digits, ".", "_" or "-")`);
  const hist = historyDir(dir, id);
  ensurePrivateDir(dir);
  ensurePrivateDir(join(dir, id));
  ensurePrivateDir(hist);
  const text = `${JSON.stringify(profile, null, 2)}\n`;
  let historyFile = join(hist, `${stamp(now)}-${profile.result}.json`);
  for (let n = 1; existsSync(historyFile); n++) historyFile = join(hist, `${stamp(now)}-${n}-${profile.result}.json`);
  writeFileDurable(historyFile, text);
  pruneHistory(hist);
  if (profile.result === 'pass') {
    const file = profileFile(dir, id);
    writeFileDurable(file, text);
    return { historyFile, inForceFile: file, inForce: profile, applied: true };
  }
  const kept = calibrationInForce(dir, id);
  return { historyFile, inForceFile: kept.file, inForce: kept.profile, applied: false };
}

function pruneHistory(hist: string): void {
  const names = readdirSync(hist)
    .filter((f) => HISTORY_NAME.test(f))
    .sort();
  for (const f of names.slice(0, Math.max(0, names.length - HISTORY_KEEP))) removeDurable(join(hist, f));
}

export interface HistoryEntry {
  readonly file: string;
  readonly result: 'pass' | 'fail';
  /** undefined when the file could not be read or is not a valid profile. */
  readonly profile: CalibrationProfile | undefined;
  readonly error?: string;
}

/** The sensor's attempts, newest first. */
export function calibrationHistory(dir: string, sensorId: string): HistoryEntry[] {
  const hist = historyDir(dir, sensorId);
  if (!existsSync(hist)) return [];
  const names = readdirSync(hist)
    .filter((f) => HISTORY_NAME.test(f))
    .sort()
    .reverse();
  return names.map((f) => {
    const file = join(hist, f);
    const result = (HISTORY_NAME.exec(f)?.[2] ?? 'fail') as 'pass' | 'fail';
    try {
      return { file, result, profile: validateCalibration(JSON.parse(readFileSync(file, 'utf8')), file) };
    } catch (e) {
      return { file, result, profile: undefined, error: errorMessage(e) };
    }
  });
}

export interface CalibrationInForce {
  /** The passing profile the daemon applies, or undefined. */
  readonly profile: CalibrationProfile | undefined;
  readonly file: string | undefined;
  /** The newest attempt, pass or fail (what `status` reports next to the profile in force). */
  readonly lastAttempt: CalibrationProfile | undefined;
  /** Why the profile in force is missing or older than it should be. */
  readonly note?: string;
}

/** The passing profile in force for a sensor and its newest attempt. Throws CALIBRATION_INVALID for an unusable `<sensor>.json` with no passing history. */
export function calibrationInForce(dir: string, sensorId: string): CalibrationInForce {
  const history = calibrationHistory(dir, sensorId);
  const lastAttempt = history.find((h) => h.profile !== undefined)?.profile;
  let current: CalibrationProfile | undefined;
  let unusable: Error | undefined;
  try {
    current = loadCalibration(dir, sensorId);
  } catch (e) {
    unusable = e instanceof Error ? e : new Error(String(e));
  }
  if (current?.result === 'pass') return { profile: current, file: profileFile(dir, sensorId), lastAttempt: lastAttempt ?? current };
  // <sensor>.json failed (an older release wrote failures there), is broken, or is missing.
  const pass = history.find((h) => h.profile?.result === 'pass');
  const why = unusable !== undefined ? errorMessage(unusable) : current ? `${profileFile(dir, sensorId)} holds a failed calibration` : undefined;
  if (pass?.profile) return { profile: pass.profile, file: pass.file, lastAttempt: lastAttempt ?? current, ...(why !== undefined ? { note: `${why}; the last passing profile (${pass.profile.time}) from the history is used` } : {}) };
  if (unusable !== undefined) throw unusable;
  return { profile: undefined, file: undefined, lastAttempt: lastAttempt ?? current };
}
