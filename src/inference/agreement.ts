/**
 * fp32-vs-int8 agreement: run both models on the same rows and count matching top actions.
 * Used by `motobio model quantize`, `motobio model validate` and the model build.
 */
import { readFileSync } from 'node:fs';
import { MotobioError } from '../util/errors.js';
import { argmax, loadOrt } from './policy.js';

export interface AgreementResult {
  readonly rows: number;
  readonly agree: number;
  readonly share: number;
  readonly maxAbsProbDiff: number;
}

export interface DatasetRow {
  /** Normalised model input. */
  readonly obs: number[];
  /** Raw named features, when the row came from recordings. */
  readonly features?: Record<string, number | null>;
  readonly label?: string;
}

/** Reads ndjson rows with an `obs` array each; names the line of the first bad one. */
export function readDataset(path: string, width?: number): DatasetRow[] {
  const rows: DatasetRow[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch {
        throw new MotobioError('USAGE', `${path}:${i + 1}: not JSON; each line must be {"obs": [numbers...]}`);
      }
      const obs = (row as { obs?: unknown }).obs;
      if (!Array.isArray(obs) || !obs.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new MotobioError('USAGE', `${path}:${i + 1}: "obs" must be an array of finite numbers`);
      }
      if (width !== undefined && obs.length !== width) throw new MotobioError('USAGE', `${path}:${i + 1}: "obs" has ${obs.length} values, the model takes ${width}`);
      rows.push(row as DatasetRow);
    });
  if (rows.length === 0) throw new MotobioError('USAGE', `${path}: no rows`);
  return rows;
}

/** Standard-normal rows, clipped like normalised features, for when no calibration set is given. */
export function syntheticRows(count: number, width: number, seed = 1): number[][] {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: width }, () => Math.max(-5, Math.min(5, Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u())))),
  );
}

export async function runRows(modelBytes: Uint8Array, rows: readonly number[][]): Promise<{ probs: Float32Array; classes: number }> {
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const width = rows[0].length;
    const flat = new Float32Array(rows.length * width);
    rows.forEach((r, i) => flat.set(r, i * width));
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', flat, [rows.length, width]) });
    const t = out[session.outputNames[0]];
    const probs = t.data as Float32Array;
    return { probs, classes: probs.length / rows.length };
  } finally {
    await session.release();
  }
}

/** Runs rows and returns the named outputs, flattened. */
export async function runRowsAll(modelBytes: Uint8Array, rows: readonly number[][], names: readonly string[]): Promise<Record<string, Float32Array>> {
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const width = rows[0].length;
    const flat = new Float32Array(rows.length * width);
    rows.forEach((r, i) => flat.set(r, i * width));
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', flat, [rows.length, width]) }, [...names]);
    return Object.fromEntries(names.map((n) => [n, out[n].data as Float32Array]));
  } finally {
    await session.release();
  }
}

export async function agreement(fp32: Uint8Array, int8: Uint8Array, rows: readonly number[][]): Promise<AgreementResult> {
  const a = await runRows(fp32, rows);
  const b = await runRows(int8, rows);
  let agree = 0;
  let maxDiff = 0;
  for (let r = 0; r < rows.length; r++) {
    if (argmax(a.probs, r * a.classes, a.classes) === argmax(b.probs, r * b.classes, b.classes)) agree++;
    for (let c = 0; c < a.classes; c++) maxDiff = Math.max(maxDiff, Math.abs(a.probs[r * a.classes + c] - b.probs[r * b.classes + c]));
  }
  return { rows: rows.length, agree, share: agree / rows.length, maxAbsProbDiff: maxDiff };
}
