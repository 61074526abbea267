/**
 * The live view's data: what `motobio watch` and the page at GET /live draw while a technician
 * places the electrodes.
 *
 *   pipeline chunk (mv, beats, rr, quality) ─▶ LiveView.chunk ─┬─ nobody asked for "ecg": rr kept (10 s), nothing else
 *                                                                └─ block means (≤ 125 Hz) ─▶ every 0.25 s of strip:
 *                                                                     EventStream.publish('ecg', {start, values, beats, hrBpm, quality, leadOff})
 *   pipeline features (each decision period) ─▶ LiveView.features ─▶ trend (bounded, halves its resolution when full)
 *   GET /live        ─▶ the page (./live-page.ts), which reads /events?types=ecg,heart and /live/trend
 *   GET /live/trend  ─▶ {points: [{monoMs, endS, hrBpm, rmssdMs, quality, leadOff}]}: heart rate and HRV over the ride
 *
 * The strip costs nothing while nobody watches: the block means, the chunk and its beats are
 * only built while a client of the event stream asked for "ecg", and are dropped when the last
 * one leaves. What stays is a few seconds of RR intervals (for the heart rate of the first chunk
 * a new viewer gets) and the trend, whose size is fixed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventStream, EcgStripChunk } from '../cues/event-stream.js';
import { isLoopback } from '../cues/event-stream.js';
import type { Stamp } from '../core/clock.js';
import { recentHr } from '../signal/hrv.js';
import type { RrInterval, SignalFeatures } from '../signal/types.js';
import type { FeedOutput } from '../sources/feed.js';
import type { PipelineObserver } from './pipeline.js';
import { LIVE_PAGE_HTML } from './live-page.js';

/** The strip's highest rate: enough for a QRS on a terminal or a canvas, a few kB/s on the wire. */
export const STRIP_MAX_HZ = 125;
/** Strip seconds per published chunk: a smooth sweep without an event per source chunk. */
export const CHUNK_S = 0.25;
/** Heart rate over this many seconds of RR intervals (as the chain's features). */
const HR_WINDOW_S = 10;
/** Trend points kept: at a 5-s period, 2 h at full resolution, then every other point, and so on. */
export const TREND_POINTS = 1440;

export interface TrendPoint {
  readonly monoMs: number;
  /** Data time at the end of the period, s. */
  readonly endS: number;
  readonly hrBpm: number | null;
  readonly rmssdMs: number | null;
  readonly quality: number | null;
  readonly leadOff: boolean;
}

export interface LiveViewOptions {
  /** The daemon's event stream, or anything that takes the chunks (a calibration's own strip). */
  events: Pick<EventStream, 'wants' | 'publish'>;
  /** The source's sample rate (undefined for an RR-only strap, which has no strip). */
  fs: () => number | undefined;
  trendPoints?: number;
}

interface Strip {
  readonly fs: number;
  readonly factor: number;
  sum: number;
  n: number;
  lost: boolean;
  /** Source sample index of values[0]. */
  chunkStart: number;
  values: (number | null)[];
  beats: number[];
  /** Source sample index the next chunk's data is expected at (a jump starts the strip over). */
  nextSample: number;
}

const r3 = (v: number): number => Math.round(v * 1000) / 1000;

export class LiveView implements PipelineObserver {
  private strip: Strip | undefined;
  private readonly rr: RrInterval[] = [];
  private dataTimeS = 0;
  private quality: number | null = null;
  private leadOff = false;
  private readonly trendPoints: TrendPoint[] = [];
  private trendStride = 1;
  private trendSkip = 0;
  private readonly maxTrend: number;

  constructor(private readonly o: LiveViewOptions) {
    this.maxTrend = Math.max(16, o.trendPoints ?? TREND_POINTS);
  }

