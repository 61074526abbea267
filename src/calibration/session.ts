/**
 * `motobio calibrate ecg`: a technician's guided check of one ECG sensor, ending in a profile
 * (calibration/profile.schema.json) the daemon applies.
 *
 *   connect ─▶ sample rate ─▶ lead-off ─▶ baseline and noise floor ─▶ amplitude and polarity
 *          ─▶ live heart rate with quality ─▶ PASS/FAIL with reasons ─▶ <dir>/<sensor_id>/history/ (every attempt)
 *                                                                       └ PASS only ─▶ <dir>/<sensor_id>.json (in force)
 *
 * Every step reports progress, so the technician sees what is happening during the minute it
 * takes. The source and its transports are injected, so tests drive a real pty or the
 * simulated radio without module mocks.
 */
import { performance } from 'node:perf_hooks';
import { MotobioError } from '../util/errors.js';
import type { SourceOptions } from '../sources/factory.js';
import type { FeedOutput } from '../sources/feed.js';
import type { Beat } from '../signal/types.js';
import { median } from '../signal/rr.js';
import { SENSOR_ID_PATTERN, sensorIdFor, validateCalibration, type CalibrationProfile } from './profile.js';
import { recordCalibration, type RecordedCalibration } from './store.js';

export interface CalibrationOptions extends SourceOptions {
  readonly device: string;
  readonly seconds?: number;
  readonly technician: string;
  readonly unit: string;
  readonly sensorId?: string;
  readonly firmware?: string;
  readonly model?: string;
  /** Heart rate taken by hand or from a reference monitor, to check ours against. */
  readonly referenceHrBpm?: number;
  /** Where the profile is written; undefined writes nothing. */
  readonly dir?: string;
  readonly clockSynchronized?: boolean;
  readonly onProgress?: (p: CalibrationProgress) => void;
  /** Each chunk through the chain with the source's rate, for a live strip (src/cli/watch/calibration-strip.ts). */
  readonly onChunk?: (o: FeedOutput, fs: number | undefined) => void;
  readonly signal?: AbortSignal;
}

export interface CalibrationProgress {
  readonly step: 'connect' | 'measure' | 'analyse' | 'done';
  readonly elapsedS: number;
  readonly message: string;
  readonly samples?: number;
  readonly fsMeasuredHz?: number;
  readonly leadOffShare?: number;
  readonly hrBpm?: number | null;
  readonly quality?: number;
}

export interface CalibrationResult {
  readonly profile: CalibrationProfile;
  /** The profile in force when this attempt passed; the attempt's history file when it failed. */
  readonly file: string | undefined;
  /** Where it was filed and what stays in force (./store.ts); undefined when `dir` was not given. */
  readonly recorded?: RecordedCalibration;
}

const DEFAULT_SECONDS = 60;
const FIRST_DATA_TIMEOUT_S = 10;
/** Limits a technician can act on; each failure names the fix. */
const MAX_RATE_ERROR = 0.05;
const MAX_LEAD_OFF_SHARE = 0.05;
const MIN_AMPLITUDE_MV = 0.3;
const MAX_NOISE_UV = 100;
const MIN_QUALITY = 0.6;
const MAX_HR_DIFF_BPM = 5;


