/**
 * `node dist/src/package/smoke.js [--broker URL] [--json FILE] [--expect FILE]`: the package's
 * own smoke test, run from an unpacked release (test:arm64 runs it under qemu-aarch64 with
 * -cpu cortex-a53, against a reference run of the same package on x86). Exit 0 when every
 * check passed and, with --expect, the results equal the reference's; 1 otherwise.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkModel, checkMqtt, checkSignal, checkStore, type SmokeResult } from './smoke-checks.js';
import { compareSmoke, describeSmoke } from './smoke-compare.js';
import { compareSb3, describeSb3, type Sb3Result } from './smoke-sb3-compare.js';
import { errorMessage } from '../util/errors.js';

/**
 * The SB3 import check, where this tree has it: it runs the importer (src/offline/sb3/), which the
 * unit's release leaves out (.ci/package/build.sh), so a release's smoke run has no SB3 figures
 * and its reference (the same package on x86) has none either.
 */
async function checkSb3IfPresent(): Promise<Sb3Result | undefined> {
  const url = new URL('./smoke-sb3.js', import.meta.url);
  if (!existsSync(fileURLToPath(url))) return undefined;
  const mod = (await import(url.href)) as { checkSb3Import: () => Promise<Sb3Result> };
  return mod.checkSb3Import();
}

const USAGE = 'usage: smoke.js [--broker mqtt://127.0.0.1:PORT] [--json OUT.json] [--expect REFERENCE.json] [--timeout-ms 120000]';

export async function runSmoke(argv: string[]): Promise<number> {
  let values: { broker?: string; json?: string; expect?: string; 'timeout-ms'?: string };
  try {
    ({ values } = parseArgs({ args: argv, options: { broker: { type: 'string' }, json: { type: 'string' }, expect: { type: 'string' }, 'timeout-ms': { type: 'string' } } }));
  } catch (e) {
    process.stderr.write(`${errorMessage(e)}\n${USAGE}\n`);
    return 2;
  }
  const timeoutMs = Number(values['timeout-ms'] ?? 120_000);
  const step = async <T>(name: string, fn: () => T | Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await fn();
    // Wall time under emulation says nothing about the A53; printed so a hang is visible.
    process.stdout.write(`smoke: ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    return out;
  };
  let result: SmokeResult;
  try {
    result = {
      node: process.version,
      arch: process.arch,
      model: await step('model', () => checkModel()),
      store: await step('store', () => checkStore()),
      signal: await step('signal', () => checkSignal()),
      sb3: await step('sb3 import + int8', () => checkSb3IfPresent()),
      ...(values.broker ? { mqtt: await step('mqtt', () => checkMqtt(values.broker!, timeoutMs)) } : {}),
    };
  } catch (e) {
    process.stderr.write(`smoke: FAILED: ${errorMessage(e)}\n`);
    return 1;
  }
  for (const line of describeSmoke(result)) process.stdout.write(`smoke: ${line}\n`);
  process.stdout.write(result.sb3 ? `smoke: ${describeSb3(result.sb3)}\n` : "smoke: sb3 import skipped (the importer is a workstation tool, not in the unit's package)\n");
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 1)}\n`);
  const problems = result.store.roundTrip && (!values.broker || result.mqtt?.puback) ? [] : ['a check did not pass (see above)'];
  if (values.expect) {
    let ref: SmokeResult;
    try {
      ref = JSON.parse(readFileSync(values.expect, 'utf8')) as SmokeResult;
    } catch (e) {
      process.stderr.write(`smoke: cannot read the reference ${values.expect} (${errorMessage(e)}); run the smoke test on the reference machine with --json first\n`);
      return 1;
    }
    problems.push(...compareSmoke(result, ref));
    if (ref.sb3) problems.push(...compareSb3(result.sb3, ref.sb3, ref.arch));
    if (problems.length === 0) process.stdout.write(`smoke: equal to the ${ref.arch} reference (actions, beats, store, PUBACK${ref.sb3 ? ", imported SB3 int8 file and actions" : ""})\n`);
  }
  for (const p of problems) process.stderr.write(`smoke: MISMATCH: ${p}\n`);
  process.stdout.write(problems.length === 0 ? 'smoke: PASS\n' : 'smoke: FAIL\n');
  return problems.length === 0 ? 0 : 1;
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) process.exitCode = await runSmoke(process.argv.slice(2));
