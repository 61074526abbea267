import { readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, EXIT_CONFIG, loadConfig, redactConfig, resolvePath } from '../../src/config/load.js';
import { packageRoot } from '../../src/core/package.js';
import { envOverrides, formatPath } from '../../src/config/env.js';
import { configSchema } from '../../src/config/schema.js';
import { isMotobioError } from '../../src/util/errors.js';
import { REPO, buildForTest, spawnNode, tempDir, killAll } from './helpers.js';

let dir: { path: string; cleanup: () => void };
afterEach(() => dir?.cleanup());

function file(text: string, name = 'config.yaml'): string {
  dir = tempDir('motobio-config-');
  const p = join(dir.path, name);
  writeFileSync(p, text);
  return p;
}

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives the embedded defaults with no file: replay, no uplink, store under ./var, health on loopback', () => {
    const { config, file: f } = loadConfig({ env: {}, file: undefined, cwd: '/tmp' });
    expect(f).toBeUndefined();
    expect(config.source.kind).toBe('replay');
    expect(config.source.path.startsWith('pkg:')).toBe(true);
    expect(config.uplink.links).toEqual([]);
    expect(config.store.path).toBe('./var/motobio.db');
    expect(config.health).toEqual({ host: '127.0.0.1', port: 7411 });
    expect(config.log_level).toBe('info');
    expect(config.inference.rules.hr_high_bpm).toBe(185);
  });

  it('reads YAML and fills the defaults around it', () => {
    const p = file('device:\n  id: bike-17\nuplink:\n  links:\n    - name: lte\n      url: mqtts://broker.example:8883\n      tls: { ca: ca.pem, servername: broker.example }\n');
    const { config, file: f } = loadConfig({ file: p, env: {} });
    expect(f).toBe(p);
    expect(config.device.id).toBe('bike-17');
    expect(config.uplink.links[0]).toEqual({ name: 'lte', url: 'mqtts://broker.example:8883', tls: { ca: 'ca.pem', servername: 'broker.example' }, keepalive_s: 30 });
    expect(config.store.disk_budget_mb).toBe(512);
  });

  it('applies MOTOBIO_* environment overrides, array indices included, with typed values', () => {
    const p = file('uplink:\n  links:\n    - name: lte\n      url: mqtts://a.example:8883\n');
    const env = {
      MOTOBIO_UPLINK__LINKS__0__URL: 'mqtts://b.example:8883',
      MOTOBIO_UPLINK__LINKS__1__NAME: 'wifi',
      MOTOBIO_UPLINK__LINKS__1__URL: 'mqtt://10.0.0.2:1883',
      MOTOBIO_STORE__DISK_BUDGET_MB: '256',
      MOTOBIO_LOG_LEVEL: 'debug',
      MOTOBIO_CONFIG: p,
      OTHER: 'x',
    };
    const loaded = loadConfig({ env });
    expect(loaded.file).toBe(p);
    expect(loaded.config.uplink.links.map((l) => [l.name, l.url])).toEqual([
      ['lte', 'mqtts://b.example:8883'],
      ['wifi', 'mqtt://10.0.0.2:1883'],
    ]);
    expect(loaded.config.store.disk_budget_mb).toBe(256);
    expect(loaded.config.log_level).toBe('debug');
    expect(loaded.envVariables).not.toContain('MOTOBIO_CONFIG');
  });

  it('names the setting path of every problem, all at once', () => {
    const p = file(
      [
        'device:',
        '  id: "has space"',
        'source:',
        '  kind: serial',
        '  colour: red',
        'uplink:',
        '  links:',
        '    - name: lte',
        '      url: mqtts://a.example:8883',
        '    - name: wifi',
        '      url: http://b.example',
        '      tls: { cert: c.pem }',
        'health:',
        '  host: 0.0.0.0',
        'log_level: loud',
      ].join('\n'),
    );
    const got = issues(() => loadConfig({ file: p, env: {} }));
    expect(got).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^device\.id: must be 1-64 letters/),
        expect.stringMatching(/^source\.device: is required when source\.kind is serial/),
        expect.stringMatching(/^source\.colour: unknown setting; the settings here are kind, path/),
        expect.stringMatching(/^uplink\.links\[1\]\.url: must be a mqtt:\/\/ or mqtts:\/\/ URL/),
        expect.stringMatching(/^uplink\.links\[1\]\.tls\.key: is required when cert is set/),
        expect.stringMatching(/^health\.host: must be a loopback address/),
        expect.stringMatching(/^log_level: must be one of fatal, error/),
      ]),
    );
    expect(got).toHaveLength(7);
  });

  it('reports cross-field problems: duplicate link names, TLS on mqtt://', () => {
    const p = file(
      'uplink:\n  links:\n    - { name: lte, url: "mqtts://a.example" }\n    - { name: lte, url: "mqtt://b.example", tls: { ca: ca.pem } }\n',
    );
    expect(issues(() => loadConfig({ file: p, env: {} }))).toEqual([
      'uplink.links[1].name: "lte" is already the name of uplink.links[0]; every link needs its own name',
      'uplink.links[1].tls: is set but the url is mqtt:// (plain TCP); use mqtts:// so the TLS settings apply',
    ]);
  });

  it('rejects credentials inside the URL (they would end up in logs)', () => {
    const p = file('uplink:\n  links:\n    - { name: lte, url: "mqtts://user:secret@a.example" }\n');
    expect(issues(() => loadConfig({ file: p, env: {} }))[0]).toMatch(/^uplink\.links\[0\]\.url: .*no user:password in it/);
  });

  it('says which environment variable a bad value came from', () => {
    expect(issues(() => loadConfig({ env: { MOTOBIO_HEALTH__PORT: '99999' } }))).toEqual(['health.port: must be <= 65535 (from environment variable MOTOBIO_HEALTH__PORT)']);
    expect(issues(() => loadConfig({ env: { MOTOBIO_UPLINK__LIKNS: '1' } }))[0]).toMatch(/^uplink\.likns: unknown setting; .* \(from environment variable MOTOBIO_UPLINK__LIKNS\)$/);
    expect(issues(() => loadConfig({ env: { MOTOBIO_NOPE__X: '1' } }))[0]).toMatch(/^nope: unknown setting; .* \(from environment variable MOTOBIO_NOPE__X\)$/);
    // Other tools' variables without a level are not settings.
    expect(loadConfig({ env: { MOTOBIO_BENCH_DATA: '/x', MOTOBIO_RECEIVE_PASSWORD: 'p' } }).envVariables).toEqual([]);
  });

  it('reports YAML syntax errors with their line, and a non-mapping document', () => {
    const p = file('device:\n  id: a\n  id: b\n');
    expect(issues(() => loadConfig({ file: p, env: {} }))[0]).toMatch(/line 3 .*(unique|duplicate)/i);
    const q = file('- just\n- a list\n');
    expect(issues(() => loadConfig({ file: q, env: {} }))[0]).toMatch(/must hold a YAML mapping/);
  });

  it('an explicit file that does not exist is an error, not a silent fall back to defaults', () => {
    try {
      loadConfig({ file: '/nonexistent/motobio.yaml', env: {} });
      expect.unreachable();
    } catch (e) {
      expect(isMotobioError(e, 'CONFIG_INVALID')).toBe(true);
      expect((e as Error).message).toContain('/nonexistent/motobio.yaml (from --config) does not exist');
    }
    expect(() => loadConfig({ env: { MOTOBIO_CONFIG: '/nonexistent/env.yaml' } })).toThrow('/nonexistent/env.yaml (from MOTOBIO_CONFIG) does not exist');
  });

  it('checks referenced files when asked', () => {
    dir = tempDir('motobio-config-');
    mkdirSync(join(dir.path, 'rec'));
    writeFileSync(join(dir.path, 'rec', 'drive05.hea'), 'drive05 1 500 1000\n');
    const p = join(dir.path, 'c.yaml');
    writeFileSync(p, 'source:\n  path: rec\n  record: drive05\nuplink:\n  links:\n    - { name: lte, url: "mqtts://a.example", tls: { ca: missing-ca.pem } }\n');
    expect(issues(() => loadConfig({ file: p, env: {}, cwd: dir.path, checkFiles: true }))).toEqual([`uplink.links[0].tls.ca: file ${join(dir.path, 'missing-ca.pem')} does not exist`]);
  });

  it('redacts passwords for printing', () => {
    const p = file('uplink:\n  links:\n    - { name: lte, url: "mqtts://a.example", username: u, password: hunter2 }\n');
    const { config } = loadConfig({ file: p, env: {} });
    expect(JSON.stringify(redactConfig(config))).not.toContain('hunter2');
    expect(config.uplink.links[0].password).toBe('hunter2');
  });

  it('resolves pkg: paths against the package and others against the working directory', () => {
    expect(resolvePath('pkg:models', '/x')).toBe(join(packageRoot(), 'models'));
    expect(resolvePath('./var/motobio.db', '/srv')).toBe('/srv/var/motobio.db');
    expect(resolvePath('/abs', '/srv')).toBe('/abs');
  });
});

