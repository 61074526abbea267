/**
 * Who speaks when. One prompt at a time; every request ends in exactly one CueDelivery.
 *
 *   request ─┬─ muted / quiet hours / prompts off ─────────────────────▶ muted
 *            ├─ output down ───────────────────────────────────────────▶ dropped audio_unavailable
 *            ├─ safety ──▶ cuts a coaching prompt at once ─▶ queue ─▶ play ─▶ (gap, play again
 *            │                                                   while active, ≤ repeat_max) ─▶ played
 *            └─ coaching ─▶ one waiting slot (a newer one supersedes) ─▶ starts when nothing plays,
 *                           no safety holds and min_gap_s has passed since the last coaching
 *                           prompt, or is dropped once coaching_max_delay_s after its decision
 *
 * Nothing is queued for later but safety alerts: a breathing cue a minute late is noise.
 */
import type { AudioSettings } from './settings.js';
import type { PlayResult } from './player.js';
import type { CueDelivery, CueKind, CueRequest } from './types.js';

/** Reasons a delivery carries. */
export const CUE_REASONS = {
  mute: 'rider.audio.mute is on',
  quiet_hours: 'inside rider.audio.quiet_hours (coaching only)',
  audio_off: 'no audio output configured (rider.audio.output none)',
  audio_starting: 'the stage was still starting (rendering prompts, opening the device)',
  audio_unavailable: 'the audio output is down (see the AUDIO_UNAVAILABLE alarm)',
  audio_failed: 'the audio output failed while playing',
  superseded: 'a newer cue of the same kind replaced it before it could start',
  late_busy: 'could not start within coaching_max_delay_s: another prompt was playing',
  late_safety: 'could not start within coaching_max_delay_s: a safety alert was playing or its condition held',
  late_min_gap: 'could not start within coaching_max_delay_s: min_gap_s since the last coaching prompt',
  late_decision: 'the decision was already older than coaching_max_delay_s when it arrived',
  safety: 'cut by a safety alert',
  stopping: 'the daemon stopped',
} as const;
export type CueReason = keyof typeof CUE_REASONS;

export type AudioAvailability = 'off' | 'starting' | 'up' | 'down';

export interface SchedulerDeps {
  readonly settings: AudioSettings;
  readonly language: string;
  monoMs(): number;
  /** Plays the request's prompt to the end or until the signal aborts. */
  play(req: CueRequest, signal: AbortSignal): Promise<PlayResult & { prompt: 'voice' | 'tone' }>;
  audio(): AudioAvailability;
  /** Inside a quiet period right now (coaching is muted). */
  quiet(): boolean;
  emit(d: CueDelivery): void;
}

interface Entry {
  readonly req: CueRequest;
  prompt: 'voice' | 'tone';
  plays: number;
  firstStart?: number;
  lastEnd?: number;
  /** No more repeats: a newer request for the same rule is waiting. */
  superseded: boolean;
  abort?: AbortController;
  abortReason?: CueReason;
  /** Playing now (as opposed to waiting for its next repeat). */
  playing: boolean;
}

export class CueScheduler {
  private current: Entry | undefined;
  private readonly safetyQueue: Entry[] = [];
  private coaching: Entry | undefined;
  /** Why the waiting coaching cue is waiting, for its drop reason. */
  private blocker: CueReason = 'late_busy';
  private lastCoachingEnd: number | undefined;
  private readonly active = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private repeatTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private playing: Promise<void> = Promise.resolve();

  constructor(private readonly d: SchedulerDeps) {}

  /** Takes a cue. Returns false (and emits nothing) for the policy's "none", which is not a cue. */
  request(req: CueRequest): boolean {
    if (req.kind === 'coaching' && req.name === 'none') return false;
    const e: Entry = { req, prompt: 'voice', plays: 0, superseded: false, playing: false };
    const s = this.d.settings;
    if (this.stopped) return this.finish(e, 'dropped', 'stopping');
    if (s.mute) return this.finish(e, 'muted', 'mute');
    if (this.d.audio() === 'off') return this.finish(e, 'muted', 'audio_off');
    if (req.kind === 'coaching' && this.d.quiet()) return this.finish(e, 'muted', 'quiet_hours');
    if (this.d.audio() === 'starting') return this.finish(e, 'dropped', 'audio_starting');
    if (this.d.audio() === 'down') return this.finish(e, 'dropped', 'audio_unavailable');
    if (req.kind === 'safety') {
      if (req.active ?? true) this.active.add(req.name);
      for (const q of this.safetyQueue.filter((x) => x.req.name === req.name)) {
        this.safetyQueue.splice(this.safetyQueue.indexOf(q), 1);
        this.finish(q, 'dropped', 'superseded');
      }
      const cur = this.current;
      if (cur?.req.kind === 'coaching') this.cut(cur, 'safety');
      else if (cur?.req.name === req.name) cur.superseded = true;
      this.safetyQueue.push(e);
    } else {
      if (this.d.monoMs() - req.decidedMonoMs > s.coaching_max_delay_s * 1000) return this.finish(e, 'dropped', 'late_decision');
      if (this.coaching) this.finish(this.coaching, 'dropped', 'superseded');
      this.coaching = e;
    }
    this.pump();
    return true;
  }

  /** The safety rules whose condition holds now (the engine's `safetyActive`); a rule not listed stops repeating. */
  setSafetyActive(rules: Iterable<string>): void {
    this.active.clear();
    for (const r of rules) this.active.add(r);
    const cur = this.current;
    if (cur && !cur.playing && !this.active.has(cur.req.name)) this.endSafety(cur);
    this.pump();
  }

