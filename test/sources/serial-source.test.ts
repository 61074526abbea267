/**
 * SerialSource against real pseudo-terminals (socat): a test writer plays the sensor, sending
 * a real record excerpt in each protocol, with garbage, split writes, bursts, stalls and
 * unplug/replug cycles.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialSource } from '../../src/sources/serial/serial-source.js';
import type { SerialTransport } from '../../src/sources/serial/transport.js';
import type { SampleChunk } from '../../src/sources/types.js';
import { PtyPair, PtyWriter } from '../helpers/pty.js';
import { sourceContract } from './contract.js';
import { encode, feed, loadRecording, QTDB_302, TEST_ADC, type Protocol } from './serial-feed.js';
import { waitFor } from './wait.js';

/** The port flushes its input when it opens: write only once the source holds it. */
async function connected(source: SerialSource): Promise<void> {
  await waitFor(() => source.connectionCount >= 1, 30_000, 'the port to open');
}

const FAST_BACKOFF = { initialMs: 20, maxMs: 200 };

function contractFor(protocol: Protocol): void {
  sourceContract(`serial over a pty (${protocol})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'motobio-serial-'));
    const pair = new PtyPair(dir);
    await pair.plug();
    const rec = loadRecording(QTDB_302);
    const source = new SerialSource({ path: pair.devicePath, fs: rec.fs, adc: TEST_ADC, backoff: FAST_BACKOFF });
    const writer = new PtyWriter(pair.writerPath);
    const ac = new AbortController();
    let feeding: Promise<number> | undefined;
    return {
      source,
      async feed() {
        await writer.open();
        feeding = feed(writer, rec.counts, { protocol, fs: rec.fs, speed: 4, signal: ac.signal });
      },
      async cleanup() {
        ac.abort();
        await feeding;
        await writer.close();
        await source.stop();
        await pair.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
contractFor('binary');
contractFor('text');

/** Collects chunks into one timeline: index -> mV (NaN where nothing arrived). */
class Collector {
  readonly chunks: SampleChunk[] = [];
  received = 0;
  attach(source: SerialSource): void {
    source.on('samples', (c) => {
      this.chunks.push(c);
      this.received += c.mv.length;
    });
  }
  timeline(length: number): Float64Array {
    const out = new Float64Array(length).fill(NaN);
    for (const c of this.chunks) for (let i = 0; i < c.mv.length && c.start + i < length; i++) out[c.start + i] = c.mv[i];
    return out;
  }
}

describe('SerialSource over a real pty', () => {
  let dir: string;
  let pair: PtyPair;
  let writer: PtyWriter;
  let source: SerialSource | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'motobio-serial-'));
    pair = new PtyPair(dir);
    await pair.plug();
    writer = new PtyWriter(pair.writerPath);
    await writer.open();
  });

  afterEach(async () => {
    await writer.close();
    await source?.stop();
    source = undefined;
    await pair.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['binary', 'text', 'text-millis'] as const)(
    'reconstructs a real record exactly through garbage, split writes, a burst and a stall (%s)',
    async (protocol) => {
      const rec = loadRecording(QTDB_302);
      const n = rec.fs * 20;
      source = new SerialSource({ path: pair.devicePath, fs: rec.fs, adc: TEST_ADC, backoff: FAST_BACKOFF, stallMs: 500 });
      const got = new Collector();
      got.attach(source);
      const states: string[] = [];
      source.on('status', (s) => states.push(s.state));
      await source.start();
    await connected(source);
      const part = (a: number, b: number): Buffer => encode(rec.counts, a, b, protocol, rec.fs);
      // Line noise that ends in a newline, so text readers lose no reading to it.
      const garbage = Buffer.from([0x00, 0xff, 0xa5, 0x5a, 0x01, 0x00, 0x13, 0x37, 0x10, 0x33, 0x2c, 0x21, 0x0a]);
      await writer.write(garbage);
      await feed(writer, rec.counts, { protocol, fs: rec.fs, speed: 8, from: 0, to: n / 4 });
      // A frame/line split across three writes with pauses between them.
      const split = part(n / 4, n / 4 + 8);
      await writer.write(split.subarray(0, 3));
      await new Promise((r) => setTimeout(r, 50));
      await writer.write(split.subarray(3, 7));
      await new Promise((r) => setTimeout(r, 50));
      await writer.write(split.subarray(7));
      await writer.write(garbage);
      // A burst: several seconds at once, as an HC-05 flushes its buffer after a radio fade.
      await writer.write(part(n / 4 + 8, n / 2));
      await waitFor(() => got.received >= n / 2, 30_000, 'the burst');
      // A stall: the source says so, then recovers when data flows again.
      await waitFor(() => states.includes('stalled'), 30_000, 'stalled state');
      await writer.write(garbage);
      await feed(writer, rec.counts, { protocol, fs: rec.fs, speed: 8, from: n / 2, to: n });
      await waitFor(() => got.received >= n, 30_000, 'all samples');
      expect(states.lastIndexOf('streaming')).toBeGreaterThan(states.indexOf('stalled'));

      const line = got.timeline(n);
      let mismatches = 0;
      for (let i = 0; i < n; i++) if (Math.abs(line[i] - rec.expectedMv[i]) > 1e-9) mismatches++;
      expect(mismatches).toBe(0);
      const st = source.status();
      expect(st.framesBad).toBeGreaterThan(0);
      expect(st.gaps).toBe(0);
      expect(source.bytesDropped).toBeGreaterThan(0);
      expect(source.detectedProtocol).toBe(protocol === 'binary' ? 'binary' : 'text');
    },
  );

  it('counts lost samples from sequence numbers and keeps the timeline', async () => {
    const rec = loadRecording(QTDB_302);
    source = new SerialSource({ path: pair.devicePath, fs: rec.fs, adc: TEST_ADC, protocol: 'binary' });
    const got = new Collector();
    got.attach(source);
    await source.start();
    await connected(source);
    // Frames 0..999 then 1200..1999: 200 samples lost on the radio.
    await writer.write(encode(rec.counts, 0, 1000, 'binary', rec.fs));
    await writer.write(encode(rec.counts, 1200, 2000, 'binary', rec.fs));
    await waitFor(() => got.received >= 1800, 30_000, 'samples');
    const line = got.timeline(2000);
    expect(Number.isNaN(line[1100])).toBe(true);
    expect(line[1500]).toBeCloseTo(rec.expectedMv[1500], 9);
    expect(source.status().gaps).toBe(1);
  });

  it('reports lead-off from "!" lines as NaN samples and in its status', async () => {
    source = new SerialSource({ path: pair.devicePath, fs: 250, adc: TEST_ADC, protocol: 'text' });
    const got = new Collector();
    got.attach(source);
    await source.start();
    await connected(source);
    await writer.write('2048\n'.repeat(20) + '!\n'.repeat(20));
    await waitFor(() => got.received >= 40, 30_000, 'samples');
    expect(source.status().leadOff).toBe(true);
    expect(got.timeline(40).slice(20).every(Number.isNaN)).toBe(true);
    await writer.write('2048\n');
    await waitFor(() => !source!.status().leadOff, 30_000, 'lead-off cleared');
  });

  it('reconnects after unplug and replug, and says why it is waiting', async () => {
    const rec = loadRecording(QTDB_302);
    source = new SerialSource({ path: pair.devicePath, fs: rec.fs, adc: TEST_ADC, backoff: FAST_BACKOFF });
    const got = new Collector();
    got.attach(source);
    await source.start();
    await connected(source);
    await writer.write(encode(rec.counts, 0, 500, 'binary', rec.fs));
    await waitFor(() => got.received >= 500, 30_000, 'first samples');
    await writer.close();
    await pair.unplug();
    await waitFor(() => source!.status().state === 'reconnecting', 30_000, 'reconnecting');
    await waitFor(() => /not there|closed/.test(source!.status().lastError ?? ''), 30_000, 'a reason');
    await pair.plug();
    await writer.open();
    await waitFor(() => source!.connectionCount >= 2, 30_000, 'reopen');
    // Stay unplugged for a while as far as data goes: the sensor kept sampling meanwhile.
    await new Promise((r) => setTimeout(r, 1_000));
    await writer.write(encode(rec.counts, 500, 550, 'binary', rec.fs));
    await waitFor(() => got.received >= 550, 30_000, 'samples after replug');
    expect(source.status().state).toBe('streaming');
    // The time unplugged is a gap on the timeline, not spliced out of it.
    expect(source.status().gaps).toBe(1);
    const after = got.chunks.find((c) => c.start >= 500)!;
    expect(after.start).toBeGreaterThan(500 + rec.fs / 2);
  });

  it('still reads after 100 unplug/replug cycles, holding no extra handles or listeners', async () => {
    const rec = loadRecording(QTDB_302);
    source = new SerialSource({ path: pair.devicePath, fs: rec.fs, adc: TEST_ADC, backoff: FAST_BACKOFF });
    const got = new Collector();
    got.attach(source);
    await source.start();
    await connected(source);
    const listeners = (): number => source!.eventNames().reduce((n, e) => n + source!.listenerCount(e), 0);
    const baseListeners = listeners();
    // Handles (fds, ttys, sockets), not timers: backoff and wait timers come and go, and
    // counting them made a snapshot depend on timing rather than on leaks. A handle leaked per
    // cycle would add ~90 between cycle 9 and 99; a reopen caught in flight adds a few.
    const handles = (): number => process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate').length;
    let baseResources = 0;
    for (let cycle = 0; cycle < 100; cycle++) {
      if (!pair.running) {
        await pair.plug();
        await writer.open();
      }
      const before = got.received;
      const from = (cycle * 50) % (rec.counts.length - 50);
      await waitFor(() => source!.connectionCount > cycle, 30_000, `reconnect ${cycle}`);
      await writer.write(encode(rec.counts, from, from + 50, 'binary', rec.fs));
      await waitFor(() => got.received >= before + 50, 30_000, `data in cycle ${cycle}`);
      await writer.close();
      await pair.unplug();
      await waitFor(() => source!.status().state === 'reconnecting', 30_000, `reconnecting in cycle ${cycle}`);
      if (cycle === 9) baseResources = handles();
    }
    expect(listeners()).toBe(baseListeners);
    expect(handles(), JSON.stringify(process.getActiveResourcesInfo())).toBeLessThanOrEqual(baseResources + 5);
    await pair.plug();
    await writer.open();
    const before = got.received;
    await waitFor(() => source!.connectionCount > 100, 30_000, 'last reconnect');
    await writer.write(encode(rec.counts, 0, 500, 'binary', rec.fs));
    await waitFor(() => got.received >= before + 500, 30_000, 'data after 100 cycles');
  }, 300_000);

  it('explains a port that is not there', async () => {
    source = new SerialSource({ path: join(dir, 'ttyNOPE'), fs: 250, backoff: FAST_BACKOFF });
    await source.start();
    await waitFor(() => source!.status().lastError !== undefined, 30_000, 'an error');
    expect(source.status().state).toBe('reconnecting');
    expect(source.status().lastError).toMatch(/ttyNOPE.*not there/);
  });
});

describe('SerialSource with an injected transport', () => {
  it('reopens a link that stays silent (an rfcomm link can die without closing)', async () => {
    const opened: SerialTransport[] = [];
    const open = (): Promise<SerialTransport> => {
      const t = Object.assign(new EventEmitter(), { destroy: () => undefined });
      opened.push(t);
      return Promise.resolve(t);
    };
    const warnings: string[] = [];
    const source = new SerialSource({ path: '/dev/rfcomm9', fs: 250, open, stallMs: 100, stallReopenMs: 400, backoff: FAST_BACKOFF });
    source.on('warning', (w) => warnings.push(w));
    try {
      await source.start();
      await waitFor(() => opened.length >= 3, 30_000, 'reopens');
      expect(warnings.some((w) => /rfcomm9: no data for [\d.]+ s; reopening/.test(w))).toBe(true);
    } finally {
      await source.stop();
    }
  });
});
