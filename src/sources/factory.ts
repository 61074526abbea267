/**
 * Builds an EcgSource from a device string or the `source:` settings, loading only the
 * module it needs (so a unit without Bluetooth never loads noble).
 *
 *   /dev/ttyUSB0, /dev/rfcomm0, ...     serial
 *   C0:FF:EE:00:00:01                   BLE by address
 *   "Polar H10", "HRM-Pro"              BLE by advertised name
 *   replay:<record path>                WFDB replay
 */
import { MotobioError } from '../util/errors.js';
import type { BleMode } from './ble/ble-source.js';
import type { NobleFactory } from './ble/noble.js';
import type { AdcScaleOptions } from './serial/adc.js';
import type { SerialProtocol } from './serial/parser.js';
import type { SerialTransportFactory } from './serial/transport.js';
import type { EcgSource } from './types.js';

export type DeviceTarget =
  | { readonly transport: 'serial'; readonly path: string }
  | { readonly transport: 'ble'; readonly address: string }
  | { readonly transport: 'ble'; readonly name: string }
  | { readonly transport: 'replay'; readonly record: string };

const MAC = /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i;

export function parseDevice(device: string): DeviceTarget {
  const d = device.trim();
  if (d === '') throw new MotobioError('USAGE', 'the device is empty; give a serial path (/dev/rfcomm0), a BLE address (C0:FF:EE:00:00:01) or a BLE name ("Polar H10")');
  if (d.startsWith('replay:')) return { transport: 'replay', record: d.slice('replay:'.length) };
  if (d.startsWith('/')) return { transport: 'serial', path: d };
  if (MAC.test(d)) return { transport: 'ble', address: d.toLowerCase().replace(/-/g, ':') };
  return { transport: 'ble', name: d };
}

/** Bluetooth Classic serial modules: not visible to a BLE scan, they appear as /dev/rfcommN once bound. */
export function isClassicSerialModule(name: string): boolean {
  return /^(hc-0[5-6]|hc0[5-6]|jdy-3[0-1]|linvor)\b/i.test(name.trim());
}

export interface SourceOptions {
  readonly baud?: number;
  readonly fs?: number;
  readonly adc?: AdcScaleOptions;
  readonly protocol?: SerialProtocol | 'auto';
  readonly mode?: BleMode;
  readonly channel?: number;
  readonly speed?: number;
  /** Transports, injectable for tests and simulators. */
  readonly noble?: NobleFactory;
  readonly serialOpen?: SerialTransportFactory;
}

export async function createSource(target: DeviceTarget, o: SourceOptions = {}): Promise<EcgSource> {
  switch (target.transport) {
    case 'serial': {
      const { SerialSource } = await import('./serial/serial-source.js');
      return new SerialSource({
        path: target.path,
        ...(o.baud !== undefined ? { baudRate: o.baud } : {}),
        ...(o.fs !== undefined ? { fs: o.fs } : {}),
        ...(o.adc !== undefined ? { adc: o.adc } : {}),
        ...(o.protocol !== undefined ? { protocol: o.protocol } : {}),
        ...(o.serialOpen !== undefined ? { open: o.serialOpen } : {}),
      });
    }
    case 'ble': {
      const { BleSource } = await import('./ble/ble-source.js');
      return new BleSource({
        match: 'address' in target ? { address: target.address } : { name: target.name },
        mode: o.mode ?? 'auto',
        ...(o.noble !== undefined ? { noble: o.noble } : {}),
      });
    }
    case 'replay': {
      const { ReplaySource } = await import('./replay.js');
      return new ReplaySource({ record: target.record, channel: o.channel ?? 0, speed: o.speed ?? 1 });
    }
  }
}