export async function runCalibration(o: CalibrationOptions): Promise<CalibrationResult> {
  const seconds = o.seconds ?? DEFAULT_SECONDS;
  if (!(seconds >= 10 && seconds <= 600)) throw new MotobioError('USAGE', `calibrate ecg: --seconds must be between 10 and 600, got ${seconds}`);
  const sensorId = o.sensorId ?? sensorIdFor(o.device);
  if (!SENSOR_ID_PATTERN.test(sensorId)) throw new MotobioError('USAGE', `calibrate ecg: "${sensorId}" is not a valid sensor id (letters, digits, ".", "_" or "-")`);
  const progress = o.onProgress ?? (() => undefined);
  const onChunk = o.onChunk;
  const { parseDevice, createSource } = await import('../sources/factory.js');
  const { EcgChain } = await import('../signal/chain.js');
  const { SourceFeed } = await import('../sources/feed.js');
  const target = parseDevice(o.device);
  if (target.transport === 'ble' && o.mode === 'hr') throw new MotobioError('USAGE', 'calibrate ecg needs raw ECG; a heart-rate-only strap has nothing to calibrate');
  // A port the daemon holds is said now, not after a minute of silence (src/sources/serial/port-holder.ts).
  if (target.transport === 'serial' && o.serialOpen === undefined) await (await import('../sources/serial/port-holder.js')).assertPortFree(target.path, o.baud);
  const source = await createSource(target, { ...o, ...(target.transport === 'ble' ? { mode: 'ecg' as const } : {}) });

  const t0 = performance.now();
  const elapsed = (): number => (performance.now() - t0) / 1000;
  const kept: number[] = [];
  const beats: Beat[] = [];
  let samples = 0;
  let leadOff = 0;
  let rrOnly = false;
  // Raw ECG only: an RR-only strap has nothing to calibrate (no chain for it).
  const feed = new SourceFeed(
    source,
    (fs) => (fs ? new EcgChain({ fs }) : undefined),
    (o) => {
      if (!o.mv) return;
      samples += o.mv.length;
      for (let i = 0; i < o.mv.length; i++) {
        if (Number.isNaN(o.mv[i])) leadOff++;
        kept.push(o.mv[i]);
      }
      beats.push(...o.out.beats);
      onChunk?.(o, source.fs);
    },
  );
  feed.attach();
  source.on('rr', () => {
    rrOnly = true;
  });

  const ac = new AbortController();
  o.signal?.addEventListener('abort', () => ac.abort(), { once: true });
  progress({ step: 'connect', elapsedS: 0, message: `connecting to ${o.device}` });
  await source.start(ac.signal);
  const reasons: string[] = [];
  try {
    const firstBy = performance.now() + FIRST_DATA_TIMEOUT_S * 1000;
    while (samples === 0 && performance.now() < firstBy && !ac.signal.aborted && source.status().state !== 'failed') await sleep(100);
    if (samples === 0) {
      const st = source.status();
      reasons.push(
        rrOnly
          ? 'the sensor sends heart-rate intervals only, no raw ECG: calibration needs an ECG front end or a Polar H10 in ECG mode'
          : `no ECG samples within ${FIRST_DATA_TIMEOUT_S} s${st.lastError ? ` (${st.lastError})` : ''}: check that the sensor is powered, paired and on ${o.device}, and the baud rate`,
      );
    } else {
      progress({ step: 'measure', elapsedS: elapsed(), message: `receiving at ${source.fs} Hz nominal; measuring for ${seconds} s: keep the rider still` });
      const end = performance.now() + seconds * 1000;
      let nextReport = performance.now() + 1000;
      while (performance.now() < end && !ac.signal.aborted && source.status().state !== 'failed') {
        await sleep(Math.min(200, Math.max(1, end - performance.now())));
        if (performance.now() >= nextReport && feed.chain) {
          nextReport += 1000;
          const f = feed.chain.features();
          progress({
            step: 'measure',
            elapsedS: elapsed(),
            message: `${Math.round(elapsed())} s: ${f.hrBpm === null ? 'heart rate: waiting for beats' : `heart rate ${f.hrBpm.toFixed(0)} bpm`}, quality ${f.quality.toFixed(2)}${f.leadOff ? ', LEADS OFF' : ''}`,
            samples,
            fsMeasuredHz: source.status().measuredFs,
            leadOffShare: samples ? leadOff / samples : 0,
            hrBpm: f.hrBpm,
            quality: f.quality,
          });
        }
      }
    }
  } finally {
    await source.stop();
  }
  progress({ step: 'analyse', elapsedS: elapsed(), message: 'analysing' });

  const fsNominal = source.fs ?? o.fs ?? 1;
  const duration = elapsed();
  const fsMeasured = source.status().measuredFs ?? (samples > 0 ? samples / duration : fsNominal);
  const leadOffShare = samples ? leadOff / samples : 0;
  const m = measure(Float64Array.from(kept), fsNominal, beats);
  const hr = beats.length >= 3 ? (60 * (beats.length - 1)) / (beats[beats.length - 1].timeS - beats[0].timeS) : null;
  const quality = feed.chain ? feed.chain.meanQuality(seconds) : 0;

  if (samples > 0) {
    if (Math.abs(fsMeasured - fsNominal) > MAX_RATE_ERROR * fsNominal) {
      reasons.push(`sample rate ${fsMeasured.toFixed(1)} Hz, expected ${fsNominal} Hz: check the firmware's sampling timer and the baud rate (the link may be dropping data)`);
    }
    if (leadOffShare > MAX_LEAD_OFF_SHARE) {
      reasons.push(`leads off ${(100 * leadOffShare).toFixed(0)} % of the time: check that all three electrodes touch skin, moisten them, and check the lead cable`);
    } else if (hr === null) {
      reasons.push('no heartbeat found: check electrode placement (chest, either side of the sternum and lower left) and that the cable is plugged in');
    } else {
      if (m.amplitudeMv < MIN_AMPLITUDE_MV) reasons.push(`QRS amplitude ${m.amplitudeMv.toFixed(2)} mV is under ${MIN_AMPLITUDE_MV} mV: move the electrodes closer to the heart's axis or check the front end's gain`);
      if (m.noiseUv > MAX_NOISE_UV) reasons.push(`noise floor ${m.noiseUv.toFixed(0)} µV rms is over ${MAX_NOISE_UV} µV: re-seat the electrodes, keep the cable away from the ignition and the rider still`);
      if (quality < MIN_QUALITY) reasons.push(`signal quality ${quality.toFixed(2)} is under ${MIN_QUALITY}: re-seat the electrodes and repeat`);
      if (o.referenceHrBpm !== undefined && Math.abs(hr - o.referenceHrBpm) > MAX_HR_DIFF_BPM) {
        reasons.push(`heart rate ${hr.toFixed(0)} bpm differs from the reference ${o.referenceHrBpm} bpm by more than ${MAX_HR_DIFF_BPM}: check for a second source of beats (pacemaker spikes, muscle noise)`);
      }
    }
  }
  const pass = reasons.length === 0;
  const notes = pass && m.polarity === -1 ? ['polarity inverted: electrodes swapped, corrected in software'] : [];
  const profile = validateCalibration(
    {
      schema_version: 1,
      sensor_id: sensorId,
      sensor: {
        kind: target.transport === 'ble' ? 'ble' : 'serial',
        device: o.device,
        firmware: o.firmware ?? 'unknown',
        ...(o.model !== undefined ? { model: o.model } : {}),
      },
      unit: o.unit,
      technician: o.technician,
      time: localIso(new Date()),
      ...(o.clockSynchronized !== undefined ? { clock_synchronized: o.clockSynchronized } : {}),
      result: pass ? 'pass' : 'fail',
      reasons: pass ? notes : reasons,
      measured: {
        duration_s: round(duration, 1),
        fs_nominal_hz: fsNominal,
        fs_measured_hz: round(fsMeasured, 2),
        lead_off: leadOff > 0,
        baseline_mv: round(m.baselineMv, 3),
        noise_floor_uv_rms: round(m.noiseUv, 1),
        amplitude_mv: round(m.amplitudeMv, 3),
        polarity: m.polarity,
        hr_bpm: hr === null || hr < 20 || hr > 250 ? null : round(hr, 1),
        ...(o.referenceHrBpm !== undefined ? { hr_reference_bpm: o.referenceHrBpm } : {}),
        quality: round(quality, 3),
      },
      apply: { gain: 1, invert: m.polarity === -1, fs_hz: round(Math.abs(fsMeasured - fsNominal) <= MAX_RATE_ERROR * fsNominal ? fsMeasured : fsNominal, 2) },
    },
    'the measured profile',
  );
  // A failed attempt is kept in the history only: the last passing profile stays in force.
  const recorded = o.dir === undefined ? undefined : recordCalibration(o.dir, profile);
  progress({ step: 'done', elapsedS: elapsed(), message: pass ? 'PASS' : `FAIL: ${reasons.join('; ')}` });
  return { profile, file: recorded === undefined ? undefined : recorded.applied ? recorded.inForceFile : recorded.historyFile, ...(recorded ? { recorded } : {}) };
}

