/**
 * BLE chest straps.
 *
 *   noble ─scan (name | address | service)─▶ peripheral ─connect─▶ discover
 *     ├─ 'hr':    Heart Rate 0x2A37 notifications ─▶ RR (1/1024 s → ms), HR, contact ─▶ 'rr'
 *     ├─ 'ecg':   Polar PMD: write start (130 Hz) to FB005C81, FB005C82 notifications
 *     │           ─▶ i24 µV samples, sensor timestamps ─▶ mV ─▶ 'samples'
 *     └─ battery 0x2A19 (read, then notifications)
 *   link drop ─▶ 'reconnecting' ─▶ rescan with capped, jittered backoff
 *
 * 'auto' picks ECG when the strap offers the PMD service, else heart rate.
 */
import { performance } from 'node:perf_hooks';
import { MotobioError, errorMessage, isMotobioError } from '../../util/errors.js';
import { Backoff, sleep, type BackoffOptions } from '../backoff.js';
import { SourceBase } from '../base.js';
import { BATTERY_LEVEL, HRS_MEASUREMENT, HRS_SERVICE, parseHeartRateMeasurement } from './hrs.js';
import { loadSystemNoble, normUuid, poweredOn, type NobleCharacteristic, type NobleFactory, type NobleLike, type NoblePeripheral } from './noble.js';
import { PMD_CONTROL, PMD_DATA, PMD_SERVICE, POLAR_ECG_FS, parseControlResponse, parseEcgFrame, startEcgCommand } from './pmd.js';

export type BleMode = 'hr' | 'ecg' | 'auto';

export interface BleMatch {
  readonly name?: string;
  readonly address?: string;
  readonly service?: string;
}

export interface BleSourceOptions {
  readonly match: BleMatch;
  readonly mode?: BleMode;
  readonly noble?: NobleFactory;
  readonly backoff?: BackoffOptions;
  /** Give up one scan after this long (then back off and scan again). */
  readonly scanTimeoutMs?: number;
  /** Timeout of each GATT step (connect, discover, write); a strap that drops mid-step never answers. */
  readonly gattTimeoutMs?: number;
  readonly adapterTimeoutMs?: number;
  readonly id?: string;
}

export const BLE_SCAN_TIMEOUT_MS = 20_000;
export const BLE_GATT_TIMEOUT_MS = 10_000;
export const BLE_ADAPTER_TIMEOUT_MS = 10_000;
/** How often the link's RSSI is read while connected (a technician watches it fall as the strap moves away). */
export const BLE_RSSI_INTERVAL_MS = 10_000;
/** Sensor timestamps further apart than this mean the strap's clock restarted (battery change). */
const MAX_TIMESTAMP_JUMP_S = 3600;

/** The address form noble reports: lower case with colons. */
function normAddress(a: string): string {
  return a.toLowerCase().replace(/-/g, ':');
}

