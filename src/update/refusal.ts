/**
 * Why an update was refused. Every refusal is reported (log line, an `update` record in the
 * outbox, `motobio_errors_total{module="update",code=<reason>}`) with one of these codes, so
 * the server can tell an attack (bad_signature, unknown_key, replayed) from a mistake.
 */
import { MotobioError } from '../util/errors.js';

export const REFUSAL_REASONS = [
  'oversized',
  'malformed',
  'unsigned',
  'unknown_key',
  'bad_signature',
  'hash_mismatch',
  'wrong_device',
  'replayed',
  'invalid_content',
  'apply_failed',
  'disabled',
  'busy',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export class UpdateRefused extends MotobioError {
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason, message: string, options?: { cause?: unknown }) {
    super('UPDATE_REFUSED', message, options);
    this.reason = reason;
  }
}

export function isUpdateRefused(e: unknown): e is UpdateRefused {
  return e instanceof UpdateRefused;
}
