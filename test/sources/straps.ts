/**
 * Simulated straps on the SimController: a plain Heart Rate Service strap and a Polar H10 with
 * the PMD ECG service, both sending real data (RR intervals of mitdb/118, ECG of qtdb/sel302
 * resampled to the H10's 130 Hz). Faults are options: never send, send only zero RR, report no
 * skin contact, drop the link.
 */
import { beatSamples, readAnnotations } from '../../src/sources/wfdb/annotations.js';
import { BATTERY_LEVEL, BATTERY_SERVICE, encodeHeartRateMeasurement, HRS_MEASUREMENT, HRS_SERVICE } from '../../src/sources/ble/hrs.js';
import { encodeControlResponse, encodeEcgFrame, PMD_CONTROL, PMD_DATA, PMD_SERVICE, POLAR_ECG_FS } from '../../src/sources/ble/pmd.js';
import { readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import type { SimController, SimDevice } from '../helpers/ble-sim.js';
import { MITDB_118, QTDB_302 } from './serial-feed.js';

/** RR intervals of mitdb/118 (first 5 min, reference beats) in 1/1024 s, as a BLE strap reports them. */
export const RR1024: number[] = (() => {
  const beats = beatSamples(readAnnotations(MITDB_118));
  return beats.slice(1).map((b, i) => Math.round(((b - beats[i]) / 360) * 1024));
})();

/** qtdb/sel302 channel 0, linearly resampled to 130 Hz, in µV. */
export function polarEcgUv(): Int32Array {
  const sig = readRecord(QTDB_302).signals[0];
  const mv = toPhysical(sig);
  const n = Math.floor((mv.length / sig.fs) * POLAR_ECG_FS);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const x = (i * sig.fs) / POLAR_ECG_FS;
    const k = Math.floor(x);
    const f = x - k;
    out[i] = Math.round(((mv[k] ?? 0) * (1 - f) + (mv[k + 1] ?? mv[k] ?? 0) * f) * 1000);
  }
  return out;
}

export interface StrapOptions {
  readonly id?: string;
  readonly name?: string;
  readonly address?: string;
  readonly polar?: boolean;
  /** Never notify anything. */
  readonly silent?: boolean;
  /** Every RR value 0 (a strap that has not locked on). */
  readonly zeroRr?: boolean;
  /** Contact bit; undefined = the strap does not support contact detection. */
  readonly contact?: boolean | undefined;
  /** Notifications per second of heart rate (real straps: 1). */
  readonly hrPerSecond?: number;
  /** Speed-up of the ECG stream relative to real time. */
  readonly ecgSpeed?: number;
  readonly battery?: number;
}

export class SimStrap {
  readonly device: SimDevice;
  /** ECG streaming was started through the control point. */
  ecgStarted = false;
  hrSent = 0;
  ecgSamplesSent = 0;
  private timers: NodeJS.Timeout[] = [];
  private rrAt = 0;
  private readonly ecg: Int32Array | undefined;
  private tsNs = 600_000_000_000_000_000n;
  private toLose = 0;

  constructor(
    private readonly ctl: SimController,
    private readonly o: StrapOptions = {},
  ) {
    const polar = o.polar ?? false;
    this.ecg = polar ? polarEcgUv() : undefined;
    const services = [
      { uuid: HRS_SERVICE, characteristics: [{ uuid: HRS_MEASUREMENT, properties: ['notify'] }] },
      { uuid: BATTERY_SERVICE, characteristics: [{ uuid: BATTERY_LEVEL, properties: ['read', 'notify'], value: Buffer.from([o.battery ?? 87]) }] },
    ];
    if (polar) {
      services.push({
        uuid: PMD_SERVICE,
        characteristics: [
          {
            uuid: PMD_CONTROL,
            properties: ['read', 'write', 'indicate'],
            onWrite: (data: Buffer) => {
              // Start ECG: answer success on the control point, then stream.
              if (data[0] === 0x02 && data[1] === 0x00) {
                this.ctl.notifyValue(this.device.id, PMD_SERVICE, PMD_CONTROL, encodeControlResponse(0x02, 0x00, 0x00));
                this.ecgStarted = true;
              }
            },
          } as never,
          { uuid: PMD_DATA, properties: ['notify'] },
        ],
      });
    }
    this.device = {
      id: o.id ?? (polar ? 'c0ffee000001' : 'c0ffee000002'),
      address: o.address ?? (polar ? 'c0:ff:ee:00:00:01' : 'c0:ff:ee:00:00:02'),
      name: o.name ?? (polar ? 'Polar H10 ABC12345' : 'HRM-Pro 1234'),
      rssi: -61,
      services,
      advertised: [HRS_SERVICE],
    };
    ctl.add(this.device);
  }

