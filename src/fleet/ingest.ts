/**
 * `motobio fleet ingest`: the controller that wires the fleet seams together.
 *
 *   mosquitto ──$share/{group}/{prefix}/v1/+/data/#──▶ Consumer ×N connections (manual PUBACK)
 *             ──$share/{group}/{prefix}/v1/+/status/+─┘   │ (topic, payload)
 *                                                         ▼
 *                                              decodeMessage (the unit's codec)
 *                                    batch ──▶ FleetStore.writeBatch (one transaction) ──▶ PUBACK
 *                               quarantine ──▶ FleetStore.quarantine                     ──▶ PUBACK
 *                                   status ──▶ FleetStore.linkStatus                      ──▶ PUBACK
 *   every refreshMs: refreshLedger ▶ openGaps ▶ gap alarm (older than gapAgeLimitS) ▶ fleet gauges
 *   FleetMetrics ──▶ /metrics (Prometheus), /healthz
 *
 * Several workers (processes or hosts) join one group; the broker spreads messages over their
 * connections and the (device, seq) key makes the spread irrelevant to correctness.
 */
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { allDataFilter, allStatusFilter, sharedFilter } from '../uplink/topics.js';
import { Consumer, type BrokerOptions } from './consumer.js';
import { decodeMessage } from './decode.js';
import { FleetMetrics, type QuarantineReason } from './metrics.js';
import type { FleetStore, QuarantineEntry } from './store.js';
import type { LedgerEntry } from './ledger.js';

export interface IngestOptions {
  readonly broker: BrokerOptions;
  readonly store: FleetStore;
  readonly log: Logger;
  /** Shared-subscription group (default `ingest`). */
  readonly group?: string;
  /** Stable id of this worker: its connections' client ids are `fleet-ingest.{workerId}.{i}`. */
  readonly workerId?: string;
  /** Parallel broker connections (each handles one message at a time). */
  readonly connections?: number;
  readonly topicPrefix?: string;
  /** A gap open longer than this is an alarm, s (default 3600). */
  readonly gapAgeLimitS?: number;
  readonly refreshMs?: number;
  /** host:port for /metrics and /healthz; unset: none. */
  readonly metricsListen?: { host: string; port: number };
  readonly version?: string;
}

export interface IngestStats {
  readonly messages: number;
  readonly stored: number;
  readonly duplicates: number;
  readonly quarantined: number;
  readonly dbErrors: number;
  readonly connected: number;
  readonly acked: number;
  readonly openGaps: number;
  readonly gapsOverLimit: number;
}

function reasonOf(e: QuarantineEntry): QuarantineReason {
  if (e.reason.startsWith('status:')) return 'status';
  if (/^record seq/.test(e.reason)) return 'record_schema';
  if (/but came on the topic of/.test(e.reason)) return 'device_mismatch';
  return 'decode';
}

export class Ingest {
  readonly metrics: FleetMetrics;
  private consumers: Consumer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private server: Server | undefined;
  private refreshing: Promise<void> | undefined;
  private readonly alarmed = new Set<string>();
  private counts = { messages: 0, stored: 0, duplicates: 0, quarantined: 0, dbErrors: 0 };
  private gaps = { open: 0, overLimit: 0 };
  private readonly log: Logger;
  metricsPort: number | undefined;

  private constructor(private readonly opts: IngestOptions) {
    this.log = opts.log.child({ mod: 'fleet-ingest' });
    this.metrics = new FleetMetrics(opts.version ?? 'unknown');
  }

  static async start(opts: IngestOptions): Promise<Ingest> {
    const ing = new Ingest(opts);
    try {
      await ing.startParts();
    } catch (e) {
      await ing.close();
      throw e;
    }
    return ing;
  }

  private async startParts(): Promise<void> {
    const o = this.opts;
    if (o.metricsListen) await this.listen(o.metricsListen);
    const group = o.group ?? 'ingest';
    const filters = [sharedFilter(group, allDataFilter(o.topicPrefix)), sharedFilter(group, allStatusFilter(o.topicPrefix))];
    const worker = o.workerId ?? hostname();
    const n = Math.max(1, o.connections ?? 1);
    for (let i = 0; i < n; i++) {
      this.consumers.push(
        await Consumer.start({
          broker: o.broker,
          clientId: `fleet-ingest.${worker}.${i}`,
          filters,
          handler: (t, p) => this.handle(t, p),
          log: this.log.child({ conn: i }),
          onHandlerError: () => {
            this.counts.dbErrors++;
            this.metrics.dbErrors.inc();
          },
        }),
      );
    }
    this.log.info({ broker: o.broker.url, group, worker, connections: n, database: o.store.sql.describe }, 'fleet ingest running');
    this.timer = setInterval(() => void this.refresh(), o.refreshMs ?? 10_000);
    this.timer.unref();
  }

