/**
 * Where int8 cannot reach the action target (a deep ReLU network with large weights), the
 * import says so, the manifest keeps fp32 for the unit with the reason, the decision engine
 * accepts that fp32 model, and `model quantize` on the graph warns and exits 1.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run as modelCommand } from '../../src/cli/commands/model.js';
import { DecisionEngine } from '../../src/inference/engine.js';
import { importSb3 } from '../../src/offline/sb3/import.js';
import { buildCheckpoint } from './sb3-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'motobio-sb3-prec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('int8 that cannot meet its target', () => {
  it('keeps fp32 for the unit with the reason, and the engine runs it', async () => {
    const c = buildCheckpoint({ obsDim: 8, shared: [], pi: [256, 256, 256], vf: [16], activation: 'ReLU', action: { kind: 'box', low: [-1, -1], high: [1, 1] }, netArchStyle: 'v2', sb3Version: '2.3.0', seed: 4, gain: 4 });
    writeFileSync(join(dir, 'wide.zip'), c.zip);
    const map = join(dir, 'map.json');
    writeFileSync(map, JSON.stringify({ observations: ['hr_above_rest_bpm', 'hr_slope_bpm_per_min', 'rmssd_ms', 'sdnn_ms', 'pnn50', 'lf_hf', 'quality', 'minutes_riding'].map((feature) => ({ feature, scale: 0.02, fill: 0 })), actions: { index: 0, cues: [{ below: 0, cue: 'none' }, { cue: 'breathing_cue' }] } }));
    const r = await importSb3({ checkpoint: join(dir, 'wide.zip'), outDir: join(dir, 'out'), map });
    expect(r.sb3.precision.chosen).toBe('fp32');
    expect(r.sb3.precision.reason).toMatch(/int8 cannot match fp32 closely enough .* p99 \d+\.\d+% of the action range/);
    expect(r.notes.join('\n')).toMatch(/int8 NOT used/);
    const m = JSON.parse(readFileSync(r.manifestPath, 'utf8')) as { model: { precision: string; path: string } };
    expect(m.model).toMatchObject({ precision: 'fp32', path: 'wide.fp32.onnx' });

    const engine = await DecisionEngine.create({ manifestPath: r.manifestPath });
    try {
      expect(engine.status().model?.precision).toBe('fp32');
    } finally {
      await engine.close();
    }

    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    let code: number;
    try {
      code = await modelCommand(['quantize', '--in', r.fp32Path, '--out', join(dir, 'q.onnx'), '--calibration', join(dir, 'out', 'wide.validation.ndjson')]);
    } finally {
      spy.mockRestore();
    }
    expect(code).toBe(1);
    expect(out).toMatch(/tried dynamic int8 \(±63 weights\), every layer: action difference/);
    expect(out).toMatch(/WARNING: int8 cannot reach the action target for this network; keep the fp32 model/);
  }, 120_000);
});
