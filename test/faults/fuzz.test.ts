/**
 * Fault suite, fuzz (fast-check): what reaches the unit or the server from outside, mangled.
 *
 *   configuration files and environment overrides ──▶ loadConfig (src/daemon/config.ts)
 *   WFDB headers, signal and annotation files      ──▶ parseHeader, readRecord, parseAnnotations
 *   MQTT batch payloads                             ──▶ decodeBatch (src/uplink/codec.ts), Receiver
 *
 * Each target either gives a valid result or one MotobioError that names the problem (and the
 * setting or the file); never a TypeError, a stack trace, a hang, or, at the receiver, a record
 * from a batch it rejected. A few runs go through the real CLI (`motobio config check`,
 * `motobio detect`) and one through a real broker with a real uplink publishing beside the garbage.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, EXIT_CONFIG, loadConfig } from '../../src/config/load.js';
import { parseAnnotations } from '../../src/sources/wfdb/annotations.js';
import { parseHeader } from '../../src/sources/wfdb/header.js';
import { readRecord } from '../../src/sources/wfdb/record.js';
import { encodeEcgChunk } from '../../src/store/ecg-codec.js';
import { Outbox } from '../../src/store/outbox.js';
import type { StoredRecord } from '../../src/store/types.js';
import { BATCH_DICTIONARY, decodeBatch, encodeBatch, recordBlob, type DecodedBatch } from '../../src/uplink/codec.js';
import { Receiver, type ReceivedRecord } from '../../src/uplink/receiver.js';
import { dataTopic } from '../../src/uplink/topics.js';
import { Uplink } from '../../src/uplink/uplink.js';
import { MotobioError } from '../../src/util/errors.js';
import { startAedes, waitFor } from '../helpers/brokers.js';
import { buildForTest, spawnNode } from '../daemon/helpers.js';
import { recordFaultResult } from './report.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const RUNS = 300;
const STACK_LINE = /^\s+at .+[:(]/m;

let dir: string;
let cli: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-fuzz-'));
  cli = buildForTest(['src/cli/commands/detect.ts'], { tolerateTypeErrors: true });
}, 180_000);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(cli, { recursive: true, force: true });
});

/** Runs `fn`; returns 'ok', or the MotobioError's message. Anything else fails the property. */
function outcome(fn: () => unknown, what: string): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (!(e instanceof MotobioError)) throw new Error(`${what}: threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}, not a MotobioError`, { cause: e });
    expect(e.message, 'an error message is one line of text, not a stack').not.toMatch(STACK_LINE);
    return e.message;
  }
}

/** A rejection kind: the message with numbers, quoted values and paths flattened. */
const kind = (m: string) =>
  m
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\/[^\s:]+/g, '/…')
    .replace(/\d+(\.\d+)?/g, '#')
    .slice(0, 90);

// ─── configuration ─────────────────────────────────────────────────────────────────────────

const VALID_CONFIG = {
  device: { id: 'bike-017' },
  source: { kind: 'replay', speed: 2, loop: true },
  signal: { decision_period_s: 5, powerline_hz: 50 },
  inference: { rules: { hr_high_bpm: 185, hr_low_bpm: 35 } },
  store: { path: './var/motobio.db', disk_budget_mb: 256 },
  uplink: {
    topic_prefix: 'motobio',
    links: [
      { name: 'lte', url: 'mqtts://fleet.example:8883', tls: { ca: '/etc/motobio/ca.pem' }, keepalive_s: 30 },
      { name: 'wifi', url: 'mqtt://depot.example:1883', username: 'bike', password: 'secret' },
    ],
  },
  health: { host: '127.0.0.1', port: 7411 },
  log_level: 'info',
};

const KEY = String.raw`(?:[A-Za-z0-9_-]+|\["(?:[^"\\]|\\.)*"\])`;
/** `uplink.links[1].url`; a key that is not a plain name is quoted: `[""]`, `device["a b"]`. */
const SETTING_PATH = new RegExp(String.raw`^${KEY}(?:\.[A-Za-z0-9_-]+|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*$`);

