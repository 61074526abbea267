/**
 * The update envelope on its own: canonical bytes (fixed, line by line), signatures made with
 * real Ed25519 keys, every refusal reason, and fast-check fuzzing of the parser/verifier with
 * random and mutated payloads (only UpdateRefused ever comes out, nothing is ever accepted).
 */
import { generateKeyPairSync, sign as edSign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalBytes, isCanonicalBase64, parseEnvelope, verifyEnvelope, type Envelope } from '../../src/update/envelope.js';
import { keyId } from '../../src/update/keys.js';
import { UpdateRefused } from '../../src/update/refusal.js';
import { signUpdate } from '../../src/update/sign.js';
import { MotobioError } from '../../src/util/errors.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const keys = new Map([[keyId(publicKey), publicKey]]);
const files = new Map<string, Uint8Array>([
  ['config.yaml', Buffer.from('log_level: debug\n')],
]);

function good(version = 3, device = 'bike-017'): Envelope {
  return signUpdate({ kind: 'config', version, device, files, privateKey, created: '2026-11-27T23:00:00.000Z' });
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof UpdateRefused) return e.reason;
    throw e;
  }
  return 'accepted';
}

describe('canonical bytes', () => {
  it('are the documented lines, in the documented order, whatever the object key order', () => {
    const fields = {
      kind: 'model' as const,
      version: 12,
      device: '*',
      created: '2026-11-27T23:00:00Z',
      keyId: '0123456789abcdef0123456789abcdef',
      files: [
        { name: 'a.manifest.json', sha256: 'a'.repeat(64), size: 10 },
        { name: 'b.onnx', sha256: 'b'.repeat(64), size: 5184 },
      ],
    };
    const expected =
      'motobio-update/1\nkind=model\nversion=12\ndevice=*\ncreated=2026-11-27T23:00:00Z\nkey=0123456789abcdef0123456789abcdef\nfiles=2\n' +
      `a.manifest.json\n${'a'.repeat(64)}\n10\nb.onnx\n${'b'.repeat(64)}\n5184\n`;
    expect(canonicalBytes(fields).toString('ascii')).toBe(expected);
    const shuffled = { files: fields.files, keyId: fields.keyId, created: fields.created, device: fields.device, version: fields.version, kind: fields.kind };
    expect(canonicalBytes(shuffled).equals(canonicalBytes(fields))).toBe(true);
  });

  it('a signature made by hand over those bytes verifies (another implementation can sign)', () => {
    const env = good();
    const bytes = canonicalBytes({ ...env, keyId: env.keyId! });
    const manual = edSign(null, bytes, privateKey).toString('base64');
    expect(manual).toBe(env.signature); // Ed25519 is deterministic
  });

  it('the key id is the first 16 bytes of SHA-256 of the raw public key, the same from the private key', () => {
    expect(keyId(publicKey)).toMatch(/^[0-9a-f]{32}$/);
    expect(keyId(privateKey)).toBe(keyId(publicKey));
    expect(keyId(other.publicKey)).not.toBe(keyId(publicKey));
  });
});

describe('verification', () => {
  const payload = (e: unknown) => Buffer.from(JSON.stringify(e));

  it('accepts a good update for this device and for "*"', () => {
    const u = verifyEnvelope(parseEnvelope(payload(good())), keys, 'bike-017');
    expect(u.version).toBe(3);
    expect(u.files.get('config.yaml')!.toString()).toBe('log_level: debug\n');
    expect(verifyEnvelope(parseEnvelope(payload(good(4, '*'))), keys, 'bike-99').device).toBe('*');
  });

  it('refuses each kind of bad update with its reason', () => {
    const e = good();
    const { signature: _s, keyId: _k, ...unsigned } = e;
    expect(reason(() => verifyEnvelope(parseEnvelope(payload(unsigned)), keys, 'bike-017'))).toBe('unsigned');
    const wrongKey = signUpdate({ kind: 'config', version: 3, device: 'bike-017', files, privateKey: other.privateKey });
    expect(reason(() => verifyEnvelope(parseEnvelope(payload(wrongKey)), keys, 'bike-017'))).toBe('unknown_key');
    // Another key's signature under our key id.
    expect(reason(() => verifyEnvelope(parseEnvelope(payload({ ...wrongKey, keyId: e.keyId })), keys, 'bike-017'))).toBe('bad_signature');
    expect(reason(() => verifyEnvelope(parseEnvelope(payload({ ...e, version: 4 })), keys, 'bike-017'))).toBe('bad_signature');
    expect(reason(() => verifyEnvelope(parseEnvelope(payload({ ...e, device: '*' })), keys, 'bike-017'))).toBe('bad_signature');
    const data = Buffer.from(e.files[0].data, 'base64');
    data[0] ^= 1;
    expect(reason(() => verifyEnvelope(parseEnvelope(payload({ ...e, files: [{ ...e.files[0], data: data.toString('base64') }] })), keys, 'bike-017'))).toBe('hash_mismatch');
    expect(reason(() => verifyEnvelope(parseEnvelope(payload(e)), keys, 'bike-018'))).toBe('wrong_device');
    expect(reason(() => parseEnvelope(payload(e), 100))).toBe('oversized');
    expect(reason(() => parseEnvelope(Buffer.from('not json')))).toBe('malformed');
    expect(reason(() => parseEnvelope(payload({ ...e, files: [...e.files, ...e.files] })))).toBe('malformed');
    expect(reason(() => parseEnvelope(payload({ ...e, files: [{ ...e.files[0], name: '../etc/passwd' }] })))).toBe('malformed');
    expect(reason(() => parseEnvelope(payload({ ...e, version: 1.5 })))).toBe('malformed');
    expect(reason(() => verifyEnvelope(parseEnvelope(payload(e)), new Map(), 'bike-017'))).toBe('unknown_key');
  });
});

