/**
 * Acceptance: a real record replayed through a pty at its own rate for 5 minutes, in both
 * protocols at once; the beats the signal chain finds live match those it finds from the file
 * (>= 99.9 % within 150 ms, the EC57 matching window).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EcgChain } from '../../src/signal/chain.js';
import { SerialSource } from '../../src/sources/serial/serial-source.js';
import { ChunkAligner } from '../../src/sources/timeline.js';
import { PtyPair, PtyWriter } from '../helpers/pty.js';
import { feed, loadRecording, MITDB_118, TEST_ADC, type Protocol } from './serial-feed.js';
import { waitFor } from './wait.js';

const MATCH_S = 0.15;

function beatsOf(mv: Float64Array, fs: number): number[] {
  const chain = new EcgChain({ fs });
  const out: number[] = [];
  // Feed the file in one-second blocks; the chain is chunk-invariant, so any blocking will do.
  for (let i = 0; i < mv.length; i += fs) for (const b of chain.push(mv.subarray(i, i + fs)).beats) out.push(b.sample);
  return out;
}

/** Share of reference beats with a live beat within the window (one-to-one). */
function matchShare(ref: number[], live: number[], window: number): number {
  let j = 0;
  let hit = 0;
  for (const r of ref) {
    while (j < live.length && live[j] < r - window) j++;
    if (j < live.length && Math.abs(live[j] - r) <= window) {
      hit++;
      j++;
    }
  }
  return ref.length === 0 ? 0 : hit / ref.length;
}

async function liveRun(protocol: Protocol, rec: ReturnType<typeof loadRecording>, n: number): Promise<{ beats: number[]; received: number; status: ReturnType<SerialSource['status']> }> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-live-'));
  const pair = new PtyPair(dir);
  const writer = new PtyWriter(pair.writerPath);
  const source = new SerialSource({ path: pair.devicePath, fs: rec.fs, adc: TEST_ADC });
  try {
    await pair.plug();
    const chain = new EcgChain({ fs: rec.fs });
    const aligner = new ChunkAligner();
    const beats: number[] = [];
    let received = 0;
    source.on('samples', (c) => {
      received += c.mv.length;
      for (const b of chain.push(aligner.push(c)).beats) beats.push(b.sample);
    });
    await source.start();
    await waitFor(() => source.connectionCount >= 1, 30_000, 'the port to open');
    await writer.open();
    await feed(writer, rec.counts, { protocol, fs: rec.fs, speed: 1, to: n });
    await waitFor(() => received >= n, 60_000, `all ${n} samples (${protocol})`);
    return { beats, received, status: source.status() };
  } finally {
    await writer.close();
    await source.stop();
    await pair.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('5 minutes of mitdb/118 through a pty at 360 Hz', () => {
  it('finds the same beats live as from the file, in both protocols', async () => {
    const rec = loadRecording(MITDB_118);
    const n = rec.counts.length; // 300 s
    const fromFile = beatsOf(rec.mv, rec.fs);
    expect(fromFile.length).toBeGreaterThan(300);
    const runs = await Promise.all((['binary', 'text-millis'] as const).map((p) => liveRun(p, rec, n)));
    for (const r of runs) {
      expect(r.received).toBe(n);
      expect(r.status.gaps).toBe(0);
      const share = matchShare(fromFile, r.beats, MATCH_S * rec.fs);
      const extra = r.beats.length - Math.round(share * fromFile.length);
      expect(share).toBeGreaterThanOrEqual(0.999);
      expect(extra / fromFile.length).toBeLessThanOrEqual(0.001);
    }
  }, 480_000);
});
