/**
 * What the daemon calls to join the cue stage and the event stream to the pipeline, kept
 * here so src/daemon/ needs only a few lines (src/daemon/rider-loop.ts):
 *
 *   const cues = createCueStage(ctx, { settings: ctx.config.rider, onDelivery: (d) => outbox.append(cueRecord(d, ctx.clock.stamp())) });
 *   lifecycle.add(cues, STOP_RANK.pipeline);          // after the pipeline's flush, before the store
 *   // per decision, after its record is appended with `stamp`:
 *   decisionToCue(cues, decision, stamp);   publishDecision(events, decision, stamp);
 *   // per features period:  publishHeart(events, features, stamp.monoMs)
 *   // health server:        case '/events': events.handle(req, res)
 */
import type { Registry } from 'prom-client';
import type { StageContext } from '../core/context.js';
import type { Stamp } from '../core/clock.js';
import type { OutboundRecord } from '../core/record.js';
import type { Decision } from '../inference/stage.js';
import type { SignalFeatures } from '../signal/types.js';
import type { EventStream } from './event-stream.js';
import { resolvePath } from '../config/load.js';
import { cueSettings, type RiderCueSettings, type RiderCueSettingsInput } from './settings.js';
import { CueStage, type CueStageOptions } from './stage.js';
import type { CueDelivery, CueRequest } from './types.js';

export interface CueWiring {
  /** rider settings (rider.language, rider.audio); defaults apply to what is missing. */
  settings?: RiderCueSettingsInput;
  onDelivery: (d: CueDelivery) => void;
  onStatus?: CueStageOptions['onStatus'];
  /** Also publish each delivery on the event stream. */
  events?: EventStream;
  /** Environment for aplay; the daemon's own by default. */
  env?: NodeJS.ProcessEnv;
}

/** Builds the stage from the daemon's context: its clock, logger, telemetry (alarms, status, metrics). */
export function createCueStage(ctx: StageContext, w: CueWiring): CueStage {
  const registry = (ctx.telemetry as { registry?: Registry }).registry;
  // The configuration's rider section (its paths resolved at load), or settings handed in by
  // code (a test, the bench), whose relative directories resolve where the context says.
  const settings = w.settings === undefined ? ctx.config.rider : withPaths(cueSettings(w.settings), ctx.cwd);
  return new CueStage({
    settings,
    log: ctx.log,
    monoMs: () => ctx.clock.monoMs(),
    telemetry: ctx.telemetry,
    ...(registry ? { registry } : {}),
    onDelivery: (d) => {
      w.events?.publish('cue', d);
      w.onDelivery(d);
    },
    ...(w.onStatus ? { onStatus: w.onStatus } : {}),
    wallClockTrusted: () => ctx.clock.sync() === 'synchronized',
    ...(w.env ? { env: w.env } : {}),
  });
}

function withPaths(s: RiderCueSettings, cwd: string): RiderCueSettings {
  const a = s.audio;
  return { ...s, audio: { ...a, cache_dir: resolvePath(a.cache_dir, cwd), prompts_dir: a.prompts_dir === '' ? '' : resolvePath(a.prompts_dir, cwd) } };
}

/**
 * The cue a decision asks for: undefined for the policy's "none", and for the coaching
 * record's mirror of a rule that fired (action safety_alert, source "safety"): the safety
 * decisions of the same period carry the rule and get its own prompt, so the mirror would only
 * be a second alert dropped behind the first. The policy's own safety_alert (source "model")
 * is a cue.
 */
export function cueRequestFor(d: Decision, stamp: Pick<Stamp, 'seq' | 'monoMs'>): CueRequest | undefined {
  if (d.kind === 'coaching' && (d.name === 'none' || d.detail?.['source'] === 'safety')) return undefined;
  // A finding kept as a record only (non-sustained VT, AF for now) is never said to the rider.
  if (d.kind === 'safety' && d.detail?.['severity'] === 'record') return undefined;
  return { decisionSeq: stamp.seq, kind: d.kind, name: d.name, decidedMonoMs: stamp.monoMs, ...(d.kind === 'safety' ? { active: true } : {}) };
}

/**
 * Hands one decision to the stage. The coaching decision carries the engine's `safetyActive`
 * (the rules whose condition holds now), which is what keeps a safety alert repeating.
 */
export function decisionToCue(stage: CueStage, d: Decision, stamp: Pick<Stamp, 'seq' | 'monoMs'>): void {
  const active = d.kind === 'coaching' ? d.detail?.['safetyActive'] : undefined;
  if (Array.isArray(active)) stage.setSafetyActive(active.filter((r): r is string => typeof r === 'string'));
  const req = cueRequestFor(d, stamp);
  if (req) stage.cue(req);
}

/** A `cue` record for the outbox, linked to its decision by decisionSeq. */
export function cueRecord(d: CueDelivery, stamp: Stamp): OutboundRecord {
  return { type: 'cue', stamp, body: { ...d } };
}

export function publishDecision(events: EventStream, d: Decision, stamp: Pick<Stamp, 'seq' | 'monoMs'>): void {
  if (d.kind === 'safety') {
    const det = d.detail ?? {};
    events.publish('safety', {
      seq: stamp.seq,
      monoMs: stamp.monoMs,
      rule: d.name,
      ...(typeof det['message'] === 'string' ? { message: det['message'] } : {}),
      ...(typeof det['value'] === 'number' || det['value'] === null ? { value: det['value'] } : {}),
      ...(typeof det['threshold'] === 'number' ? { threshold: det['threshold'] } : {}),
    });
  } else {
    events.publish('decision', { seq: stamp.seq, monoMs: stamp.monoMs, name: d.name });
  }
}

export function publishHeart(events: EventStream, f: SignalFeatures, monoMs: number): void {
  events.publish('heart', { monoMs, hrBpm: f.hrBpm, quality: Number.isFinite(f.quality) ? f.quality : null, leadOff: f.leadOff, rmssdMs: f.rmssdMs });
}
