/**
 * The unit's periodic health record (like zigbee2mqtt's `bridge/health`): a `status` record
 * with `kind: "health"` (docs/telemetry.md, docs/schemas/health.v1.schema.json), read by the
 * fleet ingest into `unit_status` (src/fleet/typed.ts) and its gauges (src/fleet/metrics.ts).
 *
 *   chunks (data time) ──every health_period_s of signal──┐
 *   no data for a period (stalled strap, no source) ─wall─┤
 *   features (quality), decision latencies ──────────────┼─▶ HealthReport.emit ─▶ status record
 *   store depth/age, statfs, uplink links and bytes, ────┘
 *   process CPU/RSS, thermal zones, strap battery
 *
 * Why the period runs on the data's timeline: a replay at any speed gives the same number of
 * records for the same signal (the fault suite counts them, test/faults/helpers/count.ts), like
 * the decision period. A unit whose strap stalls still reports: after a period of wall clock
 * without data the record is taken on the monotonic clock, until data flows again. A replay
 * that ended has no timeline left and sends no more.
 */
import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import type { StageContext } from '../core/context.js';
import type { OutboundRecord } from '../core/record.js';
import { PRIORITIES } from '../core/record.js';
import { packageVersion } from '../core/package.js';
import type { SignalFeatures } from '../signal/types.js';
import type { FeedOutput } from '../sources/feed.js';
import type { EcgSource } from '../sources/types.js';
import type { StoreStage } from '../store/stage.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/** A feature window is "good" at this quality (the fleet's `signal_quality_good_ratio` uses the same). */
export const GOOD_QUALITY = 0.5;

/** What the record reads from the uplink (src/uplink/uplink.ts UplinkStatus, narrowed). */
export interface UplinkView {
  readonly active: string | null;
  readonly links: readonly { readonly name: string; readonly state: string; readonly bytesOut: number; readonly bytesIn: number }[];
}

export interface HealthInputs {
  readonly source?: EcgSource;
  readonly store: () => StoreStage | undefined;
  /** The store's folder, for statfs. */
  readonly storeDir: string;
  readonly uplink: () => UplinkView | undefined;
  /** The model in service (name, version, sha256), null on the safety rules alone. */
  readonly model: () => unknown;
  readonly append: (r: OutboundRecord) => unknown;
  /** /sys/class/thermal by default (tests point it at a folder of their own). */
  readonly thermalDir?: string;
}

/** p95 by nearest rank; null without samples. */
export function p95(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)];
}

/** The SoC temperature, °C: the thermal zone whose type names the CPU or SoC, else the hottest; null without any. */
export function socTemperatureC(dir = '/sys/class/thermal'): number | null {
  let zones: string[];
  try {
    zones = readdirSync(dir).filter((z) => /^thermal_zone\d+$/.test(z));
  } catch {
    return null;
  }
  let best: number | null = null;
  let soc: number | null = null;
  for (const z of zones) {
    try {
      const milli = Number(readFileSync(`${dir}/${z}/temp`, 'utf8').trim());
      if (!Number.isFinite(milli)) continue;
      const c = milli / 1000;
      best = best === null ? c : Math.max(best, c);
      let type = '';
      try {
        type = readFileSync(`${dir}/${z}/type`, 'utf8');
      } catch {
        // A zone without a type still counts for the hottest.
      }
      if (/cpu|soc/i.test(type)) soc = soc === null ? c : Math.max(soc, c);
    } catch {
      // A zone that cannot be read (permissions, a sensor that is off) is skipped.
    }
  }
  const t = soc ?? best;
  return t === null ? null : Math.round(t * 10) / 10;
}

export class HealthReport {
  private readonly log: Logger;
  private readonly periodMs: number;
  private nextS: number | undefined;
  private lastDataMono = Number.NEGATIVE_INFINITY;
  private lastRecordMono: number;
  private ended = false;
  private cpuFrom = process.cpuUsage();
  private cpuFromMono: number;
  private latenciesMs: number[] = [];
  private windows = 0;
  private good = 0;
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  private readonly onEnd = () => {
    this.ended = true;
  };

  constructor(
    private readonly ctx: StageContext,
    private readonly inputs: HealthInputs,
    private readonly periodS: number,
  ) {
    this.log = ctx.log.child({ mod: 'health-record' });
    this.periodMs = periodS * 1000;
    this.lastRecordMono = ctx.clock.monoMs();
    this.cpuFromMono = this.lastRecordMono;
  }

  /** The wall-clock fallback; the data timeline needs no timer. */
  start(): void {
    this.inputs.source?.on('end', this.onEnd);
    this.timer = setInterval(() => this.wallTick(), Math.min(5000, this.periodMs / 4));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.inputs.source?.off('end', this.onEnd);
  }

