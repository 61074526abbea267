/**
 * Ride context from gpsd, over its JSON protocol on its local TCP socket.
 *
 *   gpsd :2947 ──TCP──▶ line splitter ──JSON──▶ TPV check ──GpsFix──▶ RideTracker ──▶ 'context' / 'ride'
 *        ▲  ?WATCH={"enable":true,"json":true}        │ bad report: counted, said once
 *        └── reconnect with capped, jittered backoff ◀┘ socket closed / refused
 *
 * Every report is checked at the boundary: a TPV with a mode outside 0-3, or a speed, latitude
 * or longitude that is not a number in range, is dropped and counted. The fix's own time is the
 * tracker's timeline (a TPV without one, e.g. mode 1, gets the arrival time on the same scale).
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Backoff, sleep } from '../sources/backoff.js';
import { errorMessage } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { RideTracker, type RideTrackerConfig } from './ride-tracker.js';
import type { GpsFix, RideContextEvents, RideContextSnapshot, RideContextSource, RideSourceState, RideSourceStatus } from './types.js';

export const GPSD_DEFAULT_PORT = 2947;
export const GPSD_WATCH = '?WATCH={"enable":true,"json":true}\n';
/** A line longer than this is not gpsd talking: the buffer is dropped. */
const MAX_LINE_BYTES = 64 * 1024;

export interface GpsdSourceOptions {
  readonly host?: string;
  readonly port?: number;
  readonly tracker?: Partial<RideTrackerConfig>;
  readonly logger?: Logger;
  /** Monotonic clock, ms; defaults to performance.now(). */
  readonly now?: () => number;
  readonly backoff?: { initialMs?: number; maxMs?: number };
}

/** A TPV report to a fix, or a reason it is not one. */
export function parseTpv(msg: Record<string, unknown>, fallbackTimeMs: number): GpsFix | string {
  const mode = msg['mode'];
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 3) return `TPV mode ${JSON.stringify(mode)} is not 0-3`;
  const num = (k: string, lo: number, hi: number): number | null | string => {
    const v = msg[k];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) return `TPV ${k} ${JSON.stringify(v)} is not a number in [${lo}, ${hi}]`;
    return v;
  };
  const speed = num('speed', 0, 200);
  const lat = num('lat', -90, 90);
  const lon = num('lon', -180, 180);
  for (const v of [speed, lat, lon]) if (typeof v === 'string') return v;
  let timeMs = fallbackTimeMs;
  if (msg['time'] !== undefined) {
    const parsed = typeof msg['time'] === 'string' ? Date.parse(msg['time']) : NaN;
    if (!Number.isFinite(parsed)) return `TPV time ${JSON.stringify(msg['time'])} is not an ISO 8601 time`;
    timeMs = parsed;
  }
  return { timeMs, mode, speedMps: speed as number | null, lat: lat as number | null, lon: lon as number | null };
}

export class GpsdRideSource extends EventEmitter<RideContextEvents> implements RideContextSource {
  readonly kind = 'gps' as const;
  readonly id: string;
  private readonly tracker: RideTracker;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly host: string;
  private readonly port: number;
  private readonly backoff: Backoff;
  private state: RideSourceState = 'idle';
  private socket: Socket | undefined;
  private loop: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private stopping: Promise<void> | undefined;
  private fixes = 0;
  private bad = 0;
  private lastError: string | undefined;
  private warnedBad = false;
  /** Last fix time, so a TPV without a time stays on the fix timeline. */
  private lastFixTimeMs: number | undefined;
  private lastFixMono: number | undefined;

  constructor(options: GpsdSourceOptions = {}) {
    super();
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? GPSD_DEFAULT_PORT;
    this.id = `gpsd:${this.host}:${this.port}`;
    this.tracker = new RideTracker(options.tracker);
    this.log = options.logger ?? silentLogger;
    this.now = options.now ?? (() => performance.now());
    this.backoff = new Backoff(options.backoff);
  }

