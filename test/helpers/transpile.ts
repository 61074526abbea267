/**
 * Child processes in tests (the ones we SIGKILL) must run our real TypeScript, but Node 20
 * cannot load .ts. This transpiles src/ and test/helpers/ once per test process into a temp
 * dir (TypeScript's transpileModule: no type check, a second or so) with node_modules
 * linked in, so a child runs `node <dir>/test/helpers/x.js`.
 */
import ts from 'typescript';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let built: string | undefined;

function walk(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
}

/** Returns the temp root holding src/ and test/helpers/ as .js; removed at process exit. */
export function transpiledRoot(): string {
  if (built !== undefined) return built;
  const out = mkdtempSync(join(tmpdir(), 'motobio-js-'));
  const files: string[] = [];
  walk(join(ROOT, 'src'), files);
  walk(join(ROOT, 'test', 'helpers'), files);
  for (const f of files) {
    const js = ts.transpileModule(readFileSync(f, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: f,
    }).outputText;
    const dest = join(out, relative(ROOT, f)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, js);
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
  process.on('exit', () => rmSync(out, { recursive: true, force: true }));
  built = out;
  return out;
}

/** Removes the transpiled tree; call from afterAll (a vitest worker may end without 'exit'). */
export function removeTranspiled(): void {
  if (built !== undefined) rmSync(built, { recursive: true, force: true });
  built = undefined;
}