/** Loads `text` as a config file; checks that a rejection is the documented one and says where. */
function configOutcome(text: string | Buffer, env: NodeJS.ProcessEnv = {}): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  try {
    loadConfig({ file, env, cwd: dir });
    return 'ok';
  } catch (e) {
    if (!(e instanceof ConfigError) && !(e instanceof MotobioError && e.code === 'CONFIG_INVALID')) {
      throw new Error(`config: threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} for ${JSON.stringify(String(text).slice(0, 300))}`, { cause: e });
    }
    expect(e.message).not.toMatch(STACK_LINE);
    if (e instanceof ConfigError) {
      expect(e.issues.length).toBeGreaterThan(0);
      for (const i of e.issues) {
        // A setting's path, or (for text that is not a YAML mapping) the file and where in it.
        if (i.path === '') expect(i.message, `an issue without a setting path must say where in the file: ${i.message}`).toMatch(/line \d+|YAML|mapping|config\.yaml/);
        else expect(i.path).toMatch(SETTING_PATH);
        expect(i.message.length).toBeGreaterThan(5);
      }
      // The kind of problem, not the value that caused it: "unknown setting", "must be integer" ...
      return [...new Set(e.issues.map((i) => kind(i.message.split(/[;(]/)[0])))].sort().join(' | ');
    }
    return kind(e.message);
  }
}

/** Every path in an object: ['source', 'speed'], ['uplink', 'links', 1, 'url'], ... */
function pathsOf(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (v === null || typeof v !== 'object') return [prefix];
  const out: (string | number)[][] = prefix.length ? [prefix] : [];
  for (const [k, c] of Object.entries(v)) out.push(...pathsOf(c, [...prefix, Array.isArray(v) ? Number(k) : k]));
  return out;
}

function setPath(root: unknown, path: readonly (string | number)[], value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const seg of path.slice(0, -1)) {
    const next = node[seg];
    // An earlier edit removed or replaced this part of the document: nothing left to edit.
    if (next === null || typeof next !== 'object') return copy;
    node = next as Record<string | number, unknown>;
  }
  if (value === undefined) delete node[path[path.length - 1]];
  else node[path[path.length - 1]] = value;
  return copy;
}

const CONFIG_PATHS = pathsOf(VALID_CONFIG);
const weirdValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(-1, 0, 1e308, -0, 65536, 0.5, '', ' ', 'mqtt://', 'mqtts://u:p@h:1', 'http://x', '../../etc/passwd', '\u0000', '🏍', '1e999', 'NaN', 'null', '~', 'pkg:'),
  fc.string({ maxLength: 40 }),
);

/** A YAML text changed by a few character-level edits: insert, delete, replace. */
const textMutation = (text: string) =>
  fc.array(fc.tuple(fc.constantFrom('insert', 'delete', 'replace'), fc.nat(), fc.constantFrom(':', '-', ' ', '\n', '\t', '{', '[', ']', '}', '"', "'", '#', '&a', '*a', '!!', '|', '>', '?', '%', '@', '`', 'x', '0', '\u00a0', '\ufeff')), { minLength: 1, maxLength: 6 }).map((edits) => {
    let t = text;
    for (const [op, at, ch] of edits) {
      const i = at % (t.length + 1);
      if (op === 'insert') t = t.slice(0, i) + ch + t.slice(i);
      else if (op === 'delete') t = t.slice(0, i) + t.slice(i + 1);
      else t = t.slice(0, i) + ch + t.slice(i + 1);
    }
    return t;
  });

