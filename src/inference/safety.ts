/**
 * Hard safety rules. They sit beside the policy, need no model, and win over it: while any
 * rule is active the model's cues are held back. Each rule fires when its condition has held
 * for its duration, and fires again every `repeatS` while it persists.
 */
import type { SignalFeatures } from '../signal/types.js';
import type { RideContext } from './features.js';
import { rhythmConditions, DEFAULT_RHYTHM_SAFETY, type RhythmSafetyConfig } from './rhythm-safety.js';

/**
 * Rhythm rules (rhythm-safety.ts): sustained_vt, vf and pause are emergencies, af_onset a calm
 * prompt to stop when safe; nsvt and af_short are records only (SafetyResult.records), never an alert.
 */
export type RhythmRule = 'sustained_vt' | 'vf' | 'pause' | 'af_onset' | 'nsvt' | 'af_short';
export type SafetyRule = 'hr_high' | 'hr_low' | 'leads_off' | 'sensor_lost' | 'quality_low' | RhythmRule;

/** emergency: rider prompt at once, safety record, ECG strip kept; prompt: calm advice; record: logged only. */
export type SafetySeverity = 'emergency' | 'prompt' | 'record';

export const SEVERITY: Record<SafetyRule, SafetySeverity> = {
  hr_high: 'prompt',
  hr_low: 'prompt',
  leads_off: 'prompt',
  sensor_lost: 'prompt',
  quality_low: 'prompt',
  sustained_vt: 'emergency',
  vf: 'emergency',
  pause: 'emergency',
  // AF is a calm prompt (stop when safe), never an emergency: the detector no longer sees AF in a
  // rider's breathing (drive05, 0 false onsets), but it still does on some hearts with heavy
  // ventricular ectopy (0.6/h on non-AF mitdb, issue 21). The server sees every onset.
  af_onset: 'prompt',
  nsvt: 'record',
  af_short: 'record',
};

export interface SafetyConfig {
  readonly maxHrBpm: number;
  readonly minHrBpm: number;
  /** How long HR must stay out of range (with good signal) before it counts, s. */
  readonly hrSustainS: number;
  /** Quality at or above which an HR reading is trusted for the HR rules. */
  readonly goodQuality: number;
  readonly leadOffS: number;
  /** No beat for this long, or the sensor disconnected for this long, while riding. */
  readonly sensorLostS: number;
  readonly lowQuality: number;
  readonly lowQualityS: number;
  /** A persisting condition fires again after this long. */
  readonly repeatS: number;
  /** Rhythm rules' confirmation windows; DEFAULT_RHYTHM_SAFETY when left out. */
  readonly rhythm?: RhythmSafetyConfig;
}

export const DEFAULT_SAFETY: SafetyConfig = {
  maxHrBpm: 185,
  minHrBpm: 35,
  hrSustainS: 20,
  goodQuality: 0.6,
  leadOffS: 10,
  sensorLostS: 15,
  lowQuality: 0.3,
  lowQualityS: 120,
  repeatS: 120,
};

export interface SafetyTrigger {
  readonly rule: SafetyRule;
  /** Stream time the condition started, s. */
  readonly sinceS: number;
  readonly value: number | null;
  readonly threshold: number;
  readonly message: string;
  /** How the unit should act on it (SEVERITY); present on every trigger. */
  readonly severity?: SafetySeverity;
  /** Rhythm rules: the episode's start and end on the stream timeline, s (the ECG strip to keep). */
  readonly episode?: { readonly startS: number; readonly endS: number };
}

interface RuleState {
  onsetS: number | null;
  lastFiredS: number | null;
}

export interface SafetyResult {
  /** Rules that fired at this decision (go to the rider and the record). */
  readonly triggers: SafetyTrigger[];
  /** Rules whose condition holds long enough right now, fired or not. */
  readonly active: SafetyRule[];
  /** Record-only rules (nsvt, af_short) that fired: for the record, never shown to the rider. */
  readonly records?: SafetyTrigger[];
}