interface Measures {
  baselineMv: number;
  noiseUv: number;
  amplitudeMv: number;
  polarity: 1 | -1;
}

/**
 * Baseline: the median input level. Noise floor: the rms of the first difference between
 * beats (QRS complexes excluded), scaled to the rms of white noise. Amplitude and polarity:
 * the median signed R-peak deflection from the detector's filtered copy.
 */
function measure(x: Float64Array, fs: number, beats: readonly Beat[]): Measures {
  const valid = x.filter((v) => !Number.isNaN(v));
  const baselineMv = valid.length ? median(Array.from(valid)) : 0;
  const mask = new Uint8Array(x.length);
  const half = Math.round(0.15 * fs);
  for (const b of beats) for (let i = Math.max(0, b.sample - half); i <= Math.min(x.length - 1, b.sample + 2 * half); i++) mask[i] = 1;
  let sq = 0;
  let n = 0;
  for (let i = 1; i < x.length; i++) {
    if (mask[i] || mask[i - 1] || Number.isNaN(x[i]) || Number.isNaN(x[i - 1])) continue;
    const d = x[i] - x[i - 1];
    sq += d * d;
    n++;
  }
  // The difference of white noise has twice its variance.
  const noiseUv = n ? Math.sqrt(sq / n / 2) * 1000 : 0;
  const amps = beats.map((b) => b.amplitude);
  const med = amps.length ? median(amps) : 0;
  return { baselineMv, noiseUv, amplitudeMv: Math.abs(med), polarity: med < 0 ? -1 : 1 };
}


function round(v: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}

/** ISO 8601 with the local offset, as the audit record wants the technician's own clock. */
function localIso(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const pad = (v: number): string => String(Math.floor(Math.abs(v))).padStart(2, '0');
  const local = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19);
  return `${local}${sign}${pad(off / 60)}:${pad(off % 60)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
