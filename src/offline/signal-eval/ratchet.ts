/**
 * The accuracy ratchet: what CI's evaluation must reproduce and may not fall below.
 *
 *   eval report ──figuresOf──▶ measured figures ─┐
 *        └──────censusOf───▶ records scored ─────┼─▶ checkRatchet ─▶ failures / improvements
 *   accuracy.json (records pinned, best values) ─┤
 *   targets.ts (targets, tolerances: in code) ───┘        update ─▶ accuracy.json, raised
 *
 * The file pins the record set, with the reference beats of each record, so a smaller folder, a
 * record that lost a channel or a re-annotated record fails instead of being scored as if nothing
 * happened. Each figure is held at its best measured value minus a stated slide (a few beats: Se
 * and +P trade), and never below its target in code: the JSON can raise a floor, not lower one
 * below the target. `update` raises bests and never lowers them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { MotobioError, errorMessage } from '../../util/errors.js';
import type { EvalReport } from './evaluate.js';
import { TARGETS, TOLERANCE_BEATS, TOLERANCE_BY_UNIT } from './targets.js';

/** A figure as measured by one run (the `figures` of `eval --json`). */
export interface Figure {
  value: number;
  /** 'higher' when bigger is better (Se, +P), 'lower' for errors (timing SD, HR error). */
  better: 'higher' | 'lower';
  target?: number;
  /** Se: TP+FN, +P: TP+FP. The beats a slide of TOLERANCE_BEATS is taken against. */
  beats?: number;
}

export type Figures = Record<string, Figure>;

/** A figure as the ratchet file records it. Only `best` is read back; the rest is for the reader. */
export interface RecordedFigure {
  best: number;
  better: 'higher' | 'lower';
  target?: number;
  /** How far the figure may slide from its best, in words: "3 beats of 2278 = 0.132 pp". */
  slide: string;
  /** The floor (ceiling for 'lower') at the time of writing: max(target, best - slide). */
  floor: number;
}

/** What a pinned record must show: reference beats (annotated) or valid reference HR windows (drivedb). */
export interface PinnedRecord {
  beats?: number;
  hrWindows?: number;
}

/** database -> record -> what it must show. */
export type PinnedRecords = Record<string, Record<string, PinnedRecord>>;

export interface RatchetFile {
  about: string;
  rules: string[];
  records: PinnedRecords;
  figures: Record<string, RecordedFigure>;
}

/** What one run scored, by "database/record" (a noise run scores a record once per SNR). */
export interface Census {
  scored: Map<string, PinnedRecord[]>;
  skipped: Map<string, string>;
}

/** Slack for run-to-run float noise; detection is deterministic, so this only absorbs rounding. */
const EPSILON = 0.001;

const round = (v: number): number => Math.round(v * 1000) / 1000;
/** A noise run names records NAME@SNRdB in DATABASE@SNRdB; the pinned record is the one underneath. */
const untag = (s: string): string => s.replace(/@-?\d+(\.\d+)?dB$/, '');

export function figuresOf(report: EvalReport): Figures {
  const f: Figures = {};
  const put = (key: string, value: number, better: Figure['better'], beats?: number): void => {
    const target = TARGETS[key];
    f[key] = { value: round(value), better, ...(target === undefined ? {} : { target }), ...(beats === undefined ? {} : { beats }) };
  };
  for (const g of report.groups) {
    if (g.name === 'nstdb') continue; // each noise level is its own figure below
    put(`${g.name}.se`, g.whole.se, 'higher', g.whole.tp + g.whole.fn);
    put(`${g.name}.ppv`, g.whole.ppv, 'higher', g.whole.tp + g.whole.fp);
    if (g.name === 'mitdb') put('mitdb.timingSdMs', g.timingSdMs, 'lower');
  }
  for (const r of report.records) {
    if (r.database !== 'nstdb') continue;
    put(`nstdb/${r.record}.se`, r.whole.se, 'higher', r.whole.tp + r.whole.fn);
    put(`nstdb/${r.record}.ppv`, r.whole.ppv, 'higher', r.whole.tp + r.whole.fp);
  }
  for (const r of report.hrOnly) {
    put(`${r.database}/${r.record}.hrMaeBpm`, r.hrMaeBpm, 'lower');
    put(`${r.database}/${r.record}.hrMissedPct`, r.hrMissedPct, 'lower');
  }
  return f;
}

