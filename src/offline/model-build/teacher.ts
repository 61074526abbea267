/**
 * The rule-based teacher the bootstrap policy imitates. Deliberately simple and readable:
 * the point of the bootstrap model is to exercise the whole int8 pipeline with behaviour a
 * person can check, not to be clever. Thresholds are in raw units (bpm, ms, minutes).
 */
import type { Action } from '../../inference/features.js';

export interface TeacherInput {
  readonly hr_bpm: number;
  readonly hr_above_rest_bpm: number;
  readonly hr_slope_bpm_per_min: number;
  readonly rmssd_ms: number;
  readonly lf_hf: number;
  readonly quality: number;
  readonly minutes_riding: number;
  /** Large when no cue has been given. */
  readonly minutes_since_cue: number;
  readonly last_action: Action;
}

export const TEACHER_RULES = [
  'quality < 0.5 -> none (never coach on a signal that cannot be trusted)',
  'hr >= 150 or hr <= 40 bpm -> safety_alert (advisory; the hard safety rules act on sustained values)',
  'less than 3 min since the last cue -> none',
  'riding >= 100 min and the last cue was not suggest_break -> suggest_break',
  'hr >= rest + 25 bpm and RMSSD < 25 ms -> breathing_cue',
  'hr >= rest + 15 bpm and (slope >= 3 bpm/min or LF/HF >= 3) -> relax_posture_cue',
  'otherwise none',
] as const;

export function teacher(x: TeacherInput): Action {
  if (x.quality < 0.5) return 'none';
  if (x.hr_bpm >= 150 || x.hr_bpm <= 40) return 'safety_alert';
  if (x.minutes_since_cue < 3) return 'none';
  if (x.minutes_riding >= 100 && x.last_action !== 'suggest_break') return 'suggest_break';
  if (x.hr_above_rest_bpm >= 25 && x.rmssd_ms < 25) return 'breathing_cue';
  if (x.hr_above_rest_bpm >= 15 && (x.hr_slope_bpm_per_min >= 3 || x.lf_hf >= 3)) return 'relax_posture_cue';
  return 'none';
}
