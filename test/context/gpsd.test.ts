/**
 * The gpsd ride-context source against a real gpsd fed by gpsfake with a committed NMEA log
 * (test/fixtures/ride-synthetic.nmea, synthetic; its segments are in test/helpers/nmea.ts).
 * Times are judged on the fixes' own clock, so the pace gpsfake plays at does not matter.
 */
import { describe, expect, it } from 'vitest';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssumedRideSource } from '../../src/context/assumed.js';
import { GpsdRideSource } from '../../src/context/gpsd.js';
import type { RideContextSnapshot, RideEvent } from '../../src/context/types.js';
import { freePort } from '../helpers/brokers.js';
import { startGpsfake, type Gpsfake } from '../helpers/gpsfake.js';
import { waitFor } from '../sources/wait.js';
import { rideContextContract } from './contract.js';

const LOG = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/ride-synthetic.nmea');
const T0 = Date.UTC(2026, 5, 1, 9, 0, 0);
const at = (s: number) => T0 + s * 1000;
const TRACKER = { startDwellS: 5, haltDwellS: 3, realStopS: 60, staleAfterS: 2, positionPrecisionDeg: 0.01 };

async function gpsdFixture(): Promise<{ source: GpsdRideSource; fake: () => Gpsfake | undefined; feed: () => Promise<void>; cleanup: () => Promise<void> }> {
  const port = await freePort();
  // The source is started first and retries until gpsd listens, so its WATCH is in place
  // as early as can be; the log's standing lead-in absorbs what gpsd drops before that.
  const source = new GpsdRideSource({ port, tracker: TRACKER, backoff: { initialMs: 20, maxMs: 200 } });
  let fake: Gpsfake | undefined;
  return {
    source,
    fake: () => fake,
    feed: async () => {
      // 40 ms a sentence: the 100-s standing lead-in is 4 s of wall time for gpsd to get going.
      fake = await startGpsfake(LOG, { port, cycleS: 0.04 });
    },
    cleanup: async () => {
      await source.stop();
      await fake?.close();
    },
  };
}

rideContextContract('gpsd via gpsfake', async () => {
  const f = await gpsdFixture();
  return { source: f.source, precisionDeg: TRACKER.positionPrecisionDeg, feed: f.feed, cleanup: f.cleanup };
});

rideContextContract('assumed (no GPS)', () => Promise.resolve({ source: new AssumedRideSource(), precisionDeg: 0.01, cleanup: () => Promise.resolve() }));

describe('gpsd ride context on a replayed ride', () => {
  it('tells a red light from a real stop, counts riding minutes, and marks a lost fix and a lost gpsd stale', async () => {
    const f = await gpsdFixture();
    const events: RideEvent[] = [];
    const seen: RideContextSnapshot[] = [];
    let firstFixMs: number | undefined;
    f.source.on('ride', (e) => events.push(e));
    f.source.on('context', (s) => {
      seen.push(s);
      if (firstFixMs === undefined && s.fixTimeMs !== null) firstFixMs = s.fixTimeMs;
    });
    try {
      await f.source.start();
      await f.feed();
      // The last fix of the log is at 329 s.
      await waitFor(() => events.filter((e) => e.type === 'ride_start').length === 2 && seen[seen.length - 1].minutesRiding > 48.5 / 60, 60_000, `the whole log (gpsfake said: ${f.fake()?.output() ?? ''})`);
      // gpsd must have been watching before the ride began (the lead-in is there for that).
      expect(firstFixMs, `first fix at ${new Date(firstFixMs ?? 0).toISOString()}: gpsfake ran past the lead-in before gpsd reported; is the machine overloaded?`).toBeLessThan(at(100));
      const starts = events.filter((e) => e.type === 'ride_start');
      const ends = events.filter((e) => e.type === 'ride_end');
      expect(starts.map((e) => e.atMs)).toEqual([at(100), at(280)]);
      // The 20-s red light at 140 s did not end the ride; the 80-s stop at 200 s did, at the moment the bike halted.
      expect(ends).toHaveLength(1);
      expect(ends[0].atMs).toBe(at(200));
      expect(ends[0].type === 'ride_end' && ends[0].minutesRiding).toBeCloseTo(100 / 60, 6);
      // Halted at the red light (from 143 s), riding still true; stopped after the real stop.
      expect(seen.some((s) => s.phase === 'halted' && s.riding)).toBe(true);
      expect(seen.some((s) => s.phase === 'stopped' && !s.riding && s.minutesRiding === 0)).toBe(true);
      // The 15 s without a fix (300-314 s) was seen as a gap, not filled with guesses.
      const regained = events.find((e) => e.type === 'fix_regained' && e.gapS > 2);
      expect(regained).toMatchObject({ atMs: at(315), gapS: 16 });
      const last = seen[seen.length - 1];
      expect(last.minutesRiding).toBeCloseTo(49 / 60, 6);
      // 40.4329 N 3.7038 W, snapped to the 0.01° grid.
      expect(last.position).toEqual({ lat: 40.43, lon: -3.7, precisionDeg: 0.01 });

      // gpsd goes away: the context goes stale, the last phase is held, no position is given.
      await f.fake()?.close();
      await waitFor(() => f.source.snapshot().stale, 10_000, 'stale after gpsd went away');
      const s = f.source.snapshot();
      expect(s).toMatchObject({ source: 'gps', stale: true, position: null, speedMps: null, phase: 'riding' });
      await waitFor(() => f.source.status().state === 'reconnecting', 10_000, 'reconnecting');
    } finally {
      await f.cleanup();
    }
  });

  it('drops malformed reports at the boundary, counts them and keeps going', async () => {
    const { createServer } = await import('node:net');
    const port = await freePort();
    // Not gpsd: a loopback server speaking gpsd's protocol badly, then well.
    const socks: import('node:net').Socket[] = [];
    const server = createServer((sock) => {
      socks.push(sock);
      sock.write('{"class":"VERSION","release":"3.22"}\n');
      sock.write('not json\n');
      sock.write('{"class":"TPV","mode":7}\n');
      sock.write('{"class":"TPV","mode":3,"time":"2026-06-01T09:00:00.000Z","lat":123,"lon":0,"speed":1}\n');
      sock.write('{"class":"TPV","mode":3,"time":"2026-06-01T09:00:01.000Z","lat":40.4,"lon":-3.7,"speed":0.1}\n');
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    const source = new GpsdRideSource({ port, tracker: TRACKER });
    const warnings: string[] = [];
    source.on('warning', (w) => warnings.push(w));
    try {
      await source.start();
      await waitFor(() => source.status().fixes >= 1, 10_000, 'the good fix');
      expect(source.status().badReports).toBe(3);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/not JSON/);
      expect(source.snapshot()).toMatchObject({ phase: 'stopped', stale: false, position: { lat: 40.4, lon: -3.7 } });
    } finally {
      await source.stop();
      for (const s of socks) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