  /** Starts the strap's clock: notifications flow whenever a central is subscribed. */
  run(): void {
    if (this.o.silent) return;
    const hrEvery = 1000 / (this.o.hrPerSecond ?? 20);
    this.timers.push(setInterval(() => this.sendHr(), hrEvery));
    if (this.ecg) {
      const frame = 73;
      const every = ((frame / POLAR_ECG_FS) * 1000) / (this.o.ecgSpeed ?? 8);
      // Drift-free on a loaded machine: send every frame that is due by the wall clock.
      let due = performance.now();
      this.timers.push(
        setInterval(() => {
          while (performance.now() >= due) {
            due += every;
            this.sendEcg(frame);
          }
        }, every / 2),
      );
    }
  }

  /** The strap's radio link drops; it comes back after `awayMs` (or stays away if undefined). */
  drop(awayMs?: number): void {
    this.ecgStarted = false;
    this.ctl.drop(this.device.id);
    if (awayMs !== undefined) this.timers.push(setTimeout(() => this.ctl.comeBack(this.device.id), awayMs));
  }

  /** The next `frames` ECG frames are lost on the radio (the strap's clock runs on). */
  loseFrames(frames: number): void {
    this.toLose += frames;
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private sendHr(): void {
    if (!this.ctl.isSubscribed(this.device.id, HRS_SERVICE, HRS_MEASUREMENT)) return;
    // One or two RR values per notification, as straps do when a beat falls inside the window.
    const n = 1 + (this.rrAt % 3 === 0 ? 1 : 0);
    const rr = Array.from({ length: n }, () => (this.o.zeroRr ? 0 : RR1024[this.rrAt++ % RR1024.length]));
    const hrBpm = Math.round(60 / (rr.reduce((a, b) => a + b, 0) / n / 1024 || 1));
    const withEnergy = this.hrSent % 10 === 0;
    const data = encodeHeartRateMeasurement({
      hrBpm: this.o.zeroRr ? 0 : hrBpm,
      hr16: this.hrSent % 2 === 1,
      ...(this.o.contact !== undefined ? { contact: this.o.contact } : 'contact' in this.o ? {} : { contact: true }),
      ...(withEnergy ? { energyKj: this.hrSent } : {}),
      rr1024: rr,
    });
    if (this.ctl.notifyValue(this.device.id, HRS_SERVICE, HRS_MEASUREMENT, data)) this.hrSent++;
  }

  private sendEcg(frame: number): void {
    if (!this.ecg) return;
    // The H10's clock runs whether or not anyone listens.
    if (!this.ecgStarted) {
      this.tsNs += BigInt(Math.round((frame / POLAR_ECG_FS) * 1e9));
      return;
    }
    const from = this.ecgSamplesSent % (this.ecg.length - frame);
    const uv = this.ecg.subarray(from, from + frame);
    this.tsNs += BigInt(Math.round((frame / POLAR_ECG_FS) * 1e9));
    if (this.toLose > 0) {
      this.toLose--;
      this.ecgSamplesSent += frame;
      return;
    }
    if (this.ctl.notifyValue(this.device.id, PMD_SERVICE, PMD_DATA, encodeEcgFrame(this.tsNs, uv))) this.ecgSamplesSent += frame;
  }
}
