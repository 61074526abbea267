/**
 * The contract every EcgSource passes (as MQTT.js's abstract_store does for stores): register
 * it from a test file with a setup that returns a started-able source whose data will flow.
 */
import { describe, expect, it } from 'vitest';
import type { EcgSource, RrChunk, SampleChunk } from '../../src/sources/types.js';
import { waitFor } from './wait.js';

export interface ContractFixture {
  readonly source: EcgSource;
  /** Called once the source is started, to make data flow (write to the pty, notify, ...). */
  feed?(): Promise<void> | void;
  cleanup(): Promise<void>;
}

/** Largest plausible ECG amplitude at the skin, mV; anything outside is a decoding bug. */
const MAX_ABS_MV = 50;

export function sourceContract(name: string, setup: () => Promise<ContractFixture>): void {
  describe(`EcgSource contract: ${name}`, () => {
    it('starts idle, with an id, a kind and zeroed counters', async () => {
      const f = await setup();
      try {
        const st = f.source.status();
        expect(st.id).toBe(f.source.id);
        expect(st.kind).toBe(f.source.kind);
        expect(st.state).toBe('idle');
        expect(st.framesGood).toBe(0);
        expect(st.framesBad).toBe(0);
        if (f.source.kind === 'raw') expect(f.source.fs).toBeGreaterThan(0);
      } finally {
        await f.cleanup();
      }
    });

    it('streams well-formed data and says so in its status', async () => {
      const f = await setup();
      const samples: SampleChunk[] = [];
      const rr: RrChunk[] = [];
      f.source.on('samples', (c) => samples.push(c));
      f.source.on('rr', (c) => rr.push(c));
      try {
        await f.source.start();
        await f.feed?.();
        await waitFor(() => (f.source.kind === 'raw' ? samples.reduce((n, c) => n + c.mv.length, 0) >= 200 : rr.length >= 3), 30_000, `${name}: data`);
        const st = f.source.status();
        expect(st.state).toBe('streaming');
        expect(st.framesGood).toBeGreaterThan(0);
        expect(st.lastDataAgeMs).toBeGreaterThanOrEqual(0);
        if (f.source.kind === 'raw') {
          let next = samples[0].start;
          for (const c of samples) {
            expect(c.start).toBeGreaterThanOrEqual(next);
            next = c.start + c.mv.length;
            for (const v of c.mv) if (!Number.isNaN(v)) expect(Math.abs(v)).toBeLessThan(MAX_ABS_MV);
          }
        } else {
          for (const c of rr) for (const ms of c.rrMs) expect(ms).toBeGreaterThan(0);
        }
      } finally {
        await f.source.stop();
        await f.cleanup();
      }
    });

    it('stops cleanly, twice, and emits nothing afterwards', async () => {
      const f = await setup();
      let after = 0;
      let stopped = false;
      const count = (): void => {
        if (stopped) after++;
      };
      f.source.on('samples', count);
      f.source.on('rr', count);
      try {
        await f.source.start();
        await f.feed?.();
        await waitFor(() => f.source.status().framesGood > 0, 30_000, `${name}: first frame`);
        await f.source.stop();
        stopped = true;
        await f.source.stop();
        await new Promise((r) => setTimeout(r, 300));
        expect(after).toBe(0);
        expect(['ended', 'idle']).toContain(f.source.status().state);
      } finally {
        await f.cleanup();
      }
    });

    it('stops when the start signal aborts', async () => {
      const f = await setup();
      const ac = new AbortController();
      try {
        await f.source.start(ac.signal);
        await f.feed?.();
        await waitFor(() => f.source.status().framesGood > 0, 30_000, `${name}: first frame`);
        ac.abort();
        await waitFor(() => ['ended', 'idle'].includes(f.source.status().state), 30_000, `${name}: stop on abort`);
      } finally {
        await f.source.stop();
        await f.cleanup();
      }
    });
  });
}
