/**
 * `motobio scan [--seconds N] [--json]`: the serial ports and BLE devices an ECG sensor could
 * be, with their kind and signal strength. runScan() takes the Bluetooth stack as a factory so
 * tests scan the simulated radio; without an adapter the serial half still works and the BLE
 * half says why it is empty.
 */
import { numberOption, parseCommandArgs } from '../args.js';
import { errorMessage } from '../../util/errors.js';
import { cliLang, messages, type Lang } from '../../i18n/index.js';
import type { NobleFactory, NoblePeripheral } from '../../sources/ble/noble.js';
import type { SerialPortInfo } from '../../sources/serial/ports.js';

export const summary = 'list serial ports and nearby BLE heart-rate/ECG devices with kind and RSSI';

export const DEFAULT_SCAN_SECONDS = 5;

export type BleKind = 'polar-ecg' | 'heart-rate' | 'other';

export interface BleDeviceInfo {
  readonly address: string;
  readonly id: string;
  readonly name: string | undefined;
  readonly rssiDbm: number;
  readonly kind: BleKind;
  readonly services: string[];
}

export interface ScanResult {
  readonly serial: SerialPortInfo[];
  readonly serialNote?: string;
  readonly ble: BleDeviceInfo[];
  /** Why BLE devices could not be listed (no adapter, adapter off). */
  readonly bleError?: string;
}

export interface ScanOptions {
  readonly seconds?: number;
  readonly noble?: NobleFactory;
  readonly devDir?: string;
  readonly signal?: AbortSignal;
}

export async function runScan(o: ScanOptions = {}): Promise<ScanResult> {
  const seconds = o.seconds ?? DEFAULT_SCAN_SECONDS;
  const { listSerialPorts } = await import('../../sources/serial/ports.js');
  const serial = await listSerialPorts(o.devDir);
  const { loadSystemNoble, normUuid, poweredOn } = await import('../../sources/ble/noble.js');
  const { HRS_SERVICE } = await import('../../sources/ble/hrs.js');
  const { PMD_SERVICE } = await import('../../sources/ble/pmd.js');
  const found = new Map<string, BleDeviceInfo>();
  let bleError: string | undefined;
  try {
    const noble = await (o.noble ?? loadSystemNoble)();
    await poweredOn(noble, 5_000, o.signal);
    const onDiscover = (p: NoblePeripheral): void => {
      const services = (p.advertisement.serviceUuids ?? []).map(normUuid);
      const name = p.advertisement.localName ?? found.get(p.id)?.name;
      const kind: BleKind = services.includes(PMD_SERVICE) || /polar h10/i.test(name ?? '') ? 'polar-ecg' : services.includes(HRS_SERVICE) ? 'heart-rate' : 'other';
      found.set(p.id, { address: p.address, id: p.id, name, rssiDbm: p.rssi, kind, services });
    };
    noble.on('discover', onDiscover);
    try {
      await noble.startScanningAsync([], true);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, seconds * 1000);
        o.signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
      await noble.stopScanningAsync();
    } finally {
      noble.off('discover', onDiscover);
    }
  } catch (e) {
    bleError = errorMessage(e);
  }
  const order: Record<BleKind, number> = { 'polar-ecg': 0, 'heart-rate': 1, other: 2 };
  const ble = [...found.values()].sort((a, b) => order[a.kind] - order[b.kind] || b.rssiDbm - a.rssiDbm);
  return {
    serial: serial.ports,
    ...(serial.note !== undefined ? { serialNote: serial.note } : {}),
    ble,
    ...(bleError !== undefined ? { bleError } : {}),
  };
}

export function formatScan(r: ScanResult, lang: Lang = 'en'): string {
  const m = messages(lang);
  const lines = [m['scan.serial']];
  if (r.serial.length === 0) lines.push(`  ${m['scan.serial.none']}`);
  for (const p of r.serial) lines.push(`  ${p.path.padEnd(18)} ${p.kind}${p.manufacturer ? `  ${p.manufacturer}` : ''}${p.vendorId ? ` ${p.vendorId}:${p.productId ?? '?'}` : ''}`);
  if (r.serialNote) lines.push(`  (${r.serialNote})`);
  lines.push(m['scan.ble']);
  if (r.bleError) lines.push(`  ${m['scan.ble.unavailable']({ error: r.bleError })}`);
  else if (r.ble.length === 0) lines.push(`  ${m['scan.ble.none']}`);
  for (const d of r.ble) lines.push(`  ${d.address.padEnd(18)} ${String(d.rssiDbm).padStart(4)} dBm  ${m[`scan.kind.${d.kind}`].padEnd(22)} ${d.name ?? m['scan.noName']}`);
  return lines.join('\n') + '\n';
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('scan', argv, { seconds: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, false);
  if (values.help) {
    process.stdout.write(`usage: motobio scan [--seconds N] [--json]\n  lists serial ports and BLE devices seen in N seconds (default ${DEFAULT_SCAN_SECONDS})\n`);
    return 0;
  }
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once('SIGINT', onSignal);
  try {
    const r = await runScan({ seconds: numberOption('scan', 'seconds', values.seconds, DEFAULT_SCAN_SECONDS, { above: 0 }), signal: ac.signal });
    process.stdout.write(values.json ? `${JSON.stringify(r, null, 2)}\n` : formatScan(r, cliLang()));
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
  }
}
