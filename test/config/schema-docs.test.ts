/** The schema is the one truth: the JSON Schema file and the docs table are written from it, never by hand. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderConfigDoc, schemaFile, settingsRows } from '../../src/offline/config-docs.js';
import { REPO } from '../daemon/helpers.js';

describe('configuration docs written from the schema', () => {
  it('docs/schemas/config.schema.json is the schema as it is now (npm run config:docs)', () => {
    expect(readFileSync(join(REPO, 'docs', 'schemas', 'config.schema.json'), 'utf8')).toBe(schemaFile());
  });

  it('the settings table of docs/config.md is the schema as it is now, one row per setting', () => {
    const doc = readFileSync(join(REPO, 'docs', 'config.md'), 'utf8');
    expect(renderConfigDoc(doc)).toBe(doc);
    expect(settingsRows().length).toBeGreaterThan(40);
  });
});
