/**
 * `npm run bench [NAME...]`: runs each benchmark module in bench/ (signal, store, uplink,
 * inference, sources, ...) and prints its figures. Benchmarks print; they never assert.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const skip = new Set(['run', 'make-fixtures']);
const names = readdirSync(here)
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3))
  .filter((n) => !skip.has(n) && (wanted.length === 0 || wanted.includes(n)));

for (const name of ['signal', ...names.filter((n) => n !== 'signal').sort()]) {
  if (!names.includes(name)) continue;
  const mod = (await import(new URL(`./${name}.js`, import.meta.url).href)) as { run?: () => Promise<void> };
  if (typeof mod.run !== 'function') continue;
  console.log(`\n== bench ${name}`);
  await mod.run();
}
