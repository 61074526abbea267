/**
 * Raw ECG strips for the server: from `strip_before_s` before to `strip_after_s` after each
 * safety alert, and `hourly_strip_s` at each full hour of riding, as `ecg` records at `raw`
 * priority in the store's chunk codec (src/store/ecg-codec.ts). The fleet keeps them in
 * `ecg_chunks` and `motobio fleet ecg DEVICE --at TIME` exports them (src/fleet/ecg-export.ts).
 *
 *   samples (FeedOutput.mv, sensor sample index) ──▶ ring buffer (before + after + margin)
 *   safety decision (its features' endS) ──▶ strip [alert - before, alert + after) ─┐
 *   each riding hour ──▶ strip [now - hourly, now) ────────────────────────────────┤
 *                         an alert inside an open strip extends it; a sample is never sent twice
 *                         └─▶ chunks of CHUNK_S, cut from the strip's start, as the data passes ─▶ ecg records
 *
 * Only for sources that give samples (an RR-only strap has nothing to keep). Sample indices
 * are the sensor's own timeline (gaps advance them, lost samples are NaN = "no sample"), so
 * `startSample` lines the chunks up exactly. Each record's mono/wall time is when its middle
 * sample arrived: the server finds a strip by the alert's time with a symmetric window.
 */
import { performance } from 'node:perf_hooks';
import type { StageContext } from '../core/context.js';
import type { OutboundRecord } from '../core/record.js';
import type { Decision } from '../inference/stage.js';
import type { SignalFeatures } from '../signal/types.js';
import type { FeedOutput } from '../sources/feed.js';
import type { EcgSource } from '../sources/types.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { Stamp } from '../core/clock.js';

/** Longest piece of a strip in one record: 10 s (5,000 samples at 500 Hz, ~3 kB compressed). */
export const CHUNK_S = 10;
/** Quantisation step: 1 µV keeps ±32 mV (ecg-codec.ts). */
const LSB_UV = 1;
/** Extra ring beyond before + after: how far the data may run ahead of a late safety decision. */
const MARGIN_S = 60;
const HOUR_S = 3600;

export interface StripOptions {
  readonly beforeS: number;
  readonly afterS: number;
  /** 0: no hourly strip. */
  readonly hourlyS: number;
  /** Is the bike being ridden (the ride context; true without one). */
  readonly riding: () => boolean;
  readonly append: (r: OutboundRecord) => unknown;
  /** The stream ended and its last chunk went out after the pipeline's own end-of-stream flush: make it durable (the store groups commits). */
  readonly sentAtEnd?: () => void;
}

interface OpenStrip {
  /** Next sample index to send. */
  next: number;
  /** First sample index after the strip. */
  end: number;
  readonly why: string;
}

export class EcgStrips {
  private readonly log: Logger;
  private fs: number | undefined;
  private ring: Float64Array | undefined;
  /** Sample index one past the newest sample in the ring. */
  private endIdx = 0;
  /** Lowest sample index the ring still holds. */
  private firstIdx = 0;
  /** No sample below this is sent again (strips never overlap on the wire). */
  private sentUntil = Number.NEGATIVE_INFINITY;
  private open: OpenStrip | undefined;
  /** Arrival (performance.now ms) of the last sample of recent chunks, to date each record. */
  private arrivals: { end: number; atMs: number }[] = [];
  /** Riding time in samples (an integer: a float sum of 0.1-s chunks drifts off the hour). */
  private ridingSamples = 0;
  private hours = 0;
  private records = 0;
  private samplesSent = 0;
  private readonly onEnd = (): void => {
    if (this.flush()) this.o.sentAtEnd?.();
  };

  constructor(
    private readonly ctx: StageContext,
    private readonly source: EcgSource | undefined,
    private readonly o: StripOptions,
  ) {
    this.log = ctx.log.child({ mod: 'ecg-strips' });
  }

  start(): void {
    this.source?.on('end', this.onEnd);
  }

  /** Returns whether it sent a last chunk (which then still needs the store's flush). */
  stop(): boolean {
    this.source?.off('end', this.onEnd);
    return this.flush();
  }

  /** Sends what the open strip has so far (the stream ended, a new stream began, the daemon stops); true when it sent a chunk. */
  flush(): boolean {
    const s = this.open;
    if (!s) return false;
    const sent = this.endIdx > s.next;
    if (sent) this.emit(s, s.next, Math.min(s.end, this.endIdx));
    this.open = undefined;
    return sent;
  }

  stats(): { records: number; samples: number } {
    return { records: this.records, samples: this.samplesSent };
  }

