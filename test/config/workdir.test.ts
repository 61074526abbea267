/** The technician's commands find the daemon's files from any directory. */
import { describe, expect, it } from 'vitest';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../../src/config/schema.js';
import { UNIT_WORKDIR, daemonWorkdir } from '../../src/config/workdir.js';
import { configInForce } from '../../src/config/in-force.js';
import { tempDir } from '../daemon/helpers.js';

describe("the daemon's working directory, as a command sees it", () => {
  const installed = (p: string) => p === DEFAULT_CONFIG_PATH || p === UNIT_WORKDIR;
  it('is /var/lib/motobio on an installed unit (the systemd unit runs there on /etc/motobio/config.yaml), from any directory', () => {
    expect(daemonWorkdir(undefined, { env: {}, cwd: '/', exists: installed })).toBe(UNIT_WORKDIR);
    expect(daemonWorkdir(DEFAULT_CONFIG_PATH, { env: {}, cwd: '/tmp', exists: installed })).toBe(UNIT_WORKDIR);
  });
  it('is the current directory for another file or a checkout, and MOTOBIO_WORKDIR when set', () => {
    expect(daemonWorkdir('/srv/other.yaml', { env: {}, cwd: '/tmp', exists: installed })).toBe('/tmp');
    expect(daemonWorkdir(undefined, { env: {}, cwd: '/home/dev/motobio', exists: () => false })).toBe('/home/dev/motobio');
    expect(daemonWorkdir(undefined, { env: { MOTOBIO_WORKDIR: '/data/unit' }, cwd: '/', exists: installed })).toBe('/data/unit');
  });
  it('configInForce resolves the store and calibration folder there, and takes a pushed configuration in force', () => {
    const d = tempDir('motobio-inforce-');
    const file = join(d.path, 'config.yaml');
    writeFileSync(file, 'store:\n  path: ./var/motobio.db\nupdate:\n  dir: ./var/updates\n');
    const base = configInForce({ file, env: { MOTOBIO_WORKDIR: d.path } });
    expect(base.config.store.path).toBe(join(d.path, 'var', 'motobio.db'));
    expect(base.config.calibration_dir).toBe(join(d.path, 'calibration'));
    expect(base.pushed).toBeNull();
    // A pushed configuration v3 in force (src/update): its settings, the technician's device and update sections.
    mkdirSync(join(d.path, 'var', 'updates', 'config', 'v3'), { recursive: true });
    writeFileSync(join(d.path, 'var', 'updates', 'config', 'v3', 'config.yaml'), 'store:\n  path: /srv/pushed.db\n');
    symlinkSync('v3', join(d.path, 'var', 'updates', 'config', 'current'));
    const pushed = configInForce({ file, env: { MOTOBIO_WORKDIR: d.path } });
    expect(pushed.pushed).toBe(3);
    expect(pushed.config.store.path).toBe('/srv/pushed.db');
    expect(pushed.config.update.dir).toBe(join(d.path, 'var', 'updates'));
    d.cleanup();
  });
});
