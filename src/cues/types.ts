/**
 * The cue stage's public types. Kept stable: the cue-outcome and rider-profile work (issue 17
 * sections 2-4) imports them. Times are on the unit's monotonic clock (Clock.monoMs, ms since
 * boot), the same clock the records' stamps carry, so a delivery lines up with its decision.
 *
 *   Decision (seq) ──CueRequest──▶ CueStage ──PCM──▶ CueOutput (aplay on an ALSA PCM)
 *                                      └──CueDelivery (exactly one per request) ──▶ `cue` record
 */

export type CueKind = 'safety' | 'coaching';

export interface CueRequest {
  /** The seq of the decision (or safety) record this cue comes from. */
  decisionSeq: number;
  kind: CueKind;
  /** Coaching action (breathing_cue, relax_posture_cue, suggest_break, safety_alert) or safety rule (hr_high, vf, ...). */
  name: string;
  /** When the decision was made, monotonic ms: how late a coaching prompt may start is counted from here. */
  decidedMonoMs: number;
  /** Safety: the condition still holds (repeats go on while it does). Defaults to true for safety. */
  active?: boolean;
}

export type CueDeliveryState = 'played' | 'interrupted' | 'dropped' | 'muted';

export interface CueDelivery {
  decisionSeq: number;
  kind: CueKind;
  name: string;
  state: CueDeliveryState;
  /** First frame handed to the audio device, monotonic ms (played and interrupted). */
  startMonoMs?: number;
  /** Last frame handed over plus its duration (played), or the moment it was cut (interrupted), monotonic ms. */
  endMonoMs?: number;
  /** Why it was dropped, muted or interrupted (see CUE_REASONS in ./scheduler.ts). */
  reason?: string;
  /** Safety: how many times the prompt was played (1 = once, no repeat). */
  repeat?: number;
  /** Prompt language (rider.language). */
  language: string;
  /** A voice prompt, or the plain tone a missing or corrupt prompt falls back to. */
  prompt: 'voice' | 'tone';
}

/** Sample format of every prompt and of the stream the outputs play: signed 16-bit LE, mono. */
export const CUE_RATE_HZ = 22_050;
export const CUE_CHANNELS = 1;

/** State an output reports; `failed` carries the reason in lastError. */
export type CueOutputState = 'closed' | 'opening' | 'open' | 'failed';

/**
 * The seam: an audio sink that accepts raw S16_LE mono PCM at CUE_RATE_HZ. It does no pacing
 * (the player in ./player.ts keeps it fed only a little ahead of real time, so a safety
 * alert can cut in). Every implementation passes test/cues/output-contract.ts.
 */
export interface CueOutput {
  /** 'alsa:rider' etc., for logs and status. */
  readonly name: string;
  /** Frames the device takes per write (its period); the player pads prompts to whole periods. */
  readonly periodFrames: number;
  state(): CueOutputState;
  lastError(): string | undefined;
  /** Opens the device. Rejects with a MotobioError (AUDIO_UNAVAILABLE) that names the device when it cannot. */
  open(): Promise<void>;
  /** Hands PCM to the device; resolves once the sink has taken it. Rejects when the device failed. */
  write(pcm: Buffer): Promise<void>;
  /** Called once when an open device fails (unplugged headset, process died). */
  onFailure(listener: (reason: string) => void): void;
  /** Plays out what was handed over and closes. Safe to call twice and when never opened. */
  close(): Promise<void>;
}