  chunk(o: FeedOutput): void {
    if (o.kind !== 'samples' || !o.mv || !this.source?.fs) return;
    const fs = this.source.fs;
    if (this.fs !== fs) this.reset(fs);
    const end = Math.round(o.dataTimeS * fs);
    const start = end - o.mv.length;
    // A timeline that went backwards (a new stream) starts the ring over; one that jumped ahead leaves no-sample holes.
    if (start < this.endIdx) this.reset(fs, start);
    this.write(start, o.mv);
    this.arrivals.push({ end, atMs: o.receivedAtMs });
    while (this.arrivals.length > 2 && this.arrivals[1].end <= this.firstIdx) this.arrivals.shift();
    if (this.o.hourlyS > 0 && this.o.riding()) {
      this.ridingSamples += o.mv.length;
      if (this.ridingSamples >= (this.hours + 1) * HOUR_S * fs) {
        this.hours++;
        this.want(end - Math.round(this.o.hourlyS * fs), end, 'hourly');
      }
    }
    this.pump();
  }

  decision(d: Decision, _stamp: Stamp, _seq: number | undefined, features?: SignalFeatures): void {
    if (d.kind !== 'safety' || !this.fs || !this.ring || !features) return;
    const at = Math.round(features.endS * this.fs);
    this.want(at - Math.round(this.o.beforeS * this.fs), at + Math.round(this.o.afterS * this.fs), `safety ${d.name}`);
    this.pump();
  }

  private reset(fs: number, at = 0): void {
    if (this.fs !== fs) {
      this.fs = fs;
      this.ring = new Float64Array(Math.ceil((this.o.beforeS + this.o.afterS + Math.max(this.o.hourlyS, CHUNK_S) + MARGIN_S) * fs));
    }
    this.flush();
    this.endIdx = this.firstIdx = at;
    this.sentUntil = Number.NEGATIVE_INFINITY;
    this.arrivals = [];
  }

  private write(start: number, mv: Float64Array): void {
    const ring = this.ring!;
    const cap = ring.length;
    for (let i = this.endIdx; i < start; i++) ring[i % cap] = NaN;
    for (let i = 0; i < mv.length; i++) ring[(start + i) % cap] = mv[i];
    this.endIdx = start + mv.length;
    this.firstIdx = Math.max(this.firstIdx, this.endIdx - cap);
  }

  /** Asks for [from, to): extends the open strip when they meet, else opens one; never before what was sent. */
  private want(from: number, to: number, why: string): void {
    const s = this.open;
    if (s && from <= s.end) {
      s.end = Math.max(s.end, to);
      return;
    }
    if (s) this.finish(s);
    let next = Math.max(from, this.sentUntil);
    if (next < this.firstIdx) {
      // At the stream's start there was nothing earlier to keep; after the ring wrapped, there was.
      if (this.endIdx - this.firstIdx >= this.ring!.length) this.log.warn({ why, lostS: (this.firstIdx - next) / this.fs! }, 'the strip starts later than asked: the ring no longer held its start (decisions ran far behind the data)');
      next = this.firstIdx;
    }
    next = Math.min(next, to);
    if (next >= to) return;
    this.open = { next, end: to, why };
    this.log.info({ why, fromSample: next, toSample: to, fs: this.fs }, `ECG strip: ${((to - next) / this.fs!).toFixed(1)} s around ${why}`);
  }

  /** A strip replaced by a later one that does not touch it: send what it has up to now. */
  private finish(s: OpenStrip): void {
    if (this.endIdx > s.next) this.emit(s, s.next, Math.min(s.end, this.endIdx));
    this.open = undefined;
  }

  private pump(): void {
    const s = this.open;
    if (!s || !this.fs) return;
    const n = Math.round(CHUNK_S * this.fs);
    // The strip's start may have left the ring if decisions lag far behind the data.
    if (s.next < this.firstIdx) s.next = this.firstIdx;
    while (s.next < s.end) {
      const to = Math.min(s.next + n, s.end);
      if (to > this.endIdx) return;
      this.emit(s, s.next, to);
    }
    this.open = undefined;
  }

  private emit(s: OpenStrip, from: number, to: number): void {
    const ring = this.ring!;
    const cap = ring.length;
    const mv = new Float64Array(to - from);
    for (let i = from; i < to; i++) mv[i - from] = ring[i % cap];
    s.next = to;
    this.sentUntil = Math.max(this.sentUntil, to);
    try {
      this.o.append({ type: 'ecg', stamp: this.stampAt(Math.floor((from + to) / 2)), body: {}, ecg: { startSample: from, fs: this.fs!, lsbUv: LSB_UV, mv } });
      this.records++;
      this.samplesSent += mv.length;
    } catch (e) {
      this.log.error({ err: errorMessage(e), why: s.why }, `could not store an ECG strip chunk: ${errorMessage(e)}`);
    }
  }

  /** The clock's stamp moved back to when sample `idx` arrived (the chunk that carried it). */
  private stampAt(idx: number): Stamp {
    const now = this.ctx.clock.stamp();
    const hit = this.arrivals.find((a) => a.end > idx);
    if (!hit) return now;
    const agoMs = Math.max(0, performance.now() - hit.atMs);
    return { ...now, monoMs: now.monoMs - agoMs, wallMs: Math.round(now.wallMs - agoMs) };
  }
}
