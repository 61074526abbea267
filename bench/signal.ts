/**
 * Throughput of the whole signal chain (filter, detection, RR, HRV, quality) on a 30-minute
 * 360 Hz record, as a multiple of real time on one core, plus peak RSS. Printed, never asserted.
 */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { EcgChain } from '../src/signal/chain.js';
import { readRecord, toPhysical } from '../src/sources/wfdb/record.js';

export async function run(): Promise<void> {
  const full = '../shared/data/mitdb/208';
  const base = existsSync(`${full}.hea`) ? full : 'test/fixtures/mitdb-208-2min';
  const sig = readRecord(base).signals[0];
  const mv = toPhysical(sig);
  const seconds = mv.length / sig.fs;
  const chunk = Math.round(sig.fs / 4);
  const once = (): number => {
    const chain = new EcgChain({ fs: sig.fs });
    const t0 = process.hrtime.bigint();
    let beats = 0;
    for (let i = 0; i < mv.length; i += chunk) {
      beats += chain.push(mv.subarray(i, i + chunk)).beats.length;
      // The daemon asks for features once per decision period (5 s).
      if (i % (5 * sig.fs) < chunk) chain.features();
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (beats === 0) throw new Error('no beats');
    return ms;
  };
  once(); // warm-up: let the JIT compile the hot loops
  const runs = [once(), once(), once()].sort((a, b) => a - b);
  const best = runs[0];
  const median = runs[1];
  console.log(`signal chain on ${base} (${(seconds / 60).toFixed(1)} min at ${sig.fs} Hz), ${cpus()[0]?.model ?? 'unknown cpu'}`);
  console.log(`  best ${best.toFixed(1)} ms = ${Math.round((seconds * 1000) / best)}x real time; median ${Math.round((seconds * 1000) / median)}x`);
  console.log(`  per sample ${((best * 1e6) / mv.length).toFixed(1)} ns; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB (whole process, record loaded)`);
}