describe('docs/config.md', () => {
  it('documents every setting of the schema', () => {
    const doc = readFileSync(join(REPO, 'docs', 'config.md'), 'utf8');
    const paths: string[] = [];
    const walk = (node: unknown, prefix: string) => {
      const n = node as { properties?: Record<string, unknown>; items?: unknown };
      if (n.properties) for (const [k, v] of Object.entries(n.properties)) walk(v, prefix ? `${prefix}.${k}` : k);
      else if (n.items) walk(n.items, `${prefix}[]`);
      else paths.push(prefix);
    };
    walk(configSchema, '');
    expect(paths.length).toBeGreaterThan(25);
    const missing = paths.filter((p) => !doc.includes(`| \`${p}\` |`));
    expect(missing).toEqual([]);
  });
});

describe('environment variable mapping', () => {
  it('maps double underscores to levels and numbers to indices', () => {
    const o = envOverrides({ MOTOBIO_UPLINK__LINKS__1__TLS__CA: '/etc/motobio/ca.pem', MOTOBIO_SIGNAL__POWERLINE_HZ: '60', MOTOBIO_CONFIG: 'x', MOTOBIO_BENCH_DATA: 'y' });
    expect(o.map((x) => [formatPath(x.path), x.value])).toEqual([
      ['signal.powerline_hz', 60],
      ['uplink.links[1].tls.ca', '/etc/motobio/ca.pem'],
    ]);
  });
});