const RULES: SafetyRule[] = ['hr_high', 'hr_low', 'leads_off', 'sensor_lost', 'quality_low', 'sustained_vt', 'vf', 'pause', 'af_onset', 'nsvt', 'af_short'];

export class SafetyRules {
  private readonly state = new Map<SafetyRule, RuleState>(RULES.map((r) => [r, { onsetS: null, lastFiredS: null }]));

  constructor(readonly config: SafetyConfig = DEFAULT_SAFETY) {}

  /** Forget every onset (a new ride). */
  reset(): void {
    for (const st of this.state.values()) {
      st.onsetS = null;
      st.lastFiredS = null;
    }
  }

  evaluate(s: SignalFeatures, ride: RideContext): SafetyResult {
    const c = this.config;
    const t = s.endS;
    // A quality the chain could not compute counts as unusable, never as good.
    const quality = Number.isFinite(s.quality) ? s.quality : 0;
    const trustedHr = s.hrBpm !== null && Number.isFinite(s.hrBpm) && quality >= c.goodQuality && !s.leadOff ? s.hrBpm : null;
    const sinceBeat = s.secondsSinceBeat !== null && Number.isFinite(s.secondsSinceBeat) ? s.secondsSinceBeat : null;
    const connected = ride.sensorConnected;
    const conditions: Record<SafetyRule, { on: boolean; needS: number; value: number | null; threshold: number; what: string; episode?: { startS: number; endS: number } }> = {
      hr_high: { on: trustedHr !== null && trustedHr > c.maxHrBpm, needS: c.hrSustainS, value: trustedHr, threshold: c.maxHrBpm, what: `heart rate above ${c.maxHrBpm} bpm` },
      hr_low: { on: trustedHr !== null && trustedHr < c.minHrBpm, needS: c.hrSustainS, value: trustedHr, threshold: c.minHrBpm, what: `heart rate below ${c.minHrBpm} bpm` },
      leads_off: { on: ride.riding && s.leadOff, needS: c.leadOffS, value: null, threshold: c.leadOffS, what: 'ECG leads off while riding' },
      sensor_lost: {
        // A known gap since the last beat is already a duration; a disconnect or "no beat yet" must last sensorLostS.
        on: ride.riding && (!connected || sinceBeat === null || sinceBeat >= c.sensorLostS),
        needS: connected && sinceBeat !== null ? 0 : c.sensorLostS,
        value: sinceBeat,
        threshold: c.sensorLostS,
        what: !connected ? 'sensor disconnected while riding' : sinceBeat === null ? 'no heartbeat seen while riding' : `no heartbeat for ${c.sensorLostS} s while riding`,
      },
      quality_low: { on: ride.riding && !s.leadOff && quality < c.lowQuality, needS: c.lowQualityS, value: quality, threshold: c.lowQuality, what: `signal quality below ${c.lowQuality}` },
      ...rhythmConditions(s, quality, c.rhythm ?? DEFAULT_RHYTHM_SAFETY),
    };
    const triggers: SafetyTrigger[] = [];
    const records: SafetyTrigger[] = [];
    const active: SafetyRule[] = [];
    for (const rule of RULES) {
      const st = this.state.get(rule)!;
      const cond = conditions[rule];
      if (!cond.on) {
        st.onsetS = null;
        st.lastFiredS = null;
        continue;
      }
      st.onsetS ??= t;
      if (t - st.onsetS < cond.needS) continue;
      const severity = SEVERITY[rule];
      if (severity !== 'record') active.push(rule);
      if (st.lastFiredS === null || t - st.lastFiredS >= c.repeatS) {
        st.lastFiredS = t;
        const trigger: SafetyTrigger = { rule, sinceS: st.onsetS, value: cond.value, threshold: cond.threshold, message: `${cond.what} for ${Math.round(t - st.onsetS)} s`, severity, ...(cond.episode ? { episode: cond.episode } : {}) };
        (severity === 'record' ? records : triggers).push(trigger);
      }
    }
    return { triggers, active, records };
  }
}
