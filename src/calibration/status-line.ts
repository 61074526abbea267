/** `motobio status`'s calibration line, from /status's `calibration` (./in-force.ts). */
import type { CalibrationView } from './in-force.js';

export function ageText(s: number | null): string {
  if (s === null) return 'age unknown';
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function formatCalibrationLine(c: CalibrationView): string {
  const sensor = c.sensor ?? 'sensor';
  let text: string;
  if (c.state === 'calibrated') text = `${sensor} calibrated ${c.calibratedAt ?? ''} (${ageText(c.ageS)})`;
  else if (c.state === 'unusable') text = `${sensor} UNCALIBRATED: the profile is unusable (${c.error ?? 'unreadable'}); recalibrate with "motobio calibrate ecg"`;
  else text = `${sensor} UNCALIBRATED: raw values are used; calibrate with "motobio calibrate ecg"`;
  const last = c.lastAttempt;
  if (last && last.result === 'fail') {
    text += `; last attempt FAILED ${ageText(last.ageS)}${last.reasons.length ? ` (${last.reasons[0]})` : ''}${c.state === 'calibrated' ? ', the earlier profile stays in force' : ''}`;
  }
  return `calibration: ${text}`;
}
