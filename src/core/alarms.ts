/**
 * Alarms: conditions a technician must act on (disk full, store replaced after corruption,
 * no usable model), as opposed to errors, which are counted events. An alarm is raised with
 * a message that says what is wrong and what to do, stays up until its cause goes away
 * (cleared) or for the whole run when nothing can clear it, and is shown on /status
 * (`alarms`) and /metrics (`motobio_alarm{code}` 1 while raised). Listeners (the store) write
 * a `status` record for every raise and clear, so the server sees them too.
 */
import { EventEmitter } from 'node:events';

export type AlarmCode =
  /** The filesystem under the store is nearly full: the store evicts to stay within it. */
  | 'DISK_LOW'
  /** An append failed with SQLITE_FULL; records wait in memory until space returns. */
  | 'DISK_FULL'
  /** The store was corrupt at start, moved aside, and a fresh one started. */
  | 'STORE_CORRUPT_REPLACED'
  /** Safety events were evicted to stay within the disk budget. */
  | 'SAFETY_EVICTED'
  /** No usable coaching model: decisions come from the safety rules alone. */
  | 'MODEL_UNAVAILABLE'
  /** The rider's audio device is missing or failing: cues are not heard; retried with backoff. */
  | 'AUDIO_UNAVAILABLE'
  /** A prompt file is missing or corrupt: that cue plays as a plain tone. */
  | 'PROMPT_INVALID';

export interface Alarm {
  readonly code: AlarmCode;
  readonly message: string;
  /** Anything that helps the technician (paths, figures). No secrets. */
  readonly detail?: Readonly<Record<string, unknown>>;
  readonly since: string;
}

export interface AlarmChange {
  readonly state: 'raised' | 'cleared';
  readonly alarm: Alarm;
}

export class Alarms extends EventEmitter<{ change: [AlarmChange] }> {
  private readonly active = new Map<AlarmCode, Alarm>();

  /** Raises (or updates the message of) an alarm; listeners hear only a new raise. */
  raise(code: AlarmCode, message: string, detail?: Readonly<Record<string, unknown>>): void {
    const was = this.active.get(code);
    const alarm: Alarm = { code, message, ...(detail === undefined ? {} : { detail }), since: was?.since ?? new Date().toISOString() };
    this.active.set(code, alarm);
    if (!was) this.emit('change', { state: 'raised', alarm });
  }

  clear(code: AlarmCode): void {
    const was = this.active.get(code);
    if (!was) return;
    this.active.delete(code);
    this.emit('change', { state: 'cleared', alarm: was });
  }

  has(code: AlarmCode): boolean {
    return this.active.has(code);
  }

  list(): Alarm[] {
    return [...this.active.values()];
  }
}
