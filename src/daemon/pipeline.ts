/**
 * The live path inside the daemon:
 *
 *   EcgSource ──samples──▶ SignalChain.push ──beats, quality──▶ telemetry
 *             └──rr──────▶ SignalChain.pushRr        │
 *                          every decision period (on the data's own timeline, so a replay
 *                          at any speed decides at the same points) ▼
 *                          features ──▶ DecisionEngine ──▶ Outbox (features, decisions, safety)
 *
 * Features are taken at each period boundary as the data passes it; the decisions on them
 * run one at a time from a short queue (MAX_PENDING_DECISIONS), so a fast replay or a slow
 * model delays decisions but never runs them concurrently; when the queue is full the
 * oldest waiting period is dropped and counted. Stopping ("pipeline flush") detaches from
 * the source, lets the queue drain and makes the outbox durable.
 */
import { SourceFeed, type FeedOutput } from '../sources/feed.js';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../util/log.js';
import { errorMessage, isMotobioError } from '../util/errors.js';
import type { EcgSource, SourceStatus } from '../sources/types.js';
import type { Component } from './lifecycle.js';
import type { SignalFeatures } from '../signal/types.js';
import type { Stamp } from '../core/clock.js';
import type { StageContext } from '../core/context.js';
import type { OutboundRecord } from '../core/record.js';
import type { ChainOutput } from '../signal/chain.js';
import type { Decision, DecisionStage } from '../inference/stage.js';
import type { StoreStage } from '../store/stage.js';
import type { SignalChain } from '../signal/stage.js';

export const MAX_PENDING_DECISIONS = 8;

interface PendingDecision {
  readonly features: SignalFeatures;
  readonly stamp: Stamp;
  readonly arrivalMs: number;
}

/** What else watches the data path (the rider's cues, their outcomes, the local event stream). */
export interface PipelineObserver {
  /** Each chunk through the chain, on the data's own timeline. */
  chunk?(o: FeedOutput): void;
  /** Each decision period's features, as stored. */
  features?(f: SignalFeatures, stamp: Stamp): void;
  /** Each decision, with its record's per-device sequence (undefined while it waits for disk space) and the features it was made on. */
  decision?(d: Decision, stamp: Stamp, seq: number | undefined, features: SignalFeatures): void;
}

/** One observer made of several (the rider loop, the unit report, the live view), called in order. */
export function fanOut(...observers: readonly PipelineObserver[]): PipelineObserver {
  return {
    chunk: (o) => {
      for (const x of observers) x.chunk?.(o);
    },
    features: (f, stamp) => {
      for (const x of observers) x.features?.(f, stamp);
    },
    decision: (d, stamp, seq, features) => {
      for (const x of observers) x.decision?.(d, stamp, seq, features);
    },
  };
}

export interface PipelineParts {
  source: EcgSource | undefined;
  makeChain: ((fs: number | undefined) => SignalChain) | undefined;
  engine: () => DecisionStage | undefined;
  outbox: () => StoreStage | undefined;
  observer?: PipelineObserver;
}

export class Pipeline implements Component {
  readonly name = 'pipeline';
  private feed: SourceFeed | undefined;
  private nextDecisionS: number | undefined;
  private lastArrivalMs = 0;
  private inflight: Promise<void> | undefined;
  private decidingSinceMs: number | undefined;
  private readonly pending: PendingDecision[] = [];
  private detach: (() => void) | undefined;
  private skipped = 0;
  private droppedNoStore = 0;
  private appended = 0;
  private readonly log: Logger;
  private readonly periodS: number;

  constructor(
    private readonly ctx: StageContext,
    private readonly parts: PipelineParts,
  ) {
    this.log = ctx.log.child({ mod: 'pipeline' });
    this.periodS = ctx.config.signal.decision_period_s;
  }

  start(_signal: AbortSignal): Promise<void> {
    const source = this.parts.source;
    if (!source) return Promise.resolve();
    const makeChain = this.parts.makeChain;
    const feed = (this.feed ??= new SourceFeed(source, (fs) => makeChain?.(fs), (o) => this.onOutput(o)));
    feed.attach((what, fn) => this.guard(what, fn));
    const onStatus = (s: SourceStatus) => this.onStatus(s);
    const onWarning = (w: string) => this.log.warn({ source: source.id }, w);
    const onEnd = () => {
      this.log.info({ source: source.id }, 'source ended; the daemon keeps serving health and draining the outbox');
      this.ctx.telemetry.setStatus('source', { state: 'ended', detail: { id: source.id } });
      // No more periods will complete: commit the store's open group once the last decision is in.
      void (this.inflight ?? Promise.resolve()).then(() => this.parts.outbox()?.flush());
    };
    source.on('status', onStatus);
    source.on('warning', onWarning);
    source.on('end', onEnd);
    this.detach = () => {
      feed.detach();
      source.off('status', onStatus);
      source.off('warning', onWarning);
      source.off('end', onEnd);
    };
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.detach?.();
    this.detach = undefined;
    await this.inflight;
    await this.parts.outbox()?.flush();
    this.log.info({ appended: this.appended, dropped: this.droppedNoStore }, 'pipeline flushed');
    if (this.skipped > 0) this.log.warn({ skipped: this.skipped }, 'decision periods dropped because decisions fell behind the data');
  }

