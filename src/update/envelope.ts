/**
 * The signed update envelope, version 1 (docs/updates.md, docs/schemas/update.v1.schema.json).
 *
 *   payload (JSON, <= max bytes) ──parse──▶ Envelope ──verify(keys, device)──▶ VerifiedUpdate
 *                                   │                 │
 *                                   └ malformed,       └ unsigned, unknown_key, bad_signature,
 *                                     oversized          hash_mismatch, wrong_device
 *
 * The signature is Ed25519 over `canonicalBytes()`: a line-oriented byte string built field by
 * field in a fixed order, never JSON.stringify of an object (whose key order and escaping a
 * signer in another language could not reproduce). Every field that goes into it has a
 * character set without "\n", so the lines cannot be confused. File contents are bound through
 * their SHA-256, which verify() recomputes from the decoded bytes.
 */
import { createHash, verify as edVerify, type KeyObject } from 'node:crypto';
import { UpdateRefused } from './refusal.js';

export const ENVELOPE_FORMAT = 'motobio-update/1';
export const UPDATE_KINDS = ['model', 'config'] as const;
export type UpdateKind = (typeof UPDATE_KINDS)[number];
/** Default cap on a whole update message (config `update.max_bytes`). */
export const DEFAULT_MAX_UPDATE_BYTES = 32 * 1024 * 1024;

export const FILE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const DEVICE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const KEY_ID_RE = /^[0-9a-f]{32}$/;
/** RFC 3339 in UTC with an optional millisecond part: what `new Date().toISOString()` gives. */
export const CREATED_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;
const SHA256_RE = /^[0-9a-f]{64}$/;
const MAX_FILES = 64;

export interface EnvelopeFile {
  readonly name: string;
  readonly sha256: string;
  readonly size: number;
  /** base64 of the file's bytes. */
  readonly data: string;
}

export interface Envelope {
  readonly format: typeof ENVELOPE_FORMAT;
  readonly kind: UpdateKind;
  readonly version: number;
  /** A device id, or "*" for every unit that trusts the key. */
  readonly device: string;
  readonly created: string;
  readonly files: readonly EnvelopeFile[];
  readonly keyId?: string;
  /** base64 of the 64-byte Ed25519 signature over canonicalBytes(). */
  readonly signature?: string;
}

export type UnsignedEnvelope = Omit<Envelope, 'keyId' | 'signature'>;

export interface SignedFields {
  readonly kind: UpdateKind;
  readonly version: number;
  readonly device: string;
  readonly created: string;
  readonly keyId: string;
  readonly files: readonly { readonly name: string; readonly sha256: string; readonly size: number }[];
}

/**
 * The exact bytes that are signed (UTF-8; every value is ASCII by the checks above):
 *
 *   motobio-update/1\n
 *   kind=<model|config>\n
 *   version=<decimal, no sign, no leading zeros>\n
 *   device=<device id or *>\n
 *   created=<RFC 3339 UTC>\n
 *   key=<key id, 32 lowercase hex>\n
 *   files=<count>\n
 *   then per file, in the envelope's order (strictly ascending by name):
 *   <name>\n<sha256, 64 lowercase hex>\n<size, decimal>\n
 */
