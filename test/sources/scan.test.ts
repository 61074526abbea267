import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatScan, runScan } from '../../src/cli/commands/scan.js';
import { bluetoothUnavailable, nobleWithBindings } from '../../src/sources/ble/noble.js';
import { SimController } from '../helpers/ble-sim.js';
import { SimStrap } from './straps.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function devDir(names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-dev-'));
  for (const n of names) writeFileSync(join(dir, n), '');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('motobio scan', () => {
  it('lists serial ports and the simulated straps with kind and RSSI', async () => {
    const ctl = new SimController();
    new SimStrap(ctl, { polar: true });
    new SimStrap(ctl, {});
    cleanups.push(() => ctl.close());
    const dir = devDir(['rfcomm0', 'ttyUSB0']);
    const r = await runScan({ seconds: 1, devDir: dir, noble: () => nobleWithBindings(ctl) });
    expect(r.bleError).toBeUndefined();
    expect(r.ble.map((d) => [d.name, d.kind, d.rssiDbm])).toEqual([
      ['Polar H10 ABC12345', 'polar-ecg', -61],
      ['HRM-Pro 1234', 'heart-rate', -61],
    ]);
    const text = formatScan(r);
    expect(text).toContain(`${dir}/rfcomm0`);
    expect(text).toMatch(/bluetooth-serial/);
    expect(text).toMatch(/c0:ff:ee:00:00:01 +-61 dBm +Polar H10 \(raw ECG\)/);
  });

  it('still lists serial ports when there is no Bluetooth adapter, and says why BLE is empty', async () => {
    const dir = devDir(['ttyACM0']);
    const err = bluetoothUnavailable(Object.assign(new Error('EAFNOSUPPORT, Address family not supported by protocol'), { code: 'EAFNOSUPPORT' }));
    const r = await runScan({ seconds: 1, devDir: dir, noble: () => Promise.reject(err) });
    expect(r.serial.map((p) => p.path)).toContain(`${dir}/ttyACM0`);
    expect(formatScan(r)).toMatch(/bluetooth LE:\n {2}not available: Bluetooth is not available: this machine has no Bluetooth adapter/);
  });
});
