/**
 * Fault suite, soak: 24 hours of ECG through the whole daemon at replay speed 1000 (the bundled
 * drive excerpt looping), with the uplink to a real broker and a receiver counting. After the
 * warm-up (the first 15 % of the day) neither what JavaScript retains (V8's old space right after
 * the daemon's own full collections) nor the memory outside V8's heap (RssAnon minus the heap V8 has
 * committed) may grow by 5 MB or more, and open descriptors and active handles may not grow beyond
 * a small slack. VmRSS itself is reported, not asserted: right after a collection it still holds
 * the pages V8 chooses to keep committed, which moved it 6 MB in one CI run with the heap in use
 * falling (see bench/soak.ts). Every record the store
 * issued reaches the receiver, and there is one decision per 5 s of signal, none dropped.
 *
 * The runner is bench/soak.ts (the benchmark prints the same figures).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_S, DECISION_PERIOD_S, soak, type SoakResult } from '../../bench/soak.js';
import { buildForTest } from '../daemon/helpers.js';
import { recordFaultResult } from './report.js';

let out: string;
beforeAll(() => {
  out = buildForTest([], { tolerateTypeErrors: true });
}, 180_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

const FD_SLACK = 2;
const HANDLE_SLACK = 2;

describe('soak', () => {
  it('24 h of signal through the whole daemon: no memory, descriptor or handle leak, nothing lost, every decision made', async () => {
    const r: SoakResult = await soak({ main: join(out, 'src/cli/main.js'), signalS: DAY_S, speed: 1000 });
    const figures = `signal ${r.signalHours.toFixed(2)} h in ${r.wallS.toFixed(0)} s (${r.achievedSpeed.toFixed(0)}x, daemon CPU ${r.cpuSPerSignalHour.toFixed(2)} s per signal hour); retained by JS (${r.rssBasis}) ${r.retainedStartMb.toFixed(1)} -> ${r.retainedEndMb.toFixed(1)} MB; outside V8's heap ${r.nativeStartMb.toFixed(1)} -> ${r.nativeEndMb.toFixed(1)} MB; rss ${r.rssStartMb.toFixed(1)} -> ${r.rssEndMb.toFixed(1)} MB, peak ${r.rssPeakMb.toFixed(1)} MB (heap in use ${r.heapStartMb.toFixed(1)} -> ${r.heapEndMb.toFixed(1)} MB); fds ${r.fdStart} -> ${r.fdEnd}; handles ${r.handlesStart} -> ${r.handlesEnd}; resources ${r.resourcesStart} -> ${r.resourcesEnd}`;
    console.log(`soak: ${figures}; decisions ${r.decisions}, behind ${r.decisionsBehind}; produced ${r.produced}, received ${r.received}, types ${JSON.stringify(r.byType)}`);

    expect(r.exitCode, `the daemon's exit after SIGTERM (stderr: ${r.stderr.slice(-500)})`).toBe(0);
    expect(r.signalHours, 'the soak must cover a whole day of signal').toBeGreaterThanOrEqual(24);

    // Memory, descriptors, handles: measured after warm-up and at the end (medians of several samples;
    // for what JS retains, of samples right after a full collection, so the GC's phase does not decide).
    expect(r.samples.filter((s) => s.signalS >= DAY_S * 0.15).length, 'enough samples after warm-up').toBeGreaterThanOrEqual(10);
    expect(r.retainedGrowthMb, `JavaScript retained ${r.retainedGrowthMb.toFixed(2)} MB more after warm-up (${figures})`).toBeLessThan(5);
    expect(r.nativeGrowthMb, `memory outside V8's heap grew ${r.nativeGrowthMb.toFixed(2)} MB after warm-up (${figures})`).toBeLessThan(5);
    expect(r.fdEnd, `open descriptors ${r.fdStart} -> ${r.fdEnd}`).toBeLessThanOrEqual(r.fdStart + FD_SLACK);
    expect(r.handlesEnd, `active handles ${r.handlesStart} -> ${r.handlesEnd}`).toBeLessThanOrEqual(r.handlesStart + HANDLE_SLACK);
    expect(r.resourcesEnd, `active resources ${r.resourcesStart} -> ${r.resourcesEnd}`).toBeLessThanOrEqual(r.resourcesStart + HANDLE_SLACK);

    // Every decision period decided, none dropped for falling behind.
    expect(r.decisionsBehind, 'decision periods dropped because decisions fell behind the data').toBe(0);
    const features = r.byType['features'] ?? 0;
    const decisions = r.byType['decision'] ?? 0;
    expect(decisions, 'one decision record per features record').toBe(features);
    expect(decisions).toBeGreaterThanOrEqual(r.decisions);
    // The store holds what the daemon decided at the stop, plus the periods after the last poll.
    expect(features).toBeGreaterThanOrEqual(DAY_S / DECISION_PERIOD_S);
    expect(Math.abs(features - Math.round(r.lastFeaturesEndS / DECISION_PERIOD_S)), `features ${features} vs signal time ${r.lastFeaturesEndS} s`).toBeLessThanOrEqual(2);

    // Nothing lost on the way to the server. A looping replay stopped by time has no fixed length,
    // so what it must produce is read off the signal time its features records cover: one features
    // record and one decision per period from the first to the last, and the start anchor; safety
    // and status records come from the drive's own heart rate and quality, and are owed as sent
    // (the receiver's seq gaps show one that went missing).
    const periods = Math.round((r.lastFeaturesEndS - r.firstFeaturesEndS) / DECISION_PERIOD_S) + 1;
    const others = Object.entries(r.byType).filter(([t]) => !['features', 'decision', 'clock'].includes(t));
    const expected = 2 * periods + 1 + others.reduce((a, [, n]) => a + n, 0);
    const expectedFrom = `features every ${DECISION_PERIOD_S} s from ${r.firstFeaturesEndS.toFixed(1)} s to ${r.lastFeaturesEndS.toFixed(1)} s of signal: ${periods} periods = ${periods} features + ${periods} decisions + 1 clock (the start anchor)${others.map(([t, n]) => ` + ${n} ${t} (as sent)`).join('')}`;
    expect(r.byType['features'], expectedFrom).toBe(periods);
    expect(r.byType['clock'], 'the start anchor').toBe(1);
    expect(r.missing, 'seq gaps at the receiver').toBe(0);
    expect(r.received, expectedFrom).toBe(expected);
    expect(r.produced, 'cross-check: seqs the store issued').toBe(expected);

    recordFaultResult({
      group: 'soak',
      fault: '24 h of ECG replayed at high speed through the whole daemon',
      behaviour: `ran ${r.signalHours.toFixed(1)} h of signal in ${r.wallS.toFixed(0)} s (${r.achievedSpeed.toFixed(0)}x); after warm-up JS retained ${r.retainedGrowthMb.toFixed(2)} MB more, memory outside V8's heap grew ${r.nativeGrowthMb.toFixed(2)} MB (RSS ${r.rssGrowthMb.toFixed(2)} MB, peak ${r.rssPeakMb.toFixed(0)} MB); fds ${r.fdStart} -> ${r.fdEnd}; handles ${r.handlesStart} -> ${r.handlesEnd}; ${r.decisions} decisions, none dropped; 0 records lost`,
      expected,
      expectedFrom,
      received: r.received,
      lost: expected - r.received,
      duplicates: r.duplicates,
      figures: {
        retained_growth_mb: Number(r.retainedGrowthMb.toFixed(2)),
        native_growth_mb: Number(r.nativeGrowthMb.toFixed(2)),
        rss_growth_mb: Number(r.rssGrowthMb.toFixed(2)),
        rss_peak_mb: Number(r.rssPeakMb.toFixed(0)),
        fd_start: r.fdStart,
        fd_end: r.fdEnd,
        handles_start: r.handlesStart,
        handles_end: r.handlesEnd,
        signal_hours: Number(r.signalHours.toFixed(2)),
        wall_s: Number(r.wallS.toFixed(0)),
        cpu_s_per_signal_hour: Number(r.cpuSPerSignalHour.toFixed(2)),
        rss_basis: r.rssBasis,
      },
    });
  }, 900_000);
});
