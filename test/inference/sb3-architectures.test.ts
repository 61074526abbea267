/**
 * Checkpoints the shared four do not cover, written in SB3's and PyTorch's layout: other
 * widths and depths, ReLU and the other torch activations, SB3 1.x shared layers, SB3 2.x
 * dict net_arch, gSDE with squash_output, Discrete with a start. The exported fp32 graph,
 * in a real onnxruntime session, must match a float64 forward pass of the same weights.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/offline/sb3/checkpoint.js';
import { runPolicy, scaledError } from '../../src/offline/sb3/compare.js';
import { exportPolicy } from '../../src/offline/sb3/export-onnx.js';
import { encodeModel } from '../../src/inference/onnx/model.js';
import { buildCheckpoint, referenceForward, rng, type Act, type ArchSpec } from './sb3-fixtures.js';

async function check(a: ArchSpec): Promise<void> {
  const c = buildCheckpoint(a);
  const spec = readCheckpoint(c.zip, 'synthetic.zip');
  expect(spec.netArch).toEqual({ shared: a.shared, pi: a.pi, vf: a.vf });
  const model = encodeModel(exportPolicy(spec, { name: 'synthetic' }));
  const r = rng(a.seed + 1);
  const rows = Array.from({ length: 24 }, () => Array.from({ length: a.obsDim }, () => Math.fround(4 * r() - 2)));
  const head = a.action.kind === 'discrete' ? 'logits' : 'mean';
  const got = await runPolicy(model, rows, head);
  const want = rows.map((o) => referenceForward(c, a, o));
  expect(scaledError(got.head, want.flatMap((w) => w.head))).toBeLessThanOrEqual(1e-5);
  expect(scaledError(got.value, want.map((w) => w.value))).toBeLessThanOrEqual(1e-5);
  if (a.action.kind === 'discrete') {
    // A near-tie may go either way between float32 and float64; every other row must agree.
    const ties = want.filter((w) => {
      const s = [...w.head].sort((x, y) => y - x);
      return s[0] - s[1] < 1e-5;
    }).length;
    const equal = want.filter((w, i) => w.action[0] === got.action[i]).length;
    expect(equal).toBeGreaterThanOrEqual(rows.length - ties);
  } else expect(scaledError(got.action, want.flatMap((w) => w.action))).toBeLessThanOrEqual(1e-5);
}

const base: ArchSpec = { obsDim: 6, shared: [], pi: [64, 64], vf: [64, 64], activation: 'Tanh', action: { kind: 'discrete', n: 3 }, netArchStyle: 'none', sb3Version: '2.3.2', seed: 1 };

describe('SB3 layouts beyond the shared checkpoints', () => {
  it('SB3 1.x shared layers then separate pi/vf ([128, dict(pi=[32], vf=[64, 16])]), ReLU', async () => {
    await check({ ...base, shared: [128], pi: [32], vf: [64, 16], activation: 'ReLU', netArchStyle: 'v1', sb3Version: '1.5.0', gain: 2 });
  });

  it('SB3 2.x dict net_arch with different pi and vf depths, Box actions with bounds that clip', async () => {
    await check({ ...base, pi: [256, 128, 32], vf: [16], netArchStyle: 'v2', action: { kind: 'box', low: [-0.5, -2, 0], high: [0.5, 2, 1] }, gain: 3 });
  });

  it('SB3 1.x list of ints means shared layers; SB3 2.x list means separate pi and vf', async () => {
    await check({ ...base, shared: [32, 32], pi: [], vf: [], netArchStyle: 'none', sb3Version: '1.2.0' });
    const c = buildCheckpoint({ ...base, pi: [32, 32], vf: [32, 32], sb3Version: '2.1.0' }, (d) => {
      d.policy_kwargs = { net_arch: [32, 32] };
    });
    expect(readCheckpoint(c.zip, '2.x list').netArch).toEqual({ shared: [], pi: [32, 32], vf: [32, 32] });
  });

  it('gSDE with squash_output: tanh then rescale to the bounds', async () => {
    await check({ ...base, action: { kind: 'box', low: [-3, 0], high: [1, 10] }, useSde: true, squashOutput: true, gain: 2 });
  });

  it('gSDE with full_std=False (log_std of shape [latent, 1]) is read too', async () => {
    const c = buildCheckpoint({ ...base, action: { kind: 'box', low: [-1, -1], high: [1, 1] }, useSde: true }, (_d, t) => {
      const ls = t.find((x) => x.name === 'log_std')!;
      ls.shape = [64, 1];
      ls.data = new Float32Array(64).fill(-2);
    });
    expect(readCheckpoint(c.zip, 'full_std=False').useSde).toBe(true);
  });

  it('Discrete with a start offset (gymnasium Discrete(n, start))', async () => {
    await check({ ...base, action: { kind: 'discrete', n: 4, start: -1 } });
  });

  it('unbounded Box actions pass the mean through', async () => {
    await check({ ...base, action: { kind: 'box', low: [-Infinity, -Infinity], high: [Infinity, Infinity] } });
  });

  it('property: any depth, width, activation, layout and action space exports exactly', async () => {
    const widths = fc.array(fc.integer({ min: 1, max: 96 }), { minLength: 0, maxLength: 3 });
    const arch = fc.record({
      obsDim: fc.integer({ min: 1, max: 24 }),
      shared: widths,
      pi: widths,
      vf: widths,
      activation: fc.constantFrom<Act>('Tanh', 'ReLU', 'ELU', 'LeakyReLU', 'Sigmoid', 'SiLU', 'GELU'),
      discrete: fc.boolean(),
      n: fc.integer({ min: 2, max: 9 }),
      v1: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1e6 }),
      gain: fc.double({ min: 0.3, max: 3, noNaN: true }),
    });
    await fc.assert(
      fc.asyncProperty(arch, async (p) => {
        const shared = p.v1 ? p.shared : [];
        const action: ArchSpec['action'] = p.discrete ? { kind: 'discrete', n: p.n } : { kind: 'box', low: Array.from({ length: p.n }, () => -1), high: Array.from({ length: p.n }, () => 1) };
        await check({ obsDim: p.obsDim, shared, pi: p.pi, vf: p.vf, activation: p.activation, action, netArchStyle: p.v1 ? 'v1' : 'v2', sb3Version: p.v1 ? '1.8.0' : '2.2.1', seed: p.seed, gain: p.gain });
      }),
      { numRuns: 40, seed: 20 },
    );
  }, 120_000);
});
