/**
 * Encryption at rest for outbox record bodies: AES-256-GCM, one random 96-bit nonce per record.
 *
 *   sealed body = 0x01 | key id (4) | nonce (12) | ciphertext | tag (16)
 *   associated data = "motobio-rec-v1" 0 device 0 seq 0 type 0 encoding
 *
 * The associated data binds a body to its row, so a body copied onto another row (another seq,
 * another device's store, another record type) fails its tag like a flipped byte does. The key
 * id (first 4 bytes of a SHA-256 over the key) names the key that sealed a record, so keys can
 * rotate: new records use the current key, older ones open with any key still configured.
 *
 * Only bodies are sealed (feature, decision and safety JSON, raw ECG chunks). The routing columns
 * (seq, type, priority, boot id, times, clock flag) stay clear: eviction, leasing and `motobio db
 * stats` need them without a key, and they say when and what kind of record, not a health value.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MotobioError, errorMessage } from '../util/errors.js';

export const KEY_BYTES = 32;
const VERSION = 0x01;
const ID_BYTES = 4;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + ID_BYTES + NONCE_BYTES;
/** Bytes a sealed body adds to the plain one. */
export const SEAL_OVERHEAD = HEADER_BYTES + TAG_BYTES;
/** Suffix of the `enc` column for a sealed body: `json+gcm`, `ecg1+gcm`. */
export const SEALED_SUFFIX = '+gcm';

export interface RecordKey {
  /** 8 hex digits, derived from the key; printed, never the key itself. */
  readonly id: string;
  readonly key: Buffer;
  /** Where it came from, for messages. */
  readonly source: string;
}

export interface RecordBinding {
  readonly deviceId: string;
  readonly seq: number;
  readonly type: string;
  /** The plain encoding (`json`, `ecg1`). */
  readonly enc: string;
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update('motobio record key id v1\0').update(key).digest().subarray(0, ID_BYTES).toString('hex');
}

function aad(b: RecordBinding): Buffer {
  return Buffer.from(`motobio-rec-v1\0${b.deviceId}\0${b.seq}\0${b.type}\0${b.enc}`, 'utf8');
}

/**
 * A key file holds 32 random bytes: raw (exactly 32 bytes), or as text in base64 (what
 * `motobio db keygen` writes) or hex, with an optional trailing newline.
 */
export function parseKey(data: Buffer, source: string): Buffer {
  // 32 bytes that are all printable text are a short text key (16 bytes in hex), not random bytes:
  // a random key is all printable with probability (97/256)^32, about 1e-14.
  const printable = data.every((b) => (b >= 0x20 && b <= 0x7e) || b === 0x0a || b === 0x0d || b === 0x09);
  if (data.length === KEY_BYTES && !printable) return Buffer.from(data);
  const text = data.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Buffer.from(text, 'base64');
  throw new MotobioError(
    'CONFIG_INVALID',
    `store encryption key ${source}: must hold 32 random bytes (raw, base64 or hex), found ${printable ? `${data.toString('latin1').trim().length} characters of text` : `${data.length} bytes`} that are none of these; make one with "motobio db keygen --out FILE"`,
  );
}

/** Reads one key file, refusing it when group or others may read or write it. */
export function readKeyFile(path: string): RecordKey {
  let mode: number;
  let data: Buffer;
  try {
    mode = statSync(path).mode;
    data = readFileSync(path);
  } catch (e) {
    throw new MotobioError('CONFIG_INVALID', `store encryption key ${path}: cannot read it (${errorMessage(e)}); check store.encryption and that the file is readable by the motobio user`);
  }
  if ((mode & 0o077) !== 0) {
    throw new MotobioError(
      'CONFIG_INVALID',
      `store encryption key ${path}: mode ${(mode & 0o777).toString(8).padStart(4, '0')} lets group or others at it; make it private with "chmod 600 ${path}" (and own it by the motobio user), or deliver it as a systemd credential`,
    );
  }
  const key = parseKey(data, path);
  return { id: keyId(key), key, source: path };
}

export interface EncryptionSettings {
  /** Key file that seals new records. */
  readonly key_file?: string;
  /** Name of a systemd credential (LoadCredential=NAME:...) that seals new records. */
  readonly credential?: string;
  /** Earlier keys, kept so records sealed before a rotation still open. */
  readonly old_key_files?: readonly string[];
}

