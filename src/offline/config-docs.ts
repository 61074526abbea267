/**
 * Writes what the configuration schema (src/config/schema.ts) says to the places people read
 * it: docs/schemas/config.schema.json (editors complete and check config.yaml with it) and the
 * settings table of docs/config.md. `npm run config:docs` runs it; test/config/schema-docs.test.ts
 * fails when either file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configJsonSchema } from '../config/schema.js';
import { packageRoot } from '../core/package.js';

const BEGIN = '<!-- settings: generated from src/config/schema.ts by `npm run config:docs`; edit the schema, not this table -->';
const END = '<!-- end of settings -->';

interface Node {
  type?: string;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  format?: string;
  properties?: Record<string, Node>;
  items?: Node;
  required?: string[];
  'x-type'?: string;
  'x-default'?: string;
}

function typeOf(n: Node): string {
  if (n['x-type']) return n['x-type'];
  if (n.enum) return n.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (n.format === 'path') return 'path';
  return n.type ?? 'value';
}

function defaultOf(n: Node, required: boolean): string {
  if (n['x-default']) return n['x-default'];
  if (n.default !== undefined) return `\`${typeof n.default === 'string' ? n.default : JSON.stringify(n.default)}\``;
  return required ? 'required' : '—';
}

/** One row per leaf setting, in schema order; a list's own row comes before its items' rows. */
export function settingsRows(schema: Node = configJsonSchema()): string[] {
  const rows: string[] = [];
  const later: [Node, string][] = [];
  const walk = (n: Node, prefix: string, required: boolean, queue: boolean) => {
    if (n.properties) {
      for (const [k, v] of Object.entries(n.properties)) walk(v, prefix ? `${prefix}.${k}` : k, n.required?.includes(k) ?? false, queue);
      return;
    }
    if (n.items?.properties) {
      rows.push(`| \`${prefix}\` | ${typeOf(n)} | ${defaultOf(n, required)} | ${n.description ?? ''} |`);
      later.push([n.items, `${prefix}[]`]);
      return;
    }
    const path = n.items ? `${prefix}[]` : prefix;
    rows.push(`| \`${path}\` | ${typeOf(n)} | ${defaultOf(n, required)} | ${n.description ?? ''} |`);
  };
  for (const [k, v] of Object.entries(schema.properties ?? {})) {
    walk(v, k, false, false);
    for (const [items, p] of later.splice(0)) walk(items, p, false, false);
  }
  return rows;
}

export function settingsTable(): string {
  return [BEGIN, '| Setting | Type | Default | Meaning |', '| --- | --- | --- | --- |', ...settingsRows(), END].join('\n');
}

export function renderConfigDoc(doc: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`docs/config.md has no generated settings table (${BEGIN} ... ${END})`);
  return doc.slice(0, a) + settingsTable() + doc.slice(b + END.length);
}

export function schemaFile(): string {
  return `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', title: 'motobio configuration (/etc/motobio/config.yaml)', ...configJsonSchema() }, null, 2)}\n`;
}

const invoked = process.argv[1]?.endsWith('config-docs.js');
if (invoked) {
  const root = packageRoot();
  writeFileSync(join(root, 'docs', 'schemas', 'config.schema.json'), schemaFile());
  const docPath = join(root, 'docs', 'config.md');
  writeFileSync(docPath, renderConfigDoc(readFileSync(docPath, 'utf8')));
  process.stdout.write('wrote docs/schemas/config.schema.json and the settings table of docs/config.md\n');
}
