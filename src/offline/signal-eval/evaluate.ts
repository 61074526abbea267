/**
 * `motobio eval`: beat-by-beat accuracy against reference annotations (ANSI/AAMI EC57 style,
 * 150 ms window), per record and gross, with and without the first 5 minutes, paced records
 * apart, R-peak timing spread, and heart-rate error against the reference RR. Records with no
 * annotations but a heart-rate channel (drivedb) are scored on 10-s heart rate instead.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { MotobioError, isMotobioError } from '../../util/errors.js';
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
  /** 10-s windows scored: the reference HR valid and at least 3 detected beats. */
  windows: number;
  /** Windows where the reference HR is valid (what the record offers to be scored on). */
  refWindows: number;
  /** Of those, windows left out of hrMaeBpm because the detector found fewer than 3 beats. */
  missedWindows: number;
  /** missedWindows as a share of refWindows, %: held beside hrMaeBpm so dropping beats cannot improve it. */
  hrMissedPct: number;
}

/** A record found but not scored, and why: reported, and a ratchet fails on it when it is pinned. */
export interface SkippedRecord {
  record: string;
  database: string;
  reason: string;
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
  skipped: SkippedRecord[];
}

/** Expands directories into the WFDB records inside them (any record with a .hea). */
export function expandRecords(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (existsSync(p) && statSync(p).isDirectory()) {
      const entries = readdirSync(p, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
      // A symlink counts as what it points to (a data folder assembled from links is still data).
      const kind = (e: (typeof entries)[number]): 'dir' | 'file' | 'other' => {
        if (e.isSymbolicLink()) {
          const st = statSync(join(p, e.name), { throwIfNoEntry: false });
          return st?.isDirectory() ? 'dir' : st?.isFile() ? 'file' : 'other';
        }
        return e.isDirectory() ? 'dir' : e.isFile() ? 'file' : 'other';
      };
      const subdirs = entries.filter((e) => kind(e) === 'dir').map((e) => join(p, e.name));
      for (const e of entries) if (kind(e) === 'file' && e.name.endsWith('.hea')) out.push(join(p, e.name.slice(0, -4)));
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

/** What scoring one record gave: its results, or why it could not be scored. */
export type RecordOutcome = { scored: (RecordResult | HrOnlyResult)[] } | { skipped: string };

/**
 * Scores one record: once as recorded, or once per stress (the record is read once either way).
 * A record that cannot be scored (no channel `channel`, no annotations and no HR channel, no
 * window to compare) says why instead of yielding nothing, so a ratchet can fail on it.
 */
export function evaluateRecord(base: string, channel = 0, stresses: readonly (Stress | undefined)[] = [undefined]): RecordOutcome {
  const rec = readRecord(base);
  const sig = rec.signals[channel];
  if (!sig && rec.signals.length === 0) return { skipped: `${rec.base}.hea: the record has 0 signals (annotations only): beats are scored on ECG; score its rhythm from the beat annotations with eval --rhythm --beats qrs` };
  if (!sig) return { skipped: `no channel ${channel} (the record has ${rec.signals.length})` };
  const database = basename(dirname(base));
  const clean = toPhysical(sig);
  if (!existsSync(`${base}.atr`)) {
    // Noise is scaled by the QRS amplitude of the reference beats, so only annotated records take it.
    if (stresses.some((s) => s !== undefined)) return { skipped: 'no reference annotations (.atr), which noise stress needs' };
    const run = runChain(clean, sig.fs);
    const hr = hrChannelMae(rec, run.beats.map((b) => b.timeS));
    if (typeof hr === 'string') return { skipped: hr };
    return { scored: [{ record: rec.name, database, fs: sig.fs, ...hr }] };
  }
  const anns = readAnnotations(base);
  // Annotation sample numbers count frames; in a multi-rate record that is not the ECG's rate.
  const annFs = rec.header.frameRate;
  const refTimes = beatSamples(anns).map((s) => s / annFs);
  const ref = refTimes.map((t) => Math.round(t * sig.fs));
  const paced = anns.filter((a) => a.code === PACED_CODE).length > 0.05 * ref.length;
  return { scored: stresses.map((stress): RecordResult => {
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
  }) };
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

type HrScore = Pick<HrOnlyResult, 'hrMaeBpm' | 'windows' | 'refWindows' | 'missedWindows' | 'hrMissedPct'>;

/**
 * drivedb: the record's own HR channel (beats per minute) against our 10-s heart rate. A window
 * with a valid reference and fewer than 3 detected beats is not in the mean; it is counted as
 * missed, so the mean cannot improve by losing beats. Why nothing could be scored, as a string.
 */
function hrChannelMae(rec: WfdbRecord, detTimes: readonly number[]): HrScore | string {
  const hr = rec.signals.find((s) => s.spec.description.trim().toUpperCase() === 'HR');
  if (!hr) return 'no reference annotations (.atr) and no HR channel to score against';
  const values = toPhysical(hr);
  const endS = values.length / hr.fs;
  const ours = windowedHr(detTimes, endS);
  let s = 0;
  let n = 0;
  let refWindows = 0;
  let missed = 0;
  for (let w = 0; w < ours.length; w++) {
    const y = ours[w];
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
    refWindows++;
    if (y == null) {
      missed++;
      continue;
    }
    s += Math.abs(rs / rn - y);
    n++;
  }
  if (n === 0) return `no 10-s window to score: ${refWindows} with a valid reference HR, ${missed} of them with fewer than 3 detected beats`;
  return { hrMaeBpm: s / n, windows: n, refWindows, missedWindows: missed, hrMissedPct: (100 * missed) / refWindows };
}

export interface EvalOptions {
  /** With noise, every annotated record is scored once per SNR (dB) and nothing else is scored. */
  readonly noise?: NoiseSource;
  readonly snrsDb?: readonly number[];
}

export function evaluate(
  paths: readonly string[],
  channel = 0,
  onRecord?: (r: RecordResult | HrOnlyResult) => void,
  options: EvalOptions = {},
  onSkip?: (s: SkippedRecord) => void,
): EvalReport {
  const records: RecordResult[] = [];
  const hrOnly: HrOnlyResult[] = [];
  const skipped: SkippedRecord[] = [];
  const noise = options.noise;
  const stresses: (Stress | undefined)[] = noise ? (options.snrsDb ?? []).map((snrDb) => ({ source: noise, snrDb })) : [undefined];
  // A record named on the command line that cannot be read is the caller's error; one found in a
  // folder is reported as skipped (afdb's annotation-only headers, say) and the scoring goes on.
  const named = new Set(paths.filter((p) => !(existsSync(p) && statSync(p).isDirectory())).map((p) => resolve(recordBase(p))));
  for (const base of expandRecords(paths)) {
    const skip = (reason: string): void => {
      skipped.push({ record: basename(base), database: basename(dirname(base)), reason });
      onSkip?.(skipped[skipped.length - 1]);
    };
    if (noise && resolve(base) === noise.cleanBase) {
      skip('the clean source of the noise (stressing it would only rebuild nstdb)');
      continue;
    }
    let outcome: RecordOutcome;
    try {
      outcome = evaluateRecord(base, channel, stresses);
    } catch (e) {
      if (named.has(resolve(base)) || !isMotobioError(e)) throw e;
      skip(e.message);
      continue;
    }
    if ('skipped' in outcome) {
      skip(outcome.skipped);
      continue;
    }
    for (const r of outcome.scored) {
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
  return { records, hrOnly, groups, skipped };
}