describe('fuzz: configuration', () => {
  it('random and mutated YAML/JSON documents and environment overrides: the config error with a setting path, or a valid config', () => {
    const rejections = new Set<string>();
    let runs = 0;
    const note = (r: string) => {
      runs++;
      if (r !== 'ok') rejections.add(r);
    };
    // Any JSON-ish document, as YAML and as JSON (JSON is YAML).
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (doc, asJson) => note(configOutcome(asJson ? JSON.stringify(doc) : toYaml(doc)))),
      { numRuns: RUNS },
    );
    // The valid document with one or more settings given a wrong value, or removed.
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...CONFIG_PATHS), fc.option(weirdValue, { nil: undefined })), { minLength: 1, maxLength: 4 }), (edits) => {
        let doc: unknown = VALID_CONFIG;
        for (const [p, v] of edits) doc = setPath(doc, p, v);
        note(configOutcome(toYaml(doc)));
      }),
      { numRuns: RUNS },
    );
    // Character-level damage to the valid document's text.
    fc.assert(fc.property(textMutation(toYaml(VALID_CONFIG)), (t) => note(configOutcome(t))), { numRuns: RUNS });
    // Environment overrides with real and misspelt paths, any values, over a valid file.
    const segs = ['DEVICE', 'ID', 'SOURCE', 'SPEED', 'KIND', 'UPLINK', 'LINKS', '0', '1', '7', 'URL', 'NAME', 'TLS', 'CA', 'HEALTH', 'PORT', 'HOST', 'LOG_LEVEL', 'LIKNS', 'CONSTRUCTOR', 'PROTOTYPE', '__PROTO__', 'TOSTRING', ''];
    fc.assert(
      fc.property(fc.dictionary(fc.array(fc.constantFrom(...segs), { minLength: 1, maxLength: 5 }).map((s) => `MOTOBIO_${s.join('__')}`), weirdValue.map(String), { maxKeys: 4 }), (env) => {
        note(configOutcome(toYaml(VALID_CONFIG), env));
        expect(({} as Record<string, unknown>)['polluted'], 'an override reached Object.prototype').toBeUndefined();
      }),
      { numRuns: RUNS },
    );
    // Nasty files, each one once.
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const nasty: (string | Buffer)[] = [
      deep,
      `a: &a [${'x,'.repeat(50)}x]\nb: &b [${'*a,'.repeat(50)}*a]\nc: &c [${'*b,'.repeat(50)}*b]\nd: [${'*c,'.repeat(50)}*c]\n`,
      'device: !!js/function "function () { return 1 }"\n',
      'device: !!binary aGVsbG8=\n',
      'device: !custom { id: x }\n',
      '__proto__: { polluted: true }\ndevice: { id: x }\n',
      'device:\n  id: a\ndevice:\n  id: b\n',
      '\ufeffdevice: { id: bom }\n',
      Buffer.from([0xff, 0xfe, 0x00, 0x64, 0xc3, 0x28, 0x0a]),
      Buffer.alloc(2048, 0),
      'x'.repeat(1 << 20),
      '%YAML 9.9\n---\ndevice: {}\n',
      '--- a\n--- b\n',
      'source: { speed: .nan }\n',
      'source: { speed: .inf }\n',
      'health: { port: 0x1F }\n',
      'uplink: { links: [ { name: a, url: "mqtt://[::1" } ] }\n',
    ];
    for (const t of nasty) note(configOutcome(t));
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(rejections.size).toBeGreaterThan(10);
    recordFaultResult({
      group: 'fuzz',
      fault: 'configuration files and environment overrides (random, mutated, nasty)',
      behaviour: `every rejection was the configuration error (exit 78) naming a setting path or the line; ${rejections.size} distinct rejections, no other exception`,
      expected: null,
      received: null,
      lost: null,
      duplicates: null,
      figures: { runs, distinct_rejections: rejections.size },
    });
  }, 180_000);

  it('motobio config check on nasty files exits 78 with the problem and no stack trace', async () => {
    const files: Record<string, string | Buffer> = {
      'deep.yaml': `${'['.repeat(5000)}${']'.repeat(5000)}`,
      'aliases.yaml': `a: &a [${'x,'.repeat(50)}x]\nb: &b [${'*a,'.repeat(50)}*a]\nc: &c [${'*b,'.repeat(50)}*b]\n`,
      'binary.yaml': Buffer.from([0x00, 0xff, 0x13, 0x37, 0xc3, 0x28, 0x0a, 0x7b]),
      'list.yaml': '- device\n- source\n',
      'typo.yaml': 'uplink:\n  likns: []\n',
      'badurl.yaml': 'uplink: { links: [ { name: a, url: "http://user:pw@x" } ] }\n',
    };
    for (const [name, text] of Object.entries(files)) {
      const f = join(dir, name);
      writeFileSync(f, text);
      const p = spawnNode([join(cli, 'src/cli/main.js'), 'config', 'check', f], { cwd: dir });
      const { code } = await p.exited;
      const err = p.stderr.join('\n');
      expect(code, `${name}: ${err}`).toBe(EXIT_CONFIG);
      expect(err, name).toContain('invalid configuration');
      expect(err, name).not.toMatch(STACK_LINE);
      expect(err, name).not.toContain('internal error');
    }
  }, 120_000);
});

