/** Making a signed envelope (server side, `motobio keys sign`, and the tests). */
import { sign as edSign, type KeyObject } from 'node:crypto';
import { MotobioError } from '../util/errors.js';
import { CREATED_RE, DEVICE_RE, ENVELOPE_FORMAT, FILE_NAME_RE, canonicalBytes, sha256Hex, type Envelope, type UpdateKind } from './envelope.js';
import { keyId } from './keys.js';

export interface SignInput {
  readonly kind: UpdateKind;
  readonly version: number;
  readonly device: string;
  readonly files: ReadonlyMap<string, Uint8Array> | readonly (readonly [string, Uint8Array])[];
  readonly privateKey: KeyObject;
  readonly created?: string;
}

export function signUpdate(input: SignInput): Envelope {
  if (!Number.isSafeInteger(input.version) || input.version < 1) throw new MotobioError('USAGE', `version must be a whole number from 1 up, got ${input.version}`);
  if (input.device !== '*' && !DEVICE_RE.test(input.device)) throw new MotobioError('USAGE', `device "${input.device}" is not a device id (1-64 of A-Z a-z 0-9 . _ -) or "*"`);
  const created = input.created ?? new Date().toISOString();
  if (!CREATED_RE.test(created)) throw new MotobioError('USAGE', `created "${created}" is not an RFC 3339 UTC time`);
  const entries = [...input.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) throw new MotobioError('USAGE', 'an update needs at least one file');
  for (const [i, [name]] of entries.entries()) {
    if (!FILE_NAME_RE.test(name)) throw new MotobioError('USAGE', `file name "${name}" must be a plain name of letters, digits, . _ -`);
    if (i > 0 && entries[i - 1][0] === name) throw new MotobioError('USAGE', `file name "${name}" appears twice`);
  }
  const files = entries.map(([name, bytes]) => ({ name, sha256: sha256Hex(bytes), size: bytes.length, data: Buffer.from(bytes).toString('base64') }));
  const id = keyId(input.privateKey);
  const fields = { kind: input.kind, version: input.version, device: input.device, created, keyId: id, files };
  const signature = edSign(null, canonicalBytes(fields), input.privateKey).toString('base64');
  return { format: ENVELOPE_FORMAT, kind: input.kind, version: input.version, device: input.device, created, files, keyId: id, signature };
}