  chunk(f: FeedOutput): void {
    const out = f.out;
    this.dataTimeS = f.dataTimeS;
    if (out.rr.length > 0) {
      this.rr.push(...out.rr);
      while (this.rr.length > 0 && this.rr[0].timeS <= f.dataTimeS - HR_WINDOW_S) this.rr.shift();
    }
    const q = out.quality[out.quality.length - 1];
    if (q) {
      this.quality = r3(q.sqi);
      this.leadOff = q.leadOff;
    }
    if (f.kind === 'rr' && f.rr?.contact !== undefined) this.leadOff = !f.rr.contact;
    if (!this.o.events.wants('ecg')) {
      this.strip = undefined;
      return;
    }
    const fs = this.o.fs();
    const mv = f.mv;
    if (f.kind !== 'samples' || !mv || fs === undefined || !(fs > 0)) return;
    const end = Math.round(f.dataTimeS * fs);
    const first = end - mv.length;
    let s = this.strip;
    if (!s || s.fs !== fs || first !== s.nextSample) {
      const factor = Math.max(1, Math.ceil(fs / STRIP_MAX_HZ));
      s = this.strip = { fs, factor, sum: 0, n: 0, lost: false, chunkStart: first, values: [], beats: [], nextSample: first };
    }
    for (let i = 0; i < mv.length; i++) {
      const v = mv[i];
      if (Number.isFinite(v)) s.sum += v;
      else s.lost = true;
      if (++s.n === s.factor) {
        s.values.push(s.lost ? null : r3(s.sum / s.factor));
        s.sum = 0;
        s.n = 0;
        s.lost = false;
      }
    }
    s.nextSample = end;
    for (const b of out.beats) s.beats.push(b.sample);
    const rateHz = fs / s.factor;
    if (s.values.length >= Math.ceil(rateHz * CHUNK_S)) {
      const chunk: EcgStripChunk = {
        fs,
        rateHz,
        start: s.chunkStart,
        values: s.values,
        beats: s.beats,
        hrBpm: this.hr(),
        quality: this.quality,
        leadOff: this.leadOff,
      };
      s.chunkStart += s.values.length * s.factor;
      s.values = [];
      s.beats = [];
      this.o.events.publish('ecg', chunk);
    }
  }

  features(f: SignalFeatures, stamp: Stamp): void {
    if (this.trendSkip++ % this.trendStride !== 0) return;
    this.trendPoints.push({
      monoMs: Math.round(stamp.monoMs),
      endS: Math.round(f.endS * 100) / 100,
      hrBpm: f.hrBpm === null ? null : Math.round(f.hrBpm * 10) / 10,
      rmssdMs: f.rmssdMs === null ? null : Math.round(f.rmssdMs * 10) / 10,
      quality: Number.isFinite(f.quality) ? r3(f.quality) : null,
      leadOff: f.leadOff,
    });
    if (this.trendPoints.length >= this.maxTrend) {
      // A long ride keeps its whole shape at half the resolution rather than only its last hours.
      for (let i = 0; i < this.trendPoints.length / 2; i++) this.trendPoints[i] = this.trendPoints[2 * i];
      this.trendPoints.length = Math.ceil(this.trendPoints.length / 2);
      this.trendStride *= 2;
      this.trendSkip = 1;
    }
  }

  trend(): readonly TrendPoint[] {
    return this.trendPoints;
  }

  private hr(): number | null {
    const v = recentHr(this.rr, this.dataTimeS, HR_WINDOW_S);
    return v === null ? null : Math.round(v * 10) / 10;
  }

  /** GET /live (the page) and GET /live/trend (JSON), loopback only like the event stream. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    if (!isLoopback(req.socket.remoteAddress)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('the live view is for this unit only (loopback)\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/live' || path === '/live/') {
      res
        .writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          // Everything the page needs is inline; it may talk to this server only.
          'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        })
        .end(req.method === 'HEAD' ? undefined : LIVE_PAGE_HTML);
      return;
    }
    if (path === '/live/trend') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify({ points: this.trendPoints })}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /live or /live/trend\n');
  }
}
