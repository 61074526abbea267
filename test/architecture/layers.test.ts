/**
 * The layout's rules (docs/architecture.md), read from the source itself: nothing below the
 * daemon imports it, the ground floor imports no stage, and nothing the unit runs imports the
 * fleet server or the workstation tools.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const SRC = join(import.meta.dirname, '..', '..', 'src');
const files = (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => f.split('\\').join('/'));
const importsOf = (f: string): string[] => [...readFileSync(join(SRC, f), 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]);
/** Top folder of src/ an import lands in, from the importing file. */
const target = (f: string, spec: string): string | undefined => (spec.startsWith('.') ? relative(SRC, join(SRC, f, '..', spec)).split('/')[0] : undefined);
const offenders = (from: (top: string) => boolean, to: (top: string) => boolean): string[] =>
  files.filter((f) => from(f.split('/')[0])).flatMap((f) => importsOf(f).filter((s) => { const t = target(f, s); return t !== undefined && to(t); }).map((s) => `${f} -> ${s}`));

describe('the floors of src/', () => {
  it('has files to check', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(importsOf('daemon/daemon.ts').some((s) => s.includes('pipeline'))).toBe(true);
  });

  it('no stage imports daemon/ (only cli/ may)', () => {
    expect(offenders((t) => !['daemon', 'cli', 'offline', 'fleet'].includes(t), (t) => t === 'daemon')).toEqual([]);
  });

  it('core/, config/ and util/ import no stage', () => {
    const ground = ['core', 'config', 'util'];
    const stages = ['sources', 'calibration', 'signal', 'inference', 'cues', 'context', 'rider', 'store', 'uplink', 'update', 'report', 'pairing', 'daemon', 'cli'];
    // config/ composes each stage's leaf settings module into the one schema, and nothing else.
    const composed = (o: string): boolean => o.startsWith('config/') && /[/-]settings\.js$/.test(o);
    expect(offenders((t) => ground.includes(t), (t) => stages.includes(t)).filter((o) => !composed(o))).toEqual([]);
  });

  it('nothing the unit runs imports the fleet server or the workstation tools', () => {
    // package/smoke-sb3.ts is the workstation half of the release smoke test; the package leaves it out (.ci/package/build.sh).
    const found = offenders((t) => !['fleet', 'offline', 'cli'].includes(t), (t) => t === 'fleet' || t === 'offline');
    expect(found.filter((o) => !o.startsWith('package/smoke-sb3.ts '))).toEqual([]);
  });
});
