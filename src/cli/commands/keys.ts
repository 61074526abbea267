/**
 * `motobio keys generate|sign|verify`: the server's (or a technician's) side of signed
 * downlink updates (docs/updates.md). The private key never goes on a unit.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { MotobioError, errorMessage } from '../../util/errors.js';
import { parseCommandArgs } from '../args.js';

export const summary = 'signed updates: generate --out DIR | sign --key PRIV --kind model|config --version N --device ID|* PATH --out FILE | verify --pub DIR FILE';

const USAGE = `usage: motobio keys <subcommand>

  generate --out DIR
      make an Ed25519 key pair: DIR/update-<id>.key (private, mode 0600: keep it on the
      signing server) and DIR/update-<id>.pub (install it on units in update.keys_dir);
      prints the key id
  sign --key PRIV --kind model|config --version N --device ID|'*' PATH --out FILE [--created T]
      make a signed update: for a model, PATH is a manifest (or its directory) and the update
      carries it and every file it names; for a configuration, PATH is a YAML file (it goes
      in as config.yaml). N must be higher than the last version of that kind the units applied.
  verify --pub DIR|FILE FILE [--device ID] [--json]
      check an update's signature and hashes against the public key(s), as a unit would
      (and its target, with --device); exit 0 valid, 1 refused
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('keys', argv, {
    out: { type: 'string' },
    key: { type: 'string' },
    kind: { type: 'string' },
    version: { type: 'string' },
    device: { type: 'string' },
    created: { type: 'string' },
    pub: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  const [sub, ...rest] = positionals;
  if (values.help || sub === undefined) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  if (sub === 'generate') return generate(values.out);
  if (sub === 'sign') return sign(values, rest);
  if (sub === 'verify') return verify(values, rest);
  throw new MotobioError('USAGE', `keys: unknown subcommand "${sub}"\n${USAGE}`);
}

async function generate(out: string | undefined): Promise<number> {
  if (!out) throw new MotobioError('USAGE', 'keys generate: --out DIR is required (where the key pair is written)');
  const { generateKeys } = await import('../../update/keys.js');
  const k = generateKeys();
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const base = join(out, `update-${k.keyId.slice(0, 12)}`);
  if (existsSync(`${base}.key`) || existsSync(`${base}.pub`)) throw new MotobioError('USAGE', `keys generate: ${base}.key or .pub exists already; choose another --out`);
  writeFileSync(`${base}.key`, k.privatePem, { mode: 0o600, flag: 'wx' });
  writeFileSync(`${base}.pub`, k.publicPem, { mode: 0o644, flag: 'wx' });
  process.stdout.write(`key id ${k.keyId}\nprivate key ${base}.key (mode 0600; keep it on the signing server, never on a unit)\npublic key  ${base}.pub (install on units: install -m644 ${basename(base)}.pub /etc/motobio/keys/)\n`);
  return 0;
}

/** The files of a model update: the manifest and every file it names, beside it. */
export async function modelFiles(path: string): Promise<[string, Buffer][]> {
  let manifestPath = path;
  if (statSync(path).isDirectory()) {
    const found = readdirSync(path).filter((f) => f.endsWith('.manifest.json'));
    const pick = found.includes('default-policy.manifest.json') ? 'default-policy.manifest.json' : found.length === 1 ? found[0] : undefined;
    if (!pick) throw new MotobioError('USAGE', `keys sign: ${path} holds ${found.length} *.manifest.json files; name the manifest`);
    manifestPath = join(path, pick);
  }
  const { parseManifest } = await import('../../inference/manifest.js');
  const text = readFileSync(manifestPath, 'utf8');
  const m = parseManifest(text, manifestPath);
  const out: [string, Buffer][] = [[basename(manifestPath), Buffer.from(text, 'utf8')]];
  for (const p of [m.model.path, m.reference?.path, m.validationSet?.path]) {
    if (p === undefined) continue;
    if (basename(p) !== p) throw new MotobioError('USAGE', `keys sign: the manifest names "${p}"; an update carries files beside the manifest only, so name them without directories`);
    out.push([p, readFileSync(join(dirname(manifestPath), p))]);
  }
  return out;
}

