/**
 * ECG from a serial front end: an AD8232 behind an HC-05 (/dev/rfcomm*), a USB-UART
 * (/dev/ttyUSB*, /dev/ttyACM*) or the Pi's UART (/dev/serial0).
 *
 *   port ──bytes──▶ parser (text | binary | auto) ──ADC counts──▶ AdcScale ──mV──▶ 'samples'
 *     ▲                        │ seq / millis ──▶ sample timeline, gaps, measured rate
 *     └── reopen with capped, jittered backoff when the port closes, errors or stalls
 */
import { performance } from 'node:perf_hooks';
import { MotobioError, errorMessage } from '../../util/errors.js';
import { Backoff, sleep, type BackoffOptions } from '../backoff.js';
import { SourceBase } from '../base.js';
import { AdcScale, type AdcScaleOptions } from './adc.js';
import { AutoParser, createParser } from './detect.js';
import type { FrameParser, ParsedFrame, SerialProtocol } from './parser.js';
import { openSerialPort, type SerialTransport, type SerialTransportFactory } from './transport.js';

export const DEFAULT_BAUD = 115_200;
export const DEFAULT_SERIAL_FS = 250;
/** No data for this long: state 'stalled'. */
export const STALL_MS = 2_000;
/** No data for this long: the link is presumed dead (an rfcomm link can die without closing) and reopened. */
export const STALL_REOPEN_MS = 10_000;
const WATCH_INTERVAL_MS = 250;

export interface SerialSourceOptions {
  readonly path: string;
  readonly baudRate?: number;
  readonly protocol?: SerialProtocol | 'auto';
  /** Nominal sample rate the firmware is set to, Hz. */
  readonly fs?: number;
  readonly adc?: AdcScaleOptions;
  readonly backoff?: BackoffOptions;
  readonly stallMs?: number;
  readonly stallReopenMs?: number;
  readonly id?: string;
  /** How to open the port; the real serialport unless a test hands in something else. */
  readonly open?: SerialTransportFactory;
}

export class SerialSource extends SourceBase {
  readonly path: string;
  readonly baudRate: number;
  readonly scale: AdcScale;
  private readonly protocol: SerialProtocol | 'auto';
  private readonly backoff: Backoff;
  private readonly open: SerialTransportFactory;
  private readonly stallMs: number;
  private readonly stallReopenMs: number;
  private parser: FrameParser | undefined;
  private counted = { good: 0, bad: 0 };
  /** Sensor counter (seq or millis) expected next; undefined after a (re)connect. */
  private expectSeq: number | undefined;
  private lastDeviceMs: number | undefined;
  /** Arrival time of the last sample before this connection; its outage becomes a gap. */
  private outageFromMs: number | undefined;
  private connections = 0;
  /** Bytes dropped by parsers of connections that have since closed. */
  private droppedBefore = 0;

  constructor(options: SerialSourceOptions) {
    const fs = options.fs ?? DEFAULT_SERIAL_FS;
    if (!(fs > 0)) throw new MotobioError('CONFIG_INVALID', `serial fs must be the firmware's sample rate in Hz, got ${fs}`);
    super(options.id ?? `serial:${options.path}`, 'raw', fs);
    this.path = options.path;
    this.baudRate = options.baudRate ?? DEFAULT_BAUD;
    if (!Number.isInteger(this.baudRate) || this.baudRate <= 0) throw new MotobioError('CONFIG_INVALID', `serial baudRate must be a positive whole number such as 115200, got ${this.baudRate}`);
    this.protocol = options.protocol ?? 'auto';
    this.scale = new AdcScale(options.adc);
    this.backoff = new Backoff(options.backoff);
    this.open = options.open ?? openSerialPort;
    this.stallMs = options.stallMs ?? STALL_MS;
    this.stallReopenMs = options.stallReopenMs ?? STALL_REOPEN_MS;
  }

  /** Protocol in use on the current connection, once known. */
  get detectedProtocol(): SerialProtocol | undefined {
    if (this.parser instanceof AutoParser) return this.parser.protocol;
    return this.parser ? (this.protocol as SerialProtocol) : undefined;
  }

  /** Bytes that ended up in no good frame, over all connections. */
  get bytesDropped(): number {
    return this.droppedBefore + (this.parser?.counters.bytesDropped ?? 0);
  }

  /** Successful opens so far (1 + reconnects). */
  get connectionCount(): number {
    return this.connections;
  }

  start(signal?: AbortSignal): Promise<void> {
    return this.startLoop((s) => this.run(s), signal, false);
  }