  get records(): number {
    return this.sent;
  }

  chunk(o: FeedOutput): void {
    this.lastDataMono = this.ctx.clock.monoMs();
    // The same rule as the decision period (src/daemon/pipeline.ts): the first chunk starts the clock.
    if (this.nextS === undefined) this.nextS = o.dataTimeS + this.periodS;
    if (o.dataTimeS < this.nextS) return;
    while (this.nextS <= o.dataTimeS) this.nextS += this.periodS;
    this.emit('data');
  }

  features(f: SignalFeatures): void {
    this.windows++;
    if (f.quality >= GOOD_QUALITY) this.good++;
  }

  /** A decision's latency (arrival of its data to its records), from the telemetry. */
  decisionLatency(seconds: number): void {
    if (this.latenciesMs.length < 100_000) this.latenciesMs.push(seconds * 1000);
  }

  private wallTick(): void {
    if (this.ended) return;
    const now = this.ctx.clock.monoMs();
    if (now - this.lastDataMono < this.periodMs || now - this.lastRecordMono < this.periodMs) return;
    // Data that comes back starts the data-time period over.
    this.nextS = undefined;
    this.emit('wall');
  }

  /** The record's body now (also for /status or a test). */
  body(timeline: 'data' | 'wall'): Record<string, unknown> {
    const now = this.ctx.clock.monoMs();
    const elapsedMs = Math.max(1, now - this.cpuFromMono);
    const cpu = process.cpuUsage(this.cpuFrom);
    const cores = availableParallelism();
    const rss = process.memoryUsage.rss();
    const store = this.inputs.store();
    const depth = store?.depth();
    const up = this.inputs.uplink();
    const src = this.inputs.source?.status();
    return {
      kind: 'health',
      timeline,
      periodS: Math.round(elapsedMs) / 1000,
      version: packageVersion(),
      model: this.inputs.model() ?? null,
      uptimeS: Math.round(process.uptime()),
      outbox: depth ? { records: depth.records, bytes: depth.bytes, ageS: this.outboxAgeS(store, now) } : null,
      diskFreeBytes: this.diskFree(),
      link: up?.active ?? null,
      // Since the daemon started, per link: what the 4G bill counts (both directions, MQTT over TLS and TCP payload).
      links: up ? Object.fromEntries(up.links.map((l) => [l.name, { state: l.state, bytesSent: l.bytesOut, bytesReceived: l.bytesIn }])) : {},
      // Share of the whole unit (all cores) this process used over the period, 0..1; a pegged single thread shows as 1/cores.
      cpu: Math.round(((cpu.user + cpu.system) / 1000 / elapsedMs / cores) * 10_000) / 10_000,
      cores,
      memory: Math.round((rss / totalmem()) * 10_000) / 10_000,
      rssBytes: rss,
      battery: src?.batteryPct === undefined ? null : src.batteryPct / 100,
      socTempC: socTemperatureC(this.inputs.thermalDir),
      source: src ? { state: src.state, leadOff: src.leadOff } : null,
      decisionP95Ms: ((v) => (v === null ? null : Math.round(v * 10) / 10))(p95(this.latenciesMs)),
      decisions: this.latenciesMs.length,
      qualityGood: this.windows === 0 ? null : Math.round((this.good / this.windows) * 10_000) / 10_000,
      windows: this.windows,
    };
  }

  private emit(timeline: 'data' | 'wall'): void {
    try {
      const body = this.body(timeline);
      this.inputs.append({ type: 'status', stamp: this.ctx.clock.stamp(), body });
      this.sent++;
    } catch (e) {
      this.log.error({ err: errorMessage(e) }, `could not store the health record: ${errorMessage(e)}`);
    }
    const now = this.ctx.clock.monoMs();
    this.lastRecordMono = now;
    this.cpuFrom = process.cpuUsage();
    this.cpuFromMono = now;
    this.latenciesMs = [];
    this.windows = 0;
    this.good = 0;
  }

  /** Age of the oldest record still waiting, s; records from an earlier boot count as at least this boot's uptime. */
  private outboxAgeS(store: StoreStage | undefined, now: number): number | null {
    const reader = store?.reader;
    if (!reader) return null;
    let age: number | null = null;
    for (const p of PRIORITIES) {
      const o = reader.oldestPending(p);
      if (!o) continue;
      const a = o.bootId === reader.bootId ? (now - o.monoMs) / 1000 : now / 1000;
      age = age === null ? a : Math.max(age, a);
    }
    return age === null ? 0 : Math.round(age * 10) / 10;
  }

  private diskFree(): number | null {
    try {
      const s = statfsSync(this.inputs.storeDir);
      return Number(s.bavail) * Number(s.bsize);
    } catch {
      return null;
    }
  }
}