// ─── WFDB ──────────────────────────────────────────────────────────────────────────────────

const RECORDS = ['mitdb-118-5min', 'mitdb-208-2min', 'nstdb-118e06-1min', 'qtdb-sel302-2min'];
const heaText = (r: string) => readFileSync(join(FIXTURES, `${r}.hea`), 'latin1');

/** A header changed token by token: a field replaced by something plausible or hostile. */
const headerMutation = fc
  .tuple(
    fc.constantFrom(...RECORDS),
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.constantFrom('0', '-1', '1e400', 'NaN', '16x0', '16x99999999', '212:3', '16+99999999999', '8', '1000(0)/mV', '(0)', '/mV', 'x', '', '99999999999999', '2/0', '0.0001', '360/0(1)', 'a/b', '#', '\t'),
      ),
      { minLength: 1, maxLength: 4 },
    ),
    fc.boolean(),
  )
  .map(([rec, edits, dropLine]) => {
    const lines = heaText(rec).split('\n');
    if (dropLine && lines.length > 2) lines.splice(1 + (edits[0][0] % (lines.length - 2)), 1);
    for (const [at, tok] of edits) {
      const li = at % lines.length;
      const toks = lines[li].split(' ');
      toks[(at >> 3) % toks.length] = tok;
      lines[li] = toks.join(' ');
    }
    return { rec, text: lines.join('\n') };
  });

/** A record written to its own directory: the header (mutated or not) and a damaged .dat. */
function writeRecord(rec: string, header: string, dat: Buffer): string {
  const d = mkdtempSync(join(dir, 'rec-'));
  writeFileSync(join(d, `${rec}.hea`), header, 'latin1');
  writeFileSync(join(d, `${rec}.dat`), dat);
  return join(d, rec);
}

const datDamage = fc.oneof(
  fc.record({ cut: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 50 }) }),
  fc.record({ garbage: fc.uint8Array({ maxLength: 4096 }) }),
);

function damage(dat: Buffer, how: { cut?: number; flips?: [number, number][]; garbage?: Uint8Array }): Buffer {
  if (how.garbage) return Buffer.from(how.garbage);
  if (how.cut !== undefined) return dat.subarray(0, Math.floor(dat.length * how.cut));
  const out = Buffer.from(dat);
  for (const [at, v] of how.flips ?? []) if (out.length) out[at % out.length] = v;
  return out;
}

