/**
 * The narrow interface every stage reports into (metrics, status, alarms). The daemon's
 * Telemetry (src/daemon/telemetry.ts) implements it; no prom-client type reaches a stage.
 */
import type { Alarms } from './alarms.js';

export type LinkState = 'down' | 'connecting' | 'up' | 'disabled';

export interface ComponentStatus {
  /** A short word: streaming, stalled, connected, offline, running, failed ... */
  readonly state: string;
  /** Anything a technician would want to see next to it (no secrets). */
  readonly detail?: Readonly<Record<string, unknown>>;
  readonly lastError?: string;
}

export interface TelemetrySink {
  /** Latency of a pipeline stage, from the sample's arrival to the stage's output, s. */
  observeLatency(stage: 'beat' | 'decision' | 'store', seconds: number): void;
  countBeats(n: number): void;
  setQuality(sqi: number, leadOff: boolean): void;
  countDecision(kind: string): void;
  countSafetyTrigger(rule: string): void;
  setOutbox(records: number, bytes: number): void;
  setLink(name: string, state: LinkState, active: boolean): void;
  countLinkSwitch(from: string, to: string): void;
  countError(module: string, code: string, message?: string): void;
  setStatus(component: string, status: ComponentStatus): void;
  /** Conditions a technician must act on (src/core/alarms.ts): /status `alarms`, /metrics `motobio_alarm`. */
  readonly alarms: Alarms;
}