/** The records a run scored and skipped, for checking against the pinned set. */
export function censusOf(report: Pick<EvalReport, 'records' | 'hrOnly'> & { skipped?: EvalReport['skipped'] }): Census {
  const scored = new Map<string, PinnedRecord[]>();
  const add = (db: string, rec: string, p: PinnedRecord): void => {
    const key = `${untag(db)}/${untag(rec)}`;
    scored.set(key, [...(scored.get(key) ?? []), p]);
  };
  for (const r of report.records) add(r.database, r.record, { beats: r.whole.ref });
  for (const r of report.hrOnly) add(r.database, r.record, { hrWindows: r.refWindows });
  const skipped = new Map<string, string>();
  for (const s of report.skipped ?? []) skipped.set(`${s.database}/${s.record}`, s.reason);
  return { scored, skipped };
}

/** The slide a figure is allowed, as an amount in its unit and in words. */
export function slideOf(key: string, measured: Pick<Figure, 'beats'>): { amount: number; text: string } {
  const suffix = key.slice(key.lastIndexOf('.') + 1);
  if (suffix === 'se' || suffix === 'ppv') {
    const beats = measured.beats;
    if (!beats) return { amount: 0, text: 'no beats to slide by' };
    const pp = (100 * TOLERANCE_BEATS) / beats;
    return { amount: pp, text: `${TOLERANCE_BEATS} beats of ${beats} = ${pp.toFixed(3)} pp` };
  }
  const unit = TOLERANCE_BY_UNIT[suffix];
  return unit ? { amount: unit.amount, text: `${unit.amount} ${unit.unit}` } : { amount: 0, text: 'none' };
}

/**
 * What a figure may not be worse than: its best minus the slide, and never worse than its target
 * in code (TARGETS), whatever `best` says. A figure below its target fails.
 */
export function floorOf(key: string, best: number, better: Figure['better'], slide: number): number {
  const target = TARGETS[key];
  const slid = better === 'higher' ? best - slide : best + slide;
  if (target === undefined) return round(slid);
  return round(better === 'higher' ? Math.max(target, slid) : Math.min(target, slid));
}

const worseThan = (v: number, floor: number, better: Figure['better']): boolean => (better === 'higher' ? v < floor - EPSILON : v > floor + EPSILON);
const betterThan = (v: number, best: number, better: Figure['better']): boolean => (better === 'higher' ? v > best + EPSILON : v < best - EPSILON);

export function readRatchet(path: string): RatchetFile {
  let parsed: Partial<RatchetFile>;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<RatchetFile>;
  } catch (e) {
    throw new MotobioError('RATCHET_INVALID', `${path}: cannot read the accuracy ratchet (${errorMessage(e)}); restore it from git`);
  }
  // The format before records were pinned held `value` where `best` is now.
  const figures: Record<string, RecordedFigure> = {};
  for (const [k, f] of Object.entries(parsed.figures ?? {})) {
    const old = f as RecordedFigure & { value?: number };
    const best = typeof old.best === 'number' ? old.best : old.value;
    if (typeof best !== 'number' || (old.better !== 'higher' && old.better !== 'lower')) {
      throw new MotobioError('RATCHET_INVALID', `${path}: figure ${k} needs a numeric "best" and "better" of "higher" or "lower"; restore the file from git`);
    }
    figures[k] = { ...old, best };
  }
  return { about: parsed.about ?? '', rules: parsed.rules ?? [], records: parsed.records ?? {}, figures };
}

