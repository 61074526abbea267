/**
 * What each delivered cue did: the rider's heart rate and RMSSD in a fixed window after the
 * cue against the minute before it. One `cue_outcome` record body per cue, linked to its
 * decision by `decisionSeq`: the reward signal the next policy is trained on
 * (docs/telemetry.md, docs/schemas/cue_outcome.v1.schema.json).
 *
 *   chain rr, quality ──push()──▶ RR / quality history (baseline + window span)
 *   CueDelivery (played, interrupted) ──cue()──▶ open outcome ─┐
 *   safety decision ──safety()──▶ ends the open ones early     │ data time passes start + windowEnd,
 *   next cue ──cue()──▶ ends the open ones early               │ or quality falls / leads off
 *                                                              ▼
 *                          baseline [start-60, start) vs response [start+60, start+180) ─▶ CueOutcome
 *
 * Every time here is on the chain's own data timeline (s from the start of the stream), the
 * one the RR intervals carry; the caller maps a cue's monotonic start onto it (TimelineMap).
 * The metrics come from the signal chain's own HRV code (src/signal/hrv.ts), so an outcome
 * means exactly what the decision features mean.
 */
import { computeHrv, recentHr } from '../signal/hrv.js';
import type { QualityWindow, RrInterval } from '../signal/types.js';
import type { CueDelivery } from './types.js';

export interface OutcomeConfig {
  /** The minute before the cue, s. */
  readonly baselineS: number;
  /** Response window after the cue's start, s. */
  readonly windowStartS: number;
  readonly windowEndS: number;
  /** Mean signal quality over `qualityHoldS` below this ends the outcome early. */
  readonly minQuality: number;
  readonly qualityHoldS: number;
}

export const DEFAULT_OUTCOME: OutcomeConfig = { baselineS: 60, windowStartS: 60, windowEndS: 180, minQuality: 0.5, qualityHoldS: 10 };

export type OutcomeEnd = 'safety_alert' | 'new_cue' | 'low_quality' | 'leads_off' | 'stream_end';

export interface OutcomeWindow {
  /** Data time, s. */
  readonly fromS: number;
  readonly toS: number;
  /** Mean heart rate over the window (corrected RR), null with fewer than 3 intervals. */
  readonly hrBpm: number | null;
  /** null when the window is shorter than a minute or too dirty (the chain's HRV rules). */
  readonly rmssdMs: number | null;
  readonly quality: number | null;
  readonly intervals: number;
}

export interface CueOutcome {
  readonly v: 1;
  readonly decisionSeq: number;
  readonly kind: CueDelivery['kind'];
  readonly name: string;
  readonly delivery: 'played' | 'interrupted';
  readonly language: string;
  readonly prompt: 'voice' | 'tone';
  readonly cueStartS: number;
  readonly cueStartMonoMs: number | null;
  readonly windows: { readonly baselineS: number; readonly startS: number; readonly endS: number };
  readonly baseline: OutcomeWindow;
  readonly response: OutcomeWindow;
  /** response - baseline; null where either is null. A lower heart rate is a negative hrBpm. */
  readonly delta: { readonly hrBpm: number | null; readonly rmssdMs: number | null };
  /** The response window ran its full length. */
  readonly complete: boolean;
  readonly endedEarly: OutcomeEnd | null;
  /** Data time the measurement stopped, s. */
  readonly endedAtS: number;
  readonly endedBy?: string;
}

interface Open {
  readonly delivery: CueDelivery;
  readonly startS: number;
  readonly baseline: OutcomeWindow;
}

/** Keeps RR and quality this far behind the oldest open cue's start, s. */
const SLACK_S = 5;

export class CueOutcomeTracker {
  readonly config: OutcomeConfig;
  private readonly rr: RrInterval[] = [];
  private readonly quality: QualityWindow[] = [];
  private open: Open[] = [];
  private nowS = 0;

  constructor(config: Partial<OutcomeConfig> = {}) {
    this.config = { ...DEFAULT_OUTCOME, ...config };
    const c = this.config;
    if (!(c.windowEndS > c.windowStartS && c.windowStartS >= 0 && c.baselineS > 0)) {
      throw new RangeError(`cue outcome: windows must satisfy baseline > 0 and 0 <= start < end (got ${c.baselineS}, ${c.windowStartS}, ${c.windowEndS})`);
    }
  }