describe('motobio config check', () => {
  let out: string;
  beforeAll(() => {
    out = buildForTest();
  });
  afterAll(() => {
    killAll();
    rmSync(out, { recursive: true, force: true });
  });

  it(`exits 0 for a valid file, ${EXIT_CONFIG} for an invalid one with path-named errors`, async () => {
    dir = tempDir('motobio-config-');
    writeFileSync(join(dir.path, 'r.hea'), 'r 1 500 1000\n');
    const good = join(dir.path, 'good.yaml');
    writeFileSync(good, `source:\n  path: ${join(dir.path, 'r')}\n`);
    const ok = spawnNode([join(out, 'src/cli/main.js'), 'config', 'check', good]);
    expect((await ok.exited).code).toBe(0);
    expect(ok.stdout.join('\n')).toBe(`configuration OK: ${good}`);

    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(bad, `source:\n  path: ${join(dir.path, 'r')}\nuplink:\n  links:\n    - { name: lte, url: "mqtts://a.example" }\n    - { name: wifi, url: "ws://b.example", password: hunter2 }\n`);
    const no = spawnNode([join(out, 'src/cli/main.js'), 'config', 'check', bad]);
    expect((await no.exited).code).toBe(EXIT_CONFIG);
    expect(no.stderr.join('\n')).toContain('uplink.links[1].url: must be a mqtt:// or mqtts:// URL');
    expect(no.stderr.join('\n')).not.toContain('hunter2');

    const json = spawnNode([join(out, 'src/cli/main.js'), 'config', 'check', '--json', bad]);
    expect((await json.exited).code).toBe(EXIT_CONFIG);
    const parsed = JSON.parse(json.stdout.join('')) as { ok: boolean; issues: { path: string }[] };
    expect(parsed.ok).toBe(false);
    expect(parsed.issues.map((i) => i.path)).toEqual(['uplink.links[1].url']);

    const printed = spawnNode([join(out, 'src/cli/main.js'), 'config', 'check', '--print', good], { env: { MOTOBIO_UPLINK__LINKS__0__NAME: 'lte', MOTOBIO_UPLINK__LINKS__0__URL: 'mqtts://a.example', MOTOBIO_UPLINK__LINKS__0__PASSWORD: 'hunter2' } });
    expect((await printed.exited).code).toBe(0);
    expect(printed.stdout.join('\n')).toContain('password: "[redacted]"');
    expect(printed.stdout.join('\n')).not.toContain('hunter2');

    const usage = spawnNode([join(out, 'src/cli/main.js'), 'config', 'check', '--bogus']);
    expect((await usage.exited).code).toBe(64);
  });
});
