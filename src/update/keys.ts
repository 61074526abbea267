/**
 * Ed25519 keys for signed updates. The unit holds public keys only, one PEM file each in
 * `update.keys_dir`; the server (or a technician's laptop) holds the private key.
 *
 * A key id is the first 16 bytes, in hex, of the SHA-256 of the raw 32-byte public key, so it
 * does not depend on how the key is encoded (PEM, DER, JWK). Holding several public keys lets a
 * fleet rotate: install the new key, sign with it, then remove the old one.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MotobioError, errorMessage } from '../util/errors.js';

export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const x = (pub.export({ format: 'jwk' }) as { x?: string }).x;
  if (pub.asymmetricKeyType !== 'ed25519' || !x) throw new MotobioError('KEY_INVALID', 'not an Ed25519 key; make keys with "motobio keys generate"');
  return createHash('sha256').update(Buffer.from(x, 'base64url')).digest('hex').slice(0, 32);
}

export function generateKeys(): { privatePem: string; publicPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    keyId: keyId(publicKey),
  };
}

/** Reads a private key, refusing one that others than its owner can read. */
export function readPrivateKey(path: string): KeyObject {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (e) {
    throw new MotobioError('KEY_INVALID', `cannot read private key ${path}: ${errorMessage(e)}; make one with "motobio keys generate --out DIR"`);
  }
  if ((mode & 0o077) !== 0) {
    throw new MotobioError('KEY_INVALID', `private key ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run "chmod 600 ${path}" and keep it off the units`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(path));
  } catch (e) {
    throw new MotobioError('KEY_INVALID', `${path} is not a PEM private key: ${errorMessage(e)}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new MotobioError('KEY_INVALID', `${path} is a ${key.asymmetricKeyType ?? 'unknown'} key; updates are signed with Ed25519 ("motobio keys generate")`);
  return key;
}

export function readPublicKey(path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(readFileSync(path));
  } catch (e) {
    throw new MotobioError('KEY_INVALID', `${path} is not a PEM public key: ${errorMessage(e)}`);
  }
  if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') throw new MotobioError('KEY_INVALID', `${path} is not an Ed25519 public key`);
  return key;
}

export interface TrustedKeys {
  readonly keys: ReadonlyMap<string, KeyObject>;
  /** Files that were skipped, with why (logged by the caller). */
  readonly problems: readonly string[];
}

/**
 * The trusted public keys: every `*.pem` / `*.pub` file in `dir`. A file anyone may write
 * (group or other write bit) is not trusted, nor is a directory anyone may write: whoever can
 * add a key there can sign updates. A missing directory means no trusted keys.
 */
export function loadTrustedKeys(dir: string): TrustedKeys {
  const keys = new Map<string, KeyObject>();
  const problems: string[] = [];
  let names: string[];
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) return { keys, problems: [`${dir} is not a directory`] };
    if ((st.mode & 0o022) !== 0) return { keys, problems: [`${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}); no key in it is trusted until "chmod go-w ${dir}"`] };
    names = readdirSync(dir).filter((n) => n.endsWith('.pem') || n.endsWith('.pub')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { keys, problems: [] };
    return { keys, problems: [`cannot read ${dir}: ${errorMessage(e)}`] };
  }
  for (const n of names) {
    const path = join(dir, n);
    try {
      const st = statSync(path);
      if (!st.isFile()) continue;
      if ((st.mode & 0o022) !== 0) {
        problems.push(`${path} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}); not trusted until "chmod go-w ${path}"`);
        continue;
      }
      const key = readPublicKey(path);
      keys.set(keyId(key), key);
    } catch (e) {
      problems.push(errorMessage(e));
    }
  }
  return { keys, problems };
}
