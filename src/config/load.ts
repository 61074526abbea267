/**
 * Loading the daemon's configuration:
 *
 *   YAML file (or nothing) ──▶ environment overrides ──▶ schema (defaults + validation)
 *        ──▶ cross-field checks ──▶ resolved paths ──▶ MotobioConfig
 *
 * Every problem is reported with the setting's path (`uplink.links[1].url: ...`), all of
 * them at once, and names the environment variable when the value came from one.
 * An invalid configuration exits with EXIT_CONFIG (78, EX_CONFIG from sysexits.h), which
 * the systemd unit lists in RestartPreventExitStatus so a typo does not restart-loop.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, join, resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parseDocument } from 'yaml';
import { MotobioError, errorMessage } from '../util/errors.js';
import { packageRoot } from '../core/package.js';
import { applyOverrides, envOverrides, formatPath, type EnvOverride } from './env.js';
import { DEFAULT_CONFIG_PATH, PATH_FORMAT, configSchema, type MotobioConfig } from './schema.js';
import { parseBrokerUrl } from './broker-url.js';

export const EXIT_CONFIG = 78;

export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

export interface LoadedConfig {
  readonly config: MotobioConfig;
  /** The file read, or undefined when running on embedded defaults. */
  readonly file: string | undefined;
  readonly envVariables: readonly string[];
}

export interface LoadOptions {
  /** An explicit file (--config): it must exist. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Where relative paths resolve; the process's working directory by default. */
  cwd?: string;
  /** Also check that referenced files (replay record, TLS material) exist. */
  checkFiles?: boolean;
  /**
   * Return every path setting absolute (`pkg:` against the package, others against `cwd`):
   * what the daemon and the CLI run with. Off, the configuration is as written (config check --print).
   */
  resolvePaths?: boolean;
}

export class ConfigError extends MotobioError {
  readonly issues: readonly ConfigIssue[];
  constructor(source: string, issues: readonly ConfigIssue[]) {
    const lines = issues.map((i) => (i.path ? `  ${i.path}: ${i.message}` : `  ${i.message}`));
    super('CONFIG_INVALID', `invalid configuration in ${source}:\n${lines.join('\n')}\nFix the settings above (docs/config.md lists them) and run "motobio config check".`);
    this.issues = issues;
  }
}

let validator: ValidateFunction | undefined;

function compile(): ValidateFunction {
  if (validator) return validator;
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictRequired: false, verbose: true });
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
  ajv.addFormat('mqtt-url', (s: string) => !('error' in parseBrokerUrl(s)));
  ajv.addFormat(PATH_FORMAT, () => true);
  // Annotations for the docs table (schema.ts), not rules.
  ajv.addKeyword({ keyword: 'x-type' });
  ajv.addKeyword({ keyword: 'x-default' });
  ajv.addFormat('ip', (s: string) => isIP(s) !== 0);
  ajv.addFormat('loopback', (s: string) => s === 'localhost' || s === '::1' || (isIP(s) === 4 && s.startsWith('127.')));
  validator = ajv.compile(configSchema);
  return validator;
}


function issueFromAjv(e: ErrorObject, envPaths: Map<string, string>): ConfigIssue {
  const segs = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  let message: string;
  const custom = (e.parentSchema as { errorMessage?: string } | undefined)?.errorMessage;
  switch (e.keyword) {
    case 'required':
      segs.push((e.params as { missingProperty: string }).missingProperty);
      message = 'is required';
      if (segs[0] === 'source' && segs[1] === 'device') message = 'is required when source.kind is serial (a path like /dev/ttyUSB0) or ble (a name or address)';
      break;
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      segs.push(extra);
      const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      message = `unknown setting; the settings here are ${allowed.join(', ')}`;
      break;
    }
    case 'dependencies': {
      const p = e.params as { missingProperty: string; property: string };
      segs.push(p.missingProperty);
      message = `is required when ${p.property} is set (a client certificate needs its key and the other way round)`;
      break;
    }
    default:
      message = custom ?? e.message ?? 'is invalid';
  }
  const path = formatPath(segs);
  const within = (inner: string, outer: string) => inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);
  // The value came from a variable at this path, above it (a whole entry), or below it (an unknown key).
  const fromEnv = [...envPaths].find(([p]) => within(path, p) || (path !== '' && within(p, path)));
  return { path, message: fromEnv ? `${message} (from environment variable ${fromEnv[1]})` : message };
}

