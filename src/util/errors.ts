/**
 * Errors carry a stable code so callers decide by code (not by message text) what is
 * fatal, what is retried and what is reported to a technician. The message always says
 * what was wrong and what to do about it.
 */
export type MotobioErrorCode =
  | 'CONFIG_INVALID'
  | 'CALIBRATION_INVALID'
  | 'RATCHET_INVALID'
  | 'USAGE'
  | 'RECORD_INVALID'
  | 'RECORD_NOT_FOUND'
  | 'SOURCE_UNAVAILABLE'
  | 'BLUETOOTH_UNAVAILABLE'
  | 'MODEL_INVALID'
  | 'STORE_FAILED'
  | 'DISK_FULL'
  | 'UPLINK_FAILED'
  | 'SIGNATURE_INVALID'
  | 'UPDATE_REFUSED'
  | 'KEY_INVALID'
  | 'INTERNAL'
  | 'RECORD_UNREADABLE'
  /** The configured audio output cannot be opened or failed (src/cues). */
  | 'AUDIO_UNAVAILABLE'
  /** A prompt file is missing, unreadable or not a usable WAV (src/cues). */
  | 'PROMPT_INVALID';

export class MotobioError extends Error {
  readonly code: MotobioErrorCode;
  constructor(code: MotobioErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MotobioError';
    this.code = code;
  }
}

/**
 * Codes that mean "a setting names something unusable": restarting will not help, so the
 * daemon exits EX_CONFIG (78), which the systemd unit does not restart. Everything else (a
 * corrupt recording, a store that failed, a bug) exits 1 and is restarted.
 */
const SETTING_CODES: ReadonlySet<MotobioErrorCode> = new Set(['CONFIG_INVALID', 'RECORD_NOT_FOUND']);

export function isSettingProblem(e: unknown): boolean {
  return e instanceof MotobioError && SETTING_CODES.has(e.code);
}

export function isMotobioError(e: unknown, code?: MotobioErrorCode): e is MotobioError {
  return e instanceof MotobioError && (code === undefined || e.code === code);
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
