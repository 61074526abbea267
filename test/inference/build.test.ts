import { fileURLToPath } from 'node:url';
import { it, expect } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDefaultPolicy } from '../../src/offline/model-build/build-default-policy.js';

/** This test folder (import.meta.dirname needs Node 20.11; engines allow 20.9). */
const HERE = fileURLToPath(new URL('.', import.meta.url));

const MODELS = join(HERE, '../../models');
const DATA = join(HERE, '../../../shared/data');

it(
  'npm run model:build reproduces the committed default policy byte for byte from the real recordings',
  async () => {
    const out = mkdtempSync(join(tmpdir(), 'motobio-build-'));
    try {
      const report = await buildDefaultPolicy(DATA, out);
      expect(report.int8.agreementWithFp32).toBeGreaterThanOrEqual(0.99);
      const built = readdirSync(out).sort();
      expect(built).toEqual(['default-policy.build.json', 'default-policy.fp32.onnx', 'default-policy.int8.onnx', 'default-policy.manifest.json', 'default-policy.validation.ndjson', 'manifest.schema.json']);
      for (const f of built) {
        const same = readFileSync(join(out, f)).equals(readFileSync(join(MODELS, f)));
        // A difference means the signal chain (features) or the build changed since models/ was built.
        expect(same, `${f} differs from models/${f}: src/signal or src/offline/model-build changed since the model was built; rebuild with "npm run model:build" (node dist/src/offline/model-build/build-default-policy.js), check "motobio model validate --model models", and commit models/`).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
  900_000,
);
