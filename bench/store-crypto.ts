/**
 * Cost of encryption at rest: durable inserts per second and stored bytes per record, with and
 * without AES-256-GCM sealing, for feature records (group commit of 1 and 100) and raw ECG
 * chunks; and the open (decrypt) rate at lease time. Printed, never asserted.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Outbox } from '../src/store/outbox.js';
import { RecordCipher, keyId } from '../src/store/record-cipher.js';
import type { RecordInput } from '../src/store/types.js';

const features = (i: number): RecordInput => ({
  type: 'features',
  priority: 'features',
  payload: { hrBpm: 72 + (i % 17), rmssdMs: 31.5, sdnnMs: 44.2, pnn50: 0.12, lfHf: 1.7, quality: 0.93, ectopicShare: 0, windowS: 60 },
});

function ecg(i: number): RecordInput {
  const fs = 250;
  const mv = new Float64Array(fs * 10);
  for (let k = 0; k < mv.length; k++) {
    const t = (i * mv.length + k) / fs;
    mv[k] = 0.1 * Math.sin(2 * Math.PI * 0.3 * t) + ((t * 1.2) % 1 < 0.04 ? 1.2 : 0) + 0.01 * Math.sin(k);
  }
  return { type: 'ecg', priority: 'raw', ecg: { startSample: i * mv.length, fs, lsbUv: 1, mv } };
}

function measure(dir: string, label: string, make: (i: number) => RecordInput, perCommit: number, total: number, cipher: RecordCipher | undefined): string {
  const path = join(dir, `${label}-${perCommit}-${cipher ? 'gcm' : 'clear'}.db`);
  const box = Outbox.open(path, { deviceId: 'bench', ...(cipher ? { cipher } : {}), diskBudgetBytes: 1024 * 1024 * 1024 });
  const t = performance.now();
  for (let i = 0; i < total; i += perCommit) box.append(Array.from({ length: perCommit }, (_, k) => make(i + k)));
  const s = (performance.now() - t) / 1000;
  const bodyBytes = box.stats().bytes;
  const t2 = performance.now();
  const leased = box.lease(make(0).priority, total, 1e12).length;
  const openS = (performance.now() - t2) / 1000;
  box.close();
  const fileBytes = statSync(path).size;
  return `  ${label.padEnd(8)} ${String(perCommit).padStart(3)}/commit ${cipher ? 'AES-GCM' : 'clear  '}: ${Math.round(total / s).toLocaleString('en').padStart(7)} inserts/s, ${Math.round(bodyBytes / total)} budget bytes/record, file ${Math.round(fileBytes / total)} bytes/record; lease+open ${Math.round(leased / openS).toLocaleString('en')} records/s`;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-bench-crypto-'));
  const key = randomBytes(32);
  const cipher = new RecordCipher({ id: keyId(key), key, source: 'bench' });
  try {
    console.log('store inserts with and without encryption at rest (synchronous=FULL, WAL; this machine)');
    for (const c of [undefined, cipher]) console.log(measure(dir, 'features', features, 1, 300, c));
    for (const c of [undefined, cipher]) console.log(measure(dir, 'features', features, 100, 20_000, c));
    for (const c of [undefined, cipher]) console.log(measure(dir, 'ecg 10 s', ecg, 10, 500, c));
    const body = Buffer.alloc(300, 7);
    const n = 200_000;
    const t = performance.now();
    for (let i = 0; i < n; i++) cipher.seal(body, { deviceId: 'bench', seq: i, type: 'features', enc: 'json' });
    console.log(`  seal alone: ${Math.round(n / ((performance.now() - t) / 1000)).toLocaleString('en')} 300-byte bodies/s (+33 bytes each: version, key id, nonce, tag)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
