/**
 * The accuracy ratchet: figures recorded in the repo (accuracy.json) that CI's evaluation
 * may never fall below. Work can land before a target is reached, but never make things worse;
 * `--update` raises the recorded figures to what was measured, never lowers them.
 *
 * A figure that has reached its target is held at the target, not at its best value: Se and +P
 * trade against each other, and surplus sensitivity on one noise level (118e06 Se 99.2 against
 * 95) is exactly what a detector spends to bring +P up to its target. Holding the surplus would
 * forbid the trade the targets ask for. Unmet figures still only move up.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { MotobioError, errorMessage } from '../../util/errors.js';
import type { EvalReport } from './evaluate.js';

export interface Figure {
  value: number;
  /** 'higher' when bigger is better (Se, +P), 'lower' for errors (timing SD, HR error). */
  better: 'higher' | 'lower';
  target?: number;
}

export type Figures = Record<string, Figure>;

/** Slack for run-to-run float noise; detection is deterministic, so this only absorbs rounding. */
const EPSILON = 0.001;

const TARGETS: Record<string, number> = {
  'mitdb.se': 99.8,
  'mitdb.ppv': 99.8,
  'mitdb.timingSdMs': 6,
  'nstdb/118e24.se': 99.5,
  'nstdb/118e24.ppv': 99.5,
  'nstdb/118e18.se': 99.5,
  'nstdb/118e18.ppv': 99.5,
  'nstdb/118e12.se': 99,
  'nstdb/118e12.ppv': 99,
  'nstdb/118e06.se': 95,
  'nstdb/118e06.ppv': 95,
  'nstdb/118e00.se': 85,
  'nstdb/118e00.ppv': 85,
  // The same noise and targets on the other records (eval --noise, noise-stress.ts): the issue
  // asks that the targets hold on records the detector was not tuned on.
  'mitdb@24dB.se': 99.5,
  'mitdb@24dB.ppv': 99.5,
  'mitdb@18dB.se': 99.5,
  'mitdb@18dB.ppv': 99.5,
  'mitdb@12dB.se': 99,
  'mitdb@12dB.ppv': 99,
  'mitdb@6dB.se': 95,
  'mitdb@6dB.ppv': 95,
  'mitdb@0dB.se': 85,
  'mitdb@0dB.ppv': 85,
  'qtdb.se': 99.9,
  'qtdb.ppv': 99.9,
  'drivedb/drive05.hrMaeBpm': 2,
};

const round = (v: number): number => Math.round(v * 1000) / 1000;

export function figuresOf(report: EvalReport): Figures {
  const f: Figures = {};
  const put = (key: string, value: number, better: Figure['better']): void => {
    const target = TARGETS[key];
    f[key] = target === undefined ? { value: round(value), better } : { value: round(value), better, target };
  };
  for (const g of report.groups) {
    if (g.name === 'nstdb') continue; // each noise level is its own figure below
    put(`${g.name}.se`, g.whole.se, 'higher');
    put(`${g.name}.ppv`, g.whole.ppv, 'higher');
    if (g.name === 'mitdb') put('mitdb.timingSdMs', g.timingSdMs, 'lower');
  }
  for (const r of report.records) {
    if (r.database !== 'nstdb') continue;
    put(`nstdb/${r.record}.se`, r.whole.se, 'higher');
    put(`nstdb/${r.record}.ppv`, r.whole.ppv, 'higher');
  }
  for (const r of report.hrOnly) put(`${r.database}/${r.record}.hrMaeBpm`, r.hrMaeBpm, 'lower');
  return f;
}

export function readRatchet(path: string): Figures {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { figures?: Figures };
    return parsed.figures ?? {};
  } catch (e) {
    throw new MotobioError('CONFIG_INVALID', `${path}: cannot read the accuracy ratchet (${errorMessage(e)}); restore it from git`);
  }
}

export interface RatchetCheck {
  regressions: string[];
  improvements: string[];
  missing: string[];
}

export function checkRatchet(recorded: Figures, measured: Figures): RatchetCheck {
  const regressions: string[] = [];
  const improvements: string[] = [];
  const missing: string[] = [];
  for (const [key, rec] of Object.entries(recorded)) {
    const now = measured[key];
    if (!now) {
      missing.push(key);
      continue;
    }
    const floor = floorOf(rec);
    const worse = rec.better === 'higher' ? now.value < floor - EPSILON : now.value > floor + EPSILON;
    const better = rec.better === 'higher' ? now.value > rec.value + EPSILON : now.value < rec.value - EPSILON;
    if (worse) {
      const what = floor === rec.value ? `the recorded ${rec.value}` : `its target ${floor} (recorded ${rec.value}, which met it)`;
      regressions.push(`${key}: ${now.value} is worse than ${what}`);
    } else if (better) improvements.push(`${key}: ${rec.value} -> ${now.value}`);
  }
  return { regressions, improvements, missing };
}

function meets(value: number, better: Figure['better'], target: number): boolean {
  return better === 'higher' ? value >= target : value <= target;
}

/** What a measured figure may not fall below: the recorded value, or the target once that was met. */
export function floorOf(rec: Figure): number {
  return rec.target !== undefined && meets(rec.value, rec.better, rec.target) ? rec.target : rec.value;
}

/**
 * Merges measured figures into the recorded ones. An unmet figure keeps the better of the two;
 * one that meets its target records what was measured, so the file shows the detector as it is.
 * Only figures with a target are ratcheted; the rest (118e_6, paced records) are reported, not held.
 */
export function raise(recorded: Figures, measured: Figures): Figures {
  const out: Figures = { ...recorded };
  for (const [key, now] of Object.entries(measured)) {
    if (now.target === undefined) continue;
    const rec = recorded[key];
    if (!rec) out[key] = now;
    else if (meets(now.value, now.better, now.target)) out[key] = { ...rec, value: now.value, target: now.target };
    else {
      const better = rec.better === 'higher' ? now.value > rec.value : now.value < rec.value;
      out[key] = better ? { ...rec, value: now.value } : rec;
    }
  }
  return out;
}

export function writeRatchet(path: string, figures: Figures): void {
  const sorted = Object.fromEntries(Object.entries(figures).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(
    path,
    `${JSON.stringify({ about: 'Accuracy figures CI may not fall below (motobio eval --ratchet); a figure that meets its target is held at the target. Raise with --update; never lower by hand.', figures: sorted }, null, 2)}\n`,
  );
}