  /** What plays now (for status). */
  now(): { kind: CueKind; name: string; decisionSeq: number } | undefined {
    const c = this.current;
    return c ? { kind: c.req.kind, name: c.req.name, decisionSeq: c.req.decisionSeq } : undefined;
  }

  /** Cuts what plays, drops what waits (each gets its delivery), and waits for the output to be left alone. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.repeatTimer);
    for (const q of this.safetyQueue.splice(0)) this.finish(q, 'dropped', 'stopping');
    if (this.coaching) {
      this.finish(this.coaching, 'dropped', 'stopping');
      this.coaching = undefined;
    }
    const cur = this.current;
    if (cur?.playing) this.cut(cur, 'stopping');
    else if (cur) this.endSafety(cur);
    await this.playing;
  }

  private cut(e: Entry, why: CueReason): void {
    e.abortReason = why;
    e.abort?.abort(why);
  }

  private pump(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const cur = this.current;
    if (cur?.playing) return this.blockedBy(cur.req.kind === 'safety' ? 'late_safety' : 'late_busy');
    if (cur && this.safetyQueue.length > 0) this.endSafety(cur);
    else if (cur) return this.blockedBy('late_safety');
    const next = this.safetyQueue.shift();
    if (next) return this.start(next);
    const c = this.coaching;
    if (!c) return;
    const now = this.d.monoMs();
    const deadline = c.req.decidedMonoMs + this.d.settings.coaching_max_delay_s * 1000;
    if (this.active.size > 0) return this.blockedBy('late_safety');
    const gapEnd = this.lastCoachingEnd === undefined ? now : this.lastCoachingEnd + this.d.settings.min_gap_s * 1000;
    if (now < gapEnd) {
      this.blocker = 'late_min_gap';
      if (gapEnd > deadline) return this.dropLate(c);
      this.timer = setTimeout(() => this.pump(), gapEnd - now);
      return;
    }
    if (now > deadline) return this.dropLate(c);
    this.coaching = undefined;
    this.start(c);
  }

  /** The waiting coaching cue cannot start now; it is dropped at its deadline unless it starts first. */
  private blockedBy(why: CueReason): void {
    const c = this.coaching;
    if (!c) return;
    this.blocker = why;
    const left = c.req.decidedMonoMs + this.d.settings.coaching_max_delay_s * 1000 - this.d.monoMs();
    if (left <= 0) return this.dropLate(c);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.pump(), left + 1);
  }

  private dropLate(c: Entry): void {
    this.coaching = undefined;
    this.finish(c, 'dropped', this.blocker);
  }

  private start(e: Entry): void {
    this.current = e;
    e.playing = true;
    e.abort = new AbortController();
    const signal = e.abort.signal;
    this.playing = this.d.play(e.req, signal).then(
      (r) => this.ended(e, r),
      (err: unknown) => this.ended(e, { endMonoMs: this.d.monoMs(), completed: false, failed: String(err), frames: 0, prompt: e.prompt }),
    );
  }

  private ended(e: Entry, r: PlayResult & { prompt: 'voice' | 'tone' }): void {
    e.playing = false;
    e.prompt = r.prompt;
    if (r.startMonoMs !== undefined) {
      e.plays++;
      e.firstStart ??= r.startMonoMs;
      e.lastEnd = r.endMonoMs;
    }
    if (e.req.kind === 'coaching' && r.startMonoMs !== undefined) this.lastCoachingEnd = r.endMonoMs;
    if (!r.completed) {
      this.current = undefined;
      const why: CueReason = r.failed !== undefined ? 'audio_failed' : (e.abortReason ?? 'stopping');
      if (e.plays === 0) this.finish(e, 'dropped', why === 'audio_failed' ? 'audio_unavailable' : why);
      else if (e.req.kind === 'safety' && e.plays > 1) this.finish(e, 'played', undefined, why);
      else this.finish(e, 'interrupted', why);
    } else if (e.req.kind === 'safety' && !e.superseded && !this.stopped && e.plays < this.d.settings.safety_repeat_max && this.active.has(e.req.name) && this.safetyQueue.length === 0) {
      // Stays current through the gap: no coaching slips in between two plays of an alert.
      this.repeatTimer = setTimeout(() => {
        if (this.current !== e) return;
        if (this.active.has(e.req.name) && !this.stopped) this.start(e);
        else this.endSafety(e);
      }, this.d.settings.safety_repeat_gap_s * 1000);
      return;
    } else {
      this.current = undefined;
      this.finish(e, 'played');
    }
    this.pump();
  }

  private endSafety(e: Entry): void {
    clearTimeout(this.repeatTimer);
    if (this.current === e) this.current = undefined;
    this.finish(e, 'played');
  }

  private finish(e: Entry, state: CueDelivery['state'], reason?: CueReason, lastPlayCut?: CueReason): boolean {
    const r = e.req;
    const d: CueDelivery = {
      decisionSeq: r.decisionSeq,
      kind: r.kind,
      name: r.name,
      state,
      ...(e.firstStart !== undefined ? { startMonoMs: e.firstStart, endMonoMs: e.lastEnd } : {}),
      ...(reason !== undefined ? { reason } : lastPlayCut !== undefined ? { reason: `last_play_${lastPlayCut}` } : {}),
      ...(r.kind === 'safety' ? { repeat: e.plays } : {}),
      language: this.d.language,
      prompt: e.prompt,
    };
    this.d.emit(d);
    return true;
  }
}