/** Resolves the settings to a cipher; `resolve` maps configured paths (relative to the working directory). */
export function cipherFromSettings(s: EncryptionSettings, resolve: (p: string) => string = (p) => p, env: NodeJS.ProcessEnv = process.env): RecordCipher {
  if (s.key_file !== undefined && s.credential !== undefined) {
    throw new MotobioError('CONFIG_INVALID', 'store.encryption: set either key_file or credential, not both');
  }
  let current: RecordKey;
  if (s.credential !== undefined) {
    const dir = env.CREDENTIALS_DIRECTORY;
    if (!dir) {
      throw new MotobioError(
        'CONFIG_INVALID',
        `store.encryption.credential "${s.credential}": $CREDENTIALS_DIRECTORY is not set, so the daemon is not running under systemd with LoadCredential=${s.credential}:...; add that line to the unit (systemd/motobio.service) or use store.encryption.key_file`,
      );
    }
    current = readKeyFile(join(dir, s.credential));
  } else if (s.key_file !== undefined) current = readKeyFile(resolve(s.key_file));
  else throw new MotobioError('CONFIG_INVALID', 'store.encryption: name the key with key_file or credential (or remove store.encryption to store records unencrypted)');
  const old = (s.old_key_files ?? []).map((p) => readKeyFile(resolve(p)));
  return new RecordCipher(current, old);
}

export class RecordCipher {
  readonly current: RecordKey;
  private readonly keys = new Map<string, RecordKey>();

  constructor(current: RecordKey, old: readonly RecordKey[] = []) {
    if (current.key.length !== KEY_BYTES) throw new MotobioError('CONFIG_INVALID', `store encryption key ${current.source}: ${current.key.length} bytes, need ${KEY_BYTES}`);
    this.current = current;
    for (const k of [current, ...old]) this.keys.set(k.id, k);
  }

  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  seal(plain: Buffer, b: RecordBinding): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const c = createCipheriv('aes-256-gcm', this.current.key, nonce);
    c.setAAD(aad(b));
    const body = c.update(plain);
    const final = c.final();
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header[0] = VERSION;
    header.write(this.current.id, 1, 'hex');
    nonce.copy(header, 1 + ID_BYTES);
    return Buffer.concat([header, body, final, c.getAuthTag()]);
  }

  /** Opens a sealed body; throws RECORD_UNREADABLE naming the record and the likely cause. */
  open(sealed: Buffer, b: RecordBinding): Buffer {
    const what = `record seq ${b.seq} (type "${b.type}")`;
    if (sealed.length < SEAL_OVERHEAD || sealed[0] !== VERSION) {
      throw new MotobioError('RECORD_UNREADABLE', `${what}: sealed body is damaged (${sealed.length} bytes, version ${sealed[0] ?? '-'}); it is kept in the store and not sent`);
    }
    const id = sealed.subarray(1, 1 + ID_BYTES).toString('hex');
    const k = this.keys.get(id);
    if (!k) {
      throw new MotobioError(
        'RECORD_UNREADABLE',
        `${what}: sealed with key id ${id}, which is not configured (configured: ${this.keyIds.join(', ')}); add the old key to store.encryption.old_key_files. Nothing was deleted`,
      );
    }
    const d = createDecipheriv('aes-256-gcm', k.key, sealed.subarray(1 + ID_BYTES, HEADER_BYTES));
    d.setAAD(aad(b));
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      return Buffer.concat([d.update(sealed.subarray(HEADER_BYTES, sealed.length - TAG_BYTES)), d.final()]);
    } catch {
      throw new MotobioError(
        'RECORD_UNREADABLE',
        `${what}: authentication tag does not match under key ${id}: the stored body or its row (device, seq, type) was altered on disk; it is kept in the store and not sent`,
      );
    }
  }
}

/** `enc` column value of a sealed body. */
export const sealedEncoding = (enc: string): string => `${enc}${SEALED_SUFFIX}`;
export const isSealed = (enc: string): boolean => enc.endsWith(SEALED_SUFFIX);
export const plainEncoding = (enc: string): string => (isSealed(enc) ? enc.slice(0, -SEALED_SUFFIX.length) : enc);
