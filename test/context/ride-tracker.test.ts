/** The ride tracker's phases on hand-made fix sequences (the gpsd path is in gpsd.test.ts). */
import { describe, expect, it } from 'vitest';
import { RideTracker, coarsen } from '../../src/context/ride-tracker.js';
import { parseContextSettings, trackerConfig } from '../../src/context/settings.js';
import type { RideEvent } from '../../src/context/types.js';

const T0 = 1_780_000_000_000;

/** Feeds one fix per second with the given speeds; arrival = fix time on a monotonic scale. */
function feed(tr: RideTracker, speeds: readonly (number | null)[], from = 0, mode = 3): RideEvent[] {
  const ev: RideEvent[] = [];
  speeds.forEach((v, i) => ev.push(...tr.update({ timeMs: T0 + (from + i) * 1000, mode, speedMps: v, lat: 40.41234, lon: -3.70123 }, (from + i) * 1000)));
  return ev;
}
const rep = (v: number, n: number) => Array<number>(n).fill(v);

describe('ride tracker', () => {
  it('needs the start dwell to begin a ride and backdates its start; a red light is a halt, not an end', () => {
    const tr = new RideTracker({ startDwellS: 5, haltDwellS: 3, realStopS: 120 });
    expect(tr.snapshot(0).phase).toBe('unknown');
    // A 3-s burst of speed (someone pushing the bike) is not a ride.
    expect(feed(tr, [...rep(0, 5), ...rep(5, 3), ...rep(0, 5)])).toEqual([]);
    const ev = feed(tr, rep(10, 60), 13);
    expect(ev).toEqual([{ type: 'ride_start', atMs: T0 + 13_000, position: { lat: 40.41, lon: -3.7, precisionDeg: 0.01 } }]);
    expect(feed(tr, rep(0.3, 60), 73)).toEqual([]);
    const s = tr.snapshot(132_000);
    expect(s).toMatchObject({ phase: 'halted', riding: true, stale: false });
    // The red light counts as ride time: 60 s moving + 60 s standing.
    expect(s.minutesRiding).toBeCloseTo(119 / 60, 9);
  });

  it('a halt of realStopS ends the ride at the moment it halted, with the minutes up to then', () => {
    const tr = new RideTracker({ startDwellS: 5, haltDwellS: 3, realStopS: 120 });
    feed(tr, rep(10, 100));
    const ev = feed(tr, rep(0, 130), 100);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ type: 'ride_end', atMs: T0 + 100_000 });
    expect(ev[0].type === 'ride_end' && ev[0].minutesRiding).toBeCloseTo(100 / 60, 9);
    expect(tr.snapshot(230_000)).toMatchObject({ phase: 'stopped', riding: false, minutesRiding: 0, rideStartMs: null });
  });

  it('speeds between the two thresholds hold the phase (no flapping around one threshold)', () => {
    const tr = new RideTracker({ startSpeedMps: 3, stopSpeedMps: 1, startDwellS: 2, haltDwellS: 2 });
    feed(tr, rep(5, 10));
    // Crawling in traffic at 1.5-2.5 m/s: still riding.
    feed(tr, [1.5, 2.5, 1.5, 2.5, 1.5, 2.5, 1.5, 2.5], 10);
    expect(tr.snapshot(18_000).phase).toBe('riding');
  });

  it('no fix (mode 1): stale at once, phase and minutes held, nothing guessed; a long gap found standing is a stop', () => {
    const tr = new RideTracker({ startDwellS: 2, realStopS: 60, staleAfterS: 5 });
    feed(tr, rep(10, 30));
    const lost = feed(tr, [null, null], 30, 1);
    expect(lost).toEqual([{ type: 'fix_lost', atMs: T0 + 30_000 }]);
    expect(tr.snapshot(31_000)).toMatchObject({ stale: true, position: null, speedMps: null, phase: 'riding' });
    expect(tr.snapshot(31_000).minutesRiding).toBeCloseTo(29 / 60, 9);
    // Back 100 s later, standing: the ride ended at the last fix before the gap.
    const back = feed(tr, [0], 130);
    expect(back.map((e) => [e.type, e.atMs])).toEqual([['fix_regained', T0 + 130_000], ['ride_end', T0 + 29_000]]);
    expect(back[0]).toMatchObject({ gapS: 101 });
    expect(back[1].type === 'ride_end' && back[1].minutesRiding).toBeCloseTo(29 / 60, 9);
    // Staleness on the monotonic clock: no fix arriving for staleAfterS.
    expect(tr.snapshot(130_000).stale).toBe(false);
    expect(tr.snapshot(136_000).stale).toBe(true);
  });

  it('coarsens positions to the grid and refuses settings that would flap', () => {
    expect(coarsen(40.41678, -3.70379, 0.01)).toEqual({ lat: 40.42, lon: -3.7, precisionDeg: 0.01 });
    expect(coarsen(40.41678, -3.70379, 0.05)).toEqual({ lat: 40.4, lon: -3.7, precisionDeg: 0.05 });
    expect(() => new RideTracker({ startSpeedMps: 1, stopSpeedMps: 2 })).toThrow(/must be below start speed/);
    expect(() => parseContextSettings({ stop_speed_mps: 4 })).toThrow(/context.stop_speed_mps \(4\) must be below context.start_speed_mps/);
    expect(() => parseContextSettings({ source: 'glonass' })).toThrow(/context.source/);
    expect(trackerConfig(parseContextSettings({}))).toMatchObject({ startSpeedMps: 3, realStopS: 300, positionPrecisionDeg: 0.01, recordPosition: true });
  });

  it('record_position false: no position anywhere', () => {
    const tr = new RideTracker({ recordPosition: false, startDwellS: 1 });
    const ev = feed(tr, rep(10, 5));
    expect(ev[0]).toMatchObject({ type: 'ride_start', position: null });
    expect(tr.snapshot(5000).position).toBeNull();
  });
});
