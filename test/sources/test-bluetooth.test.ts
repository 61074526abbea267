/**
 * `motobio test bluetooth` against the simulated strap (noble on the scripted controller):
 * passes on a good strap, fails with the reason on the faults technicians meet.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatReport, run, runBluetoothTest } from '../../src/cli/commands/test-bluetooth.js';
import { nobleWithBindings } from '../../src/sources/ble/noble.js';
import { SimController } from '../helpers/ble-sim.js';
import { PtyPair, PtyWriter } from '../helpers/pty.js';
import { feed, loadRecording, QTDB_302, TEST_ADC } from './serial-feed.js';
import { SimStrap, type StrapOptions } from './straps.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function strap(o: StrapOptions): { ctl: SimController; sim: SimStrap } {
  const ctl = new SimController();
  const sim = new SimStrap(ctl, o);
  sim.run();
  cleanups.push(() => {
    sim.stop();
    ctl.close();
  });
  return { ctl, sim };
}

describe('motobio test bluetooth', () => {
  it('passes a Polar H10 streaming real ECG at 130 Hz', async () => {
    const { ctl } = strap({ polar: true, ecgSpeed: 1 });
    const r = await runBluetoothTest({ device: 'Polar H10', seconds: 8, mode: 'ecg', noble: () => nobleWithBindings(ctl) });
    const text = formatReport(r);
    expect(r.pass, text).toBe(true);
    expect(r.streaming).toBe('ecg');
    expect(r.beats).toBeGreaterThanOrEqual(3);
    expect(text).toMatch(/rate +\d+\.\d Hz measured, 130 Hz nominal/);
    expect(text).toMatch(/battery +87 %/);
    expect(text).toMatch(/result +PASS/);
  });

  it('passes a heart-rate strap sending real RR intervals', async () => {
    const { ctl } = strap({ hrPerSecond: 2 });
    const r = await runBluetoothTest({ device: 'C0:FF:EE:00:00:02', seconds: 5, mode: 'hr', noble: () => nobleWithBindings(ctl) });
    expect(r.pass, formatReport(r)).toBe(true);
    expect(r.rrValues).toBeGreaterThanOrEqual(3);
    expect(r.hrBpm).toBeGreaterThan(40);
    expect(r.hrBpm).toBeLessThan(120);
  });

  it('fails with a clear reason when the strap never sends', async () => {
    const { ctl } = strap({ silent: true });
    const r = await runBluetoothTest({ device: 'HRM-Pro', seconds: 3, noble: () => nobleWithBindings(ctl) });
    expect(r.pass).toBe(false);
    expect(r.reason).toMatch(/never sent a heart-rate notification in 3 s.*moistened electrodes/);
  });

  it('fails with a clear reason when the strap sends only zero RR values', async () => {
    const { ctl } = strap({ zeroRr: true, hrPerSecond: 4 });
    const r = await runBluetoothTest({ device: 'HRM-Pro', seconds: 3, mode: 'hr', noble: () => nobleWithBindings(ctl) });
    expect(r.pass).toBe(false);
    expect(r.reason).toMatch(/only zero RR intervals/);
  });

  it('fails with a clear reason when the strap reports no skin contact', async () => {
    const { ctl } = strap({ contact: false, hrPerSecond: 4 });
    const r = await runBluetoothTest({ device: 'HRM-Pro', seconds: 3, mode: 'hr', noble: () => nobleWithBindings(ctl) });
    expect(r.pass).toBe(false);
    expect(r.reason).toMatch(/no skin contact.*moisten the electrode pads/);
    expect(r.leadOffShare).toBe(1);
  });

  it('fails with directions when the strap is not around', async () => {
    const ctl = new SimController();
    cleanups.push(() => ctl.close());
    const r = await runBluetoothTest({ device: 'Polar H10', seconds: 2, noble: () => nobleWithBindings(ctl) });
    expect(r.pass).toBe(false);
    expect(r.reason).toMatch(/never sent|no ECG samples/);
  });

  it('passes a serial front end on a pty (the HC-05 path) streaming a real record at its own rate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'motobio-tb-'));
    const pair = new PtyPair(dir);
    await pair.plug();
    const writer = new PtyWriter(pair.writerPath);
    await writer.open();
    const ac = new AbortController();
    const rec = loadRecording(QTDB_302);
    const feeding = feed(writer, rec.counts, { protocol: 'text', fs: rec.fs, speed: 1, signal: ac.signal });
    try {
      const r = await runBluetoothTest({ device: pair.devicePath, seconds: 8, fs: rec.fs, adc: TEST_ADC });
      expect(r.pass, formatReport(r)).toBe(true);
      expect(r.transport).toBe('serial');
      expect(r.beats).toBeGreaterThanOrEqual(3);
    } finally {
      ac.abort();
      await feeding;
      await writer.close();
      await pair.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('explains an HC-05 (Bluetooth Classic) named like the old checklist did', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'motobio-dev-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const r = await runBluetoothTest({ device: 'HC-05', seconds: 1, devDir: dir });
    expect(r.pass).toBe(false);
    expect(r.reason).toMatch(/Bluetooth Classic serial module.*motobio pair hc05 <address>.*--device \/dev\/rfcomm-motobio/);
  });

  it('has a thin CLI: help, usage errors, and a FAIL exit status without an adapter or strap', async () => {
    await expect(run([])).rejects.toThrow(/--device is required/);
    await expect(run(['--device', 'x', '--mode', 'both'])).rejects.toThrow(/--mode must be/);
    // The real Bluetooth stack: on a machine without an adapter this is the EAFNOSUPPORT path.
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => (out.push(String(s)), true));
    let code: number;
    try {
      code = await run(['--device', 'Polar H10', '--seconds', '2']);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(1);
    expect(out.join('')).toMatch(/FAIL: (could not use the sensor: Bluetooth is not available|.*never sent|no ECG samples)/);
  });
});
