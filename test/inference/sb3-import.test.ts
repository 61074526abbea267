/**
 * The four real RL-Zoo checkpoints in ../shared/data/sb3 imported with `importSb3`, run in
 * real onnxruntime sessions and checked against their PyTorch reference files.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importSb3, type ImportResult, type Sb3Block } from '../../src/offline/sb3/import.js';
import { runPolicy, scaledError } from '../../src/offline/sb3/compare.js';
import { validateSb3, type ReferenceFile } from '../../src/offline/sb3/validate-sb3.js';
import { isMotobioError } from '../../src/util/errors.js';
import { CHECKPOINTS, HAS_VECNORMALIZE, SHARED } from './sb3-fixtures.js';

const out = mkdtempSync(join(tmpdir(), 'motobio-sb3-'));
const imported = new Map<string, ImportResult>();

beforeAll(async () => {
  for (const name of CHECKPOINTS) {
    imported.set(
      name,
      await importSb3({
        checkpoint: `${SHARED}${name}.zip`,
        ...(HAS_VECNORMALIZE[name] ? { vecNormalize: `${SHARED}${name}.vecnormalize.pkl` } : {}),
        outDir: join(out, name),
      }),
    );
  }
}, 120_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe.each(CHECKPOINTS)('%s imported from its SB3 zip', (name) => {
  const ref = JSON.parse(readFileSync(`${SHARED}${name}.reference.json`, 'utf8')) as ReferenceFile & { discrete: boolean; sb3_version: string };
  const head = ref.discrete ? 'logits' : 'mean';

  it('fp32 graph matches the PyTorch reference: logits/mean and value within 1e-5, actions equal / within 1e-5', async () => {
    const r = imported.get(name)!;
    const got = await runPolicy(readFileSync(r.fp32Path), ref.obs, head);
    expect(scaledError(got.head, ref[head]!.flat())).toBeLessThanOrEqual(1e-5);
    expect(scaledError(got.value, ref.value)).toBeLessThanOrEqual(1e-5);
    if (ref.discrete) expect(Array.from(got.action)).toEqual(ref.action);
    else expect(scaledError(got.action, ref.action.flat())).toBeLessThanOrEqual(1e-5);
  });

  it('the model the unit runs meets the int8 target against fp32 on the reference observations too, or the manifest says why not', async () => {
    const r = imported.get(name)!;
    const report = await validateSb3(r.manifestPath, { reference: `${SHARED}${name}.reference.json`, samples: 20 });
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.fp32VsReference!.headError).toBeLessThanOrEqual(1e-5);
    const a = report.int8VsFp32!;
    if (r.sb3.precision.chosen === 'int8') {
      if (ref.discrete) expect(a.share).toBeGreaterThanOrEqual(0.99);
      else expect(a.p99ShareOfRange).toBeLessThanOrEqual(0.02);
    } else expect(r.sb3.precision.reason).toMatch(/int8 cannot match/);
    // These four are 64x64 Tanh networks: int8 reaches its target for each.
    expect(r.sb3.precision.chosen).toBe('int8');
  });

  it('writes private files and a manifest with the checkpoint hash, SB3 version, spaces and precision', () => {
    const r = imported.get(name)!;
    const m = JSON.parse(readFileSync(r.manifestPath, 'utf8')) as { sb3: Sb3Block; model: { precision: string }; input: unknown };
    expect(m.sb3.checkpoint.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.sb3.sb3Version).toBe(ref.sb3_version);
    expect(m.sb3.actionSpace.kind).toBe(ref.discrete ? 'discrete' : 'box');
    expect(m.sb3.vecNormalize !== null).toBe(HAS_VECNORMALIZE[name]);
    expect(m.model.precision).toBe(m.sb3.precision.chosen);
    expect(m.input).toEqual({ name: 'obs', shape: ['batch', ref.obs[0].length] });
    for (const f of [r.fp32Path, r.int8Path!, r.manifestPath]) expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(r.int8Bytes!).toBeLessThan(r.fp32Bytes * 0.6);
  });
});

describe('VecNormalize', () => {
  it('a checkpoint trained under VecNormalize is refused without its statistics, naming the fix', async () => {
    const err = await importSb3({ checkpoint: `${SHARED}Walker2d-v3.zip`, outDir: join(out, 'no-vn') }).catch((e: unknown) => e);
    expect(isMotobioError(err, 'USAGE')).toBe(true);
    expect((err as Error).message).toMatch(/trained under VecNormalize.*--vecnormalize/);
  });

  it('statistics of another model are refused by size', async () => {
    const err = await importSb3({ checkpoint: `${SHARED}LunarLanderContinuous-v2.zip`, vecNormalize: `${SHARED}Walker2d-v3.vecnormalize.pkl`, outDir: join(out, 'wrong-vn') }).catch((e: unknown) => e);
    expect(isMotobioError(err, 'MODEL_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/18 means .* policy takes 8 observations/);
  });
});
