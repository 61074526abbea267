/**
 * The whole unit-side path (UpdateManager: parse, verify, replay guard, apply) fed random and
 * mutated payloads with fast-check: each one gives exactly one `refused` report, the engine is
 * never asked to swap, and nothing is written to the update directory.
 */
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { StageContext } from '../../src/core/context.js';
import { Telemetry } from '../../src/daemon/telemetry.js';
import { UpdateManager } from '../../src/update/manager.js';
import { signUpdate } from '../../src/update/sign.js';
import { silentLogger } from '../../src/util/log.js';
import { REPO, tempDir } from '../daemon/helpers.js';
import { snapshot } from './harness.js';
import { recordFaultResult } from '../faults/report.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
let dir: { path: string; cleanup: () => void };
let manager: UpdateManager;
const reports: Record<string, unknown>[] = [];
let swaps = 0;
let updates = '';

beforeAll(() => {
  dir = tempDir('motobio-upd-fuzz-');
  const keys = join(dir.path, 'keys');
  mkdirSync(keys, { mode: 0o755 });
  chmodSync(keys, 0o755);
  writeFileSync(join(keys, 'k.pub'), publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644 });
  updates = join(dir.path, 'updates');
  const cfg = join(dir.path, 'config.yaml');
  writeFileSync(cfg, `device: { id: bike-1 }\nupdate: { dir: ${updates}, keys_dir: ${keys}, max_bytes: 4000000 }\n`);
  const ctx = { config: loadConfig({ resolvePaths: true, file: cfg, env: {}, cwd: dir.path }).config, configFile: cfg, cwd: dir.path, log: silentLogger, telemetry: new Telemetry({ processMetrics: false }) } as unknown as StageContext;
  manager = new UpdateManager({
    ctx,
    report: (b) => reports.push(b),
    swapModel: () => {
      swaps++;
      return Promise.resolve({ ok: true });
    },
    baseManifest: () => undefined,
    restart: () => {
      throw new Error('no restart expected');
    },
    healthy: () => true,
    connected: () => true,
  });
  manager.start();
});

afterAll(async () => {
  await manager.stop();
  dir.cleanup();
});

describe('UpdateManager under fuzzing', () => {
  it('refuses every random or mutated payload, reports each once, applies nothing', async () => {
    const files: [string, Buffer][] = ['default-policy.manifest.json', 'default-policy.int8.onnx', 'default-policy.fp32.onnx', 'default-policy.validation.ndjson'].map((n) => [n, readFileSync(join(REPO, 'models', n))]);
    const good = Buffer.from(JSON.stringify(signUpdate({ kind: 'model', version: 2, device: 'bike-1', files, privateKey })));
    const before = snapshot(updates);
    const topic = 'motobio/v1/bike-1/cmd/update';
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
          fc.json().map((s) => Buffer.from(s)),
          fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
            const b = Buffer.from(good);
            b[at] ^= x;
            return b;
          }),
          fc.nat({ max: good.length - 1 }).map((at) => Buffer.concat([good.subarray(0, at), good.subarray(at + 1)])),
        ),
        async (payload) => {
          const n = reports.length;
          manager.handle(topic, payload);
          await manager.idle();
          // A flip inside the JSON's whitespace-free text can only keep it valid by changing a
          // signed value or a file's bytes: either way it must be refused.
          expect(reports.length).toBe(n + 1);
          expect(reports[n]).toMatchObject({ event: 'refused' });
        },
      ),
      { numRuns: 300 },
    );
    expect(swaps).toBe(0);
    expect(snapshot(updates)).toEqual(before);
    recordFaultResult({ group: 'downlink', fault: 'fuzzed update payloads (300 random, random JSON, byte-flipped and byte-cut signed model updates) through the update manager', behaviour: 'every one refused and reported exactly once; no swap, nothing written', expected: null, received: null, lost: null, duplicates: null, figures: { payloads: 300 } });
  }, 120_000);
});
