/**
 * `motobio model import | validate | evaluate` through the command module, on the real
 * CartPole checkpoint, its PyTorch reference and a real ECG excerpt.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run as modelCommand } from '../../src/cli/commands/model.js';
import { isMotobioError } from '../../src/util/errors.js';
import { SHARED } from './sb3-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'motobio-sb3-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FIXTURE = new URL('../fixtures/mitdb-118-5min', import.meta.url).pathname;

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    return { code: await fn(), out };
  } finally {
    spy.mockRestore();
  }
}

function map(cueForRight: string): string {
  const p = join(dir, `map-${cueForRight}.json`);
  writeFileSync(
    p,
    JSON.stringify({
      observations: [
        { feature: 'hr_above_rest_bpm', scale: 0.01, fill: 0 },
        { feature: 'hr_slope_bpm_per_min', scale: 0.1, fill: 0 },
        { feature: 'rmssd_ms', scale: 0.005, offset: -0.2, fill: 40 },
        { feature: 'quality', scale: 0.2, offset: -0.18, fill: 0.9 },
      ],
      actions: ['none', cueForRight],
    }),
  );
  return p;
}

describe('motobio model import / validate / evaluate', () => {
  it('imports, validates against the PyTorch reference, and evaluates two mapped models on a recording', async () => {
    const a = join(dir, 'a');
    const imp = await capture(() => modelCommand(['import', `${SHARED}CartPole-v1.zip`, '--out', a, '--name', 'cartpole', '--map', map('breathing_cue')]));
    expect(imp.code).toBe(0);
    expect(imp.out).toMatch(/imported CartPole-v1\.zip \(SB3 1\.0rc0 PPO/);
    expect(imp.out).toMatch(/unit runs int8: .* equal actions/);
    expect(imp.out).toMatch(/coaching: map map-breathing_cue\.json/);

    const val = await capture(() => modelCommand(['validate', '--model', a, '--reference', `${SHARED}CartPole-v1.reference.json`, '--samples', '50']));
    expect(val.code).toBe(0);
    expect(val.out).toMatch(/ok {3}fp32 vs reference +256 rows .* logits max error \d\.\d+e-\d+/);
    expect(val.out).toMatch(/ok {3}int8 vs fp32 .* equal actions/);
    expect(val.out).toMatch(/ok {3}latency .* p99/);

    // A reference that disagrees must fail the check, with exit 1.
    const ref = JSON.parse(readFileSync(`${SHARED}CartPole-v1.reference.json`, 'utf8')) as { logits: number[][] };
    ref.logits[7][1] += 1e-3;
    const badRef = join(dir, 'bad-ref.json');
    writeFileSync(badRef, JSON.stringify(ref));
    const bad = await capture(() => modelCommand(['validate', '--model', a, '--reference', badRef, '--samples', '5']));
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/FAIL fp32 vs reference .* logits max error [1-9]\.\d+e-4/);

    const b = join(dir, 'b');
    expect((await capture(() => modelCommand(['import', `${SHARED}CartPole-v1.zip`, '--out', b, '--name', 'cartpole-b', '--map', map('suggest_break')]))).code).toBe(0);
    const ev = await capture(() => modelCommand(['evaluate', '--model', a, '--against', b, '--period', '5', FIXTURE]));
    expect(ev.code).toBe(0);
    expect(ev.out).toMatch(/1 record\(s\), 0\.08 h, one decision every 5 s \(60 decisions\)/);
    expect(ev.out).toMatch(/model: cartpole [0-9a-f]{12} int8/);
    expect(ev.out).toMatch(/cues per hour \d+\.\d\d; rule overrides \d+/);
    expect(ev.out).toMatch(/differences: the models' own actions differ in \d+ decisions/);
  }, 120_000);

  it('refuses a missing --out and a second positional with a usage error', async () => {
    const e1 = await modelCommand(['import', `${SHARED}CartPole-v1.zip`]).catch((e: unknown) => e);
    expect(isMotobioError(e1, 'USAGE')).toBe(true);
    const e2 = await modelCommand(['import', 'a.zip', 'b.zip', '--out', dir]).catch((e: unknown) => e);
    expect((e2 as Error).message).toMatch(/exactly one MODEL\.zip/);
  });
});