  /** One bad chunk must not take the daemon down: count it, log it, carry on. */
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      const code = isMotobioError(e) ? e.code : 'INTERNAL';
      this.ctx.telemetry.countError('pipeline', code, errorMessage(e));
      this.log.error({ err: errorMessage(e), what }, 'pipeline failed on a chunk; the chunk is dropped');
    }
  }

  private onOutput(o: FeedOutput): void {
    this.lastArrivalMs = o.receivedAtMs;
    this.report(o.out, o.receivedAtMs);
    this.parts.observer?.chunk?.(o);
    this.maybeDecide(o.dataTimeS);
  }

  private onStatus(s: SourceStatus): void {
    const { id, state, lastError, ...detail } = s;
    this.ctx.telemetry.setStatus('source', { state, detail: { id, ...detail }, ...(lastError === undefined ? {} : { lastError }) });
  }

  private report(out: ChainOutput, arrivalMs: number): void {
    const t = this.ctx.telemetry;
    if (out.beats.length > 0) {
      t.countBeats(out.beats.length);
      t.observeLatency('beat', (performance.now() - arrivalMs) / 1000);
    }
    const q = out.quality[out.quality.length - 1];
    if (q) t.setQuality(q.sqi, q.leadOff);
  }

  private maybeDecide(dataTimeS: number): void {
    if (this.nextDecisionS === undefined) this.nextDecisionS = dataTimeS + this.periodS;
    if (dataTimeS < this.nextDecisionS) return;
    while (this.nextDecisionS <= dataTimeS) this.nextDecisionS += this.periodS;
    const chain: SignalChain | undefined = this.feed?.chain;
    if (!chain) return;
    const features = chain.features();
    const stamp = this.ctx.clock.stamp();
    this.append({ type: 'features', stamp, body: { ...features } });
    this.parts.observer?.features?.(features, stamp);
    if (!this.parts.engine()) {
      this.parts.outbox()?.periodDone?.();
      return;
    }
    this.pending.push({ features, stamp, arrivalMs: this.lastArrivalMs });
    if (this.pending.length > MAX_PENDING_DECISIONS) {
      this.pending.shift();
      this.skipped++;
      this.ctx.telemetry.countError('pipeline', 'DECISIONS_BEHIND', 'decisions fell behind the data; the oldest waiting period was dropped');
    }
    this.inflight ??= this.drain().finally(() => {
      this.inflight = undefined;
    });
  }

  private async drain(): Promise<void> {
    for (let p = this.pending.shift(); p; p = this.pending.shift()) {
      this.decidingSinceMs = performance.now();
      await this.decide(p);
      this.decidingSinceMs = undefined;
    }
  }

  /** How long the current decision has been running, ms (0 when none is). */
  decidingForMs(): number {
    return this.decidingSinceMs === undefined ? 0 : performance.now() - this.decidingSinceMs;
  }

  private async decide({ features, stamp, arrivalMs }: PendingDecision): Promise<void> {
    const engine = this.parts.engine();
    if (!engine) return;
    try {
      const decisions = await engine.decide(features, stamp);
      for (const d of decisions) {
        const at = this.ctx.clock.stamp();
        // A safety record says where on the data's timeline it fired (its ECG strip is cut around that point, src/report).
        const seq = this.append({ type: d.kind === 'safety' ? 'safety' : 'decision', stamp: at, body: { name: d.name, featuresSeq: stamp.seq, ...(d.kind === 'safety' ? { endS: features.endS } : {}), ...(d.detail ?? {}) } });
        this.parts.observer?.decision?.(d, at, seq, features);
        if (d.kind === 'safety') this.ctx.telemetry.countSafetyTrigger(d.name);
        else this.ctx.telemetry.countDecision(d.name);
      }
      this.ctx.telemetry.observeLatency('decision', (performance.now() - arrivalMs) / 1000);
    } catch (e) {
      const code = isMotobioError(e) ? e.code : 'INTERNAL';
      this.ctx.telemetry.countError('inference', code, errorMessage(e));
      this.log.error({ err: errorMessage(e) }, 'decision failed; this period has no decision');
    }
    // The period's records are all in: group commit counts periods on the data's timeline.
    this.parts.outbox()?.periodDone?.();
  }

  /**
   * Appends to the store and returns the record's per-device sequence (undefined while it waits
   * in memory for a full disk); without a store (not wired) the record is counted as dropped.
   */
  append(record: OutboundRecord): number | undefined {
    const outbox = this.parts.outbox();
    if (!outbox) {
      if (this.droppedNoStore++ === 0) this.log.warn('no store is wired into the daemon yet: records are not kept');
      return undefined;
    }
    const seq = outbox.append(record);
    this.appended++;
    const d = outbox.depth();
    this.ctx.telemetry.setOutbox(d.records, d.bytes);
    return typeof seq === 'number' ? seq : undefined;
  }
}
