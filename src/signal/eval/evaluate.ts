/**
 * `motobio eval`: beat-by-beat accuracy against reference annotations (ANSI/AAMI EC57 style,
 * 150 ms window), per record and gross, with and without the first 5 minutes, paced records
 * apart, R-peak timing spread, and heart-rate error against the reference RR. Records with no
 * annotations but a heart-rate channel (drivedb) are scored on 10-s heart rate instead.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { MotobioError } from '../../util/errors.js';
import { readAnnotations, beatSamples } from '../../sources/wfdb/annotations.js';
import { readRecord, recordBase, toPhysical, type WfdbRecord } from '../../sources/wfdb/record.js';
import { matchBeats, type MatchCounts } from './match.js';
import { addNoise, type NoiseSource } from './noise-stress.js';
import { runChain } from './run-record.js';

const PACED_CODE = 12;
const SKIP_S = 300;
const HR_WINDOW_S = 10;

export interface RecordResult {
  record: string;
  database: string;
  fs: number;
  paced: boolean;
  whole: Counts;
  after5min: Counts;
  /** Detected minus reference, matched beats: mean and SD (ms). */
  offsetMeanMs: number;
  offsetSdMs: number;
  /** Mean absolute difference of 10-s heart rate, detected vs reference beats (bpm). */
  hrMaeBpm: number | null;
  maxReportDelayS: number;
  /** Offsets with the record's mean removed, for the pooled timing SD. */
  centredOffsetsMs: number[];
}

export interface Counts {
  ref: number;
  tp: number;
  fn: number;
  fp: number;
  se: number;
  ppv: number;
}

export interface HrOnlyResult {
  record: string;
  database: string;
  fs: number;
  hrMaeBpm: number;
  windows: number;
}

export interface Group {
  name: string;
  records: string[];
  whole: Counts;
  after5min: Counts;
  timingSdMs: number;
}

export interface EvalReport {
  records: RecordResult[];
  hrOnly: HrOnlyResult[];
  groups: Group[];
}

/** Expands directories into the WFDB records inside them (any record with a .hea). */
export function expandRecords(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (existsSync(p) && statSync(p).isDirectory()) {
      const entries = readdirSync(p, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
      const subdirs = entries.filter((e) => e.isDirectory()).map((e) => join(p, e.name));
      for (const e of entries) if (e.isFile() && e.name.endsWith('.hea')) out.push(join(p, e.name.slice(0, -4)));
      out.push(...expandRecords(subdirs));
    } else {
      const base = recordBase(p);
      if (!existsSync(`${base}.hea`)) throw new MotobioError('RECORD_NOT_FOUND', `${p}: no such record or directory (expected ${base}.hea)`);
      out.push(base);
    }
  }
  return out;
}

export function counts(m: Pick<MatchCounts, 'ref' | 'tp' | 'fn' | 'fp'>): Counts {
  return {
    ref: m.ref,
    tp: m.tp,
    fn: m.fn,
    fp: m.fp,
    se: m.tp + m.fn ? (100 * m.tp) / (m.tp + m.fn) : 100,
    ppv: m.tp + m.fp ? (100 * m.tp) / (m.tp + m.fp) : 100,
  };
}

function sum(list: readonly Counts[]): Counts {
  return counts(list.reduce((a, c) => ({ ref: a.ref + c.ref, tp: a.tp + c.tp, fn: a.fn + c.fn, fp: a.fp + c.fp }), { ref: 0, tp: 0, fn: 0, fp: 0 }));
}

/** Noise to add before the chain sees a record (see noise-stress.ts). */
export interface Stress {
  readonly source: NoiseSource;
  readonly snrDb: number;
}

/**
 * Scores one record: once as recorded, or once per stress (the record is read once either way).
 * A record with no channel `channel` yields nothing.
 */
export function evaluateRecord(base: string, channel = 0, stresses: readonly (Stress | undefined)[] = [undefined]): (RecordResult | HrOnlyResult)[] {
  const rec = readRecord(base);
  const sig = rec.signals[channel];
  if (!sig) return [];
  const database = basename(dirname(base));
  const clean = toPhysical(sig);
  if (!existsSync(`${base}.atr`)) {
    // Noise is scaled by the QRS amplitude of the reference beats, so only annotated records take it.
    if (stresses.some((s) => s !== undefined)) return [];
    const run = runChain(clean, sig.fs);
    const hr = hrChannelMae(rec, run.beats.map((b) => b.timeS));
    return hr ? [{ record: rec.name, database, fs: sig.fs, ...hr }] : [];
  }
  const anns = readAnnotations(base);
  // Annotation sample numbers count frames; in a multi-rate record that is not the ECG's rate.
  const annFs = rec.header.frameRate;
  const refTimes = beatSamples(anns).map((s) => s / annFs);
  const ref = refTimes.map((t) => Math.round(t * sig.fs));
  const paced = anns.filter((a) => a.code === PACED_CODE).length > 0.05 * ref.length;
  return stresses.map((stress): RecordResult => {
    const run = runChain(stress ? addNoise(clean, sig.fs, ref, stress.source, stress.snrDb) : clean, sig.fs);
    const peaks = run.beats.map((b) => b.sample);
    const whole = matchBeats(ref, peaks, sig.fs);
    const late = matchBeats(ref, peaks, sig.fs, SKIP_S);
    const offs = whole.offsetsS.map((s) => s * 1000);
    const mean = offs.length ? offs.reduce((a, b) => a + b, 0) / offs.length : 0;
    const centred = offs.map((o) => o - mean);
    const sd = Math.sqrt(centred.reduce((a, b) => a + b * b, 0) / Math.max(1, centred.length));
    const tag = stress ? `@${stress.snrDb}dB` : '';
    return {
      record: rec.name + tag,
      database: database + tag,
      fs: sig.fs,
      paced,
      whole: counts(whole),
      after5min: counts(late),
      offsetMeanMs: mean,
      offsetSdMs: sd,
      hrMaeBpm: hrMae(refTimes, run.beats.map((b) => b.timeS), refTimes[refTimes.length - 1] ?? 0),
      maxReportDelayS: run.maxReportDelayS,
      centredOffsetsMs: centred,
    };
  });
}

