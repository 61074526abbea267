/**
 * What the components report into, and what /metrics and /status read out. Components get
 * the narrow `TelemetrySink` (no prom-client types leak into them); the health server reads
 * the Telemetry itself. One instance per daemon (no global registry), so tests can run
 * several side by side.
 *
 *   source, chain, decision engine, outbox, uplink ──TelemetrySink──▶ Telemetry
 *        Telemetry ──▶ /metrics (Prometheus text)   Telemetry ──▶ /status (JSON)
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { Alarms, type Alarm } from '../core/alarms.js';
import type { ComponentStatus, LinkState, TelemetrySink } from '../core/telemetry-sink.js';

export type { ComponentStatus, LinkState, TelemetrySink } from '../core/telemetry-sink.js';

const LINK_STATES: readonly LinkState[] = ['down', 'connecting', 'up', 'disabled'];

export interface StatusSnapshot {
  readonly components: Record<string, ComponentStatus & { readonly updatedAt: string }>;
  readonly counters: {
    readonly beats: number;
    readonly decisions: number;
    readonly safetyTriggers: number;
    readonly errors: number;
  };
  readonly quality: { readonly sqi: number | null; readonly leadOff: boolean | null };
  readonly outbox: { readonly records: number | null; readonly bytes: number | null };
  readonly links: Record<string, { readonly state: LinkState; readonly active: boolean }>;
  readonly lastErrors: readonly { readonly at: string; readonly module: string; readonly code: string; readonly message?: string }[];
  readonly alarms: readonly Alarm[];
}

const LAST_ERRORS = 10;

export class Telemetry implements TelemetrySink {
  readonly registry = new Registry();
  readonly alarms = new Alarms();
  private readonly latency: Histogram<'stage'>;
  private readonly beats: Counter;
  private readonly quality: Gauge;
  private readonly leadOff: Gauge;
  private readonly decisions: Counter<'kind'>;
  private readonly safety: Counter<'rule'>;
  private readonly outboxRecords: Gauge;
  private readonly outboxBytes: Gauge;
  private readonly linkState: Gauge<'link' | 'state'>;
  private readonly linkActive: Gauge<'link'>;
  private readonly linkSwitches: Counter<'from' | 'to'>;
  private readonly errors: Counter<'module' | 'code'>;
  private readonly statuses = new Map<string, ComponentStatus & { updatedAt: string }>();
  private readonly links = new Map<string, { state: LinkState; active: boolean }>();
  private readonly lastErrors: { at: string; module: string; code: string; message?: string }[] = [];
  private totals = { beats: 0, decisions: 0, safetyTriggers: 0, errors: 0 };
  private sqi: number | null = null;
  private leadOffNow: boolean | null = null;
  private outbox: { records: number | null; bytes: number | null } = { records: null, bytes: null };
  private readonly latencyListeners = new Set<(stage: string, seconds: number) => void>();

  constructor(options: { processMetrics?: boolean; labels?: Record<string, string> } = {}) {
    const registers = [this.registry];
    if (options.labels) this.registry.setDefaultLabels(options.labels);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'motobio_' });
    this.latency = new Histogram({
      name: 'motobio_pipeline_latency_seconds',
      help: 'Time from a sample arriving to the output of a pipeline stage',
      labelNames: ['stage'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.beats = new Counter({ name: 'motobio_beats_total', help: 'Heartbeats detected', registers });
    this.quality = new Gauge({ name: 'motobio_signal_quality', help: 'Signal-quality index of the latest window, 0..1', registers });
    this.leadOff = new Gauge({ name: 'motobio_lead_off', help: '1 while the electrodes are off', registers });
    this.decisions = new Counter({ name: 'motobio_decisions_total', help: 'Coaching decisions made', labelNames: ['kind'], registers });
    this.safety = new Counter({ name: 'motobio_safety_triggers_total', help: 'Safety rules that fired', labelNames: ['rule'], registers });
    this.outboxRecords = new Gauge({ name: 'motobio_outbox_depth_records', help: 'Records stored but not yet acknowledged by the server', registers });
    this.outboxBytes = new Gauge({ name: 'motobio_outbox_bytes', help: 'Bytes of records not yet acknowledged by the server', registers });
    this.linkState = new Gauge({ name: 'motobio_link_state', help: '1 for the current state of each uplink link', labelNames: ['link', 'state'], registers });
    this.linkActive = new Gauge({ name: 'motobio_link_active', help: '1 for the link records are sent over', labelNames: ['link'], registers });
    this.linkSwitches = new Counter({ name: 'motobio_link_switches_total', help: 'Fail-overs between uplink links', labelNames: ['from', 'to'], registers });
    this.errors = new Counter({ name: 'motobio_errors_total', help: 'Errors by module and code', labelNames: ['module', 'code'], registers });
    const alarm = new Gauge({ name: 'motobio_alarm', help: '1 while the alarm is raised (see /status alarms for what to do)', labelNames: ['code'], registers });
    this.alarms.on('change', (c) => alarm.set({ code: c.alarm.code }, c.state === 'raised' ? 1 : 0));
  }

  observeLatency(stage: 'beat' | 'decision' | 'store', seconds: number): void {
    if (!(Number.isFinite(seconds) && seconds >= 0)) return;
    this.latency.observe({ stage }, seconds);
    for (const l of this.latencyListeners) l(stage, seconds);
  }

  /** Each latency as it is observed (the health record's p95 over its period); returns the unsubscribe. */
  onLatency(fn: (stage: string, seconds: number) => void): () => void {
    this.latencyListeners.add(fn);
    return () => this.latencyListeners.delete(fn);
  }

  countBeats(n: number): void {
    if (n <= 0) return;
    this.beats.inc(n);
    this.totals.beats += n;
  }

  setQuality(sqi: number, leadOff: boolean): void {
    this.quality.set(sqi);
    this.leadOff.set(leadOff ? 1 : 0);
    this.sqi = sqi;
    this.leadOffNow = leadOff;
  }

  countDecision(kind: string): void {
    this.decisions.inc({ kind });
    this.totals.decisions++;
  }

  countSafetyTrigger(rule: string): void {
    this.safety.inc({ rule });
    this.totals.safetyTriggers++;
  }

  setOutbox(records: number, bytes: number): void {
    this.outboxRecords.set(records);
    this.outboxBytes.set(bytes);
    this.outbox = { records, bytes };
  }

  setLink(name: string, state: LinkState, active: boolean): void {
    for (const s of LINK_STATES) this.linkState.set({ link: name, state: s }, s === state ? 1 : 0);
    this.linkActive.set({ link: name }, active ? 1 : 0);
    this.links.set(name, { state, active });
  }

  countLinkSwitch(from: string, to: string): void {
    this.linkSwitches.inc({ from, to });
  }

  countError(module: string, code: string, message?: string): void {
    this.errors.inc({ module, code });
    this.totals.errors++;
    this.lastErrors.push({ at: new Date().toISOString(), module, code, ...(message === undefined ? {} : { message }) });
    if (this.lastErrors.length > LAST_ERRORS) this.lastErrors.shift();
  }

  setStatus(component: string, status: ComponentStatus): void {
    this.statuses.set(component, { ...status, updatedAt: new Date().toISOString() });
  }

  snapshot(): StatusSnapshot {
    return {
      components: Object.fromEntries(this.statuses),
      counters: { ...this.totals },
      quality: { sqi: this.sqi, leadOff: this.leadOffNow },
      outbox: { ...this.outbox },
      links: Object.fromEntries(this.links),
      lastErrors: [...this.lastErrors],
      alarms: this.alarms.list(),
    };
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