describe('fuzz: WFDB files', () => {
  it('mutated headers, truncated and garbled .dat and .atr: a valid record or a MotobioError naming the file and the problem', () => {
    const rejections = new Set<string>();
    let runs = 0;
    const check = (r: string) => {
      runs++;
      if (r !== 'ok') rejections.add(kind(r));
    };
    // Headers alone.
    fc.assert(
      fc.property(headerMutation, ({ rec, text }) => {
        const r = outcome(() => parseHeader(text, `${rec}.hea`), 'parseHeader');
        if (r !== 'ok') expect(r).toContain(`${rec}.hea`);
        check(r);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        const r = outcome(() => parseHeader(text, 'random.hea'), 'parseHeader');
        if (r !== 'ok') expect(r).toContain('random.hea');
        check(r);
      }),
      { numRuns: RUNS },
    );
    // Whole records: mutated header and/or damaged signal file, through readRecord.
    fc.assert(
      fc.property(headerMutation, fc.option(datDamage, { nil: undefined }), fc.boolean(), ({ rec, text }, how, keepHeader) => {
        const dat = readFileSync(join(FIXTURES, `${rec}.dat`));
        const base = writeRecord(rec, keepHeader ? heaText(rec) : text, how ? damage(dat, how) : dat);
        const r = outcome(() => {
          const record = readRecord(base);
          for (const s of record.signals) {
            expect(s.adc.length).toBe(record.header.frames === undefined ? s.adc.length : record.header.frames * s.spec.samplesPerFrame);
            expect(s.fs).toBeGreaterThan(0);
          }
        }, 'readRecord');
        if (r !== 'ok') expect(r).toContain(rec);
        rmSync(join(base, '..'), { recursive: true, force: true });
        check(r);
      }),
      { numRuns: 150 },
    );
    // Annotation files: truncated, flipped, random.
    fc.assert(
      fc.property(fc.constantFrom(...RECORDS), datDamage, (rec, how) => {
        const atr = readFileSync(join(FIXTURES, `${rec}.atr`));
        const bytes = damage(atr, how);
        const r = outcome(() => {
          const anns = parseAnnotations(bytes, `${rec}.atr`);
          // A word yields at most one annotation: a garbled file cannot blow up into more.
          expect(anns.length).toBeLessThanOrEqual(bytes.length / 2);
          for (const a of anns) expect(Number.isInteger(a.sample)).toBe(true);
        }, 'parseAnnotations');
        if (r !== 'ok') expect(r).toContain(`${rec}.atr`);
        check(r);
      }),
      { numRuns: RUNS },
    );
    expect(rejections.size).toBeGreaterThan(5);
    recordFaultResult({
      group: 'fuzz',
      fault: 'WFDB files: mutated headers, truncated and garbled .dat and .atr',
      behaviour: `a valid record or one error naming the file and the problem; ${rejections.size} distinct rejections, no hang, no other exception`,
      expected: null,
      received: null,
      lost: null,
      duplicates: null,
      figures: { runs, distinct_rejections: rejections.size },
    });
  }, 180_000);

  it('motobio detect on bad records exits non-zero with a one-line message and no stack', async () => {
    const rec = 'mitdb-118-5min';
    const dat = readFileSync(join(FIXTURES, `${rec}.dat`));
    const cases: Record<string, string> = {
      truncated: writeRecord(rec, heaText(rec), dat.subarray(0, 1000)),
      'bad format': writeRecord(rec, heaText(rec).replace(/^(\S+\.dat) \d+/m, '$1 8'), dat),
      'no signals': writeRecord(rec, `${rec} 0 360\n`, dat),
      'bad rate': writeRecord(rec, heaText(rec).replace(/^(\S+ \d+) \d+/, '$1 -5'), dat),
      'missing dat': (() => {
        const base = writeRecord(rec, heaText(rec), dat);
        rmSync(`${base}.dat`);
        return base;
      })(),
      'missing record': join(dir, 'no-such-record'),
    };
    for (const [name, base] of Object.entries(cases)) {
      const p = spawnNode([join(cli, 'src/cli/main.js'), 'detect', base], { cwd: dir });
      const { code } = await p.exited;
      const err = p.stderr.filter((l) => l.trim() !== '');
      expect(code, `${name}: ${err.join('\n')}`).not.toBe(0);
      expect(err, `${name}: one line on stderr`).toHaveLength(1);
      expect(err[0], name).toMatch(/^motobio: /);
      expect(err[0], name).not.toContain('internal error');
    }
  }, 120_000);
});

// ─── MQTT batches ──────────────────────────────────────────────────────────────────────────

const stored = (seq: number, over: Partial<StoredRecord> = {}): StoredRecord => {
  const body = Buffer.from(JSON.stringify({ endS: seq * 5, hrBpm: 70 + (seq % 9), quality: 0.9 }));
  return { id: seq, deviceId: 'bike-f', seq, bootId: 'boot-1', monoMs: seq * 5000, wallMs: 1.7e12 + seq * 5000, clockSynced: true, priority: 'features', type: 'features', encoding: 'json', body, size: body.length, ...over };
};

