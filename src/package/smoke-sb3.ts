/**
 * The package's SB3 smoke check: the importer and the imported int8 policy on the target.
 * `models/sb3/CartPole-v1.zip` (a real RL-Zoo checkpoint) is imported with `motobio model
 * import`'s code, and the int8 model runs every validation row as a batch of one, as the
 * unit does. The import is plain JavaScript, so the int8 file must be byte-identical on
 * every architecture, and onnxruntime's kernels must give the same action on every row.
 *
 *   CartPole-v1.zip ─▶ importSb3 ─▶ int8 SHA-256 ─┐
 *                                 └▶ int8 × validation rows ─▶ actions ─┴─▶ Sb3Result (compared with x86)
 *
 * The importer is a workstation tool (src/offline/), so the unit's release does not carry this
 * module: smoke.ts runs it where it was built (a checkout) and reports it skipped in a release.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../core/package.js';
import { readDataset } from '../inference/agreement.js';
import { sha256 } from '../inference/manifest.js';
import { runPolicy } from '../offline/sb3/compare.js';
import { importSb3 } from '../offline/sb3/import.js';
import { SB3_CHECKPOINT, SB3_ROWS, type Sb3Result } from './smoke-sb3-compare.js';

export { SB3_CHECKPOINT, SB3_ROWS, compareSb3, describeSb3, type Sb3Result } from './smoke-sb3-compare.js';

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
