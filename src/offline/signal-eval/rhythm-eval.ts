/**
 * `motobio eval --rhythm`: rhythm episodes against the records' rhythm annotations (EC57 episode
 * and duration Se / +P for AF, VT and VF), false alarms per hour on records without the rhythm,
 * detection delays, and the ventricular beat class (AAMI V) Se / +P.
 *
 *   record ─▶ ECG through EcgChain (runChain)  ─┐
 *         └▶ --beats ANN: beat times ─▶ runRr ──┴▶ episodes ─▶ score.ts vs .atr rhythms ─▶ figures
 *
 * The same rules as ../shared/tools/rhythm.py (the independent cross-check).
 */
import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { MotobioError } from '../../util/errors.js';
import { readAnnotations, BEAT_CODES, type Annotation } from '../../sources/wfdb/annotations.js';
import { readRecord, toPhysical } from '../../sources/wfdb/record.js';
import type { BeatClass, RhythmEpisode } from '../../signal/rhythm/types.js';
import { REFERENCE_LABELS, addScores, ratesOf, referenceEpisodes, scoreEpisodes, type EpisodeScore, type ScoredType } from '../../signal/rhythm/score.js';
import { expandRecords } from './evaluate.js';
import { runChain, runRr } from './run-record.js';

export interface RhythmRun {
  record: string;
  database: string;
  /** The rate sample numbers count at (the annotations' frame rate). */
  fs: number;
  durationS: number;
  episodes: RhythmEpisode[];
  /** Detected beats (samples at fs) and their classes; empty for RR-only runs. */
  peaks: number[];
  classes: BeatClass[];
  rrOnly: boolean;
}

/** Streams one record: its ECG channel through the whole chain, or with `beats` the annotated beat times as an RR stream. */
export function runRhythm(base: string, options: { beats?: string; channel?: number } = {}): RhythmRun {
  const rec = readRecord(base);
  const database = basename(dirname(base));
  const fs = rec.header.frameRate;
  if (options.beats !== undefined) {
    const anns = readAnnotations(base, options.beats);
    const times = anns.filter((a) => BEAT_CODES.has(a.code)).map((a) => a.sample / fs);
    if (times.length < 2) throw new MotobioError('RECORD_INVALID', `${base}.${options.beats}: fewer than 2 beats, nothing to make RR intervals from`);
    const durationS = rec.header.frames !== undefined ? rec.header.frames / fs : times[times.length - 1];
    return { record: rec.name, database, fs, durationS, episodes: runRr(times).rhythm, peaks: anns.filter((a) => BEAT_CODES.has(a.code)).map((a) => a.sample), classes: [], rrOnly: true };
  }
  const sig = rec.signals[options.channel ?? 0];
  if (!sig) {
    const why = rec.signals.length === 0 ? 'has no signals (an annotation-only record); give --beats ANNOTATOR (e.g. --beats qrs) to use its beat annotations as an RR stream' : `has no channel ${options.channel ?? 0}`;
    throw new MotobioError('USAGE', `${base}: the record ${why}`);
  }
  const run = runChain(toPhysical(sig), sig.fs);
  const k = fs / sig.fs;
  const cls = new Map(run.beatClasses.map((c) => [c.sample, c.cls]));
  return {
    record: rec.name,
    database,
    fs,
    durationS: sig.adc.length / sig.fs,
    episodes: run.rhythm,
    peaks: run.beats.map((b) => Math.round(b.sample * k)),
    classes: run.beats.map((b) => cls.get(b.sample) ?? 'N'),
    rrOnly: false,
  };
}

export interface RhythmRecordResult {
  record: string;
  database: string;
  hours: number;
  rrOnly: boolean;
  /** Paced records (mitdb 102, 104, 107, 217) are reported apart, as the beat evaluation does. */
  paced: boolean;
  /** Per type: the EC57 counts against the reference, or undefined when the record has no rhythm annotations. */
  scores: Partial<Record<ScoredType, EpisodeScore>>;
  /** Detected episodes per type (all of them), for false alarms on unannotated records. */
  detected: Record<ScoredType | 'pause', number>;
  /** Ventricular beat class against the reference beat labels (ECG runs with .atr). */
  vClass?: VClassCounts;
}

export interface VClassCounts {
  tp: number;
  fn: number;
  fp: number;
}

const TYPES: ScoredType[] = ['AF', 'VT', 'VF'];
/** AAMI V: premature ventricular contraction and ventricular escape. Fusion (F) and unclassifiable (Q) beats are not held against a V call (EC57). */
const V_CODES = new Set([5, 10]);
const NOT_SCORED = new Set([6, 12, 13, 38]);
const PACED_CODE = 12;