async function sign(v: Record<string, string | boolean | undefined>, rest: string[]): Promise<number> {
  const [path, ...extra] = rest;
  const missing = ['key', 'kind', 'version', 'device', 'out'].filter((k) => typeof v[k] !== 'string');
  if (missing.length > 0 || path === undefined) throw new MotobioError('USAGE', `keys sign: missing ${[...missing.map((m) => `--${m}`), ...(path === undefined ? ['PATH'] : [])].join(', ')}\n${USAGE}`);
  if (extra.length > 0) throw new MotobioError('USAGE', `keys sign: unexpected argument "${extra[0]}"`);
  const kind = v['kind'] as string;
  if (kind !== 'model' && kind !== 'config') throw new MotobioError('USAGE', `keys sign: --kind must be model or config, got "${kind}"`);
  const vs = v['version'] as string;
  const version = Number(vs);
  if (!/^[1-9]\d*$/.test(vs) || !Number.isSafeInteger(version)) throw new MotobioError('USAGE', `keys sign: --version must be a whole number from 1 up (higher than the units' last ${kind} version), got "${vs}"`);
  const { readPrivateKey } = await import('../../update/keys.js');
  const { signUpdate } = await import('../../update/sign.js');
  const { CONFIG_FILE_NAME } = await import('../../config/in-force.js');
  const key = readPrivateKey(v['key'] as string);
  if (!existsSync(path)) throw new MotobioError('USAGE', `keys sign: ${path} does not exist`);
  let files: [string, Buffer][];
  if (kind === 'model') files = await modelFiles(path);
  else {
    const text = readFileSync(path);
    const { parse } = await import('yaml');
    try {
      parse(text.toString('utf8'));
    } catch (e) {
      throw new MotobioError('USAGE', `keys sign: ${path} is not valid YAML: ${errorMessage(e)}`);
    }
    files = [[CONFIG_FILE_NAME, text]];
  }
  const env = signUpdate({ kind, version, device: v['device'] as string, files, privateKey: key, ...(typeof v['created'] === 'string' ? { created: v['created'] } : {}) });
  const json = JSON.stringify(env);
  writeFileSync(v['out'] as string, json);
  process.stdout.write(`signed ${kind} update version ${version} for ${env.device} with key ${env.keyId}: ${env.files.map((f) => f.name).join(', ')} (${json.length} bytes) -> ${v['out'] as string}\n`);
  return 0;
}

async function verify(v: Record<string, string | boolean | undefined>, rest: string[]): Promise<number> {
  const [file, ...extra] = rest;
  const pub = v['pub'];
  if (typeof pub !== 'string' || file === undefined) throw new MotobioError('USAGE', `keys verify: --pub DIR|FILE and the update FILE are required\n${USAGE}`);
  if (extra.length > 0) throw new MotobioError('USAGE', `keys verify: unexpected argument "${extra[0]}"`);
  const { loadTrustedKeys, readPublicKey, keyId } = await import('../../update/keys.js');
  const { parseEnvelope, verifyEnvelope } = await import('../../update/envelope.js');
  const { isUpdateRefused } = await import('../../update/refusal.js');
  let keys: Map<string, KeyObject>;
  if (statSync(pub).isDirectory()) {
    const t = loadTrustedKeys(pub);
    for (const p of t.problems) process.stderr.write(`motobio: warning: ${p}\n`);
    keys = new Map(t.keys);
  } else {
    const k = readPublicKey(pub);
    keys = new Map([[keyId(k), k]]);
  }
  if (keys.size === 0) throw new MotobioError('KEY_INVALID', `keys verify: no usable public key in ${pub}`);
  const bytes = readFileSync(file);
  try {
    const env = parseEnvelope(bytes, Number.MAX_SAFE_INTEGER);
    const device = typeof v['device'] === 'string' ? v['device'] : env.device === '*' ? '*' : env.device;
    const u = verifyEnvelope(env, keys, device);
    const files = [...u.files].map(([name, b]) => ({ name, bytes: b.length }));
    if (v['json']) process.stdout.write(`${JSON.stringify({ ok: true, kind: u.kind, version: u.version, device: u.device, created: u.created, keyId: u.keyId, files })}\n`);
    else process.stdout.write(`valid: ${u.kind} update version ${u.version} for ${u.device}, created ${u.created}, signed by key ${u.keyId}\n${files.map((f) => `  ${f.name} (${f.bytes} bytes)`).join('\n')}\n`);
    return 0;
  } catch (e) {
    if (!isUpdateRefused(e)) throw e;
    if (v['json']) process.stdout.write(`${JSON.stringify({ ok: false, reason: e.reason, error: e.message })}\n`);
    else process.stderr.write(`motobio: ${e.message} (${e.reason})\n`);
    return 1;
  }
}
