/** The replay guard survives restarts and never goes back; a damaged record refuses, never resets. */
import { spawnSync } from 'node:child_process';
import { transpiledRoot } from '../helpers/transpile.js';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VersionStore } from '../../src/update/version-store.js';
import { MotobioError } from '../../src/util/errors.js';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'motobio-versions-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('VersionStore', () => {
  it('starts at 0, only moves up, and is read back by a new instance (mode 0600, dir 0700)', () => {
    const dir = join(temp(), 'updates');
    const a = new VersionStore(dir);
    expect([a.get('model'), a.get('config')]).toEqual([0, 0]);
    a.set('model', 5);
    a.set('model', 3);
    a.set('config', 2);
    const b = new VersionStore(dir);
    expect([b.get('model'), b.get('config')]).toEqual([5, 2]);
    expect(statSync(b.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('keeps what was set when the writing process is killed with SIGKILL right after', () => {
    const dir = join(temp(), 'updates');
    // A separate process sets the version and kills itself before any orderly exit.
    const mod = join(transpiledRoot(), 'src', 'update', 'version-store.js');
    const src = `import { VersionStore } from ${JSON.stringify(mod)};
new VersionStore(${JSON.stringify(dir)}).set('config', 42); process.kill(process.pid, 'SIGKILL');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { encoding: 'utf8' });
    expect(r.signal).toBe('SIGKILL');
    expect(new VersionStore(dir).get('config')).toBe(42);
  });

  it('a damaged file is an error (updates stay refused), never a silent reset to 0', () => {
    const dir = temp();
    writeFileSync(join(dir, 'versions.json'), '{"model": 3, "con');
    expect(() => new VersionStore(dir)).toThrow(MotobioError);
    expect(() => new VersionStore(dir)).toThrow(/damaged/);
  });
});