function realBatch(first: number, n: number, withEcg: boolean): Buffer {
  const recs: StoredRecord[] = [];
  for (let s = first; s < first + n; s++) {
    if (withEcg && s % 3 === 0) {
      const body = encodeEcgChunk({ startSample: s * 250, fs: 250, lsbUv: 1, mv: new Float64Array(250).map((_, i) => Math.sin(i / 10)) });
      recs.push(stored(s, { type: 'ecg', priority: 'raw', encoding: 'ecg1', body, size: body.length }));
    } else recs.push(stored(s));
  }
  return encodeBatch('bike-f', `b${first}`, recs, [{ id: 1, firstSeq: 1, lastSeq: 0, priority: 'raw' as const, count: 0, wallMs: 1 }].slice(0, first % 2));
}

/** A header as the producer would write it, but with any JSON: for structure the deflate cannot protect. */
function craftedBatch(header: unknown, blobs = Buffer.alloc(0)): Buffer {
  const z = deflateRawSync(Buffer.from(JSON.stringify(header)), { dictionary: BATCH_DICTIONARY });
  const len = Buffer.alloc(4);
  len.writeUInt32BE(z.length);
  return Buffer.concat([Buffer.from('MBB1'), len, z, blobs]);
}

/** A decoded batch must be whole: every record well-formed and its blob inside the blob section. */
function assertWhole(b: DecodedBatch): void {
  const prios = new Set(['safety', 'decision', 'features', 'status', 'raw']);
  if (typeof b.header.device !== 'string') throw new Error('decoded batch without a device');
  // Plain checks, not expect(): the huge case has 200 000 records.
  for (const r of b.header.records) {
    const whole =
      Number.isSafeInteger(r.seq) &&
      r.seq >= 1 &&
      typeof r.type === 'string' &&
      prios.has(r.prio) &&
      typeof r.boot === 'string' &&
      Number.isFinite(r.mono) &&
      Number.isFinite(r.wall) &&
      typeof r.sync === 'boolean' &&
      (r.ecg === undefined || recordBlob(b, r) instanceof Buffer);
    if (!whole) throw new Error(`decodeBatch accepted a record that is not whole: ${JSON.stringify(r).slice(0, 200)}`);
  }
}

const recordish = fc.record(
  {
    seq: fc.oneof(fc.integer({ min: -3, max: 1e6 }), fc.double(), fc.string(), fc.constant(null)),
    type: fc.oneof(fc.constantFrom('features', 'decision', 'ecg'), fc.integer()),
    prio: fc.oneof(fc.constantFrom('features', 'raw', 'safety'), fc.string()),
    boot: fc.oneof(fc.string(), fc.integer()),
    mono: fc.oneof(fc.integer(), fc.string()),
    wall: fc.oneof(fc.integer(), fc.constant(null)),
    sync: fc.oneof(fc.boolean(), fc.integer()),
    data: fc.jsonValue({ maxDepth: 2 }),
    ecg: fc.oneof(fc.tuple(fc.integer({ min: -10, max: 5000 }), fc.integer({ min: -10, max: 5000 })), fc.jsonValue({ maxDepth: 1 })),
  },
  { requiredKeys: [] },
);

describe('fuzz: regressions (what the fuzzing found)', () => {
  it('a YAML alias bomb, an empty key and an unknown tag are configuration errors with a path or a line', () => {
    const bomb = `a: &a [${'x,'.repeat(50)}x]\nb: &b [${'*a,'.repeat(50)}*a]\nc: [${'*b,'.repeat(50)}*b]\n`;
    const issues = (text: string) => {
      const file = join(dir, 'regression.yaml');
      writeFileSync(file, text);
      try {
        loadConfig({ file, env: {}, cwd: dir });
      } catch (e) {
        if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
        throw e;
      }
      return 'ok';
    };
    expect(issues(bomb)).toMatch(/alias/i);
    expect(issues('"": false\n')).toMatch(/^\[""\]: unknown setting/);
    expect(issues('device: !custom { id: x }\n')).toMatch(/tag/i);
  });

  it('decodeBatch rejects a header whose records are not whole, and the receiver takes no record of such a batch', () => {
    const header = (records: unknown[]) => ({ v: 1, device: 'bike-f', batch: 'r', sent: 0, boot: 'b', records });
    for (const records of [[{}], [null], [''], [{ seq: '1', type: 't', prio: 'status', mono: 0, wall: 0, sync: true }]]) {
      expect(() => decodeBatch(craftedBatch(header(records)))).toThrow(/^batch: record 0/);
    }
    const half = craftedBatch(
      header([
        { seq: 1, type: 'features', prio: 'features', mono: 0, wall: 0, sync: true, data: {} },
        { seq: 2, type: 'ecg', prio: 'raw', mono: 0, wall: 0, sync: true, ecg: [0, 999] },
      ]),
    );
    expect(() => decodeBatch(half)).toThrow(/record 1 \(seq 2\) points at blob bytes 0\+999 beyond the 0-byte blob section/);
  });
});

