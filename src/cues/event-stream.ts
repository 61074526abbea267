/**
 * A local event stream for a dash display or the rider's phone app: Server-Sent Events
 * (text/event-stream) that the health server mounts at GET /events. Loopback only unless
 * told otherwise, like the rest of the health server (no authentication on it).
 *
 *   pipeline ──publish('decision' | 'safety' | 'heart')──┐
 *   CueStage ──publish('cue', CueDelivery)───────────────┼─▶ ring (last N, ids) ─▶ each client (filter ?types=)
 *                                                        └─ Last-Event-ID: replay what the ring still holds
 *
 * A slow client is cut off once too much waits for it (it reconnects with Last-Event-ID and
 * loses nothing the ring still holds); the daemon never buffers without bound for a reader.
 * The wire format is in docs/events.md.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../util/log.js';
import type { CueDelivery } from './types.js';

export interface StreamEvents {
  /** A coaching decision (the policy's action, "none" included). */
  decision: { seq: number; monoMs: number; name: string; detail?: Readonly<Record<string, unknown>> };
  /** A safety rule that fired. */
  safety: { seq: number; monoMs: number; rule: string; message?: string; value?: number | null; threshold?: number };
  /** Heart rate and signal quality, once per decision period. */
  heart: { monoMs: number; hrBpm: number | null; quality: number | null; leadOff: boolean; rmssdMs?: number | null };
  /** What became of a cue (played, interrupted, dropped, muted). */
  cue: CueDelivery;
  /** A piece of the ECG strip and the beats found since the last one (src/daemon/live-view.ts); only when asked for. */
  ecg: EcgStripChunk;
}
export type StreamEventType = keyof StreamEvents;
export const STREAM_EVENT_TYPES: readonly StreamEventType[] = ['decision', 'safety', 'heart', 'cue'];
/**
 * Sent only to clients that name them in ?types= (a phone app asking for everything does not
 * get a few kB/s of ECG), without an id and outside the replay ring: a strip is only worth
 * seeing live, and it must not push the decisions a reconnecting app needs out of the ring.
 */
export const LIVE_EVENT_TYPES: readonly StreamEventType[] = ['ecg'];

/** docs/events.md, "ecg". */
export interface EcgStripChunk {
  /** The source's sample rate, Hz (the beats' timeline). */
  fs: number;
  /** The strip's rate, Hz (fs / decimation). */
  rateHz: number;
  /** Source sample index of values[0]'s first sample; values[i] covers source samples start + i*fs/rateHz onwards. */
  start: number;
  /** Strip values, mV (block means), null where the sensor flagged lead-off. */
  values: (number | null)[];
  /** R peaks found since the last chunk, as source sample indices (they may fall in earlier chunks: the detector reports with delay). */
  beats: number[];
  /** Heart rate over the last 10 s of beats, bpm (null without). */
  hrBpm: number | null;
  /** The latest signal-quality window, 0..1 (null before the first). */
  quality: number | null;
  leadOff: boolean;
}

export interface EventStreamOptions {
  log: Logger;
  /** Events kept for clients that reconnect with Last-Event-ID. */
  ringSize?: number;
  maxClients?: number;
  /** Bytes that may wait for one client before it is cut off. */
  maxQueuedBytes?: number;
  /** A comment line this often keeps proxies and phone radios from closing an idle stream, ms. */
  keepAliveMs?: number;
  /** Reconnect delay the client is told to use, ms. */
  retryMs?: number;
  /** Accept clients from other hosts (only when the health server is bound beyond loopback on purpose). */
  allowRemote?: boolean;
}

interface Client {
  readonly res: ServerResponse;
  readonly types: ReadonlySet<StreamEventType>;
}

interface Stored {
  readonly id: number;
  readonly type: StreamEventType;
  readonly frame: string;
}

export class EventStream {
  private readonly ring: Stored[] = [];
  private readonly clientSet = new Set<Client>();
  private nextId = 1;
  private keepAlive: NodeJS.Timeout | undefined;
  private readonly o: Required<Omit<EventStreamOptions, 'log'>> & { log: Logger };

  constructor(options: EventStreamOptions) {
    this.o = { ringSize: 256, maxClients: 8, maxQueuedBytes: 256 * 1024, keepAliveMs: 15_000, retryMs: 2000, allowRemote: false, ...options };
  }

  get clients(): number {
    return this.clientSet.size;
  }

  /** Whether any client would receive `type` (the live view does no work for nobody). */
  wants(type: StreamEventType): boolean {
    for (const c of this.clientSet) if (c.types.has(type)) return true;
    return false;
  }

  publish<T extends StreamEventType>(type: T, data: StreamEvents[T]): void {
    if (LIVE_EVENT_TYPES.includes(type)) {
      const frame = `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
      for (const c of this.clientSet) if (c.types.has(type)) this.send(c, frame);
      return;
    }
    const id = this.nextId++;
    const frame = `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    this.ring.push({ id, type, frame });
    if (this.ring.length > this.o.ringSize) this.ring.shift();
    for (const c of this.clientSet) if (c.types.has(type)) this.send(c, frame);
  }

  /** The request handler for GET /events (node:http). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end('only GET\n');
      return;
    }
    if (!this.o.allowRemote && !isLoopback(req.socket.remoteAddress)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('the event stream is for this unit only (loopback)\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const asked = url.searchParams.get('types');
    const types = new Set<StreamEventType>();
    for (const t of asked ? asked.split(',') : STREAM_EVENT_TYPES) {
      if (![...STREAM_EVENT_TYPES, ...LIVE_EVENT_TYPES].includes(t as StreamEventType)) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`unknown event type "${t}"; use any of ${[...STREAM_EVENT_TYPES, ...LIVE_EVENT_TYPES].join(', ')}\n`);
        return;
      }
      types.add(t as StreamEventType);
    }
    if (this.clientSet.size >= this.o.maxClients) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' }).end(`too many event-stream clients (${this.o.maxClients})\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    const client: Client = { res, types };
    this.clientSet.add(client);
    req.socket.setNoDelay(true);
    res.on('close', () => this.clientSet.delete(client));
    res.write(`retry: ${this.o.retryMs}\n: motobio events\n\n`);
    const last = Number(req.headers['last-event-id'] ?? url.searchParams.get('lastEventId') ?? NaN);
    if (Number.isInteger(last) && last > 0) this.replay(client, last);
    this.keepAlive ??= setInterval(() => {
      for (const c of this.clientSet) this.send(c, ': keep-alive\n\n');
    }, this.o.keepAliveMs).unref();
  }

  /** Ends every stream (the health server's stop). */
  close(): void {
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    for (const c of this.clientSet) c.res.end();
    this.clientSet.clear();
  }

  private replay(c: Client, lastId: number): void {
    const oldest = this.ring[0]?.id ?? this.nextId;
    // Ids the ring no longer holds are said to be lost, so an app knows its view has a hole.
    if (lastId + 1 < oldest) this.send(c, `event: lost\ndata: ${JSON.stringify({ from: lastId + 1, to: oldest - 1 })}\n\n`);
    for (const s of this.ring) if (s.id > lastId && c.types.has(s.type)) this.send(c, s.frame);
  }

  private send(c: Client, frame: string): void {
    if (c.res.writableEnded || c.res.destroyed) return;
    if (c.res.writableLength > this.o.maxQueuedBytes) {
      this.o.log.warn({ queued: c.res.writableLength }, 'event-stream client too slow; closing it (it can reconnect with Last-Event-ID)');
      this.clientSet.delete(c);
      c.res.destroy();
      return;
    }
    c.res.write(frame);
  }
}

/** A peer address on this unit. */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
}
