/**
 * The loop with the rider, composed from the stages that own its parts:
 *
 *   ride context (src/context) ─┐                       ┌─▶ decision record: context, rider
 *   rider profile (src/rider) ──┴─▶ RideInput ─▶ engine ─┤
 *                                                         └─▶ Decision ─▶ CueStage (src/cues) ─▶ helmet
 *   chain output ──▶ CueOutcomeStage ◀── CueDelivery ◀───────────────────────┘       │
 *        └──────────────▶ cue_outcome record ──▶ rider's cue chooser          cue record
 *   features, decisions, cues ──▶ EventStream (GET /events on the health server)
 *
 * Each part is optional: a test's stages may leave any of them out, and the rest still runs.
 */
import type { StageContext } from '../core/context.js';
import type { Stamp } from '../core/clock.js';
import type { RecordSink } from '../core/record.js';
import type { RideContextSource } from '../context/types.js';
import { CueOutcomeStage } from '../cues/outcome.js';
import { outcomeConfig } from '../cues/outcome-settings.js';
import { EventStream } from '../cues/event-stream.js';
import type { CueStage } from '../cues/stage.js';
import type { CueDelivery } from '../cues/types.js';
import { cueRecord, decisionToCue, publishDecision, publishHeart } from '../cues/wiring.js';
import type { Decision, DecisionHooks } from '../inference/stage.js';
import { RideInput, rideStatus } from '../rider/ride-input.js';
import type { RiderStage } from '../rider/stage.js';
import type { SignalFeatures } from '../signal/types.js';
import type { FeedOutput } from '../sources/feed.js';
import { errorMessage } from '../util/errors.js';
import type { Component } from './lifecycle.js';
import type { PipelineObserver } from './pipeline.js';
import type { StageFactories } from './context.js';

export class RiderLoop implements PipelineObserver {
  readonly events: EventStream;
  private rideSource: RideContextSource | undefined;
  private rider: RiderStage | undefined;
  private rideInput: RideInput | undefined;
  private cues: CueStage | undefined;
  private readonly outcomes: CueOutcomeStage;
  /** Where the data stood at the last decision period (a safety alert is placed there). */
  private lastEndS = 0;

  constructor(
    private readonly ctx: StageContext,
    private readonly stages: StageFactories,
    private readonly sink: () => RecordSink | undefined,
    /** Resets the engine's ride state at a new ride (break timers). */
    private readonly resetRide: () => void,
  ) {
    this.events = new EventStream({ log: ctx.log.child({ mod: 'events' }) });
    this.outcomes = new CueOutcomeStage({
      config: outcomeConfig(ctx.config.cues.outcome),
      monoNow: () => ctx.clock.monoMs(),
      emit: (o) => {
        this.append('cue_outcome', { ...o });
        this.rider?.adaptation.onOutcome(o);
      },
    });
  }

  /** Whether the bike is being ridden now (riding assumed without a ride-context source). */
  riding(): boolean {
    return this.rideSource?.snapshot().riding ?? true;
  }

  /** What the inference stage asks at each decision: the ride, the rider, the cue choice. */
  decisionHooks(): Pick<DecisionHooks, 'ride' | 'chooseCue'> {
    return {
      ride: (f) => {
        const got = this.rideInput?.forDecision(f);
        this.reportStatus();
        // Without a ride-context source the inference stage's own assumption stands.
        return got && { ride: got.ride, record: { ...got.record } };
      },
      chooseCue: (c) => this.rider?.adaptation.chooseCue?.(c) ?? c.proposed,
    };
  }

  /** Components in start order; their stop ranks are the caller's. */
  rideComponent(): Component {
    return {
      name: 'ride-context',
      start: async (signal) => {
        if (!this.stages.rideContext) return;
        this.rideSource = this.stages.rideContext(this.ctx);
        await this.rideSource.start(signal);
      },
      stop: async () => {
        this.rideInput?.close();
        await this.rideSource?.stop();
      },
    };
  }

  /** After the store: the rider's profile lives in its file. */
  riderComponent(): Component {
    return {
      name: 'rider',
      start: async () => {
        if (this.stages.rider) {
          try {
            this.rider = await this.stages.rider(this.ctx);
          } catch (e) {
            // Coaching goes on without a profile (absolute values, no cue choice); safety is unaffected.
            this.ctx.log.error({ err: errorMessage(e) }, `the rider profile could not be opened: ${errorMessage(e)}; coaching runs without a baseline`);
          }
        }
        if (this.rideSource) {
          this.rideInput = new RideInput({ context: this.rideSource, learner: this.rider?.adaptation.learner ?? null, onNewRide: () => this.resetRide() });
        }
        this.reportStatus();
      },
      stop: () => {
        this.rider?.close();
        this.rider = undefined;
        return Promise.resolve();
      },
    };
  }

  cueComponent(): Component {
    return {
      name: 'cues',
      start: async (signal) => {
        if (!this.stages.cues) return;
        this.cues = this.stages.cues(this.ctx, {
          events: this.events,
          onDelivery: (d) => this.delivered(d),
          // Audio faults and bad prompt files are records; "prompts off" is the configuration,
          // said in the log and /status, and every cue's own record says it was muted.
          onStatus: (body) => {
            if (body['event'] !== 'prompts_off') this.append('status', { ...body });
          },
        });
        await this.cues.start(signal);
      },
      stop: async () => {
        await this.cues?.stop();
      },
    };
  }

  /** Stops after the cues: their last deliveries are measured, then the open outcomes go out. */
  outcomeComponent(): Component {
    return {
      name: 'cue-outcomes',
      start: () => Promise.resolve(),
      stop: () => {
        this.outcomes.flush();
        this.events.close();
        return Promise.resolve();
      },
    };
  }

  chunk(o: FeedOutput): void {
    this.outcomes.chunk(o.dataTimeS);
    this.outcomes.chain(o.out, o.dataTimeS);
  }

  features(f: SignalFeatures, stamp: Stamp): void {
    this.lastEndS = f.endS;
    publishHeart(this.events, f, stamp.monoMs);
  }

  decision(d: Decision, stamp: Stamp, seq: number | undefined): void {
    publishDecision(this.events, d, stamp);
    if (d.kind === 'safety') this.outcomes.safety(this.lastEndS, d.name);
    // Linked to the decision by its per-device sequence (-1: the decision waited in memory for a full disk).
    if (this.cues) decisionToCue(this.cues, d, { seq: seq ?? -1, monoMs: stamp.monoMs });
  }

  private delivered(d: CueDelivery): void {
    this.append('cue', cueRecord(d, this.ctx.clock.stamp()).body);
    this.outcomes.delivered(d);
  }

  private append(type: 'cue' | 'cue_outcome' | 'status', body: Readonly<Record<string, unknown>>): void {
    try {
      this.sink()?.append({ type, stamp: this.ctx.clock.stamp(), body });
    } catch (e) {
      this.ctx.log.error({ err: errorMessage(e), type }, `could not store the ${type} record`);
    }
  }

  private reportStatus(): void {
    if (!this.rideSource) return;
    const s = rideStatus(this.rideSource, this.rider?.adaptation ?? null);
    this.ctx.telemetry.setStatus('ride', { state: String((s['context'] as { phase?: string } | undefined)?.phase ?? 'unknown'), detail: s });
  }
}