describe('fuzz: MQTT batches the receiver decodes', () => {
  it('random bytes, mutated real batches, crafted headers, wrong versions, huge counts: a whole batch or a clear rejection', () => {
    const rejections = new Set<string>();
    let runs = 0;
    const check = (payload: Buffer) => {
      runs++;
      const r = outcome(() => assertWhole(decodeBatch(payload)), 'decodeBatch');
      if (r !== 'ok') {
        expect(r).toMatch(/^batch/);
        rejections.add(kind(r));
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => check(Buffer.from(b))), { numRuns: RUNS });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => check(Buffer.concat([Buffer.from('MBB1'), Buffer.from(b)]))),
      { numRuns: RUNS },
    );
    // Real batches from the codec, then flipped, cut or extended.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 40 }), fc.boolean(), datDamage, (first, n, ecg, how) => check(damage(realBatch(first, n, ecg), how))),
      { numRuns: RUNS },
    );
    // Well-compressed headers with hostile structure.
    fc.assert(
      fc.property(
        fc.record({ v: fc.oneof(fc.constant(1), fc.constant(2), fc.constant('1'), fc.constant(null)), device: fc.oneof(fc.constant('bike-f'), fc.integer()), batch: fc.string(), sent: fc.integer(), boot: fc.option(fc.string()), records: fc.oneof(fc.array(fc.oneof(recordish, fc.jsonValue({ maxDepth: 1 })), { maxLength: 5 }), fc.jsonValue({ maxDepth: 1 })), evicted: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: ['v', 'device', 'records'] }),
        fc.uint8Array({ maxLength: 64 }),
        (h, blobs) => check(craftedBatch(h, Buffer.from(blobs))),
      ),
      { numRuns: RUNS },
    );
    // Huge counts and sizes, each once.
    const huge = [
      Buffer.concat([Buffer.from('MBB1'), Buffer.from([0xff, 0xff, 0xff, 0xff])]),
      craftedBatch({ v: 1, device: 'bike-f', batch: 'x', sent: 0, records: [{ seq: 1, type: 'ecg', prio: 'raw', boot: 'b', mono: 0, wall: 0, sync: true, ecg: [0, 2 ** 53] }] }),
      // A deflate bomb: 64 MiB of spaces in a few kB.
      (() => {
        const z = deflateRawSync(Buffer.concat([Buffer.from('{"v":1,"device":"bike-f","records":[],"pad":"'), Buffer.alloc(64 << 20, 0x20), Buffer.from('"}')]), { dictionary: BATCH_DICTIONARY, level: 9 });
        const len = Buffer.alloc(4);
        len.writeUInt32BE(z.length);
        return Buffer.concat([Buffer.from('MBB1'), len, z]);
      })(),
      craftedBatch({ v: 1, device: 'bike-f', batch: 'x', sent: 0, records: Array.from({ length: 200_000 }, (_, i) => ({ seq: i + 1, type: 't', prio: 'status', boot: 'b', mono: 0, wall: 0, sync: false })) }),
    ];
    for (const h of huge) check(h);
    expect(rejections.size).toBeGreaterThan(5);
    recordFaultResult({
      group: 'fuzz',
      fault: 'MQTT batch payloads at the receiver (random, mutated, crafted, bombs)',
      behaviour: `decode gave a whole batch or rejected it with the reason; ${rejections.size} distinct rejections, no other exception`,
      expected: null,
      received: null,
      lost: null,
      duplicates: null,
      figures: { runs, distinct_rejections: rejections.size },
    });
  }, 180_000);

  it('on a real broker: garbage on a data topic beside a real uplink; the receiver counts the bad batches, keeps every good record and takes nothing from a bad one', async () => {
    const broker = await startAedes();
    const work = mkdtempSync(join(dir, 'e2e-'));
    const rx = await Receiver.start({ link: { url: broker.url, mqttVersion: 4 } });
    const got: ReceivedRecord[] = [];
    rx.on('record', (r) => got.push(r));
    const store = Outbox.open(join(work, 'out.db'), { deviceId: 'bike-f' });
    const uplink = new Uplink(store, { deviceId: 'bike-f', links: [{ name: 'lo', url: broker.url, mqttVersion: 4 }], batchMaxAgeMs: { safety: 0, decision: 20, features: 20, status: 20, raw: 20 } });
    const garbage = mqtt.connect(broker.url, { protocolVersion: 4, clientId: 'garbage' });
    try {
      await new Promise<void>((r, j) => garbage.once('connect', () => r()).once('error', j));
      uplink.start();
      // Bad payloads: random bytes, cut real batches, a real batch for another device, a half-good
      // batch (good records first, then one whose blob points outside the blob section).
      const bad: Buffer[] = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 300 }), 20).map((b) => Buffer.from(b));
      for (let i = 0; i < 10; i++) bad.push(realBatch(90_000 + i * 10, 10, true).subarray(0, 20 + i * 7));
      bad.push(encodeBatch('bike-x', 'x', [stored(95_000)], []));
      bad.push(
        craftedBatch({
          v: 1,
          device: 'bike-f',
          batch: 'half',
          sent: 0,
          boot: 'boot-1',
          records: [
            { seq: 99_001, type: 'features', prio: 'features', mono: 0, wall: 0, sync: true, data: {} },
            { seq: 99_002, type: 'ecg', prio: 'raw', mono: 0, wall: 0, sync: true, ecg: [0, 999] },
          ],
        }),
      );
      let produced = 0;
      for (let round = 0; round < 20; round++) {
        store.append(Array.from({ length: 10 }, (_, i) => ({ type: 'features', priority: 'features' as const, payload: { round, i } })));
        produced += 10;
        uplink.notify();
        for (const b of bad.slice(round * 2, round * 2 + 2)) await garbage.publishAsync(dataTopic('bike-f', 'features'), b, { qos: 1 });
      }
      for (const b of bad.slice(40)) await garbage.publishAsync(dataTopic('bike-f', 'features'), b, { qos: 1 });
      await waitFor('every good record at the receiver', () => (rx.stats().devices['bike-f']?.received ?? 0) >= produced, 60_000);
      await waitFor('every bad batch counted', () => rx.stats().badMessages >= bad.length, 30_000);
      const seqs = got.filter((r) => r.device === 'bike-f').map((r) => r.seq);
      expect(new Set(seqs).size).toBe(produced);
      expect(Math.max(...seqs), 'a record from a rejected batch was taken').toBeLessThanOrEqual(produced);
      expect(rx.stats().devices['bike-f']?.lost).toBe(0);
      expect(rx.stats().badMessages).toBe(bad.length);
      expect(rx.alive).toBe(true);
      expect(rx.stats().lastError).toMatch(/batch|device/);
      recordFaultResult({
        group: 'fuzz',
        fault: 'garbage batches on a data topic (aedes) beside a real uplink',
        behaviour: `the receiver counted ${bad.length} bad batches, kept running, kept every good record and took none from a rejected batch`,
        expected: produced,
        expectedFrom: '20 rounds of 10 features records appended by the test to the real store',
        received: new Set(seqs).size,
        lost: produced - new Set(seqs).size,
        duplicates: rx.stats().devices['bike-f']?.duplicates ?? 0,
        figures: { runs: bad.length, distinct_rejections: new Set(bad.map((b) => outcome(() => decodeBatch(b), 'decodeBatch')).map((m) => (m === 'ok' ? 'device does not match the topic' : kind(m)))).size },
      });
    } finally {
      await garbage.endAsync();
      await uplink.stop(1000);
      store.close();
      await rx.close();
      await broker.close();
    }
  }, 120_000);
});

