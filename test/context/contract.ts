/**
 * The contract every RideContextSource passes (as test/sources/contract.ts does for
 * EcgSources): register it from a test file with a setup that returns a source whose data
 * will flow once started.
 */
import { describe, expect, it } from 'vitest';
import type { RideContextSnapshot, RideContextSource } from '../../src/context/types.js';
import { waitFor } from '../sources/wait.js';

export interface RideContractFixture {
  readonly source: RideContextSource;
  /** The grid positions are snapped to, degrees. */
  readonly precisionDeg: number;
  /** Called once the source is started, to make data flow (start gpsfake, ...). */
  feed?(): Promise<void> | void;
  cleanup(): Promise<void>;
}

function onGrid(v: number, p: number): boolean {
  const k = v / p;
  return Math.abs(k - Math.round(k)) < 1e-6;
}

function wellFormed(s: RideContextSnapshot, kind: string, p: number): void {
  expect(s.source).toBe(kind);
  expect(typeof s.riding).toBe('boolean');
  expect(['unknown', 'riding', 'halted', 'stopped']).toContain(s.phase);
  expect(s.riding).toBe(s.phase === 'riding' || s.phase === 'halted');
  expect(Number.isFinite(s.minutesRiding) && s.minutesRiding >= 0).toBe(true);
  expect(typeof s.stale).toBe('boolean');
  if (s.position !== null) {
    expect(s.stale).toBe(false);
    expect(s.position.precisionDeg).toBe(p);
    expect(onGrid(s.position.lat, p) && onGrid(s.position.lon, p)).toBe(true);
  }
  if (s.stale) expect(s.position).toBeNull();
}

export function rideContextContract(name: string, setup: () => Promise<RideContractFixture>): void {
  describe(`RideContextSource contract: ${name}`, () => {
    it('starts idle, with an id, a kind and a well-formed snapshot', async () => {
      const f = await setup();
      try {
        const st = f.source.status();
        expect(st.id).toBe(f.source.id);
        expect(st.kind).toBe(f.source.kind);
        expect(st.state).toBe('idle');
        expect(st.fixes).toBe(0);
        wellFormed(f.source.snapshot(), f.source.kind, f.precisionDeg);
      } finally {
        await f.cleanup();
      }
    });

    it('emits well-formed context once started and says it is streaming', async () => {
      const f = await setup();
      const seen: RideContextSnapshot[] = [];
      f.source.on('context', (s) => seen.push(s));
      try {
        await f.source.start();
        await f.feed?.();
        await waitFor(() => seen.length >= 3 || (f.source.kind === 'assumed' && seen.length >= 1), 30_000, `${name}: context`);
        expect(f.source.status().state).toBe('streaming');
        for (const s of seen) wellFormed(s, f.source.kind, f.precisionDeg);
        wellFormed(f.source.snapshot(), f.source.kind, f.precisionDeg);
      } finally {
        await f.source.stop();
        await f.cleanup();
      }
    });

    it('stops cleanly, twice, and emits nothing afterwards', async () => {
      const f = await setup();
      let seen = 0;
      let after = 0;
      let stopped = false;
      const count = (): void => {
        seen++;
        if (stopped) after++;
      };
      f.source.on('context', count);
      f.source.on('ride', count);
      try {
        await f.source.start();
        await f.feed?.();
        await waitFor(() => seen > 0, 30_000, `${name}: first context`);
        await f.source.stop();
        stopped = true;
        await f.source.stop();
        await new Promise((r) => setTimeout(r, 300));
        expect(after).toBe(0);
        expect(f.source.status().state).toBe('ended');
      } finally {
        await f.cleanup();
      }
    });

    it('stops when the start signal aborts', async () => {
      const f = await setup();
      const ac = new AbortController();
      let seen = 0;
      f.source.on('context', () => seen++);
      try {
        await f.source.start(ac.signal);
        await f.feed?.();
        await waitFor(() => seen > 0, 30_000, `${name}: first context`);
        ac.abort();
        await waitFor(() => f.source.status().state === 'ended', 30_000, `${name}: stop on abort`);
      } finally {
        await f.source.stop();
        await f.cleanup();
      }
    });
  });
}
