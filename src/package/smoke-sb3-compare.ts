/**
 * The SB3 smoke check's figures and their comparison with a reference run, apart from the check
 * itself (smoke-sb3.ts), which runs the importer: a workstation tool (src/offline/sb3/) that the
 * unit's package does not carry. A release's smoke test compares without it.
 */
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