/** Heart rate in consecutive 10-s windows from beat times; null where fewer than 3 beats. */
export function windowedHr(beatTimes: readonly number[], endS: number, windowS = HR_WINDOW_S): (number | null)[] {
  const out: (number | null)[] = [];
  let j = 0;
  for (let t = windowS; t <= endS; t += windowS) {
    while (j < beatTimes.length && beatTimes[j] < t - windowS) j++;
    let k = j;
    while (k < beatTimes.length && beatTimes[k] < t) k++;
    const n = k - j;
    out.push(n >= 3 ? (60 * (n - 1)) / (beatTimes[k - 1] - beatTimes[j]) : null);
  }
  return out;
}

function hrMae(refTimes: readonly number[], detTimes: readonly number[], endS: number): number | null {
  const a = windowedHr(refTimes, endS);
  const b = windowedHr(detTimes, endS);
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x == null || y == null) continue;
    s += Math.abs(x - y);
    n++;
  }
  return n ? s / n : null;
}

/** drivedb: the record's own HR channel (beats per minute) against our 10-s heart rate. */
function hrChannelMae(rec: WfdbRecord, detTimes: readonly number[]): { hrMaeBpm: number; windows: number } | undefined {
  const hr = rec.signals.find((s) => s.spec.description.trim().toUpperCase() === 'HR');
  if (!hr) return undefined;
  const values = toPhysical(hr);
  const endS = values.length / hr.fs;
  const ours = windowedHr(detTimes, endS);
  let s = 0;
  let n = 0;
  for (let w = 0; w < ours.length; w++) {
    const y = ours[w];
    if (y == null) continue;
    const from = Math.floor(w * HR_WINDOW_S * hr.fs);
    const to = Math.floor((w + 1) * HR_WINDOW_S * hr.fs);
    let rs = 0;
    let rn = 0;
    for (let i = from; i < to && i < values.length; i++) {
      const v = values[i];
      if (hr.adc[i] === hr.invalidValue || !(v > 20 && v < 250)) continue;
      rs += v;
      rn++;
    }
    if (rn < (to - from) / 2) continue;
    s += Math.abs(rs / rn - y);
    n++;
  }
  return n ? { hrMaeBpm: s / n, windows: n } : undefined;
}

export interface EvalOptions {
  /** With noise, every annotated record is scored once per SNR (dB) and nothing else is scored. */
  readonly noise?: NoiseSource;
  readonly snrsDb?: readonly number[];
}

export function evaluate(paths: readonly string[], channel = 0, onRecord?: (r: RecordResult | HrOnlyResult) => void, options: EvalOptions = {}): EvalReport {
  const records: RecordResult[] = [];
  const hrOnly: HrOnlyResult[] = [];
  const noise = options.noise;
  const stresses: (Stress | undefined)[] = noise ? (options.snrsDb ?? []).map((snrDb) => ({ source: noise, snrDb })) : [undefined];
  for (const base of expandRecords(paths)) {
    if (noise && resolve(base) === noise.cleanBase) continue;
    for (const r of evaluateRecord(base, channel, stresses)) {
      if ('whole' in r) records.push(r);
      else hrOnly.push(r);
      onRecord?.(r);
    }
  }
  const groups: Group[] = [];
  const byDb = new Map<string, RecordResult[]>();
  for (const r of records) {
    const key = r.paced ? `${r.database} paced` : r.database;
    byDb.set(key, [...(byDb.get(key) ?? []), r]);
  }
  for (const [name, list] of [...byDb].sort()) {
    const pooled = list.flatMap((r) => r.centredOffsetsMs);
    groups.push({
      name,
      records: list.map((r) => r.record),
      whole: sum(list.map((r) => r.whole)),
      after5min: sum(list.map((r) => r.after5min)),
      timingSdMs: Math.sqrt(pooled.reduce((a, b) => a + b * b, 0) / Math.max(1, pooled.length)),
    });
  }
  return { records, hrOnly, groups };
}