/** Kinds `update` may repair (it pins and records what is new); the others it refuses to paper over. */
export type FailureKind = 'unpinned' | 'unrecorded' | 'stale' | 'missing' | 'mismatch' | 'regression';

export interface Failure {
  kind: FailureKind;
  message: string;
}

export interface RatchetCheck {
  failures: Failure[];
  improvements: string[];
}

const describePinned = (p: PinnedRecord): string => (p.beats !== undefined ? `${p.beats} reference beats` : `${p.hrWindows ?? 0} windows with a valid reference HR`);
const samePinned = (a: PinnedRecord, b: PinnedRecord): boolean => a.beats === b.beats && a.hrWindows === b.hrWindows;

/** Checks the record set, then every figure recorded or measured with a target. `file` names the ratchet in messages. */
export function checkRatchet(ratchet: RatchetFile, measured: Figures, census: Census, file = 'the ratchet file'): RatchetCheck {
  const failures: Failure[] = [];
  const improvements: string[] = [];
  const fail = (kind: FailureKind, message: string): void => {
    failures.push({ kind, message });
  };

  if (Object.keys(ratchet.records).length === 0) {
    fail('unpinned', `${file} pins no records (an older format?): pin the record set this run scored with --update`);
  }
  for (const [db, recs] of Object.entries(ratchet.records)) {
    const names = Object.keys(recs);
    if (!names.some((n) => census.scored.has(`${db}/${n}`))) {
      fail('missing', `database ${db}: none of its ${names.length} pinned records was scored; give eval the folder that holds it (e.g. ../shared/data/${db}), or restore it from PhysioNet`);
      continue;
    }
    for (const [name, pin] of Object.entries(recs)) {
      const key = `${db}/${name}`;
      const got = census.scored.get(key);
      if (!got) {
        const why = census.skipped.get(key);
        fail(
          'missing',
          why
            ? `record ${key}: pinned in ${file} but skipped: ${why}`
            : `record ${key}: pinned in ${file} (${describePinned(pin)}) but not in the data given; restore it (PhysioNet), or if it goes on purpose, delete it from "records" in ${file} in a commit that says why`,
        );
        continue;
      }
      const off = got.find((g) => !samePinned(g, pin));
      if (off) fail('mismatch', `record ${key}: ${describePinned(off)}, ${file} pins ${describePinned(pin)}; the record is not the published one: restore it from PhysioNet`);
    }
  }
  for (const key of [...census.scored.keys()].sort()) {
    const [db, ...rest] = key.split('/');
    if (ratchet.records[db]?.[rest.join('/')] === undefined) {
      fail('unpinned', `record ${key}: scored but not pinned in ${file}, so the pooled figures are over another record set; pin it with --update, or leave it out of the paths`);
    }
  }

  const keys = new Set([...Object.keys(ratchet.figures), ...Object.entries(measured).filter(([, f]) => f.target !== undefined).map(([k]) => k)]);
  for (const key of [...keys].sort()) {
    const rec = ratchet.figures[key];
    const now = measured[key];
    if (!now) {
      fail('missing', `figure ${key}: recorded in ${file} but not measured by this run (its record or database is missing or skipped: see above)`);
      continue;
    }
    if (!rec) {
      fail('unrecorded', `figure ${key}: measured (${now.value}, target ${now.target ?? '-'} in code) but not recorded in ${file}; record it with --update`);
      continue;
    }
    if (rec.target !== TARGETS[key]) {
      fail('stale', `figure ${key}: ${file} states target ${rec.target ?? 'none'}, the code (src/offline/signal-eval/targets.ts) says ${TARGETS[key] ?? 'none'}; restate it with --update`);
    }
    const slide = slideOf(key, now);
    const floor = floorOf(key, rec.best, now.better, slide.amount);
    if (worseThan(now.value, floor, now.better)) {
      const target = TARGETS[key];
      const byTarget = target !== undefined && floor === round(target);
      fail(
        'regression',
        `${key}: ${now.value} is worse than its floor ${floor} (${byTarget ? `the target in code; best ${rec.best}` : `best ${rec.best} ${now.better === 'higher' ? '-' : '+'} ${slide.text}`})`,
      );
    } else if (betterThan(now.value, rec.best, now.better)) improvements.push(`${key}: ${rec.best} -> ${now.value}`);
  }
  return { failures, improvements };
}

