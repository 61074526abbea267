/**
 * BLE straps through noble's own custom-binding entry point, on a scripted simulated controller
 * (the radio is the one simulated boundary): advertise, connect, discover, notify real RR and
 * ECG data, drop the link, come back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { BleSource, type BleSourceOptions } from '../../src/sources/ble/ble-source.js';
import { encodeHeartRateMeasurement, parseHeartRateMeasurement } from '../../src/sources/ble/hrs.js';
import { bluetoothUnavailable, nobleWithBindings, normUuid } from '../../src/sources/ble/noble.js';
import { encodeEcgFrame, parseControlResponse, parseEcgFrame, POLAR_MAX_ABS_UV, startEcgCommand } from '../../src/sources/ble/pmd.js';
import type { RrChunk, SampleChunk } from '../../src/sources/types.js';
import { isMotobioError } from '../../src/util/errors.js';
import { SimController } from '../helpers/ble-sim.js';
import { sourceContract } from './contract.js';
import { RR1024, SimStrap, polarEcgUv, type StrapOptions } from './straps.js';
import { waitFor } from './wait.js';

const FAST = { backoff: { initialMs: 20, maxMs: 200 }, scanTimeoutMs: 5_000, gattTimeoutMs: 5_000 } satisfies Partial<BleSourceOptions>;

function rig(strap: StrapOptions, source: Omit<BleSourceOptions, 'noble'>): { ctl: SimController; sim: SimStrap; source: BleSource; cleanup: () => Promise<void> } {
  const ctl = new SimController();
  const sim = new SimStrap(ctl, strap);
  const src = new BleSource({ ...FAST, ...source, noble: () => nobleWithBindings(ctl) });
  return {
    ctl,
    sim,
    source: src,
    cleanup: async () => {
      await src.stop();
      sim.stop();
      ctl.close();
    },
  };
}

sourceContract('BLE heart-rate strap (simulated radio)', () => {
  const r = rig({}, { match: { name: 'HRM-Pro' }, mode: 'hr' });
  return Promise.resolve({ source: r.source, feed: () => r.sim.run(), cleanup: r.cleanup });
});

sourceContract('Polar H10 raw ECG (simulated radio)', () => {
  const r = rig({ polar: true }, { match: { name: 'Polar H10' }, mode: 'ecg' });
  return Promise.resolve({ source: r.source, feed: () => r.sim.run(), cleanup: r.cleanup });
});

describe('Heart Rate Measurement (0x2A37)', () => {
  it('parses every flag combination the encoder can produce', () => {
    fc.assert(
      fc.property(
        fc.record({
          hrBpm: fc.integer({ min: 0, max: 255 }),
          hr16: fc.boolean(),
          contact: fc.option(fc.boolean(), { nil: undefined }),
          energyKj: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
          rr1024: fc.option(fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 9 }), { nil: undefined }),
        }),
        (m) => {
          const p = parseHeartRateMeasurement(encodeHeartRateMeasurement(m))!;
          expect(p.hrBpm).toBe(m.hrBpm);
          expect(p.contact).toBe(m.contact);
          expect(p.energyKj).toBe(m.energyKj);
          expect(p.rrMs).toEqual((m.rr1024 ?? []).map((r) => (r * 1000) / 1024));
        },
      ),
    );
  });

  it('never throws on arbitrary bytes and yields only sane values', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const p = parseHeartRateMeasurement(bytes);
        if (p === undefined) return;
        expect(p.hrBpm).toBeGreaterThanOrEqual(0);
        expect(p.hrBpm).toBeLessThanOrEqual(0xffff);
        for (const r of p.rrMs) expect(r >= 0 && r < 64_000).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('survives 10 MB of random notifications', () => {
    const buf = randomBytes(10 * 1024 * 1024);
    let parsed = 0;
    let rejected = 0;
    for (let at = 0; at < buf.length; at += 20) {
      const p = parseHeartRateMeasurement(buf.subarray(at, at + 1 + (buf[at] % 20)));
      if (p) {
        parsed++;
        for (const r of p.rrMs) if (!(r >= 0 && r < 64_000)) throw new Error(`bogus RR ${r}`);
      } else rejected++;
    }
    expect(parsed + rejected).toBe(Math.ceil(buf.length / 20));
  });
});

describe('Polar PMD', () => {
  it('builds the documented start command and reads control point answers', () => {
    expect(startEcgCommand().toString('hex')).toBe('02000001820001010e00');
    expect(parseControlResponse(Buffer.from([0xf0, 0x02, 0x00, 0x00, 0x00]))).toMatchObject({ ok: true, message: 'success' });
    expect(parseControlResponse(Buffer.from([0xf0, 0x02, 0x00, 0x08, 0x00]))).toMatchObject({ ok: false, message: 'invalid sample rate' });
  });

  it('round-trips ECG frames: 8-byte timestamp, frame type 0, 3-byte signed µV', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.array(fc.integer({ min: -POLAR_MAX_ABS_UV, max: POLAR_MAX_ABS_UV }), { minLength: 1, maxLength: 80 }), (ts, uv) => {
        const f = parseEcgFrame(encodeEcgFrame(ts, uv))!;
        expect(f.timestampNs).toBe(ts);
        expect([...f.uv]).toEqual(uv);
      }),
    );
  });

  it('never throws on arbitrary bytes, never yields an out-of-range sample (10 MB)', () => {
    const buf = randomBytes(10 * 1024 * 1024);
    let frames = 0;
    for (let at = 0; at < buf.length; at += 229) {
      // Real data frames start with type 0 and frame type 0; force that half the time.
      const chunk = Buffer.from(buf.subarray(at, at + 229));
      if (chunk[0] & 1) {
        chunk[0] = 0;
        if (chunk.length > 9) chunk[9] = 0;
      }
      const f = parseEcgFrame(chunk);
      if (!f) continue;
      frames++;
      for (const v of f.uv) if (Math.abs(v) > POLAR_MAX_ABS_UV) throw new Error(`bogus sample ${v}`);
    }
    expect(frames).toBeGreaterThanOrEqual(0);
  });
});

describe('BleSource on the simulated controller', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('delivers the strap’s real RR intervals, its battery level and RSSI', async () => {
    const r = rig({}, { match: { address: 'C0:FF:EE:00:00:02' }, mode: 'hr' });
    cleanups.push(r.cleanup);
    const rr: RrChunk[] = [];
    r.source.on('rr', (c) => rr.push(c));
    await r.source.start();
    r.sim.run();
    await waitFor(() => rr.reduce((n, c) => n + c.rrMs.length, 0) >= 30, 30_000, 'RR intervals');
    const got = rr.flatMap((c) => c.rrMs);
    expect(got.slice(0, 30)).toEqual(RR1024.slice(0, 30).map((x) => (x * 1000) / 1024));
    expect(rr.every((c) => c.contact === true && (c.sensorHrBpm ?? 0) > 30)).toBe(true);
    const st = r.source.status();
    expect(st.batteryPct).toBe(87);
    expect(st.rssiDbm).toBe(-61);
    expect(st.kind).toBe('rr');
  });

  it('streams Polar H10 ECG after writing the start command, sample for sample', async () => {
    const r = rig({ polar: true }, { match: { service: '180D' }, mode: 'auto' });
    cleanups.push(r.cleanup);
    const chunks: SampleChunk[] = [];
    r.source.on('samples', (c) => chunks.push(c));
    await r.source.start();
    r.sim.run();
    await waitFor(() => chunks.reduce((n, c) => n + c.mv.length, 0) >= 730, 30_000, 'ECG samples');
    expect(r.ctl.calls).toContain('write fb005c8102e7f3871cad8acd2d8df0c8 02000001820001010e00');
    expect(r.source.streaming).toBe('ecg');
    const uv = polarEcgUv();
    const mv = chunks.flatMap((c) => [...c.mv]);
    expect(mv.slice(0, 730)).toEqual([...uv.subarray(0, 730)].map((v) => v / 1000));
    expect(chunks[0].start).toBe(0);
    expect(r.source.status().gaps).toBe(0);
  });

  it('places Polar samples by the sensor timestamps when frames are lost on the radio', async () => {
    const r = rig({ polar: true }, { match: { name: 'Polar H10' }, mode: 'ecg' });
    cleanups.push(r.cleanup);
    const chunks: SampleChunk[] = [];
    r.source.on('samples', (c) => chunks.push(c));
    await r.source.start();
    r.sim.run();
    await waitFor(() => chunks.length >= 3, 30_000, 'first frames');
    r.sim.loseFrames(3);
    await waitFor(() => r.source.status().gaps >= 1 && chunks.length >= 8, 30_000, 'frames after the loss');
    const uv = polarEcgUv();
    // Every chunk sits at its true place on the sensor's timeline, before and after the loss.
    for (const c of chunks) expect(c.mv[0]).toBe(uv[c.start % (uv.length - 73)] / 1000);
    const jumps = chunks.slice(1).filter((c, i) => c.start !== chunks[i].start + chunks[i].mv.length);
    expect(jumps.map((c) => c.start - (chunks[chunks.indexOf(c) - 1].start + 73))).toEqual([3 * 73]);
  });

  it('reconnects when the strap drops the link and comes back', async () => {
    const r = rig({ polar: true }, { match: { name: 'polar h10' }, mode: 'ecg' });
    cleanups.push(r.cleanup);
    let samples = 0;
    const states: string[] = [];
    r.source.on('samples', (c) => (samples += c.mv.length));
    r.source.on('status', (s) => states.push(s.state));
    await r.source.start();
    r.sim.run();
    await waitFor(() => samples > 200, 30_000, 'first samples');
    r.sim.drop(500);
    await waitFor(() => r.source.status().state === 'reconnecting', 30_000, 'reconnecting');
    expect(r.source.status().lastError).toMatch(/link dropped/);
    const before = samples;
    await waitFor(() => r.source.connectionCount >= 2 && samples > before + 200, 30_000, 'samples after the strap came back');
    expect(states.lastIndexOf('streaming')).toBeGreaterThan(states.indexOf('reconnecting'));
  });

  it('reports lead-off when the strap says there is no skin contact', async () => {
    const r = rig({ contact: false }, { match: { name: 'HRM' }, mode: 'hr' });
    cleanups.push(r.cleanup);
    await r.source.start();
    r.sim.run();
    await waitFor(() => r.source.status().leadOff, 30_000, 'lead-off');
    expect(r.source.contact).toBe(false);
  });

  it('fails with a clear reason when the adapter is off', async () => {
    const ctl = new SimController();
    ctl.adapterState = 'poweredOff';
    const src = new BleSource({ ...FAST, adapterTimeoutMs: 300, match: { name: 'x' }, noble: () => nobleWithBindings(ctl) });
    cleanups.push(() => src.stop());
    await src.start();
    await waitFor(() => src.status().state === 'failed', 30_000, 'failure');
    expect(src.status().lastError).toMatch(/poweredOff.*rfkill unblock bluetooth/);
  });

  it('turns a missing adapter (EAFNOSUPPORT) into BLUETOOTH_UNAVAILABLE with what to do', async () => {
    const e = bluetoothUnavailable(Object.assign(new Error('EAFNOSUPPORT, Address family not supported by protocol'), { code: 'EAFNOSUPPORT' }));
    expect(isMotobioError(e, 'BLUETOOTH_UNAVAILABLE')).toBe(true);
    expect(e.message).toMatch(/no Bluetooth adapter.*USB Bluetooth adapter/);
    const src = new BleSource({ match: { name: 'x' }, noble: () => Promise.reject(e) });
    await src.start();
    await waitFor(() => src.status().state === 'failed', 30_000, 'failure');
    expect(src.status().lastError).toMatch(/no Bluetooth adapter/);
  });

  it('normalises UUIDs as noble reports them', () => {
    expect(normUuid('0000180D-0000-1000-8000-00805F9B34FB')).toBe('180d');
    expect(normUuid('FB005C81-02E7-F387-1CAD-8ACD2D8DF0C8')).toBe('fb005c8102e7f3871cad8acd2d8df0c8');
  });
});
