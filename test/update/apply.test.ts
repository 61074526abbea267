/** The on-disk side of applying and rolling back, without a daemon around it. */
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { StageContext } from '../../src/core/context.js';
import { silentLogger } from '../../src/util/log.js';
import { applyConfig } from '../../src/update/apply-config.js';
import { selectStartupConfig, writeTrial } from '../../src/update/config-trial.js';
import { readPendingReports } from '../../src/update/pending-reports.js';
import { UpdateRefused } from '../../src/update/refusal.js';
import { modelRolledBack } from '../../src/update/stage.js';
import { VersionStore } from '../../src/update/version-store.js';
import { tempDir } from '../daemon/helpers.js';
import { snapshot } from './harness.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function unit(): { root: string; cfg: string; updates: string } {
  const d = tempDir('motobio-apply-');
  cleanups.push(d.cleanup);
  const updates = join(d.path, 'updates');
  const cfg = join(d.path, 'config.yaml');
  writeFileSync(cfg, `device: { id: bike-1 }\nupdate: { dir: ${updates}, keys_dir: ${join(d.path, 'keys')} }\nhealth: { port: 0 }\n`);
  return { root: d.path, cfg, updates };
}

describe('model pointer after a failure in use', () => {
  it('goes back to the previous applied version and leaves a report for the outbox', () => {
    const u = unit();
    const models = join(u.updates, 'model');
    for (const v of ['v3', 'v4']) mkdirSync(join(models, v), { recursive: true });
    symlinkSync('v4', join(models, 'current'));
    const ctx = { config: loadConfig({ resolvePaths: true, file: u.cfg, env: {}, cwd: u.root }).config, cwd: u.root, log: silentLogger } as unknown as StageContext;
    modelRolledBack(ctx, 'onnxruntime: output is NaN');
    expect(readlinkSync(join(models, 'current'))).toBe('v3');
    expect(readPendingReports(u.updates)).toMatchObject([{ event: 'rolled_back', kind: 'model', version: 4, reason: 'failed_in_use' }]);
  });
});

describe('configuration', () => {
  it('refuses a pushed configuration that sets device or update, and writes nothing', () => {
    const u = unit();
    const versions = new VersionStore(u.updates);
    const before = snapshot(u.updates);
    const update = { kind: 'config' as const, version: 1, device: '*', created: '2026-11-27T23:00:00Z', keyId: '0'.repeat(32), files: new Map([['config.yaml', Buffer.from('device: { id: bike-2 }\n')]]) };
    expect(() => applyConfig(update, { updateDir: u.updates, versions, env: {}, cwd: u.root })).toThrow(UpdateRefused);
    expect(snapshot(u.updates)).toEqual(before);
    expect(versions.get('config')).toBe(0);
  });

  it('a switch interrupted between trial.json and the rename is dropped and reported at the next start', () => {
    const u = unit();
    mkdirSync(join(u.updates, 'config', 'v2'), { recursive: true });
    writeFileSync(join(u.updates, 'config', 'v2', 'config.yaml'), 'log_level: debug\n');
    writeTrial(u.updates, { version: 2, previous: null, attempts: 0, switchedAt: new Date().toISOString() });
    const s = selectStartupConfig(u.cfg, {}, u.root);
    expect(s.loaded.file).toBe(u.cfg);
    expect(s.trial).toBeUndefined();
    expect(existsSync(join(u.updates, 'config', 'trial.json'))).toBe(false);
    expect(readPendingReports(u.updates)).toMatchObject([{ event: 'failed', kind: 'config', version: 2, reason: 'apply_failed' }]);
  });

  it('a start on trial marks the attempt before running; the next start rolls back; device and update stay the technician\'s', () => {
    const u = unit();
    mkdirSync(join(u.updates, 'config', 'v5'), { recursive: true });
    writeFileSync(join(u.updates, 'config', 'v5', 'config.yaml'), 'log_level: debug\n');
    symlinkSync('v5', join(u.updates, 'config', 'current'));
    writeTrial(u.updates, { version: 5, previous: null, attempts: 0, switchedAt: new Date().toISOString() });
    const first = selectStartupConfig(u.cfg, {}, u.root);
    expect(first.trial?.version).toBe(5);
    expect(first.loaded.config.log_level).toBe('debug');
    expect(first.loaded.config.device.id).toBe('bike-1');
    expect(first.loaded.config.update.dir).toBe(u.updates);
    expect(JSON.parse(readFileSync(join(u.updates, 'config', 'trial.json'), 'utf8'))).toMatchObject({ attempts: 1 });
    // No confirmation (the process died): the next start goes back to the technician's file.
    const second = selectStartupConfig(u.cfg, {}, u.root);
    expect(second.trial).toBeUndefined();
    expect(second.loaded.file).toBe(u.cfg);
    expect(existsSync(join(u.updates, 'config', 'current'))).toBe(false);
    expect(readPendingReports(u.updates)).toMatchObject([{ event: 'rolled_back', kind: 'config', version: 5, reason: 'not_healthy' }]);
  });
});
