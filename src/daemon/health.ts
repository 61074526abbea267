/**
 * Loopback HTTP for people and scrapers on the unit itself (no authentication, so the
 * configuration only accepts loopback addresses):
 *
 *   GET /healthz  200 "ok" while running, 503 with the state otherwise
 *   GET /status   JSON: lifecycle state, clock, components, counters, links, last errors
 *   GET /metrics  Prometheus text (prom-client)
 *   GET /events   Server-Sent Events (src/cues/event-stream.ts)
 *   GET /live     the live view's page, /live/trend its heart rate and HRV (./live-view.ts)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../util/log.js';
import { MotobioError, errorMessage } from '../util/errors.js';
import type { Component, LifecycleState } from './lifecycle.js';
import type { Telemetry, StatusSnapshot } from './telemetry.js';
import type { Clock, ClockSync } from '../core/clock.js';
import { calibrationView, type CalibrationView } from '../calibration/in-force.js';

export interface DaemonStatus extends StatusSnapshot {
  readonly service: 'motobio';
  readonly version: string;
  readonly device: string;
  readonly pid: number;
  readonly state: LifecycleState;
  readonly startedAt: string;
  readonly uptimeS: number;
  readonly clock: { readonly bootId: string; readonly sync: ClockSync; readonly wallMs: number; readonly monoMs: number };
  readonly config: { readonly file: string | null; readonly source: string; readonly links: readonly string[] };
  /** The sensor's calibration in force and its age, and the newest attempt (absent for a replayed record). */
  readonly calibration?: CalibrationView;
}

export interface HealthServerOptions {
  host: string;
  port: number;
  log: Logger;
  telemetry: Telemetry;
  clock: Clock;
  state: () => LifecycleState;
  /** Server-Sent Events for a dash display or the rider's phone (docs/events.md). */
  events?: { handle(req: IncomingMessage, res: ServerResponse): void };
  /** The live view's page and trend (./live-view.ts). */
  live?: { handle(req: IncomingMessage, res: ServerResponse): void };
  info: { version: string; device: string; startedAtMs: number; configFile: string | undefined; source: string; links: readonly string[] };
}

export class HealthServer implements Component {
  readonly name = 'health';
  private server: Server | undefined;
  private boundPort: number | undefined;

  constructor(private readonly options: HealthServerOptions) {}

  get port(): number | undefined {
    return this.boundPort;
  }

  status(): DaemonStatus {
    const o = this.options;
    const snapshot = o.telemetry.snapshot();
    const calibration = calibrationView(snapshot.components['calibration']);
    return {
      service: 'motobio',
      version: o.info.version,
      device: o.info.device,
      pid: process.pid,
      state: o.state(),
      startedAt: new Date(o.info.startedAtMs).toISOString(),
      // Monotonic: a wall clock set at boot must not make the daemon look days old.
      uptimeS: Math.round(process.uptime() * 10) / 10,
      clock: { bootId: o.clock.bootId, sync: o.clock.sync(), wallMs: Date.now(), monoMs: o.clock.monoMs() },
      config: { file: o.info.configFile ?? null, source: o.info.source, links: o.info.links },
      ...snapshot,
      ...(calibration ? { calibration } : {}),
    };
  }

  async start(_signal: AbortSignal): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        this.options.log.warn({ err: errorMessage(e), url: req.url }, 'health request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        const where = `${this.options.host}:${this.options.port}`;
        reject(
          e.code === 'EADDRINUSE'
            ? new MotobioError('INTERNAL', `health port ${where} is already in use (is another motobio running?); stop it or set health.port`)
            : new MotobioError('INTERNAL', `cannot serve health on ${where}: ${e.message}`),
        );
      });
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    server.on('error', (e) => this.options.log.warn({ err: errorMessage(e) }, 'health server error'));
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    this.options.log.info({ host: this.options.host, port: this.boundPort }, 'health endpoint listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/healthz': {
        const state = this.options.state();
        const ok = state === 'running';
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(ok ? 'ok\n' : `${state}\n`);
        return;
      }
      case '/status':
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(this.status())}\n`);
        return;
      case '/metrics': {
        const text = await this.options.telemetry.metrics();
        res.writeHead(200, { 'content-type': this.options.telemetry.registry.contentType, 'cache-control': 'no-store' }).end(text);
        return;
      }
      case '/events':
        if (this.options.events) {
          this.options.events.handle(req, res);
          return;
        }
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no event stream in this daemon\n');
        return;
      case '/live':
      case '/live/':
      case '/live/trend':
        if (this.options.live) {
          this.options.live.handle(req, res);
          return;
        }
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no live view in this daemon\n');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz, /status, /metrics, /events or /live\n');
    }
  }
}