function yamlIssues(text: string, source: string): { value: unknown; issues: ConfigIssue[] } {
  // Warnings (an unknown tag like `!custom`, a %YAML version) are problems here too, reported
  // with the others rather than printed by the yaml library on stderr.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'silent' });
  if (doc.errors.length > 0 || doc.warnings.length > 0) {
    return {
      value: undefined,
      issues: [...doc.errors, ...doc.warnings].map((err) => {
        const line = err.linePos?.[0];
        return { path: '', message: `${source}${line ? ` line ${line.line} column ${line.col}` : ''}: ${err.message.split('\n')[0]} (is this valid YAML?)` };
      }),
    };
  }
  try {
    return { value: doc.toJS() as unknown, issues: [] };
  } catch (e) {
    // yaml refuses alias bombs ("billion laughs") and very deep nesting only here, as plain errors.
    return { value: undefined, issues: [{ path: '', message: `${source}: ${errorMessage(e).split('\n')[0]} (is this valid YAML, without aliases multiplying the document?)` }] };
  }
}

/** Resolves `pkg:` paths against the package and other relative ones against `cwd`. */
export function resolvePath(p: string, cwd: string): string {
  if (p.startsWith('pkg:')) return join(packageRoot(), p.slice(4));
  return isAbsolute(p) ? p : resolve(cwd, p);
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicit = options.file ?? env['MOTOBIO_CONFIG'];
  let file: string | undefined;
  let raw: unknown = {};
  if (explicit !== undefined) {
    file = resolve(cwd, explicit);
    if (!existsSync(file)) {
      const how = options.file !== undefined ? '--config' : 'MOTOBIO_CONFIG';
      throw new MotobioError('CONFIG_INVALID', `configuration file ${file} (from ${how}) does not exist; check the path, or leave out ${how} to run on embedded defaults`);
    }
  } else if (existsSync(DEFAULT_CONFIG_PATH)) {
    file = DEFAULT_CONFIG_PATH;
  }
  const source = file ?? 'embedded defaults';
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const fix = code === 'EISDIR' ? 'it is a directory; name the configuration file in it (e.g. config.yaml)' : 'check its permissions (the motobio user must be able to read it)';
      throw new MotobioError('CONFIG_INVALID', `cannot read configuration file ${file}: ${errorMessage(e)}; ${fix}`);
    }
    const parsed = yamlIssues(text, file);
    if (parsed.issues.length > 0) throw new ConfigError(source, parsed.issues);
    raw = parsed.value ?? {};
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new ConfigError(source, [{ path: '', message: 'the file must hold a YAML mapping of sections (device:, source:, uplink: ...), not a list or a single value' }]);
    }
  }

  const topLevel = new Set(Object.entries(configSchema.properties).flatMap(([k, v]) => ('properties' in v ? [] : [k])));
  const overrides: EnvOverride[] = envOverrides(env, topLevel);
  const envPaths = new Map(overrides.map((o) => [formatPath(o.path), o.variable]));
  applyOverrides(raw as Record<string, unknown>, overrides);

  const validate = compile();
  if (!validate(raw)) {
    const seen = new Set<string>();
    const issues: ConfigIssue[] = [];
    for (const e of validate.errors ?? []) {
      // if/then failures repeat the inner error; the inner one is the useful one. A choice
      // (anyOf of constants) says once what it accepts, not once per alternative.
      if (e.keyword === 'if') continue;
      if (e.keyword === 'const' && (validate.errors ?? []).some((o) => o.keyword === 'anyOf' && o.instancePath === e.instancePath)) continue;
      const issue = issueFromAjv(e, envPaths);
      const key = `${issue.path}: ${issue.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push(issue);
    }
    throw new ConfigError(source, issues);
  }
  const config = raw as MotobioConfig;
  const issues = crossChecks(config);
  if (options.checkFiles) issues.push(...fileChecks(config, cwd));
  if (issues.length > 0) throw new ConfigError(source, issues);
  return { config: options.resolvePaths ? resolveConfigPaths(config, cwd) : config, file, envVariables: overrides.map((o) => o.variable) };
}

/** A copy with every setting the schema marks as a path made absolute; the one place paths are resolved. */
export function resolveConfigPaths(config: MotobioConfig, cwd: string): MotobioConfig {
  const walk = (schema: unknown, value: unknown): unknown => {
    const s = schema as { format?: string; properties?: Record<string, unknown>; items?: unknown };
    // An empty path means "none" where a setting allows it (rider.audio.prompts_dir).
    if (typeof value === 'string' && s.format === PATH_FORMAT) return value === '' ? value : resolvePath(value, cwd);
    if (Array.isArray(value) && s.items) return value.map((v) => walk(s.items, v));
    if (value && typeof value === 'object' && s.properties) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = k in s.properties ? walk(s.properties[k], v) : v;
      return out;
    }
    return value;
  };
  return walk(configSchema, config) as MotobioConfig;
}

function crossChecks(c: MotobioConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!(c.context.stop_speed_mps < c.context.start_speed_mps)) {
    issues.push({ path: 'context.stop_speed_mps', message: `(${c.context.stop_speed_mps}) must be below context.start_speed_mps (${c.context.start_speed_mps}), or riding and halted would flap` });
  }
  if (!(c.cues.outcome.window_end_s > c.cues.outcome.window_start_s)) {
    issues.push({ path: 'cues.outcome.window_end_s', message: `(${c.cues.outcome.window_end_s}) must be after cues.outcome.window_start_s (${c.cues.outcome.window_start_s})` });
  }
  const names = new Map<string, number>();
  c.uplink.links.forEach((l, i) => {
    const first = names.get(l.name);
    if (first !== undefined) issues.push({ path: `uplink.links[${i}].name`, message: `"${l.name}" is already the name of uplink.links[${first}]; every link needs its own name` });
    else names.set(l.name, i);
    if (l.tls && new URL(l.url).protocol === 'mqtt:') {
      issues.push({ path: `uplink.links[${i}].tls`, message: 'is set but the url is mqtt:// (plain TCP); use mqtts:// so the TLS settings apply' });
    }
  });
  return issues;
}

function fileChecks(c: MotobioConfig, cwd: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (c.source.kind === 'replay') {
    const p = resolvePath(c.source.path, cwd);
    const candidates = c.source.record ? [join(p, `${c.source.record}.hea`)] : [p, `${p}.hea`];
    if (!candidates.some((f) => existsSync(f))) issues.push({ path: 'source.path', message: `no WFDB record at ${candidates.join(' or ')}` });
  }
  c.uplink.links.forEach((l, i) => {
    for (const k of ['ca', 'cert', 'key'] as const) {
      const f = l.tls?.[k];
      if (f !== undefined && !existsSync(resolvePath(f, cwd))) issues.push({ path: `uplink.links[${i}].tls.${k}`, message: `file ${resolvePath(f, cwd)} does not exist` });
    }
  });
  return issues;
}

/** A copy safe to print or log: secrets replaced. */
export function redactConfig(c: MotobioConfig): MotobioConfig {
  const copy = structuredClone(c);
  for (const l of copy.uplink.links) if (l.password !== undefined) l.password = '[redacted]';
  return copy;
}
