/**
 * What the unit reports about itself beside the data, as one piece the daemon composes
 * (src/daemon/daemon.ts): the periodic health record (./health-record.ts) and the raw ECG
 * strips around safety alerts and once an hour of riding (./ecg-strips.ts).
 *
 *   Pipeline ──chunk, features, decision──▶ UnitReport ──▶ HealthReport ─┐
 *   Telemetry ──decision latency──────────────▲       └──▶ EcgStrips ────┴─▶ append (the store)
 */
import { dirname } from 'node:path';
import type { Stamp } from '../core/clock.js';
import type { StageContext } from '../core/context.js';
import type { OutboundRecord } from '../core/record.js';
import type { Component } from '../core/component.js';
import type { Decision } from '../inference/stage.js';
import type { SignalFeatures } from '../signal/types.js';
import type { FeedOutput } from '../sources/feed.js';
import type { EcgSource } from '../sources/types.js';
import type { StoreStage } from '../store/stage.js';
import { EcgStrips } from './ecg-strips.js';
import { HealthReport, type UplinkView } from './health-record.js';
import { DEFAULT_REPORT, type ReportSettings } from './settings.js';

export interface UnitReportParts {
  readonly source: EcgSource | undefined;
  readonly store: () => StoreStage | undefined;
  readonly uplink: () => UplinkView | undefined;
  readonly model: () => unknown;
  /** Is the bike being ridden (true without a ride context). */
  readonly riding: () => boolean;
  readonly append: (r: OutboundRecord) => unknown;
  /** Subscribes to each pipeline latency (Telemetry.onLatency); returns the unsubscribe. */
  readonly onLatency?: (fn: (stage: string, seconds: number) => void) => () => void;
  readonly thermalDir?: string;
}

export class UnitReport {
  readonly health: HealthReport;
  readonly strips: EcgStrips;
  readonly settings: ReportSettings;
  private unsubscribe: (() => void) | undefined;

  constructor(
    ctx: StageContext,
    private readonly parts: UnitReportParts,
  ) {
    // A configuration object made in code (tests) may lack the section; the loader always fills it.
    const s: ReportSettings = { ...DEFAULT_REPORT, ...((ctx.config as { report?: Partial<ReportSettings> }).report ?? {}) };
    this.settings = s;
    this.health = new HealthReport(ctx, { source: parts.source, store: parts.store, storeDir: dirname(ctx.config.store.path), uplink: parts.uplink, model: parts.model, append: parts.append, thermalDir: parts.thermalDir }, s.health_period_s);
    this.strips = new EcgStrips(ctx, parts.source, { beforeS: s.strip_before_s, afterS: s.strip_after_s, hourlyS: s.hourly_strip_s, riding: parts.riding, append: parts.append, sentAtEnd: () => void parts.store()?.flush() });
  }

  chunk(o: FeedOutput): void {
    this.health.chunk(o);
    this.strips.chunk(o);
  }

  features(f: SignalFeatures): void {
    this.health.features(f);
  }

  decision(d: Decision, stamp: Stamp, seq: number | undefined, features: SignalFeatures): void {
    this.strips.decision(d, stamp, seq, features);
  }

  /** Stops after the pipeline's flush (register it before the pipeline at the same rank): the last alerts' strips go out. */
  component(): Component {
    return {
      name: 'unit-report',
      start: () => {
        this.health.start();
        this.strips.start();
        this.unsubscribe = this.parts.onLatency?.((stage, seconds) => {
          if (stage === 'decision') this.health.decisionLatency(seconds);
        });
        return Promise.resolve();
      },
      stop: async () => {
        this.unsubscribe?.();
        const sent = this.strips.stop();
        this.health.stop();
        // The open strip's last chunk came after the pipeline's flush: make it durable too.
        if (sent) await this.parts.store()?.flush();
      },
    };
  }
}