const RULES = [
  'records: every record CI scores, with its reference beats (drivedb: windows with a valid reference HR). A pinned record, database or figure that is missing, skipped or shows other counts fails; so does a scored record that is not pinned.',
  `figures: each is held at its best measured value minus a slide, "floor" here. Se and +P trade, so they may slide ${TOLERANCE_BEATS} beats (in pp: 100 * ${TOLERANCE_BEATS} / TP+FN for Se, / TP+FP for +P); other figures by the amount in "slide".`,
  'The floor is never below the target, and targets and slides live in code (src/offline/signal-eval/targets.ts); only "best" is read from this file, so editing it can raise a floor, never take it below the target.',
  'eval --ratchet FILE --update raises bests and pins new records; it never lowers a best or unpins a record. To lower a best on purpose, edit it here by hand in a commit that says why; to go below a target, change TARGETS in src/offline/signal-eval/targets.ts.',
];

/**
 * The ratchet raised by what was measured: bests only move up, new records and figures are pinned,
 * targets restated from code. Refuses (throws) while anything is missing, mismatched or regressed:
 * that is to be fixed, not recorded.
 */
export function update(ratchet: RatchetFile, measured: Figures, census: Census, file = 'the ratchet file'): RatchetFile {
  const refused = checkRatchet(ratchet, measured, census, file).failures.filter((f) => f.kind === 'missing' || f.kind === 'mismatch' || f.kind === 'regression');
  if (refused.length > 0) {
    throw new MotobioError('USAGE', `${file}: --update refuses to record this run:\n  ${refused.map((f) => f.message).join('\n  ')}`);
  }
  const records: PinnedRecords = {};
  for (const [db, recs] of Object.entries(ratchet.records)) records[db] = { ...recs };
  for (const [key, got] of census.scored) {
    const [db, ...rest] = key.split('/');
    (records[db] ??= {})[rest.join('/')] ??= got[0];
  }
  const figures: Record<string, RecordedFigure> = {};
  for (const [key, now] of Object.entries(measured)) {
    const rec = ratchet.figures[key];
    if (now.target === undefined && !rec) continue; // reported, not held (118e_6, paced records)
    const best = rec && !betterThan(now.value, rec.best, now.better) ? rec.best : now.value;
    const slide = slideOf(key, now);
    const target = TARGETS[key];
    figures[key] = { best, better: now.better, ...(target === undefined ? {} : { target }), slide: slide.text, floor: floorOf(key, best, now.better, slide.amount) };
  }
  return { about: ratchet.about, rules: RULES, records, figures };
}

const sortKeys = <T>(o: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

export function writeRatchet(path: string, ratchet: RatchetFile): void {
  const records = sortKeys(Object.fromEntries(Object.entries(ratchet.records).map(([db, recs]) => [db, sortKeys(recs)])));
  const about = 'The accuracy CI must reproduce and may not fall below (motobio eval --ratchet THIS_FILE DATA...). Written by --update; the rules say what may be edited by hand.';
  const text = JSON.stringify({ about, rules: RULES, records, figures: sortKeys(ratchet.figures) }, null, 2)
    // One line per pinned record: 70 of them read better as a column than as 280 lines.
    .replace(/\{\n\s+"(beats|hrWindows)": (\d+)\n\s+\}/g, '{ "$1": $2 }');
  writeFileSync(path, `${text}\n`);
}
