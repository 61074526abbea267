/**
 * The one interface every ECG input implements: HC-05/USB serial front ends, BLE straps
 * (RR-only or Polar H10 raw ECG) and recorded-file replay. The daemon receives a factory
 * `() => EcgSource`, so tests hand in a pty-backed port or a replay without module mocks.
 *
 *   sensor ──bytes──▶ parser ──▶ EcgSource ──'samples' | 'rr'──▶ signal chain
 *                                   └──'status'──▶ health, `motobio status`
 */
import type { EventEmitter } from 'node:events';

export type SourceKind = 'raw' | 'rr';

export type SourceState = 'idle' | 'connecting' | 'streaming' | 'stalled' | 'reconnecting' | 'ended' | 'failed';

/** A chunk of raw ECG on the source's own sample timeline. */
export interface SampleChunk {
  /** Index of the first sample, counted from the start of the stream (gaps advance it). */
  readonly start: number;
  /** ECG in millivolts; NaN marks a sample the sensor flagged as lead-off. */
  readonly mv: Float64Array;
  /** Monotonic arrival time of the last sample, ms (performance.now() scale). */
  readonly receivedAtMs: number;
}

/** RR intervals from a sensor that reports beats rather than ECG (BLE Heart Rate Service). */
export interface RrChunk {
  readonly rrMs: readonly number[];
  /** Heart rate the sensor itself reports, if any. */
  readonly sensorHrBpm?: number;
  readonly contact?: boolean;
  readonly receivedAtMs: number;
}

export interface SourceStatus {
  readonly id: string;
  readonly kind: SourceKind;
  readonly state: SourceState;
  readonly nominalFs?: number;
  readonly measuredFs?: number;
  readonly framesGood: number;
  readonly framesBad: number;
  readonly gaps: number;
  readonly lastDataAgeMs?: number;
  readonly leadOff: boolean;
  readonly batteryPct?: number;
  readonly rssiDbm?: number;
  readonly lastError?: string;
}

export interface EcgSourceEvents {
  samples: [SampleChunk];
  rr: [RrChunk];
  status: [SourceStatus];
  /** A non-fatal problem worth a log line (garbage bytes, a dropped link). */
  warning: [string];
  end: [];
}

export interface EcgSource extends EventEmitter<EcgSourceEvents> {
  readonly id: string;
  readonly kind: SourceKind;
  /** Nominal sampling rate for raw sources. */
  readonly fs: number | undefined;
  start(signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
  status(): SourceStatus;
}

export type EcgSourceFactory = () => EcgSource;
