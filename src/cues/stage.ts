/**
 * The cue stage: the daemon's output to the rider's ears. A Component (start/stop) the daemon
 * adds to the lifecycle; decisions go in through cue(), deliveries come out through
 * onDelivery, one per cue.
 *
 *   pipeline decision (seq) ──cue(CueRequest)──▶ CueScheduler ──▶ CuePlayer ──▶ CueOutput (aplay)
 *   engine safetyActive ──setSafetyActive()──┘        │
 *                                                     └──▶ onDelivery(CueDelivery) ──▶ `cue` record
 *   CueOutput failure ──▶ alarm AUDIO_UNAVAILABLE, motobio_cue_audio_up 0, onStatus(record) ──▶ retry (Backoff)
 *
 * start() never fails for audio: no device, a missing headset or a broken prompt file are
 * reported (status, alarm, log, a status record) and the daemon goes on deciding and storing.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Component } from '../core/component.js';
import type { ComponentStatus } from '../core/telemetry-sink.js';
import { Backoff, sleep } from '../sources/backoff.js';
import { errorMessage } from '../util/errors.js';
import { moduleLogger, type Logger } from '../util/log.js';
import { AlsaOutput } from './output-alsa.js';
import { CuePlayer, type PlayResult } from './player.js';
import { PromptLibrary, type PromptProblem } from './prompts.js';
import { inQuietPeriod } from './quiet.js';
import { CueScheduler, type AudioAvailability } from './scheduler.js';
import type { RiderCueSettings } from './settings.js';
import type { CueDelivery, CueOutput, CueRequest } from './types.js';

export const AUDIO_RETRY_INITIAL_MS = 1000;
export const AUDIO_RETRY_MAX_MS = 30_000;
export const AUDIO_ALARM = 'AUDIO_UNAVAILABLE';
export const PROMPT_ALARM = 'PROMPT_INVALID';

/**
 * What the stage needs of the daemon's telemetry (a TelemetrySink fits). Alarm codes are
 * strings here so the stage does not depend on the daemon's AlarmCode list; src/core/alarms.ts lists
 * AUDIO_UNAVAILABLE and PROMPT_INVALID to it.
 */
export interface CueTelemetry {
  setStatus(component: string, status: ComponentStatus): void;
  countError(module: string, code: string, message?: string): void;
  readonly alarms: {
    raise(code: string, message: string, detail?: Readonly<Record<string, unknown>>): void;
    clear(code: string): void;
  };
}

export interface CueStageOptions {
  settings: RiderCueSettings;
  log: Logger;
  /** The unit's monotonic clock, ms (Clock.monoMs): deliveries and decisions share it. */
  monoMs: () => number;
  /** Every cue's one delivery: the daemon appends it as a `cue` record linked by decisionSeq. */
  onDelivery: (d: CueDelivery) => void;
  telemetry?: CueTelemetry;
  /** prom-client registry (Telemetry.registry) for the cue metrics. */
  registry?: Registry;
  /** Audio and prompt events worth a `status` record: {event: 'audio_unavailable' | 'audio_restored' | 'prompts_off' | 'prompt_invalid', ...}. */
  onStatus?: (body: Readonly<Record<string, unknown>>) => void;
  /** Builds the output; defaults to an AlsaOutput on rider.audio.device. */
  output?: (settings: RiderCueSettings, log: Logger) => CueOutput;
  /** Environment for aplay (tests: HOME with an .asoundrc). */
  env?: NodeJS.ProcessEnv;
  espeak?: string;
  /** Wall clock for quiet hours, and whether it can be trusted (Clock.sync() === 'synchronized'). */
  wallNow?: () => Date;
  wallClockTrusted?: () => boolean;
  random?: () => number;
}

export interface CueStatus {
  readonly output: string;
  readonly state: 'off' | 'starting' | 'ready' | 'unavailable' | 'stopped';
  readonly language: string;
  readonly lastError?: string;
  readonly promptProblems: readonly PromptProblem[];
  readonly playing?: { kind: string; name: string; decisionSeq: number };
  readonly last?: CueDelivery;
  readonly counts: Readonly<Record<string, number>>;
}

interface Metrics {
  deliveries: Counter<'kind' | 'state'>;
  latency: Histogram<'kind'>;
  audioUp: Gauge;
}

