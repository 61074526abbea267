/**
 * The live view's data on a real event stream (node:http server, fetch client) and the real
 * chain on a PhysioNet excerpt (mitdb 208, 360 Hz), fed as the daemon's source feed would:
 * nothing is built or sent while nobody asks for "ecg"; with a viewer the strip is contiguous,
 * at most 125 Hz, its values are the block means of what went in, its beats are exactly the
 * chain's, and the ECG never enters the replay ring that reconnecting apps rely on.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStream, type EcgStripChunk, type StreamEventType, type StreamEvents } from '../../src/cues/event-stream.js';
import { LiveView, STRIP_MAX_HZ } from '../../src/daemon/live-view.js';
import { EcgChain } from '../../src/signal/chain.js';
import { channelOf, readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import { silentLogger } from '../../src/util/log.js';
import { readEvents, type SseEvent } from '../../src/cli/watch/sse-client.js';
import { REPO, waitFor } from '../daemon/helpers.js';

const RECORD = join(REPO, 'test', 'fixtures', 'mitdb-208-2min');

class CountingStream extends EventStream {
  readonly published: StreamEventType[] = [];
  override publish<T extends StreamEventType>(type: T, data: StreamEvents[T]): void {
    this.published.push(type);
    super.publish(type, data);
  }
}

let server: Server | undefined;
let stream: CountingStream | undefined;
afterEach(async () => {
  stream?.close();
  if (server) {
    const s = server;
    await new Promise<void>((r) => {
      s.closeAllConnections();
      s.close(() => r());
    });
  }
  server = undefined;
});

async function serve(): Promise<{ stream: CountingStream; url: string }> {
  const st = (stream = new CountingStream({ log: silentLogger }));
  server = createServer((req, res) => st.handle(req, res));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return { stream: st, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events` };
}

function recording(): { mv: Float64Array; fs: number } {
  const rec = readRecord(RECORD);
  const sig = channelOf(rec, 0);
  return { mv: toPhysical(sig), fs: sig.fs };
}

/** Feeds [from, to) in the daemon's chunk shape; returns the chain's beats. */
function feed(live: LiveView, chain: EcgChain, mv: Float64Array, fs: number, from: number, to: number): number[] {
  const beats: number[] = [];
  const step = Math.round(fs / 8);
  for (let i = from; i < to; i += step) {
    const part = mv.slice(i, Math.min(to, i + step));
    const out = chain.push(part);
    for (const b of out.beats) beats.push(b.sample);
    live.chunk({ kind: 'samples', out, dataTimeS: (i + part.length) / fs, receivedAtMs: 0, mv: part });
  }
  return beats;
}

describe('live view data', () => {
  it('builds and sends nothing while nobody asks for ecg, even with other clients connected', async () => {
    const { stream: st, url } = await serve();
    const { mv, fs } = recording();
    const live = new LiveView({ events: st, fs: () => fs });
    const ac = new AbortController();
    const got: SseEvent[] = [];
    // A phone app asking for everything it knows: ecg is not part of "everything".
    const reading = readEvents(new URL(url), (e) => got.push(e), ac.signal).catch(() => undefined);
    await waitFor('the app to connect', () => st.clients === 1, 5000);
    expect(fs).toBe(360);
    expect(feed(live, new EcgChain({ fs }), mv, fs, 0, 20 * fs).length).toBeGreaterThan(15);
    expect(st.published).toEqual([]);
    expect((live as unknown as { strip: unknown }).strip).toBeUndefined();
    ac.abort();
    await reading;
    expect(got).toEqual([]);
  });

  it('streams a contiguous strip at <= 125 Hz with exactly the chain beats, outside the replay ring', async () => {
    const { stream: st, url } = await serve();
    const { mv, fs } = recording();
    const live = new LiveView({ events: st, fs: () => fs });
    const chain = new EcgChain({ fs });
    // Before anyone watches: the chain runs, the view stays idle.
    feed(live, chain, mv, fs, 0, 10 * fs);
    const ac = new AbortController();
    const got: SseEvent[] = [];
    const reading = readEvents(new URL(`${url}?types=ecg,heart`), (e) => got.push(e), ac.signal).catch(() => undefined);
    await waitFor('the viewer to connect', () => st.clients === 1, 5000);
    st.publish('heart', { monoMs: 1, hrBpm: 70, quality: 1, leadOff: false, rmssdMs: 30 });
    const chainBeats = feed(live, chain, mv, fs, 10 * fs, 40 * fs);
    st.publish('heart', { monoMs: 2, hrBpm: 71, quality: 1, leadOff: false, rmssdMs: 31 });
    await waitFor('the last heart event', () => got.filter((e) => e.type === 'heart').length === 2, 5000);
    ac.abort();
    await reading;

    const chunks = got.filter((e) => e.type === 'ecg').map((e) => e.data as EcgStripChunk);
    expect(chunks.length).toBeGreaterThan(100);
    const factor = Math.ceil(fs / STRIP_MAX_HZ);
    expect(chunks[0].rateHz).toBe(fs / factor);
    expect(chunks[0].rateHz).toBeLessThanOrEqual(STRIP_MAX_HZ);
    expect(chunks[0].start).toBe(10 * fs);
    for (let i = 1; i < chunks.length; i++) expect(chunks[i].start).toBe(chunks[i - 1].start + chunks[i - 1].values.length * factor);
    // Values are block means of the samples that went in (to the 3 decimals sent).
    const c = chunks[7];
    for (let k = 0; k < c.values.length; k++) {
      const s = c.start + k * factor;
      let sum = 0;
      for (let j = 0; j < factor; j++) sum += mv[s + j];
      expect(c.values[k]).toBeCloseTo(sum / factor, 3);
    }
    const sent = chunks.flatMap((ch) => ch.beats);
    // Beats reported after the last full chunk wait for the next one.
    expect(sent).toEqual(chainBeats.slice(0, sent.length));
    expect(chainBeats.length - sent.length).toBeLessThanOrEqual(1);
    const hr = chunks[chunks.length - 1].hrBpm;
    expect(hr).not.toBeNull();
    expect(hr!).toBeGreaterThan(40);
    expect(hr!).toBeLessThan(160);
    // Only the heart events are kept for Last-Event-ID: a reconnecting client is replayed the
    // second heart event (id 2: the ECG took no ids) and no ECG.
    const ac2 = new AbortController();
    const replayed: SseEvent[] = [];
    const again = readEvents(new URL(`${url}?types=ecg,heart&lastEventId=1`), (e) => replayed.push(e), ac2.signal).catch(() => undefined);
    await waitFor('the replay', () => replayed.length >= 1, 5000);
    await new Promise((r) => setTimeout(r, 100));
    ac2.abort();
    await again;
    expect(replayed).toEqual([{ type: 'heart', data: { monoMs: 2, hrBpm: 71, quality: 1, leadOff: false, rmssdMs: 31 } }]);
    await waitFor('the viewers to leave', () => st.clients === 0, 5000);
    // And once the viewer is gone the view is idle again.
    const before = st.published.length;
    feed(live, chain, mv, fs, 40 * fs, 45 * fs);
    expect(st.published.length).toBe(before);
  });
});
