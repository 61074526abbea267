/**
 * Hard safety rules. They sit beside the policy, need no model, and win over it: while any
 * rule is active the model's cues are held back. Each rule fires when its condition has held
 * for its duration, and fires again every `repeatS` while it persists.
 */
import type { SignalFeatures } from '../signal/types.js';
import type { RideContext } from './features.js';

export type SafetyRule = 'hr_high' | 'hr_low' | 'leads_off' | 'sensor_lost' | 'quality_low';

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
}

const RULES: SafetyRule[] = ['hr_high', 'hr_low', 'leads_off', 'sensor_lost', 'quality_low'];

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
    const conditions: Record<SafetyRule, { on: boolean; needS: number; value: number | null; threshold: number; what: string }> = {
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
    };
    const triggers: SafetyTrigger[] = [];
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
      active.push(rule);
      if (st.lastFiredS === null || t - st.lastFiredS >= c.repeatS) {
        st.lastFiredS = t;
        triggers.push({ rule, sinceS: st.onsetS, value: cond.value, threshold: cond.threshold, message: `${cond.what} for ${Math.round(t - st.onsetS)} s` });
      }
    }
    return { triggers, active };
  }
}