export class CueStage implements Component {
  readonly name = 'cues';
  private readonly log: Logger;
  private readonly settings: RiderCueSettings;
  private readonly scheduler: CueScheduler;
  private library: PromptLibrary | undefined;
  private output: CueOutput | undefined;
  private player: CuePlayer | undefined;
  private availability: AudioAvailability;
  private stateValue: CueStatus['state'] = 'starting';
  private lastErrorValue: string | undefined;
  private last: CueDelivery | undefined;
  private readonly counts: Record<string, number> = {};
  private readonly metrics: Metrics | undefined;
  private readonly retryAbort = new AbortController();
  private retrying: Promise<void> | undefined;
  private readonly backoff: Backoff;

  constructor(private readonly o: CueStageOptions) {
    this.log = moduleLogger(o.log, 'cues');
    this.settings = o.settings;
    this.availability = o.settings.audio.output === 'none' ? 'off' : 'starting';
    this.backoff = new Backoff({ initialMs: AUDIO_RETRY_INITIAL_MS, maxMs: AUDIO_RETRY_MAX_MS, random: o.random });
    if (o.registry) {
      const registers = [o.registry];
      this.metrics = {
        deliveries: new Counter({ name: 'motobio_cue_deliveries_total', help: 'Cues by kind and what became of them (played, interrupted, dropped, muted)', labelNames: ['kind', 'state'], registers }),
        latency: new Histogram({
          name: 'motobio_cue_latency_seconds',
          help: 'From the decision to the first audio frame handed to the device',
          labelNames: ['kind'],
          buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 3],
          registers,
        }),
        audioUp: new Gauge({ name: 'motobio_cue_audio_up', help: '1 while the audio output is open, 0 while it is down, absent when none is configured', registers }),
      };
    }
    const audio = o.settings.audio;
    this.scheduler = new CueScheduler({
      settings: audio,
      language: o.settings.language,
      monoMs: o.monoMs,
      audio: () => this.availability,
      quiet: () => audio.quiet_hours.length > 0 && (o.wallClockTrusted?.() ?? true) && inQuietPeriod(audio.quiet_hours, o.wallNow?.() ?? new Date()),
      play: (req, signal) => this.play(req, signal),
      emit: (d) => this.delivered(d),
    });
  }

  /** Hands a decision to the stage. Returns false for what is not a cue (the policy's "none"). */
  cue(req: CueRequest): boolean {
    return this.scheduler.request(req);
  }

  /** The safety rules that hold now (engine `safetyActive`), so an alert repeats only while its condition does. */
  setSafetyActive(rules: Iterable<string>): void {
    this.scheduler.setSafetyActive(rules);
  }

  status(): CueStatus {
    return {
      output: this.output?.name ?? this.settings.audio.output,
      state: this.stateValue,
      language: this.settings.language,
      ...(this.lastErrorValue !== undefined ? { lastError: this.lastErrorValue } : {}),
      promptProblems: this.library?.problems ?? [],
      ...(this.scheduler.now() ? { playing: this.scheduler.now() } : {}),
      ...(this.last ? { last: this.last } : {}),
      counts: { ...this.counts },
    };
  }

  async start(signal: AbortSignal): Promise<void> {
    const audio = this.settings.audio;
    if (audio.output === 'none') {
      this.stateValue = 'off';
      this.log.info('prompts are off: no audio output configured (rider.audio.output is "none"); cues are recorded as muted');
      this.o.onStatus?.({ event: 'prompts_off', reason: 'rider.audio.output is none' });
      this.publish();
      return;
    }
    const lib = await PromptLibrary.load({
      language: this.settings.language,
      promptsDir: audio.prompts_dir,
      cacheDir: audio.cache_dir,
      volume: audio.volume,
      log: this.log,
      espeak: this.o.espeak,
    });
    this.library = lib;
    if (lib.problems.length > 0) {
      const names = lib.problems.map((p) => p.name).join(', ');
      this.o.telemetry?.alarms.raise(PROMPT_ALARM, `prompts that play as a plain tone: ${names}; replace the files named in detail (docs/cues.md) and restart`, {
        problems: lib.problems.map((p) => ({ ...p })),
      });
      this.o.onStatus?.({ event: 'prompt_invalid', problems: lib.problems.map((p) => ({ ...p })) });
    }
    if (signal.aborted) return;
    const output = this.o.output?.(this.settings, this.log) ?? new AlsaOutput({ device: audio.device, periodFrames: audio.period_frames, log: this.log, env: this.o.env });
    this.output = output;
    this.player = new CuePlayer(output, { leadMs: audio.lead_ms, monoMs: this.o.monoMs });
    output.onFailure((why) => this.down(why));
    try {
      await output.open();
      this.up();
    } catch (e) {
      this.down(errorMessage(e));
    }
  }

  async stop(): Promise<void> {
    this.retryAbort.abort('stopping');
    await this.scheduler.stop();
    await this.retrying;
    await this.output?.close();
    if (this.stateValue !== 'off') this.stateValue = 'stopped';
    this.publish();
  }

  private async play(req: CueRequest, signal: AbortSignal): Promise<PlayResult & { prompt: 'voice' | 'tone' }> {
    const lib = this.library;
    const player = this.player;
    if (!lib || !player) return { endMonoMs: this.o.monoMs(), completed: false, failed: 'audio output not started', frames: 0, prompt: 'tone' };
    const p = lib.get(req.name, req.kind);
    const r = await player.play(p.pcm, signal);
    if (r.startMonoMs !== undefined) this.metrics?.latency.observe({ kind: req.kind }, Math.max(0, r.startMonoMs - req.decidedMonoMs) / 1000);
    return { ...r, prompt: p.source === 'tone' ? 'tone' : 'voice' };
  }

  private delivered(d: CueDelivery): void {
    this.last = d;
    const key = `${d.kind}_${d.state}`;
    this.counts[key] = (this.counts[key] ?? 0) + 1;
    this.metrics?.deliveries.inc({ kind: d.kind, state: d.state });
    try {
      this.o.onDelivery(d);
    } catch (e) {
      this.log.error({ err: errorMessage(e) }, 'cue delivery callback failed');
    }
    this.publish();
  }

  private up(): void {
    const wasDown = this.stateValue === 'unavailable';
    this.availability = 'up';
    this.stateValue = 'ready';
    this.lastErrorValue = undefined;
    this.backoff.reset();
    this.metrics?.audioUp.set(1);
    this.o.telemetry?.alarms.clear(AUDIO_ALARM);
    this.log.info({ output: this.output?.name, language: this.settings.language }, 'audio output open; prompts on');
    if (wasDown) this.o.onStatus?.({ event: 'audio_restored', output: this.output?.name });
    this.publish();
  }

  private down(why: string): void {
    if (this.retryAbort.signal.aborted) return;
    const first = this.stateValue !== 'unavailable';
    this.availability = 'down';
    this.stateValue = 'unavailable';
    this.lastErrorValue = why;
    this.metrics?.audioUp.set(0);
    if (first) {
      const output = this.output?.name ?? this.settings.audio.device;
      this.log.error({ output, err: why }, 'audio output unavailable; the daemon goes on deciding and storing, and retries with backoff');
      this.o.telemetry?.alarms.raise(AUDIO_ALARM, `the rider cannot hear cues: ${why}. Pair and switch on the headset, or fix rider.audio.device ("aplay -L" lists the PCMs)`, { output });
      this.o.telemetry?.countError('cues', AUDIO_ALARM, why);
      this.o.onStatus?.({ event: 'audio_unavailable', output, error: why });
    }
    this.publish();
    this.retrying ??= this.retry();
  }

  private async retry(): Promise<void> {
    const signal = this.retryAbort.signal;
    try {
      while (!signal.aborted && this.availability === 'down') {
        await sleep(this.backoff.next(), signal);
        if (signal.aborted || !this.output) break;
        try {
          await this.output.close();
          await this.output.open();
          if (!signal.aborted) this.up();
        } catch (e) {
          this.lastErrorValue = errorMessage(e);
          this.log.debug({ err: this.lastErrorValue, attempt: this.backoff.attempts }, 'audio output still unavailable');
          this.publish();
        }
      }
    } finally {
      this.retrying = undefined;
    }
  }

  private publish(): void {
    const s = this.status();
    const state = s.state === 'unavailable' ? 'failed' : s.state;
    this.o.telemetry?.setStatus('cues', {
      state,
      detail: { output: s.output, language: s.language, promptProblems: s.promptProblems.map((p) => p.name), last: s.last ?? null, counts: s.counts },
      ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
    });
  }
}