describe('large updates', () => {
  it('a 23 MiB model file (a 31 MiB message, under the 32 MiB default cap) parses and verifies', () => {
    const big = Buffer.alloc(23 * 1024 * 1024, 7);
    const e = signUpdate({ kind: 'model', version: 1, device: '*', files: new Map([['m.onnx', big]]), privateKey });
    const payload = Buffer.from(JSON.stringify(e));
    expect(payload.length).toBeLessThanOrEqual(32 * 1024 * 1024);
    expect(verifyEnvelope(parseEnvelope(payload), keys, 'bike-017').files.get('m.onnx')!.equals(big)).toBe(true);
  });

  it('canonical base64 only: the same bytes spelt another way are malformed', () => {
    expect(isCanonicalBase64('QQ==')).toBe(true);
    expect(isCanonicalBase64('QR==')).toBe(false);
    expect(isCanonicalBase64('QUI=')).toBe(true);
    expect(isCanonicalBase64('QUJ=')).toBe(false);
    expect(isCanonicalBase64('QUJD')).toBe(true);
    expect(isCanonicalBase64('QUJ')).toBe(false);
    expect(isCanonicalBase64('Q===')).toBe(false);
    expect(isCanonicalBase64('')).toBe(true);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(isCanonicalBase64(Buffer.from(b).toString('base64'))).toBe(true);
      }),
    );
  });
});

describe('fuzz (fast-check)', () => {
  const base = Buffer.from(JSON.stringify(good()));
  const check = (bytes: Uint8Array) => {
    try {
      verifyEnvelope(parseEnvelope(bytes, 1 << 20), keys, 'bike-017');
    } catch (e) {
      expect(e).toBeInstanceOf(MotobioError);
      return false;
    }
    return true;
  };

  it('random bytes and random JSON never throw anything but MotobioError and are never accepted', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.json().map((s) => Buffer.from(s)), fc.anything().map((v) => Buffer.from(JSON.stringify(v) ?? 'null'))), (b) => {
        expect(check(b)).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('an update with any byte changed, removed or inserted is never accepted (unless the change leaves the JSON meaning intact)', () => {
    const meaning = JSON.stringify(JSON.parse(base.toString()));
    fc.assert(
      fc.property(fc.nat({ max: base.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.constantFrom('flip', 'cut', 'insert'), (at, x, op) => {
        const b = op === 'flip' ? Buffer.from(base) : op === 'cut' ? Buffer.concat([base.subarray(0, at), base.subarray(at + 1)]) : Buffer.concat([base.subarray(0, at), Buffer.from([x]), base.subarray(at)]);
        if (op === 'flip') b[at] ^= x;
        const accepted = check(b);
        if (accepted) {
          // Only whitespace-like edits that keep the parsed object identical may pass.
          expect(JSON.stringify(JSON.parse(b.toString()))).toBe(meaning);
        }
      }),
      { numRuns: 4000 },
    );
  });

  it('mutated fields of a parsed update are refused', () => {
    const e = good();
    fc.assert(
      fc.property(
        fc.record({ version: fc.option(fc.integer({ min: -5, max: 10 })), device: fc.option(fc.string({ maxLength: 10 })), created: fc.option(fc.string({ maxLength: 30 })), kind: fc.option(fc.constantFrom('model', 'config', 'x')) }),
        (m) => {
          const mutated = { ...e, ...Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null)) };
          const same = JSON.stringify(mutated) === JSON.stringify(e);
          expect(check(Buffer.from(JSON.stringify(mutated)))).toBe(same);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('docs/schemas/update.v1.schema.json', () => {
  it('accepts what signUpdate makes and rejects what the parser rejects structurally', async () => {
    const { readFileSync } = await import('node:fs');
    const { Ajv } = await import('ajv');
    const schema = JSON.parse(readFileSync(new URL('../../docs/schemas/update.v1.schema.json', import.meta.url), 'utf8')) as object;
    const validate = new Ajv({ strict: false }).compile(schema);
    const e = good();
    expect(validate(e)).toBe(true);
    for (const bad of [{ ...e, version: 0 }, { ...e, kind: 'firmware' }, { ...e, device: 'a/b' }, { ...e, extra: 1 }, { ...e, files: [] }]) {
      expect(validate(bad)).toBe(false);
      expect(reason(() => parseEnvelope(Buffer.from(JSON.stringify(bad))))).toBe('malformed');
    }
  });
});