export function canonicalBytes(f: SignedFields): Buffer {
  const lines = [ENVELOPE_FORMAT, `kind=${f.kind}`, `version=${f.version}`, `device=${f.device}`, `created=${f.created}`, `key=${f.keyId}`, `files=${f.files.length}`];
  for (const x of f.files) lines.push(x.name, x.sha256, String(x.size));
  return Buffer.from(`${lines.join('\n')}\n`, 'ascii');
}

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function fail(reason: 'malformed', what: string): never {
  throw new UpdateRefused(reason, `update refused: ${what}`);
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * Standard base64 with padding, and canonical: one spelling per byte string (the bits the last
 * character carries beyond the data must be 0), so a signature or file cannot be re-spelt.
 * A plain character-class scan: a grouped regular expression overflows the stack on the tens
 * of megabytes a model update can carry.
 */
export function isCanonicalBase64(s: string): boolean {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return false;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  if (pad === 0) return true;
  const last = B64.indexOf(s[s.length - pad - 1]);
  return (last & (pad === 2 ? 0x0f : 0x03)) === 0;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Structural checks only (no keys needed). Throws UpdateRefused (oversized, malformed). */
export function parseEnvelope(payload: Uint8Array, maxBytes = DEFAULT_MAX_UPDATE_BYTES): Envelope {
  if (payload.length > maxBytes) {
    throw new UpdateRefused('oversized', `update refused: the message is ${payload.length} bytes, more than the ${maxBytes} allowed (update.max_bytes); send a smaller update or raise the limit`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch {
    fail('malformed', 'the message is not JSON; updates are made with "motobio keys sign"');
  }
  if (!isObject(raw)) fail('malformed', 'the message is not a JSON object');
  const allowed = new Set(['format', 'kind', 'version', 'device', 'created', 'files', 'keyId', 'signature']);
  for (const k of Object.keys(raw)) if (!allowed.has(k)) fail('malformed', `unknown field "${k.slice(0, 40)}"`);
  if (raw['format'] !== ENVELOPE_FORMAT) fail('malformed', `"format" must be "${ENVELOPE_FORMAT}"`);
  const kind = raw['kind'];
  if (kind !== 'model' && kind !== 'config') fail('malformed', '"kind" must be "model" or "config"');
  const version = raw['version'];
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) fail('malformed', '"version" must be a whole number from 1 to 2^53-1');
  const device = raw['device'];
  if (typeof device !== 'string' || (device !== '*' && !DEVICE_RE.test(device))) fail('malformed', '"device" must be a device id or "*"');
  const created = raw['created'];
  if (typeof created !== 'string' || !CREATED_RE.test(created) || Number.isNaN(Date.parse(created))) fail('malformed', '"created" must be an RFC 3339 UTC time like 2026-11-27T23:00:00.000Z');
  const filesRaw = raw['files'];
  if (!Array.isArray(filesRaw) || filesRaw.length === 0 || filesRaw.length > MAX_FILES) fail('malformed', `"files" must list 1 to ${MAX_FILES} files`);
  const files: EnvelopeFile[] = [];
  for (const [i, f] of filesRaw.entries()) {
    if (!isObject(f)) fail('malformed', `files[${i}] is not an object`);
    const { name, sha256, size, data } = f;
    if (Object.keys(f).length !== 4) fail('malformed', `files[${i}] must have exactly name, sha256, size and data`);
    if (typeof name !== 'string' || !FILE_NAME_RE.test(name)) fail('malformed', `files[${i}].name must be a plain file name (letters, digits, . _ -; no directories)`);
    if (typeof sha256 !== 'string' || !SHA256_RE.test(sha256)) fail('malformed', `files[${i}].sha256 must be 64 lowercase hex digits`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) fail('malformed', `files[${i}].size must be a byte count`);
    if (typeof data !== 'string' || !isCanonicalBase64(data)) fail('malformed', `files[${i}].data must be standard, canonical base64`);
    if (i > 0 && !(files[i - 1].name < name)) fail('malformed', `files must be sorted by name without duplicates ("${name}" out of order)`);
    files.push({ name, sha256, size, data });
  }
  const keyId = raw['keyId'];
  const signature = raw['signature'];
  if (keyId !== undefined && (typeof keyId !== 'string' || !KEY_ID_RE.test(keyId))) fail('malformed', '"keyId" must be 32 lowercase hex digits');
  if (signature !== undefined && (typeof signature !== 'string' || !isCanonicalBase64(signature))) fail('malformed', '"signature" must be standard, canonical base64');
  return {
    format: ENVELOPE_FORMAT,
    kind,
    version,
    device,
    created,
    files,
    ...(keyId !== undefined ? { keyId: keyId } : {}),
    ...(signature !== undefined ? { signature: signature } : {}),
  };
}

export interface VerifiedUpdate {
  readonly kind: UpdateKind;
  readonly version: number;
  readonly device: string;
  readonly created: string;
  readonly keyId: string;
  readonly files: ReadonlyMap<string, Buffer>;
}

/**
 * Signature first (nothing unsigned is looked at further), then the target device, then each
 * file's size and SHA-256 against what was signed. Throws UpdateRefused.
 */
export function verifyEnvelope(env: Envelope, keys: ReadonlyMap<string, KeyObject>, deviceId: string): VerifiedUpdate {
  if (env.signature === undefined || env.keyId === undefined) {
    throw new UpdateRefused('unsigned', `update refused: ${env.kind} version ${env.version} carries no signature; only updates signed with "motobio keys sign" are applied`);
  }
  const key = keys.get(env.keyId);
  if (!key) {
    throw new UpdateRefused('unknown_key', `update refused: ${env.kind} version ${env.version} is signed with key ${env.keyId}, which this unit does not trust (${keys.size} trusted key(s)); install its public key in update.keys_dir`);
  }
  const sig = Buffer.from(env.signature, 'base64');
  const signed = canonicalBytes({ ...env, keyId: env.keyId });
  let ok = false;
  try {
    ok = sig.length === 64 && edVerify(null, signed, key, sig);
  } catch {
    ok = false;
  }
  if (!ok) throw new UpdateRefused('bad_signature', `update refused: the signature of ${env.kind} version ${env.version} does not match its content (key ${env.keyId}); it was altered or signed with another key`);
  if (env.device !== '*' && env.device !== deviceId) {
    throw new UpdateRefused('wrong_device', `update refused: ${env.kind} version ${env.version} is for device "${env.device}", this is "${deviceId}"`);
  }
  const files = new Map<string, Buffer>();
  for (const f of env.files) {
    const bytes = Buffer.from(f.data, 'base64');
    if (bytes.length !== f.size || sha256Hex(bytes) !== f.sha256) {
      throw new UpdateRefused('hash_mismatch', `update refused: file ${f.name} of ${env.kind} version ${env.version} does not match its signed SHA-256/size (${bytes.length} bytes); it was altered in transit`);
    }
    files.set(f.name, bytes);
  }
  return { kind: env.kind, version: env.version, device: env.device, created: env.created, keyId: env.keyId, files };
}
