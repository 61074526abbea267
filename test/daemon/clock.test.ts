import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILD_EPOCH_MS, Clock, type ClockAnchor } from '../../src/core/clock.js';
import { tempDir } from './helpers.js';

let dir: { path: string; cleanup: () => void } | undefined;
afterEach(() => dir?.cleanup());

/** A clock whose wall time the test sets; monotonic time moves 1 µs per reading plus what advance() adds. */
function manual(wallStart: number, paths: { flag?: string; timesyncDir?: string } = {}) {
  let wall = wallStart;
  let mono = 1_000_000_000n;
  const clock = new Clock({
    wallNow: () => wall,
    monoNowNs: () => (mono += 1_000n),
    syncFlagPath: paths.flag ?? '/nonexistent/synchronized',
    timesyncDir: paths.timesyncDir ?? '/nonexistent',
  });
  return {
    clock,
    setWall: (w: number) => {
      wall = w;
    },
    advance: (ms: number) => {
      wall += ms;
      mono += BigInt(ms) * 1_000_000n;
    },
  };
}

describe('Clock', () => {
  it('reads the kernel boot id and stamps records with seq, monotonic and wall time', () => {
    const clock = new Clock();
    expect(clock.bootId).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    expect(clock.bootIdSynthetic).toBe(false);
    const a = clock.stamp();
    const b = clock.stamp();
    expect(b.seq).toBe(a.seq + 1);
    expect(b.monoMs).toBeGreaterThanOrEqual(a.monoMs);
    expect(Math.abs(a.wallMs - Date.now())).toBeLessThan(60_000);
  });

  it('stands in a per-process id when the boot id cannot be read, and says so', () => {
    const clock = new Clock({ bootIdPath: '/nonexistent/boot_id' });
    expect(clock.bootIdSynthetic).toBe(true);
    expect(clock.bootId).toMatch(/^synthetic-[0-9a-f-]{36}$/);
  });

  it('a wall clock before the build date (a unit that booted in 1970) is unsynchronised', () => {
    const { clock } = manual(0);
    expect(clock.stamp().clock).toBe('unsynchronized');
  });

  it('uses timesyncd: synchronised with its flag file, unsynchronised while it runs without one', () => {
    dir = tempDir('motobio-clock-');
    const tsDir = join(dir.path, 'timesync');
    const flag = join(tsDir, 'synchronized');
    expect(manual(Date.now(), { flag, timesyncDir: tsDir }).clock.sync()).toBe('unknown');
    mkdirSync(tsDir);
    expect(manual(Date.now(), { flag, timesyncDir: tsDir }).clock.sync()).toBe('unsynchronized');
    writeFileSync(flag, '');
    expect(manual(Date.now(), { flag, timesyncDir: tsDir }).clock.sync()).toBe('synchronized');
  });

  it('a wall clock jump neither reorders nor loses records, and emits an anchor for repair', () => {
    const m = manual(BUILD_EPOCH_MS + 1000);
    const anchors: ClockAnchor[] = [];
    m.clock.on('anchor', (a) => anchors.push(a));
    m.clock.check();
    const stamps = [m.clock.stamp(), m.clock.stamp()];
    m.setWall(BUILD_EPOCH_MS - 3_600_000); // NTP steps the clock back an hour (and below the build date)
    m.clock.check();
    stamps.push(m.clock.stamp(), m.clock.stamp());
    m.advance(1000);
    stamps.push(m.clock.stamp());

    expect(stamps.map((s) => s.seq)).toEqual([1, 2, 3, 4, 5]);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i].monoMs).toBeGreaterThan(stamps[i - 1].monoMs);
    // Wall time went backwards; seq and monotonic time did not.
    expect(stamps[2].wallMs).toBeLessThan(stamps[1].wallMs);
    expect(anchors).toHaveLength(1);
    expect(anchors[0].reason).toBe('jump');
    expect(anchors[0].jumpMs).toBeLessThan(-3_600_000 + 1000);

    // Repair: a record's true wall time from the anchor of the same boot.
    const a = anchors[0];
    const repaired = a.wallMs - (a.monoMs - stamps[4].monoMs);
    expect(Math.abs(repaired - stamps[4].wallMs)).toBeLessThan(1);
  });

  it('emits an anchor when the clock becomes synchronised', () => {
    const m = manual(0);
    const anchors: ClockAnchor[] = [];
    m.clock.on('anchor', (a) => anchors.push(a));
    m.clock.check();
    m.setWall(Date.now());
    m.clock.check();
    // A 1970 -> now step is a jump; the anchor carries the new, synchronised-looking wall time.
    expect(anchors.map((a) => a.reason)).toEqual(['jump']);
    expect(anchors[0].wallMs).toBeGreaterThan(BUILD_EPOCH_MS);
  });
});
