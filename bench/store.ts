/**
 * Store benchmark: durable insert rate (one record per commit, and group commit of 100),
 * ECG chunk compression on real recordings. Printed, never asserted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Outbox } from '../src/store/outbox.js';
import { encodeEcgChunk } from '../src/store/ecg-codec.js';
import type { RecordInput } from '../src/store/types.js';
import { readRecord } from '../src/sources/wfdb/record.js';

const DATA = process.env['MOTOBIO_BENCH_DATA'] ?? '../shared/data';

const features = (i: number): RecordInput => ({
  type: 'features',
  priority: 'features',
  payload: { hrBpm: 72 + (i % 17), rmssdMs: 31.5, sdnnMs: 44.2, pnn50: 0.12, lfHf: 1.7, quality: 0.93, ectopicShare: 0, windowS: 60 },
});

function insertRate(dir: string, perCommit: number, total: number): string {
  const box = Outbox.open(join(dir, `b${perCommit}.db`), { deviceId: 'bench' });
  const t = performance.now();
  for (let i = 0; i < total; i += perCommit) box.append(Array.from({ length: perCommit }, (_, k) => features(i + k)));
  const s = (performance.now() - t) / 1000;
  const st = box.stats();
  box.close();
  return `  ${String(perCommit).padStart(3)} record(s)/commit: ${Math.round(total / s).toLocaleString('en')} records/s, ${Math.round(total / perCommit / s).toLocaleString('en')} commits/s (synchronous=FULL, WAL); ${Math.round(st.bytes / total)} budget bytes/record`;
}

function ecgRatio(db: string, name: string, channel: number, seconds = 10): string {
  try {
    const rec = readRecord(join(DATA, db, name));
    const sig = rec.signals[channel];
    const lsbUv = 1000 / sig.spec.gain;
    const chunk = Math.round(sig.fs * seconds);
    let enc = 0;
    let n = 0;
    const t = performance.now();
    for (let i = 0; i + chunk <= sig.adc.length; i += chunk) {
      const mv = new Float64Array(chunk);
      for (let k = 0; k < chunk; k++) mv[k] = (sig.adc[i + k] - sig.spec.baseline) / sig.spec.gain;
      enc += encodeEcgChunk({ startSample: i, fs: sig.fs, lsbUv, mv }).length;
      n += chunk;
    }
    const ms = performance.now() - t;
    return `  ${db}/${name} ch${channel} (${sig.fs} Hz, ${seconds} s chunks at the ADC step ${lsbUv.toFixed(2)} µV): ${(enc / (n * 2) * 100).toFixed(1)} % of 16-bit size, ${((enc / n) * sig.fs * 3600 / 1e6).toFixed(2)} MB/hour, encode ${((ms / (n / sig.fs)) * 1000).toFixed(1)} µs per second of ECG`;
  } catch (e) {
    return `  ${db}/${name}: not available (${(e as Error).message})`;
  }
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-bench-store-'));
  try {
    console.log('durable inserts:');
    console.log(insertRate(dir, 1, 2000));
    console.log(insertRate(dir, 10, 20_000));
    console.log(insertRate(dir, 100, 100_000));
    console.log('raw ECG chunks (delta + zigzag varint + deflate):');
    console.log(ecgRatio('mitdb', '101', 0));
    console.log(ecgRatio('mitdb', '203', 0));
    console.log(ecgRatio('nstdb', '118e06', 0));
    console.log(ecgRatio('drivedb', 'drive05', 0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await Promise.resolve();
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