  snapshot(): RideContextSnapshot {
    return this.tracker.snapshot(this.now());
  }

  status(): RideSourceStatus {
    return {
      id: this.id,
      kind: this.kind,
      state: this.state,
      fixes: this.fixes,
      badReports: this.bad,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      context: this.snapshot(),
    };
  }

  start(signal?: AbortSignal): Promise<void> {
    if (this.loop) return Promise.resolve();
    this.stopping = undefined;
    this.abort = new AbortController();
    const ac = this.abort;
    signal?.addEventListener('abort', () => void this.stop(), { once: true });
    this.loop = this.run(ac.signal);
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.abort?.abort();
      this.socket?.destroy();
      await this.loop;
      this.loop = undefined;
      this.setState('ended');
    })();
    return this.stopping;
  }

  private setState(s: RideSourceState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('status', this.status());
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.setState(this.backoff.attempts === 0 && this.fixes === 0 ? 'connecting' : 'reconnecting');
      try {
        await this.session(signal);
      } catch (e) {
        this.lastError = `gpsd at ${this.host}:${this.port}: ${errorMessage(e)}`;
      }
      if (signal.aborted) break;
      const wait = this.backoff.next();
      this.log.warn({ err: this.lastError, retryMs: Math.round(wait) }, 'context: gpsd connection lost; the ride context is stale until it is back');
      this.setState('reconnecting');
      await sleep(wait, signal);
    }
  }

  /** One connection: resolves when it closes. */
  private session(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port });
      this.socket = socket;
      let buf = '';
      let opened = false;
      const onAbort = () => socket.destroy();
      signal.addEventListener('abort', onAbort, { once: true });
      socket.setEncoding('utf8');
      socket.once('connect', () => {
        opened = true;
        socket.write(GPSD_WATCH);
      });
      socket.on('data', (chunk: string) => {
        if (signal.aborted) return;
        buf += chunk;
        if (buf.length > MAX_LINE_BYTES && !buf.includes('\n')) {
          this.badReport(`a line of more than ${MAX_LINE_BYTES} bytes without an end; is ${this.host}:${this.port} gpsd?`);
          buf = '';
          return;
        }
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line) this.onLine(line);
        }
      });
      socket.once('error', (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      });
      socket.once('close', () => {
        signal.removeEventListener('abort', onAbort);
        this.socket = undefined;
        if (opened) {
          this.lastError = `gpsd at ${this.host}:${this.port} closed the connection`;
          resolve();
        } else reject(new Error('connection closed before it opened'));
      });
    });
  }

  private badReport(why: string): void {
    this.bad++;
    if (!this.warnedBad) {
      this.warnedBad = true;
      const msg = `context: dropped a report from gpsd (${why}); further ones are only counted`;
      this.log.warn(msg);
      this.emit('warning', msg);
    }
  }

  private onLine(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.badReport(`not JSON: ${line.slice(0, 60)}`);
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return this.badReport('not a JSON object');
    const m = msg as Record<string, unknown>;
    if (m['class'] !== 'TPV') return; // VERSION, DEVICES, WATCH, SKY, ...: not needed here
    const mono = this.now();
    const fallback = this.lastFixTimeMs !== undefined && this.lastFixMono !== undefined ? this.lastFixTimeMs + (mono - this.lastFixMono) : Date.now();
    const fix = parseTpv(m, fallback);
    if (typeof fix === 'string') return this.badReport(fix);
    if (fix.mode >= 2 && m['time'] !== undefined) {
      this.lastFixTimeMs = fix.timeMs;
      this.lastFixMono = mono;
    }
    this.fixes++;
    this.backoff.reset();
    if (this.state !== 'streaming') this.setState('streaming');
    const events = this.tracker.update(fix, mono);
    for (const e of events) {
      this.log.info({ event: e }, `context: ${e.type}`);
      this.emit('ride', e);
    }
    this.emit('context', this.tracker.snapshot(mono));
  }
}
