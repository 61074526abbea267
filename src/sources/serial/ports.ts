/**
 * Lists serial devices an ECG front end may sit behind. serialport's list() runs `udevadm`;
 * on a minimal image without udev that fails (ENOENT), so fall back to the device names in
 * /dev, which is what a technician would look at anyway.
 */
import { readdirSync } from 'node:fs';
import { errorMessage } from '../../util/errors.js';

export interface SerialPortInfo {
  readonly path: string;
  readonly kind: 'bluetooth-serial' | 'usb-serial' | 'uart' | 'other';
  readonly manufacturer?: string;
  readonly vendorId?: string;
  readonly productId?: string;
}

const ECG_PORT = /^(rfcomm\d+|ttyUSB\d+|ttyACM\d+|serial\d+|ttyAMA\d+|ttyS0)$/;

export function kindOf(path: string): SerialPortInfo['kind'] {
  if (/rfcomm/.test(path)) return 'bluetooth-serial';
  if (/ttyUSB|ttyACM/.test(path)) return 'usb-serial';
  if (/serial\d|ttyAMA|ttyS0/.test(path)) return 'uart';
  return 'other';
}

export interface PortListing {
  readonly ports: SerialPortInfo[];
  /** Set when udev could not be asked and /dev was read instead. */
  readonly note?: string;
}

export async function listSerialPorts(devDir = '/dev'): Promise<PortListing> {
  let note: string | undefined;
  try {
    const { SerialPort } = await import('serialport');
    const found = await SerialPort.list();
    const ports = found
      .filter((p) => ECG_PORT.test(p.path.replace(/^\/dev\//, '')))
      .map((p) => ({
        path: p.path,
        kind: kindOf(p.path),
        ...(p.manufacturer ? { manufacturer: p.manufacturer } : {}),
        ...(p.vendorId ? { vendorId: p.vendorId } : {}),
        ...(p.productId ? { productId: p.productId } : {}),
      }));
    return { ports: mergeDev(ports, devDir) };
  } catch (e) {
    note = `udev could not list ports (${errorMessage(e)}); listed ${devDir} instead. Install udev for vendor details.`;
  }
  return { ports: mergeDev([], devDir), note };
}

/** /dev/serial0 and rfcomm links are not always in udev's database; add what /dev shows. */
function mergeDev(ports: SerialPortInfo[], devDir: string): SerialPortInfo[] {
  let names: string[] = [];
  try {
    names = readdirSync(devDir);
  } catch {
    return ports;
  }
  const seen = new Set(ports.map((p) => p.path));
  for (const name of names.sort()) {
    const path = `${devDir}/${name}`;
    if (ECG_PORT.test(name) && !seen.has(path)) ports.push({ path, kind: kindOf(path) });
  }
  return ports;
}