  private async listen(at: { host: string; port: number }): Promise<void> {
    const server = createServer((req, res) => {
      if (req.url === '/metrics') {
        this.metrics.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
            res.end(text);
          },
          (e: unknown) => {
            res.writeHead(500);
            res.end(errorMessage(e));
          },
        );
      } else if (req.url === '/healthz') {
        const up = this.consumers.length > 0 && this.consumers.every((c) => c.connected);
        res.writeHead(up ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(this.stats()));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => resolve());
    });
    this.server = server;
    const addr = server.address();
    this.metricsPort = typeof addr === 'object' && addr ? addr.port : at.port;
  }

  /** One message: decode, commit, count. Throws only when the database write failed (the consumer retries). */
  async handle(topic: string, payload: Buffer): Promise<void> {
    const t0 = performance.now();
    const d = decodeMessage(topic, payload, this.opts.topicPrefix);
    this.counts.messages++;
    switch (d.kind) {
      case 'ignore':
        this.metrics.messages.inc({ kind: 'other', result: 'ignored' });
        return;
      case 'status':
        await this.opts.store.linkStatus(d.status);
        this.metrics.messages.inc({ kind: 'status', result: 'stored' });
        return;
      case 'quarantine':
        await this.opts.store.quarantine(d.quarantine);
        this.noteQuarantine(d.quarantine, topic);
        this.metrics.messages.inc({ kind: topic.includes('/status/') ? 'status' : 'data', result: 'quarantined' });
        return;
      case 'batch': {
        const r = await this.opts.store.writeBatch({ ...d.batch, quarantine: d.quarantine });
        const now = Date.now();
        this.counts.stored += r.stored;
        this.counts.duplicates += r.duplicates;
        this.metrics.countStored(r.byType);
        if (r.duplicates > 0) this.metrics.duplicates.inc(r.duplicates);
        for (const rec of r.fresh) {
          if (rec.sync) this.metrics.lag.observe(Math.max(0, (now - rec.wall) / 1000));
          if (rec.type === 'safety') {
            const data = rec.data as { rule?: unknown; name?: unknown } | undefined;
            this.metrics.countSafety(typeof data?.rule === 'string' ? data.rule : typeof data?.name === 'string' ? data.name : null);
          }
        }
        this.noteQuarantine(d.quarantine, topic);
        this.metrics.messages.inc({ kind: 'data', result: 'stored' });
        this.metrics.commit.observe((performance.now() - t0) / 1000);
        return;
      }
    }
  }

  private noteQuarantine(entries: readonly QuarantineEntry[], topic: string): void {
    for (const e of entries) {
      this.counts.quarantined++;
      this.metrics.quarantined.inc({ reason: reasonOf(e) });
    }
    // One line per message, no payload: it may be hostile and it is kept in the table anyway.
    if (entries.length > 0) this.log.warn({ topic, count: entries.length, reason: entries[0].reason.slice(0, 300) }, 'quarantined');
  }

  /** Ledger, gap alarm and fleet gauges; one at a time. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    try {
      const store = this.opts.store;
      await store.refreshLedger();
      const open = await store.openGaps();
      const limitMs = (this.opts.gapAgeLimitS ?? 3600) * 1000;
      const now = Date.now();
      const old = open.filter((g) => now - Date.parse(g.since) > limitMs);
      this.alarmOldGaps(old);
      this.gaps = { open: open.length, overLimit: old.length };
      await this.metrics.refreshFleetGauges(store.sql, open.length, old.length);
    } catch (e) {
      this.counts.dbErrors++;
      this.metrics.dbErrors.inc();
      this.log.error({ err: errorMessage(e) }, 'ledger refresh failed; retrying at the next interval');
    }
  }

  private alarmOldGaps(old: readonly LedgerEntry[]): void {
    const keys = new Set(old.map((g) => `${g.device}:${g.first}`));
    for (const g of old) {
      const k = `${g.device}:${g.first}`;
      if (this.alarmed.has(k)) continue;
      this.alarmed.add(k);
      this.log.warn({ alarm: 'FLEET_GAP_OLD', device: g.device, first: g.first, last: g.last, since: g.since }, `gap ${g.first}-${g.last} of ${g.device} open since ${g.since}, past the age limit: records lost or the unit offline mid-stream`);
    }
    for (const k of this.alarmed) if (!keys.has(k)) this.alarmed.delete(k);
  }

  stats(): IngestStats {
    return {
      ...this.counts,
      connected: this.consumers.filter((c) => c.connected).length,
      acked: this.consumers.reduce((s, c) => s + c.acked, 0),
      openGaps: this.gaps.open,
      gapsOverLimit: this.gaps.overLimit,
    };
  }

  /** Stops taking messages (the one being stored finishes and is acked), then the metrics server. The store is the caller's. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.consumers.map((c) => c.close()));
    this.consumers = [];
    await this.refreshing;
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