export function scoreRhythm(run: RhythmRun, base: string): RhythmRecordResult {
  const detected = { AF: 0, VT: 0, VF: 0, pause: 0 };
  for (const e of run.episodes) detected[e.type]++;
  const scores: Partial<Record<ScoredType, EpisodeScore>> = {};
  let vClass: VClassCounts | undefined;
  let paced = false;
  if (existsSync(`${base}.atr`)) {
    const anns = readAnnotations(base);
    for (const t of TYPES) {
      const ref = referenceEpisodes(anns, run.fs, run.durationS, REFERENCE_LABELS[t]);
      scores[t] = scoreEpisodes(ref, run.episodes.filter((e) => e.type === t));
    }
    paced = anns.filter((a) => a.code === PACED_CODE).length > 100;
    if (!run.rrOnly && !paced) vClass = scoreClasses(anns, run);
  }
  return { record: run.record, database: run.database, hours: run.durationS / 3600, rrOnly: run.rrOnly, paced, scores, detected, vClass };
}

/** Pairs each reference beat with the nearest unused detection within 150 ms, as match.ts does, and counts V calls. */
function scoreClasses(anns: readonly Annotation[], run: RhythmRun): VClassCounts {
  const ref = anns.filter((a) => BEAT_CODES.has(a.code));
  const win = Math.round(0.15 * run.fs);
  const used = new Uint8Array(run.peaks.length);
  let tp = 0;
  let fn = 0;
  let fp = 0;
  let j = 0;
  for (const r of ref) {
    while (j < run.peaks.length && run.peaks[j] < r.sample - win) j++;
    let best = -1;
    let bestDist = Infinity;
    for (let k = j; k < run.peaks.length && run.peaks[k] <= r.sample + win; k++) {
      const d = Math.abs(run.peaks[k] - r.sample);
      if (!used[k] && d < bestDist) {
        bestDist = d;
        best = k;
      }
    }
    const refV = V_CODES.has(r.code);
    if (best < 0) {
      if (refV) fn++;
      continue;
    }
    used[best] = 1;
    const v = run.classes[best] === 'V';
    if (refV && v) tp++;
    else if (refV) fn++;
    else if (v && !NOT_SCORED.has(r.code)) fp++;
  }
  // A false beat called ventricular is a false ventricular call.
  for (let k = 0; k < run.peaks.length; k++) if (!used[k] && run.classes[k] === 'V') fp++;
  return { tp, fn, fp };
}

export interface RhythmReport {
  records: RhythmRecordResult[];
  /** Per database (and "afdb (RR)" for RR-only runs), per type. */
  groups: RhythmGroup[];
}

export interface RhythmGroup {
  name: string;
  hours: number;
  type: ScoredType;
  score: EpisodeScore;
  /** Detected episodes on records with no reference episode of the type, per hour of those records. */
  falseAlarmsPerHour: number;
  falseAlarms: number;
  hoursWithout: number;
}

export function evaluateRhythm(paths: readonly string[], options: { beats?: string; channel?: number } = {}, onRecord?: (r: RhythmRecordResult) => void): RhythmReport {
  const records: RhythmRecordResult[] = [];
  for (const base of expandRecords(paths)) {
    const rec = readRecord(base);
    // Without --beats, annotation-only records (afdb) have nothing to stream; with it, records without that annotator are skipped.
    if (options.beats === undefined && rec.signals.length === 0) continue;
    if (options.beats !== undefined && !existsSync(`${base}.${options.beats}`)) continue;
    if (options.beats === undefined && !rec.signals[options.channel ?? 0]) continue;
    const r = scoreRhythm(runRhythm(base, options), base);
    records.push(r);
    onRecord?.(r);
  }
  const groups: RhythmGroup[] = [];
  const byDb = new Map<string, RhythmRecordResult[]>();
  for (const r of records) {
    const key = `${r.database}${r.rrOnly ? '-rr' : ''}${r.paced ? ' paced' : ''}`;
    byDb.set(key, [...(byDb.get(key) ?? []), r]);
  }
  for (const [name, list] of [...byDb].sort()) {
    for (const type of TYPES) {
      const scored = list.filter((r) => r.scores[type]);
      const without = list.filter((r) => !r.scores[type] || r.scores[type].refEpisodes === 0);
      const falseAlarms = without.reduce((a, r) => a + r.detected[type], 0);
      const hoursWithout = without.reduce((a, r) => a + r.hours, 0);
      groups.push({
        name,
        hours: list.reduce((a, r) => a + r.hours, 0),
        type,
        score: addScores(scored.map((r) => r.scores[type]!)),
        falseAlarms,
        hoursWithout,
        falseAlarmsPerHour: hoursWithout > 0 ? falseAlarms / hoursWithout : 0,
      });
    }
  }
  return { records, groups };
}

export function vClassOf(records: readonly RhythmRecordResult[]): { se: number; ppv: number; counts: VClassCounts } | undefined {
  const list = records.filter((r) => r.vClass);
  if (list.length === 0) return undefined;
  const c = list.reduce((a, r) => ({ tp: a.tp + r.vClass!.tp, fn: a.fn + r.vClass!.fn, fp: a.fp + r.vClass!.fp }), { tp: 0, fn: 0, fp: 0 });
  return { se: c.tp + c.fn ? (100 * c.tp) / (c.tp + c.fn) : 100, ppv: c.tp + c.fp ? (100 * c.tp) / (c.tp + c.fp) : 100, counts: c };
}

export { ratesOf };
