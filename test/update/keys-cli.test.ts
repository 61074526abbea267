/** `motobio keys generate|sign|verify` (the command module, in process), with real keys and files. */
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/commands/keys.js';
import { keyId, readPublicKey } from '../../src/update/keys.js';
import { MotobioError } from '../../src/util/errors.js';
import { REPO, tempDir } from '../daemon/helpers.js';

let dir: { path: string; cleanup: () => void };
beforeAll(() => {
  dir = tempDir('motobio-keys-');
});
afterAll(() => dir.cleanup());

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    expect(argv[0]).toBe('keys');
    return { code: await run(argv.slice(1)), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

async function failure(...argv: string[]): Promise<MotobioError> {
  try {
    await cli(...argv);
  } catch (e) {
    expect(e).toBeInstanceOf(MotobioError);
    return e as MotobioError;
  }
  throw new Error(`"motobio ${argv.join(' ')}" did not fail`);
}

describe('motobio keys', () => {
  let priv = '';
  let pubDir = '';

  it('generate writes a 0600 private key and a public key and prints the key id', async () => {
    const out = join(dir.path, 'server');
    const r = await cli('keys', 'generate', '--out', out);
    expect(r.code).toBe(0);
    const names = readdirSync(out).sort();
    expect(names).toHaveLength(2);
    priv = join(out, names.find((n) => n.endsWith('.key'))!);
    const pub = join(out, names.find((n) => n.endsWith('.pub'))!);
    expect(statSync(priv).mode & 0o777).toBe(0o600);
    expect(r.out).toContain(`key id ${keyId(readPublicKey(pub))}`);
    pubDir = join(dir.path, 'unit-keys');
    mkdirSync(pubDir, { mode: 0o755 });
    writeFileSync(join(pubDir, 'fleet.pub'), readFileSync(pub), { mode: 0o644 });
  });

  it('signs a model directory and a configuration; verify accepts them with the public key', async () => {
    const model = join(dir.path, 'model.update.json');
    let r = await cli('keys', 'sign', '--key', priv, '--kind', 'model', '--version', '4', '--device', '*', join(REPO, 'models'), '--out', model);
    expect(r.code).toBe(0);
    const env = JSON.parse(readFileSync(model, 'utf8')) as { files: { name: string }[] };
    expect(env.files.map((f) => f.name)).toEqual(['default-policy.fp32.onnx', 'default-policy.int8.onnx', 'default-policy.manifest.json', 'default-policy.validation.ndjson']);
    r = await cli('keys', 'verify', '--pub', pubDir, model);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^valid: model update version 4 for \*/);
    const yaml = join(dir.path, 'c.yaml');
    writeFileSync(yaml, 'log_level: debug\n');
    const cfg = join(dir.path, 'config.update.json');
    expect((await cli('keys', 'sign', '--key', priv, '--kind', 'config', '--version', '2', '--device', 'bike-017', yaml, '--out', cfg)).code).toBe(0);
    r = await cli('keys', 'verify', '--pub', pubDir, cfg, '--device', 'bike-017', '--json');
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, kind: 'config', version: 2, device: 'bike-017', files: [{ name: 'config.yaml' }] });
    // For another unit, or altered, or checked against another key: refused with the reason, exit 1.
    r = await cli('keys', 'verify', '--pub', pubDir, cfg, '--device', 'bike-018', '--json');
    expect([r.code, (JSON.parse(r.out) as { reason: string }).reason]).toEqual([1, 'wrong_device']);
    const altered = JSON.parse(readFileSync(cfg, 'utf8')) as { version: number };
    altered.version = 3;
    writeFileSync(cfg, JSON.stringify(altered));
    r = await cli('keys', 'verify', '--pub', pubDir, cfg);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad_signature/);
    const otherDir = join(dir.path, 'other');
    await cli('keys', 'generate', '--out', otherDir);
    chmodSync(otherDir, 0o755);
    r = await cli('keys', 'verify', '--pub', otherDir, model);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/unknown_key/);
  });

  it('says clearly what is wrong: missing key, a private key others can read, a bad version or kind', async () => {
    const yaml = join(dir.path, 'c.yaml');
    const out = join(dir.path, 'x.json');
    let e = await failure('keys', 'sign', '--kind', 'config', '--version', '1', '--device', '*', yaml, '--out', out);
    expect([e.code, e.message]).toEqual(['USAGE', expect.stringContaining('missing --key')]);
    e = await failure('keys', 'sign', '--key', join(dir.path, 'nope.key'), '--kind', 'config', '--version', '1', '--device', '*', yaml, '--out', out);
    expect([e.code, e.message]).toEqual(['KEY_INVALID', expect.stringContaining('motobio keys generate')]);
    chmodSync(priv, 0o644);
    e = await failure('keys', 'sign', '--key', priv, '--kind', 'config', '--version', '1', '--device', '*', yaml, '--out', out);
    expect([e.code, e.message]).toEqual(['KEY_INVALID', expect.stringContaining(`chmod 600 ${priv}`)]);
    chmodSync(priv, 0o600);
    for (const v of ['0', '-1', '1.5', 'abc', '01', '9007199254740993']) {
      e = await failure('keys', 'sign', '--key', priv, '--kind', 'config', `--version=${v}`, '--device', '*', yaml, '--out', out);
      expect([e.code, e.message]).toEqual(['USAGE', expect.stringContaining('--version must be a whole number')]);
    }
    e = await failure('keys', 'sign', '--key', priv, '--kind', 'firmware', '--version', '1', '--device', '*', yaml, '--out', out);
    expect(e.message).toContain('--kind must be model or config');
    e = await failure('keys', 'sign', '--key', priv, '--kind', 'config', '--version', '1', '--device', 'a/b', yaml, '--out', out);
    expect(e.message).toContain('is not a device id');
    e = await failure('keys', 'generate');
    expect(e.message).toContain('--out DIR is required');
  });
});
