/**
 * The slice of @abandonware/noble the BLE sources use, and how to get one. The real stack is
 * loaded lazily: merely importing it opens an HCI socket, which throws EAFNOSUPPORT on a
 * machine without a Bluetooth adapter (and needs CAP_NET_RAW elsewhere). Tests build noble on
 * a simulated controller through noble's own `with-bindings` entry point instead.
 */
import type { EventEmitter } from 'node:events';
import { MotobioError, errorMessage } from '../../util/errors.js';

export interface NobleCharacteristic extends EventEmitter {
  readonly uuid: string;
  readonly properties: string[];
  readAsync(): Promise<Buffer>;
  writeAsync(data: Buffer, withoutResponse: boolean): Promise<void>;
  subscribeAsync(): Promise<void>;
  unsubscribeAsync(): Promise<void>;
}

export interface NobleService {
  readonly uuid: string;
}

export interface NoblePeripheral extends EventEmitter {
  readonly id: string;
  readonly address: string;
  readonly rssi: number;
  readonly state: string;
  readonly advertisement: { localName?: string; serviceUuids?: string[] };
  connectAsync(): Promise<void>;
  updateRssiAsync(): Promise<number>;
  disconnectAsync(): Promise<void>;
  discoverAllServicesAndCharacteristicsAsync(): Promise<{ services: NobleService[]; characteristics: NobleCharacteristic[] }>;
}

export interface NobleLike extends EventEmitter {
  readonly state: string;
  startScanningAsync(serviceUuids?: string[], allowDuplicates?: boolean): Promise<void>;
  stopScanningAsync(): Promise<void>;
}

/** Gives a noble instance; the daemon uses the system one, tests hand in a simulated one. */
export type NobleFactory = () => Promise<NobleLike>;

const NO_ADAPTER = new Set(['EAFNOSUPPORT', 'ENODEV', 'EPERM', 'EACCES', 'ERR_DLOPEN_FAILED', 'MODULE_NOT_FOUND']);
let systemNoble: Promise<NobleLike> | undefined;

export function bluetoothUnavailable(e: unknown): MotobioError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === 'EAFNOSUPPORT'
      ? 'this machine has no Bluetooth adapter (the kernel has no Bluetooth socket support: EAFNOSUPPORT)'
      : code === 'EPERM' || code === 'EACCES'
        ? `no permission to use the Bluetooth adapter (${code}); run with CAP_NET_RAW/CAP_NET_ADMIN (see the systemd unit) or as root`
        : code === 'ENODEV'
          ? 'the Bluetooth adapter is missing or down (ENODEV)'
          : `the Bluetooth stack could not be loaded: ${errorMessage(e)}`;
  return new MotobioError(
    'BLUETOOTH_UNAVAILABLE',
    `Bluetooth is not available: ${why}. Check "hciconfig -a" / "rfkill list", plug in a USB Bluetooth adapter, or use a serial ECG front end instead.`,
    { cause: e },
  );
}

export const loadSystemNoble: NobleFactory = () => {
  systemNoble ??= (async () => {
    try {
      const mod = (await import('@abandonware/noble')) as unknown as { default: NobleLike };
      return mod.default;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== undefined && NO_ADAPTER.has(code)) throw bluetoothUnavailable(e);
      throw bluetoothUnavailable(e);
    }
  })();
  // A failed load stays failed for this process (noble cannot be re-imported), which is right:
  // an adapter does not appear while we run.
  return systemNoble;
};

/** noble on custom bindings (a simulated controller in tests, another transport elsewhere). */
export async function nobleWithBindings(bindings: EventEmitter): Promise<NobleLike> {
  const mod = (await import('@abandonware/noble/with-bindings')) as unknown as { default: (b: EventEmitter) => NobleLike };
  return mod.default(bindings);
}

/** Waits for the adapter to be powered on; a clear error when it is off or absent. */
export async function poweredOn(noble: NobleLike, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  if (noble.state === 'poweredOn') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new MotobioError('BLUETOOTH_UNAVAILABLE', `the Bluetooth adapter is "${noble.state}", not powered on, after ${timeoutMs / 1000} s; run "rfkill unblock bluetooth" and "hciconfig hci0 up"`)), timeoutMs);
    const onState = (state: string): void => {
      if (state === 'poweredOn') done();
      else if (state === 'unsupported' || state === 'unauthorized') done(new MotobioError('BLUETOOTH_UNAVAILABLE', `the Bluetooth adapter reports "${state}"; it may lack BLE support or the daemon the capabilities to use it`));
    };
    const onAbort = (): void => done(new MotobioError('SOURCE_UNAVAILABLE', 'stopped while waiting for the Bluetooth adapter'));
    function done(err?: Error): void {
      clearTimeout(timer);
      noble.off('stateChange', onState);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    }
    noble.on('stateChange', onState);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Normalises a UUID as noble reports it: lower case, no dashes, 16-bit ones short. */
export function normUuid(uuid: string): string {
  const u = uuid.toLowerCase().replace(/-/g, '');
  const m = /^0000([0-9a-f]{4})00001000800000805f9b34fb$/.exec(u);
  return m ? m[1] : u;
}
