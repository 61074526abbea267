/**
 * Environment overrides: MOTOBIO_<PATH> where the path's levels are joined by "__" and an
 * array index is a number, so
 *
 *   MOTOBIO_UPLINK__LINKS__0__URL=mqtts://a:8883   ->  uplink.links[0].url
 *   MOTOBIO_STORE__DISK_BUDGET_MB=256              ->  store.disk_budget_mb = 256
 *   MOTOBIO_LOG_LEVEL=debug                        ->  log_level
 *
 * Values are read as YAML scalars (numbers and booleans become numbers and booleans); a
 * value that must stay a string can be quoted.
 *
 * Other tools use MOTOBIO_* variables too (MOTOBIO_CONFIG, MOTOBIO_BENCH_DATA ...): a variable
 * is a setting when its path has a level ("__") or it names a top-level setting
 * (MOTOBIO_LOG_LEVEL). Those are validated like the file, so a typo inside a section
 * (MOTOBIO_UPLINK__LIKNS__0__URL) is an error, not silently ignored.
 */
import { parseDocument } from 'yaml';

export const ENV_PREFIX = 'MOTOBIO_';
export const NOT_SETTINGS: ReadonlySet<string> = new Set(['MOTOBIO_CONFIG']);

export interface EnvOverride {
  readonly variable: string;
  /** Path segments: strings for object keys, numbers for array indices. */
  readonly path: readonly (string | number)[];
  readonly value: unknown;
}

export function envOverrides(env: NodeJS.ProcessEnv, topLevelSettings: ReadonlySet<string> = new Set()): EnvOverride[] {
  const out: EnvOverride[] = [];
  for (const [variable, raw] of Object.entries(env)) {
    if (!variable.startsWith(ENV_PREFIX) || NOT_SETTINGS.has(variable) || raw === undefined) continue;
    const rest = variable.slice(ENV_PREFIX.length);
    if (!rest.includes('__') && !topLevelSettings.has(rest.toLowerCase())) continue;
    const path = variable
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((seg) => (/^\d+$/.test(seg) ? Number(seg) : seg.toLowerCase()));
    out.push({ variable, path, value: scalar(raw) });
  }
  // Deterministic order: a lower array index first so "links[1]" never appears before "links[0]".
  return out.sort((a, b) => (a.variable < b.variable ? -1 : a.variable > b.variable ? 1 : 0));
}

function scalar(raw: string): unknown {
  if (raw === '') return '';
  try {
    // A value YAML cannot read cleanly (an unknown tag like `!x`) stays the string it was.
    const doc = parseDocument(raw, { logLevel: 'silent' });
    if (doc.errors.length > 0 || doc.warnings.length > 0) return raw;
    const v: unknown = doc.toJS();
    // Only scalars: a variable cannot smuggle a whole object past the per-path reporting.
    return v === null || typeof v === 'object' ? raw : v;
  } catch {
    return raw;
  }
}

/** Writes each override into `target` (creating objects and array slots as needed). */
export function applyOverrides(target: Record<string, unknown>, overrides: readonly EnvOverride[]): void {
  for (const o of overrides) {
    let node: Record<string | number, unknown> = target;
    for (let i = 0; i < o.path.length - 1; i++) {
      const seg = o.path[i];
      const nextIsIndex = typeof o.path[i + 1] === 'number';
      let child = node[seg];
      if (child === null || typeof child !== 'object') {
        child = nextIsIndex ? [] : {};
        node[seg] = child;
      }
      node = child as Record<string | number, unknown>;
    }
    node[o.path[o.path.length - 1]] = o.value;
  }
}

/** `uplink.links[1].url` from ['uplink', 'links', 1, 'url']. */
export function formatPath(path: readonly (string | number)[]): string {
  let s = '';
  for (const seg of path) {
    // A key that is not a plain name (empty, spaces, dots) is quoted so the path stays readable.
    if (typeof seg === 'number') s += `[${seg}]`;
    else if (!/^[A-Za-z0-9_-]+$/.test(seg)) s += `[${JSON.stringify(seg)}]`;
    else s += s === '' ? seg : `.${seg}`;
  }
  return s;
}
