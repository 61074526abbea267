/**
 * The daemon's side of calibration: at start (when the chain opens) the passing profile in
 * force is applied and reported as the `calibration` component of /status, with the newest
 * attempt beside it, so a technician sees "calibrated 3 d ago, last attempt FAILED 5 min ago"
 * instead of a single warning in the journal.
 *
 *   <dir>/<sensor>.json + history ──calibrationInForce──▶ sensorCalibration ──▶ chain (gain, polarity, rate)
 *                                                                     └──▶ telemetry.setStatus('calibration') ──▶ /status, motobio status
 */
import type { StageContext } from '../core/context.js';
import type { ComponentStatus } from '../core/telemetry-sink.js';
import { errorMessage } from '../util/errors.js';
import { sensorIdFor, type CalibrationProfile } from './profile.js';
import { calibrationInForce } from './store.js';

/** The `calibration` component's state word. */
export type CalibrationState = 'calibrated' | 'uncalibrated' | 'unusable';

export interface CalibrationDetail {
  readonly sensor: string;
  /** The profile applied: when it was made and what it applies. */
  readonly inForce: { readonly time: string; readonly file: string; readonly apply: CalibrationProfile['apply'] } | null;
  /** The newest attempt (pass or fail); a failed one is recorded but not applied. */
  readonly lastAttempt: { readonly time: string; readonly result: 'pass' | 'fail'; readonly reasons: readonly string[] } | null;
  readonly note?: string;
}

/** The passed calibration of the configured sensor, reported to telemetry; never throws (a file never stops the daemon). */
export function sensorCalibration(ctx: StageContext): CalibrationProfile['apply'] | undefined {
  const s = ctx.config.source;
  if (s.kind === 'replay' || !s.device) return undefined;
  const id = sensorIdFor(s.device);
  const log = ctx.log.child({ mod: 'calibration' });
  const report = (state: CalibrationState, detail: CalibrationDetail, lastError?: string): void =>
    ctx.telemetry.setStatus('calibration', { state, detail: { ...detail }, ...(lastError !== undefined ? { lastError } : {}) });
  try {
    const got = calibrationInForce(ctx.config.calibration_dir, id);
    const last = got.lastAttempt ? { time: got.lastAttempt.time, result: got.lastAttempt.result, reasons: got.lastAttempt.reasons } : null;
    if (got.profile && got.file) {
      const failedSince = last?.result === 'fail' ? last : undefined;
      if (failedSince) log.warn({ sensor: id, profile: got.profile.time, failed: failedSince.time }, `the last calibration (${failedSince.time}) failed: ${failedSince.reasons.join('; ')}; the earlier passing profile stays in force`);
      else log.info({ sensor: id, apply: got.profile.apply, time: got.profile.time }, 'calibration applied');
      if (got.note !== undefined) log.warn({ sensor: id }, got.note);
      report('calibrated', { sensor: id, inForce: { time: got.profile.time, file: got.file, apply: got.profile.apply }, lastAttempt: last, ...(got.note !== undefined ? { note: got.note } : {}) });
      return got.profile.apply;
    }
    const reason = last?.result === 'fail' ? `the only calibration (${last.time}) failed: ${last.reasons.join('; ')}; raw values are used` : 'sensor not calibrated: raw values are used';
    log.warn({ sensor: id }, reason);
    report('uncalibrated', { sensor: id, inForce: null, lastAttempt: last, note: reason });
    return undefined;
  } catch (e) {
    log.error({ sensor: id, err: errorMessage(e) }, 'calibration profile unusable; the sensor runs uncalibrated');
    report('unusable', { sensor: id, inForce: null, lastAttempt: null }, errorMessage(e));
    return undefined;
  }
}

export interface CalibrationView {
  readonly state: string;
  readonly sensor: string | null;
  readonly calibratedAt: string | null;
  /** Seconds since the profile in force was made (from its own time stamp). */
  readonly ageS: number | null;
  readonly lastAttempt: { readonly time: string; readonly result: 'pass' | 'fail'; readonly ageS: number | null; readonly reasons: readonly string[] } | null;
  readonly note?: string;
  readonly error?: string;
}

const ageOf = (time: string, nowMs: number): number | null => {
  const t = Date.parse(time);
  return Number.isNaN(t) ? null : Math.max(0, Math.round((nowMs - t) / 1000));
};

/** /status's `calibration`: the component's detail with ages worked out at the time of asking. */
export function calibrationView(c: ComponentStatus | undefined, nowMs = Date.now()): CalibrationView | undefined {
  if (!c) return undefined;
  const d = (c.detail ?? {}) as Partial<CalibrationDetail>;
  const last = d.lastAttempt ?? null;
  return {
    state: c.state,
    sensor: d.sensor ?? null,
    calibratedAt: d.inForce?.time ?? null,
    ageS: d.inForce ? ageOf(d.inForce.time, nowMs) : null,
    lastAttempt: last ? { ...last, ageS: ageOf(last.time, nowMs) } : null,
    ...(d.note !== undefined ? { note: d.note } : {}),
    ...(c.lastError !== undefined ? { error: c.lastError } : {}),
  };
}
