/**
 * The package's SB3 smoke check: the importer and the imported int8 policy on the target.
 * `models/sb3/CartPole-v1.zip` (a real RL-Zoo checkpoint) is imported with `motobio model
 * import`'s code, and the int8 model runs every validation row as a batch of one, as the
 * unit does. The import is plain JavaScript, so the int8 file must be byte-identical on
 * every architecture, and onnxruntime's kernels must give the same action on every row.
 *
 *   CartPole-v1.zip ─▶ importSb3 ─▶ int8 SHA-256 ─┐
 *                                 └▶ int8 × validation rows ─▶ actions ─┴─▶ Sb3Result (compared with x86)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../core/package.js';
import { readDataset } from '../inference/agreement.js';
import { sha256 } from '../inference/manifest.js';
import { runPolicy } from '../inference/sb3/compare.js';
import { importSb3 } from '../inference/sb3/import.js';

export const SB3_CHECKPOINT = 'models/sb3/CartPole-v1.zip';
/** Rows the import writes and the int8 model is run on. */
export const SB3_ROWS = 128;

export interface Sb3Result {
  readonly checkpoint: string;
  readonly precision: string;
  readonly int8Sha256: string;
  readonly rows: number;
  readonly actions: number[];
}

export async function checkSb3Import(root = packageRoot()): Promise<Sb3Result> {
  const out = mkdtempSync(join(tmpdir(), 'motobio-smoke-sb3-'));
  try {
    const r = await importSb3({ checkpoint: join(root, SB3_CHECKPOINT), outDir: out, name: 'smoke-cartpole', rows: SB3_ROWS });
    const int8 = readFileSync(r.int8Path!);
    const rows = readDataset(join(out, 'smoke-cartpole.validation.ndjson'), 4).map((row) => row.obs);
    const run = await runPolicy(int8, rows, 'logits', true);
    return { checkpoint: SB3_CHECKPOINT, precision: r.sb3.precision.chosen, int8Sha256: sha256(int8), rows: rows.length, actions: Array.from(run.action) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Differences from the reference run, as sentences. */
export function compareSb3(run: Sb3Result | undefined, ref: Sb3Result, refArch: string): string[] {
  if (!run) return ['sb3: no imported-model check in this run (the reference has one)'];
  const diffs: string[] = [];
  if (run.int8Sha256 !== ref.int8Sha256) diffs.push(`sb3: the imported int8 file differs (${run.int8Sha256.slice(0, 12)} vs ${ref.int8Sha256.slice(0, 12)} on ${refArch}); the importer is not deterministic across architectures`);
  if (run.precision !== ref.precision) diffs.push(`sb3: import chose ${run.precision}, ${refArch} chose ${ref.precision}`);
  const differ = run.actions.flatMap((a, i) => (a === ref.actions[i] ? [] : [i]));
  if (run.rows !== ref.rows) diffs.push(`sb3: ${run.rows} rows, reference ${ref.rows}`);
  if (differ.length) diffs.push(`sb3: the int8 policy chose another action than on ${refArch} on rows ${differ.slice(0, 10).join(', ')}${differ.length > 10 ? ', ...' : ''} (${differ.length} of ${run.rows})`);
  return diffs;
}

export function describeSb3(r: Sb3Result): string {
  const counts = new Map<number, number>();
  for (const a of r.actions) counts.set(a, (counts.get(a) ?? 0) + 1);
  return `sb3: ${r.checkpoint} imported, unit runs ${r.precision} (int8 sha256 ${r.int8Sha256.slice(0, 12)}), ${r.rows} rows, actions ${[...counts].map(([a, n]) => `${a}=${n}`).join(' ')}`;
}