  stop(): Promise<void> {
    return this.stopLoop();
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let port: SerialTransport;
      try {
        port = await this.open(this.path, this.baudRate);
      } catch (e) {
        this.lastError = errorMessage(e);
        this.setState('reconnecting', this.lastError);
        this.emit('warning', this.lastError);
        await sleep(this.backoff.next(), signal);
        continue;
      }
      if (signal.aborted) {
        port.destroy();
        break;
      }
      this.connections++;
      const why = await this.pump(port, signal);
      if (signal.aborted) break;
      this.setState('reconnecting', `${this.path}: ${why}; reopening`);
      this.emit('warning', `${this.path}: ${why}; reopening`);
      await sleep(this.backoff.next(), signal);
    }
  }

  /** Reads one connection until it closes, errors, stalls for good or the source stops. */
  private pump(port: SerialTransport, signal: AbortSignal): Promise<string> {
    this.parser = this.protocol === 'auto' ? new AutoParser(this.scale.maxCount) : createParser(this.protocol, this.scale.maxCount);
    this.counted = { good: 0, bad: 0 };
    this.expectSeq = undefined;
    this.lastDeviceMs = undefined;
    const age = this.dataAgeMs();
    this.outageFromMs = Number.isFinite(age) ? performance.now() - age : undefined;
    this.rate.reset();
    const openedAt = performance.now();
    return new Promise<string>((resolve) => {
      const finish = (why: string): void => {
        clearInterval(watch);
        port.off('data', onData);
        port.off('close', onClose);
        port.off('error', onError);
        signal.removeEventListener('abort', onAbort);
        // Keep an error listener: a late error on a destroyed port must not crash the process.
        port.on('error', () => undefined);
        port.destroy();
        this.droppedBefore += this.parser?.counters.bytesDropped ?? 0;
        this.parser = undefined;
        resolve(why);
      };
      const onData = (data: Buffer): void => this.onBytes(data);
      const onClose = (): void => finish('port closed (unplugged?)');
      const onError = (e: Error): void => finish(`port error: ${e.message}`);
      const onAbort = (): void => finish('stopped');
      const watch = setInterval(() => {
        const age = Math.min(this.dataAgeMs(), performance.now() - openedAt);
        if (age > this.stallReopenMs) finish(`no data for ${(age / 1000).toFixed(1)} s`);
        else if (age > this.stallMs && this.state === 'streaming') this.setState('stalled', `${this.path}: no data for ${Math.round(age)} ms`);
      }, WATCH_INTERVAL_MS);
      port.on('data', onData);
      port.on('close', onClose);
      port.on('error', onError);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private onBytes(data: Uint8Array): void {
    const parser = this.parser;
    if (!parser) return;
    const now = performance.now();
    const frames = parser.push(data);
    const c = parser.counters;
    this.counters.framesGood += c.framesGood - this.counted.good;
    this.counters.framesBad += c.framesBad - this.counted.bad;
    this.counted = { good: c.framesGood, bad: c.framesBad };
    if (frames.length === 0) return;
    this.backoff.reset();
    // One chunk per contiguous run; a sequence or clock jump starts a new chunk at its own index.
    let cursor = this.nextSample;
    if (this.outageFromMs !== undefined) {
      // First data after a reconnect: the sensor kept sampling while the link was down, so the
      // outage is a gap on the timeline (the chain then breaks its RR series instead of joining
      // the beats either side of it into one short interval).
      const batch = frames.reduce((n, f) => n + f.values.length, 0);
      cursor += Math.max(0, Math.round(((now - this.outageFromMs) * this.fs!) / 1000) - batch);
      this.outageFromMs = undefined;
    }
    let runStart = cursor;
    let run: number[] = [];
    let leadOff = this.leadOff;
    const flush = (): void => {
      if (run.length > 0) this.emitSamples(Float64Array.from(run), runStart, now);
      run = [];
    };
    for (const f of frames) {
      const start = cursor + this.lostBefore(f);
      if (run.length > 0 && start !== runStart + run.length) flush();
      if (run.length === 0) runStart = start;
      for (const v of f.values) run.push(Number.isNaN(v) ? NaN : this.scale.toMv(v));
      cursor = start + f.values.length;
      leadOff = f.leadOff;
    }
    flush();
    this.setLeadOff(leadOff);
    this.rate.add(this.nextSample, now);
  }

  /** Samples the sensor's own counter says were lost just before this frame. */
  private lostBefore(f: ParsedFrame): number {
    let lost = 0;
    if (f.seq !== undefined) {
      if (this.expectSeq !== undefined) {
        const delta = (f.seq - this.expectSeq) & 0xffff;
        // Ahead by less than half the counter range: samples were lost. Otherwise the firmware
        // restarted or repeated itself; carry on without inventing a gap.
        if (delta > 0 && delta < 0x8000) lost = delta;
      }
      this.expectSeq = (f.seq + f.values.length) & 0xffff;
    } else if (f.deviceMs !== undefined) {
      if (this.lastDeviceMs !== undefined) {
        const dt = (f.deviceMs - this.lastDeviceMs) >>> 0;
        const periods = (dt * this.fs!) / 1000;
        // More than one and a half periods by the sensor's own clock: samples were lost.
        if (periods > 1.5 && dt < 60_000) lost = Math.round(periods) - 1;
      }
      this.lastDeviceMs = f.deviceMs;
    }
    return lost;
  }
}