  /** Open outcomes (cues still being measured). */
  pending(): number {
    return this.open.length;
  }

  /** The chain's output; `nowS` is how far the data has got. Returns the outcomes that finished. */
  push(out: { readonly rr: readonly RrInterval[]; readonly quality: readonly QualityWindow[] }, nowS: number): CueOutcome[] {
    this.rr.push(...out.rr);
    this.nowS = Math.max(this.nowS, nowS);
    const done: CueOutcome[] = [];
    for (const q of out.quality) {
      this.quality.push(q);
      // Quality is judged only once a window of it has passed since the cue, then on every window.
      for (const o of [...this.open]) {
        if (q.endS <= o.startS) continue;
        if (q.leadOff) done.push(this.finish(o, q.endS, 'leads_off'));
        else if (q.endS - o.startS >= this.config.qualityHoldS) {
          const m = this.meanQuality(q.endS - this.config.qualityHoldS, q.endS);
          if (m !== null && m < this.config.minQuality) done.push(this.finish(o, q.endS, 'low_quality', `mean quality ${m.toFixed(2)}`));
        }
      }
    }
    for (const o of [...this.open]) if (this.nowS >= o.startS + this.config.windowEndS) done.push(this.finish(o, o.startS + this.config.windowEndS, null));
    this.trim();
    return done;
  }

  /**
   * A delivered cue starting at `startS` (data time). Played or interrupted cues are measured;
   * any cue the rider heard ends the ones still open. Dropped and muted cues are not measured.
   */
  cue(delivery: CueDelivery, startS: number): CueOutcome[] {
    if (delivery.state !== 'played' && delivery.state !== 'interrupted') return [];
    const done = this.open.filter((o) => o.startS < startS).map((o) => this.finish(o, startS, 'new_cue', `${delivery.name} #${delivery.decisionSeq}`));
    this.open.push({ delivery, startS, baseline: this.window(startS - this.config.baselineS, startS) });
    return done;
  }

  /** A safety rule fired at `atS` (heard or not): the open outcomes end there. */
  safety(atS: number, rule: string): CueOutcome[] {
    return this.open.filter((o) => o.startS < atS).map((o) => this.finish(o, atS, 'safety_alert', rule));
  }

  /** End of stream: what is open ends now, marked so. */
  flush(): CueOutcome[] {
    return [...this.open].map((o) => this.finish(o, Math.max(o.startS, this.nowS), 'stream_end'));
  }

  private finish(o: Open, atS: number, why: OutcomeEnd | null, by?: string): CueOutcome {
    this.open = this.open.filter((x) => x !== o);
    const c = this.config;
    const from = o.startS + c.windowStartS;
    const to = Math.min(o.startS + c.windowEndS, atS);
    const response = to > from ? this.window(from, to) : { fromS: from, toS: from, hrBpm: null, rmssdMs: null, quality: null, intervals: 0 };
    const d = o.delivery;
    const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
    return {
      v: 1,
      decisionSeq: d.decisionSeq,
      kind: d.kind,
      name: d.name,
      delivery: d.state as 'played' | 'interrupted',
      language: d.language,
      prompt: d.prompt,
      cueStartS: o.startS,
      cueStartMonoMs: d.startMonoMs ?? null,
      windows: { baselineS: c.baselineS, startS: c.windowStartS, endS: c.windowEndS },
      baseline: o.baseline,
      response,
      delta: { hrBpm: diff(response.hrBpm, o.baseline.hrBpm), rmssdMs: diff(response.rmssdMs, o.baseline.rmssdMs) },
      complete: why === null,
      endedEarly: why,
      endedAtS: why === null ? o.startS + c.windowEndS : atS,
      ...(by === undefined ? {} : { endedBy: by }),
    };
  }

  private meanQuality(fromS: number, toS: number): number | null {
    let sum = 0;
    let n = 0;
    for (const q of this.quality) {
      if (q.endS > fromS && q.endS <= toS) {
        sum += q.sqi;
        n++;
      }
    }
    return n ? sum / n : null;
  }

  private window(fromS: number, toS: number): OutcomeWindow {
    const quality = this.meanQuality(fromS, toS);
    const inWin = this.rr.filter((r) => r.timeS > fromS && r.timeS <= toS);
    // RR-only sensors give no quality windows: their intervals are taken as they come.
    const hrv = computeHrv(inWin, toS, toS - fromS, quality ?? 1);
    return { fromS, toS, hrBpm: recentHr(inWin, toS, toS - fromS), rmssdMs: hrv.rmssdMs, quality, intervals: inWin.length };
  }

