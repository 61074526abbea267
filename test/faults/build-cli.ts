/**
 * The CLI built for the fault cases that spawn it (like test/daemon/helpers.ts buildForTest),
 * but a type error elsewhere in the tree (another change in progress) does not stop the case:
 * tsc still emits, `npm run lint` is where type errors fail. Only a missing entry fails here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../daemon/helpers.js';

export function buildCli(extra: string[] = []): string {
  const cache = join(REPO, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const out = mkdtempSync(join(cache, 'motobio-faults-'));
  const entries = ['src/cli/main.ts', 'src/cli/commands/run.ts', 'src/cli/commands/config-check.ts', ...extra];
  const tsconfig = join(out, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(REPO, 'tsconfig.json'),
      compilerOptions: { outDir: out, rootDir: REPO, noEmit: false, sourceMap: false, incremental: false },
      files: entries.map((e) => join(REPO, e)),
      include: [join(REPO, 'src', '**', '*.d.ts')],
    }),
  );
  let output = '';
  try {
    execFileSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { cwd: REPO, stdio: 'pipe', encoding: 'utf8' });
  } catch (e) {
    output = (e as { stdout?: string }).stdout ?? String(e);
  }
  const missing = entries.filter((e) => !existsSync(join(out, e.replace(/\.ts$/, '.js'))));
  if (missing.length > 0) {
    rmSync(out, { recursive: true, force: true });
    throw new Error(`building the CLI for the fault cases failed (${missing.join(', ')} not emitted):\n${output}`);
  }
  if (output) console.warn(`type errors in the tree (the build ran anyway; npm run lint reports them):\n${output.slice(0, 2000)}`);
  return out;
}