export function matches(p: NoblePeripheral, m: BleMatch): boolean {
  if (m.address !== undefined && normAddress(p.address) !== normAddress(m.address) && p.id.toLowerCase() !== m.address.toLowerCase().replace(/[:-]/g, '')) return false;
  if (m.name !== undefined && !(p.advertisement.localName ?? '').toLowerCase().includes(m.name.toLowerCase())) return false;
  if (m.service !== undefined && !(p.advertisement.serviceUuids ?? []).map(normUuid).includes(normUuid(m.service))) return false;
  return m.address !== undefined || m.name !== undefined || m.service !== undefined;
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new MotobioError('SOURCE_UNAVAILABLE', `${what} got no answer within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export class BleSource extends SourceBase {
  private readonly match: BleMatch;
  private readonly mode: BleMode;
  private readonly nobleFactory: NobleFactory;
  private readonly backoff: Backoff;
  private readonly scanTimeoutMs: number;
  private readonly gattTimeoutMs: number;
  private readonly adapterTimeoutMs: number;
  private noble: NobleLike | undefined;
  private peripheral: NoblePeripheral | undefined;
  private activeMode: 'hr' | 'ecg' | undefined;
  private lastTimestampNs: bigint | undefined;
  private connections = 0;
  /** Samples (ecg) or RR values (hr) received. */
  private received = 0;
  private lastContact: boolean | undefined;
  private name: string | undefined;

  constructor(options: BleSourceOptions) {
    const mode = options.mode ?? 'auto';
    const label = options.match.name ?? options.match.address ?? options.match.service ?? '?';
    // 'auto' is raw only once the strap turns out to be a Polar; the kind must be fixed up front,
    // so auto reports as raw with the H10's rate and falls back to RR on other straps.
    super(options.id ?? `ble:${label}`, mode === 'hr' ? 'rr' : 'raw', mode === 'hr' ? undefined : POLAR_ECG_FS);
    if (options.match.name === undefined && options.match.address === undefined && options.match.service === undefined) {
      throw new MotobioError('CONFIG_INVALID', 'a BLE source needs a device name, an address or a service UUID to look for');
    }
    this.match = options.match;
    this.mode = mode;
    this.nobleFactory = options.noble ?? loadSystemNoble;
    this.backoff = new Backoff(options.backoff);
    this.scanTimeoutMs = options.scanTimeoutMs ?? BLE_SCAN_TIMEOUT_MS;
    this.gattTimeoutMs = options.gattTimeoutMs ?? BLE_GATT_TIMEOUT_MS;
    this.adapterTimeoutMs = options.adapterTimeoutMs ?? BLE_ADAPTER_TIMEOUT_MS;
  }

  /** What the connected strap is streaming: 'ecg' (Polar PMD) or 'hr' (RR only). */
  get streaming(): 'hr' | 'ecg' | undefined {
    return this.activeMode;
  }

  get connectionCount(): number {
    return this.connections;
  }

  get deviceName(): string | undefined {
    return this.name;
  }

  /** Skin contact as the strap last reported it (undefined if it does not say). */
  get contact(): boolean | undefined {
    return this.lastContact;
  }

  start(signal?: AbortSignal): Promise<void> {
    return this.startLoop((s) => this.run(s), signal, true);
  }

  stop(): Promise<void> {
    return this.stopLoop();
  }

  private async run(signal: AbortSignal): Promise<void> {
    // No adapter is not worth retrying: fail with the reason (BLUETOOTH_UNAVAILABLE).
    const noble = await this.nobleFactory();
    this.noble = noble;
    await poweredOn(noble, this.adapterTimeoutMs, signal).catch((e: unknown) => {
      if (signal.aborted) return;
      throw e;
    });
    while (!signal.aborted) {
      try {
        const p = await this.scan(noble, signal);
        if (!p) break;
        const why = await this.session(p, signal);
        if (signal.aborted) break;
        this.setState('reconnecting', `${this.label()}: ${why}; looking for it again`);
        this.emit('warning', `${this.label()}: ${why}`);
      } catch (e) {
        if (signal.aborted) break;
        if (isMotobioError(e, 'BLUETOOTH_UNAVAILABLE')) throw e;
        this.setState('reconnecting', errorMessage(e));
        this.emit('warning', errorMessage(e));
      }
      await sleep(this.backoff.next(), signal);
    }
  }

  private label(): string {
    return this.name ?? this.match.name ?? this.match.address ?? 'strap';
  }

  private async scan(noble: NobleLike, signal: AbortSignal): Promise<NoblePeripheral | undefined> {
    const found = new Promise<NoblePeripheral | undefined>((resolve, reject) => {
      const timer = setTimeout(() => done(undefined, new MotobioError('SOURCE_UNAVAILABLE', `no BLE device matching ${JSON.stringify(this.match)} seen in ${this.scanTimeoutMs / 1000} s: is the strap worn (it sleeps when dry) and not connected to a phone?`)), this.scanTimeoutMs);
      const onDiscover = (p: NoblePeripheral): void => {
        if (matches(p, this.match)) done(p);
      };
      const onAbort = (): void => done(undefined);
      function done(p: NoblePeripheral | undefined, err?: Error): void {
        clearTimeout(timer);
        noble.off('discover', onDiscover);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(p);
      }
      noble.on('discover', onDiscover);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    // Filtering by service in the scan keeps a busy paddock's advertisements out of our way.
    const filter = this.match.service !== undefined ? [normUuid(this.match.service)] : [];
    await noble.startScanningAsync(filter, false);
    try {
      return await found;
    } finally {
      await noble.stopScanningAsync().catch(() => undefined);
    }
  }

  /** One connection: resolves with the reason it ended. */
  private async session(p: NoblePeripheral, signal: AbortSignal): Promise<string> {
    this.peripheral = p;
    this.name = p.advertisement.localName ?? this.name;
    this.rssiDbm = p.rssi;
    const dropped = new Promise<string>((resolve) => p.once('disconnect', () => resolve('link dropped')));
    let onAbort: () => void = () => undefined;
    const aborted = new Promise<string>((resolve) => {
      onAbort = () => resolve('stopped');
      signal.addEventListener('abort', onAbort, { once: true });
    });
    const subscriptions: { ch: NobleCharacteristic; fn: (data: Buffer) => void }[] = [];
    let rssiTimer: NodeJS.Timeout | undefined;
    try {
      await within(Promise.race([p.connectAsync(), dropped.then(() => Promise.reject(new Error('link dropped while connecting')))]), this.gattTimeoutMs, `connecting to ${this.label()}`);
      this.connections++;
      const { characteristics } = await within(p.discoverAllServicesAndCharacteristicsAsync(), this.gattTimeoutMs, `discovering ${this.label()}'s services`);
      const byUuid = new Map(characteristics.map((c) => [normUuid(c.uuid), c]));
      const hr = byUuid.get(HRS_MEASUREMENT);
      const control = byUuid.get(PMD_CONTROL);
      const data = byUuid.get(PMD_DATA);
      const battery = byUuid.get(BATTERY_LEVEL);
      const wantEcg = this.mode === 'ecg' || (this.mode === 'auto' && control !== undefined && data !== undefined);
      if (wantEcg && (control === undefined || data === undefined)) {
        throw new MotobioError('SOURCE_UNAVAILABLE', `${this.label()} has no Polar PMD service (${PMD_SERVICE}): raw ECG needs a Polar H10; use mode "hr" for other straps`);
      }
      if (!wantEcg && hr === undefined) throw new MotobioError('SOURCE_UNAVAILABLE', `${this.label()} has no Heart Rate Service (${HRS_SERVICE}) measurement characteristic`);

      const listen = async (ch: NobleCharacteristic, fn: (d: Buffer) => void, what: string): Promise<void> => {
        ch.on('data', fn);
        subscriptions.push({ ch, fn });
        await within(ch.subscribeAsync(), this.gattTimeoutMs, `subscribing to ${what}`);
      };
      if (battery) {
        const onBattery = (d: Buffer): void => {
          if (d.length >= 1 && d[0] <= 100) {
            this.batteryPct = d[0];
            this.emit('status', this.status());
          }
        };
        if (battery.properties.includes('notify')) await listen(battery, onBattery, 'battery level');
        onBattery(await within(battery.readAsync(), this.gattTimeoutMs, 'reading the battery level'));
      }
      if (wantEcg) {
        // lastTimestampNs survives the reconnect: the H10's clock kept running, so the outage
        // shows up as a gap of the right length on the sample timeline.
        this.activeMode = 'ecg';
        const answer = new Promise<Buffer>((resolve) => control!.once('data', resolve));
        await listen(control!, () => undefined, 'the PMD control point');
        await listen(data!, (d) => this.onEcg(d), 'PMD data');
        await within(control!.writeAsync(startEcgCommand(), false), this.gattTimeoutMs, 'starting the ECG stream');
        const resp = parseControlResponse(await within(answer, this.gattTimeoutMs, 'the ECG start command'));
        if (resp && !resp.ok) throw new MotobioError('SOURCE_UNAVAILABLE', `${this.label()} refused to start ECG: ${resp.message}`);
      } else {
        this.activeMode = 'hr';
        await listen(hr!, (d) => this.onHeartRate(d), 'heart-rate measurements');
      }
      this.setState('streaming');
      this.backoff.reset();
      rssiTimer = setInterval(() => {
        within(p.updateRssiAsync(), this.gattTimeoutMs, 'reading RSSI').then(
          (rssi) => {
            this.rssiDbm = rssi;
          },
          () => undefined,
        );
      }, BLE_RSSI_INTERVAL_MS);
      return await Promise.race([dropped, aborted]);
    } finally {
      clearInterval(rssiTimer);
      signal.removeEventListener('abort', onAbort);
      for (const { ch, fn } of subscriptions) ch.off('data', fn);
      this.peripheral = undefined;
      if (p.state === 'connected' || p.state === 'connecting') await within(p.disconnectAsync(), this.gattTimeoutMs, 'disconnecting').catch(() => undefined);
    }
  }

  private onHeartRate(d: Buffer): void {
    const m = parseHeartRateMeasurement(d);
    if (!m) {
      this.counters.framesBad++;
      return;
    }
    this.counters.framesGood++;
    const now = performance.now();
    this.lastContact = m.contact;
    this.setLeadOff(m.contact === false);
    // RR of 0 is what some straps send before they have locked on: not an interval.
    const rrMs = m.rrMs.filter((r) => r > 0);
    this.received += rrMs.length;
    this.emitRr({ rrMs, sensorHrBpm: m.hrBpm, ...(m.contact !== undefined ? { contact: m.contact } : {}) }, now);
  }

  private onEcg(d: Buffer): void {
    const f = parseEcgFrame(d);
    if (!f) {
      this.counters.framesBad++;
      return;
    }
    this.counters.framesGood++;
    const now = performance.now();
    let start = this.nextSample;
    // The timestamp is the sensor time of the frame's last sample: a jump of more than one and a
    // half sample periods beyond the frame's own length means frames were lost on the radio.
    if (this.lastTimestampNs !== undefined && f.timestampNs > this.lastTimestampNs) {
      const dtS = Number(f.timestampNs - this.lastTimestampNs) / 1e9;
      const missing = Math.round(dtS * POLAR_ECG_FS) - f.uv.length;
      if (missing >= 2 && dtS < MAX_TIMESTAMP_JUMP_S) start += missing;
    }
    this.lastTimestampNs = f.timestampNs;
    const mv = Float64Array.from(f.uv, (v) => v / 1000);
    this.received += mv.length;
    this.emitSamples(mv, start, now);
    this.rate.add(this.nextSample, now);
  }
}
