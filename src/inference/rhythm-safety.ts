/**
 * The rhythm rules' conditions, from the chain's rhythm state (SignalFeatures.rhythm): which
 * episode is going on, for how long, and whether the signal can tell at all. SafetyRules adds its
 * own confirmation (needS) and repetition on top, as for every rule.
 *
 * Confirmation windows, from the episode's onset as the chain dated it:
 * - sustained VT: the chain calls a run sustained after 8 s of ventricular beats; fire at once.
 * - VF: the detector's VF state needs 4 s of near-sinusoidal ECG; fire after 2 s more of it.
 * - pause: the chain calls it after 3 s with no beat on good signal; fire at once.
 * - AF: a calm prompt after 60 s of AF (paroxysms shorter than that are records only, af_short).
 * AF rules are off while the signal cannot be judged (noise, lead-off) or quality is under
 * `minQuality`: an episode found there is a guess. VT needs contact and no noise (the chain's
 * check, not the index, which a run of wide beats fails); VF and pause need contact only (below).
 * Episodes closed in the last 10 s count as well as open ones (RhythmState.recent).
 */
import type { RhythmEpisode } from '../signal/rhythm/types.js';
import type { SignalFeatures } from '../signal/types.js';
import type { RhythmRule } from './safety.js';

export interface RhythmSafetyConfig {
  readonly vtConfirmS: number;
  readonly vfConfirmS: number;
  readonly pauseConfirmS: number;
  /** AF lasting this long (s) is a prompt; shorter AF is a record only. */
  readonly afPromptS: number;
  /** Quality under this: no rhythm rule. */
  readonly minQuality: number;
}

export const DEFAULT_RHYTHM_SAFETY: RhythmSafetyConfig = {
  vtConfirmS: 0,
  vfConfirmS: 2,
  pauseConfirmS: 0,
  afPromptS: 60,
  minQuality: 0.3,
};

export interface RuleCondition {
  on: boolean;
  needS: number;
  value: number | null;
  threshold: number;
  what: string;
  episode?: { startS: number; endS: number };
}

export function rhythmConditions(s: SignalFeatures, quality: number, c: RhythmSafetyConfig): Record<RhythmRule, RuleCondition> {
  const r = s.rhythm;
  const judgeable = r !== undefined && r.judgeable && !s.leadOff && quality >= c.minQuality;
  // VF makes the quality index read noise (no QRS to match the template) and a pause has no beats
  // to score: both are gated by lead-off only; their detectors already refuse noise (the VF
  // check needs a near-sinusoid, the pause watch good windows throughout).
  const contact = r !== undefined && !s.leadOff;
  const seen = r === undefined ? [] : [...r.open, ...r.recent];
  const find = (ok: boolean, f: (e: RhythmEpisode) => boolean): RhythmEpisode | undefined => (ok ? seen.find(f) : undefined);
  // VT's own wide beats fail the quality index's template match, so VT is gated on contact and
  // the chain's noise check (RhythmState.quiet), not on the index.
  const runsJudged = contact && r.quiet !== false;
  const vt = find(runsJudged, (e) => e.type === 'VT' && e.sustained === true);
  const nsvt = find(runsJudged, (e) => e.type === 'VT' && e.sustained !== true);
  const vf = find(contact, (e) => e.type === 'VF');
  const pause = find(contact, (e) => e.type === 'pause');
  const af = judgeable ? r.open.find((e) => e.type === 'AF') : undefined;
  const len = (e: RhythmEpisode | undefined): number | null => (e ? Math.round((e.endS - e.startS) * 10) / 10 : null);
  const span = (e: RhythmEpisode | undefined): { episode?: { startS: number; endS: number } } => (e ? { episode: { startS: e.startS, endS: e.endS } } : {});
  const afLong = af !== undefined && af.endS - af.startS >= c.afPromptS;
  return {
    sustained_vt: { on: vt !== undefined, needS: c.vtConfirmS, value: vt?.evidence.rateBpm ?? null, threshold: 100, what: `sustained ventricular tachycardia (${vt?.evidence.beats ?? 0} beats at ${vt?.evidence.rateBpm ?? 0} bpm)`, ...span(vt) },
    vf: { on: vf !== undefined, needS: c.vfConfirmS, value: len(vf), threshold: c.vfConfirmS, what: 'ventricular fibrillation or flutter', ...span(vf) },
    pause: { on: pause !== undefined, needS: c.pauseConfirmS, value: len(pause), threshold: 3, what: `no heartbeat for ${len(pause) ?? 0} s on a good signal`, ...span(pause) },
    af_onset: { on: afLong, needS: 0, value: len(af), threshold: c.afPromptS, what: 'atrial fibrillation: stop when it is safe', ...span(af) },
    nsvt: { on: nsvt !== undefined, needS: 0, value: nsvt?.evidence.beats ?? null, threshold: 3, what: `non-sustained ventricular tachycardia (${nsvt?.evidence.beats ?? 0} beats)`, ...span(nsvt) },
    af_short: { on: af !== undefined && !afLong, needS: 0, value: len(af), threshold: c.afPromptS, what: 'atrial fibrillation (short so far)', ...span(af) },
  };
}