  private trim(): void {
    const keepFrom = Math.min(this.nowS, ...this.open.map((o) => o.startS)) - this.config.baselineS - this.config.windowEndS - SLACK_S;
    while (this.rr.length && this.rr[0].timeS < keepFrom) this.rr.shift();
    while (this.quality.length && this.quality[0].endS < keepFrom) this.quality.shift();
  }
}

/**
 * Maps the unit's monotonic clock onto the data timeline from (arrival, data time) pairs of
 * the source's chunks, so a cue's `startMonoMs` finds its place among the beats. The rate is
 * measured over the last `spanS` of pairs, so a replay at any speed maps right too.
 */
export class TimelineMap {
  private readonly pairs: { monoMs: number; dataS: number }[] = [];

  constructor(private readonly spanS = 30) {}

  note(monoMs: number, dataS: number): void {
    const last = this.pairs[this.pairs.length - 1];
    if (last && (monoMs <= last.monoMs || dataS < last.dataS)) return;
    this.pairs.push({ monoMs, dataS });
    while (this.pairs.length > 2 && this.pairs[1].monoMs < monoMs - this.spanS * 1000) this.pairs.shift();
  }

  /** Data time of a monotonic instant; null before any data. */
  toDataS(monoMs: number): number | null {
    const last = this.pairs[this.pairs.length - 1];
    if (!last) return null;
    const first = this.pairs[0];
    const rate = last.monoMs > first.monoMs ? (last.dataS - first.dataS) / ((last.monoMs - first.monoMs) / 1000) : 1;
    return last.dataS + (rate * (monoMs - last.monoMs)) / 1000;
  }
}

export interface CueOutcomeStageOptions {
  readonly config?: Partial<OutcomeConfig>;
  /** Each finished outcome: append it as a `cue_outcome` record and hand it to the rider's cue chooser. */
  readonly emit: (o: CueOutcome) => void;
  /**
   * The clock CueDelivery.startMonoMs is on (the daemon's Clock: CLOCK_MONOTONIC ms). Chunks are
   * noted on it at arrival, so a cue's start finds its place among the beats.
   */
  readonly monoNow: () => number;
}

/**
 * The cue outcome as the daemon drives it: one object fed from the pipeline's three streams.
 *
 *   source chunk ──chunk(dataEndS)──▶ TimelineMap (monoNow at arrival ↔ data time)
 *   chain output ──chain(out, timeS)──▶ CueOutcomeTracker ──▶ emit(cue_outcome)
 *   cue delivery ──delivered(d)──▶ start on the data timeline ──▶ tracker.cue
 *   safety rule fired ──safety(t, rule)──▶ tracker.safety
 */
export class CueOutcomeStage {
  readonly tracker: CueOutcomeTracker;
  private readonly timeline = new TimelineMap();
  private nowS = 0;

  constructor(private readonly options: CueOutcomeStageOptions) {
    this.tracker = new CueOutcomeTracker(options.config);
  }

  /** A source chunk arrived whose last sample is at `dataEndS` on the data timeline. */
  chunk(dataEndS: number): void {
    this.timeline.note(this.options.monoNow(), dataEndS);
  }

  chain(out: { readonly rr: readonly RrInterval[]; readonly quality: readonly QualityWindow[] }, timeS: number): void {
    this.nowS = Math.max(this.nowS, timeS);
    this.emitAll(this.tracker.push(out, timeS));
  }

  delivered(d: CueDelivery): void {
    const mapped = d.startMonoMs === undefined ? null : this.timeline.toDataS(d.startMonoMs);
    // Never after the data seen so far: a cue cannot start in the future of the beats.
    const startS = mapped === null ? this.nowS : Math.min(mapped, this.nowS);
    this.emitAll(this.tracker.cue(d, startS));
  }

  safety(atS: number, rule: string): void {
    this.emitAll(this.tracker.safety(atS, rule));
  }

  /** End of stream or stop: the open outcomes go out marked stream_end. */
  flush(): void {
    this.emitAll(this.tracker.flush());
  }

  private emitAll(outs: readonly CueOutcome[]): void {
    for (const o of outs) {
      try {
        this.options.emit(o);
      } catch {
        // A listener's bug must not stop the measurement of the other cues.
      }
    }
  }
}
