/**
 * Fault suite, model: the real daemon started with a coaching model that is cut short, a
 * manifest whose hash does not match, a manifest that is garbage, and no model directory at
 * all. Each time it starts on the safety rules alone, raises MODEL_UNAVAILABLE (/status,
 * /metrics, a log line with what to do, a status record), and the safety rules still fire on a
 * replayed record whose heart rate (130 bpm) is above the configured limit (100 bpm).
 */
import { cpSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO, killAll, tempDir, writeSyntheticRecord } from '../daemon/helpers.js';
import { recordFaultResult } from './report.js';
import { firstGap, readStore, replayConfig, requireBuild, startDaemon, waitFor } from './helpers/daemon.js';

const cleanups: (() => void)[] = [];

function workDir(): string {
  const t = tempDir('motobio-fault-model-');
  cleanups.push(t.cleanup);
  return t.path;
}

beforeAll(() => requireBuild());
afterEach(() => killAll());
afterAll(() => {
  killAll();
  while (cleanups.length > 0) cleanups.pop()?.();
});

/** A copy of the shipped models in `dir`/models, broken by `breakIt`; returns model_dir. */
function brokenModels(dir: string, breakIt: (modelDir: string) => void): string {
  const modelDir = join(dir, 'models');
  cpSync(join(REPO, 'models'), modelDir, { recursive: true });
  breakIt(modelDir);
  return modelDir;
}

const manifestOf = (d: string) => join(d, 'default-policy.manifest.json');

const variants: { fault: string; modelDir: (dir: string) => string; expectInError: RegExp }[] = [
  {
    fault: 'model file cut short (.onnx truncated to half)',
    modelDir: (dir) =>
      brokenModels(dir, (d) => {
        const f = join(d, 'default-policy.int8.onnx');
        truncateSync(f, Math.floor(statSync(f).size / 2));
      }),
    expectInError: /sha|hash|digest|size|truncat|invalid/i,
  },
  {
    fault: 'wrong hash in the manifest',
    modelDir: (dir) =>
      brokenModels(dir, (d) => {
        const m = JSON.parse(readFileSync(manifestOf(d), 'utf8')) as { model: { sha256: string } };
        m.model.sha256 = 'ab'.repeat(32);
        writeFileSync(manifestOf(d), JSON.stringify(m, null, 2));
      }),
    expectInError: /sha|hash|digest/i,
  },
  {
    fault: 'garbage manifest',
    modelDir: (dir) => brokenModels(dir, (d) => writeFileSync(manifestOf(d), randomBytes(600))),
    expectInError: /manifest|json/i,
  },
  {
    fault: 'model directory missing',
    modelDir: (dir) => join(dir, 'no-such-models'),
    expectInError: /no model manifest/,
  },
];

describe('fault: corrupt or missing model', () => {
  for (const v of variants) {
    it(`${v.fault}: rules only, alarm raised, safety rules still fire`, async () => {
      const dir = workDir();
      const record = writeSyntheticRecord(dir, { seconds: 120, bpm: 130 });
      const store = join(dir, 'state', 'motobio.db');
      const modelDir = v.modelDir(dir);
      const d = await startDaemon(dir, replayConfig({ device: 'fault-model', record, store, speed: 20, modelDir, rules: { hr_high_bpm: 100 } }));
      const status = await waitFor(
        'the alarm, rules_only, and a safety trigger',
        async () => {
          const s = await d.status();
          return s.alarms.some((a) => a.code === 'MODEL_UNAVAILABLE') && s.counters.safetyTriggers >= 1 && s.counters.decisions >= 3 ? s : undefined;
        },
        60_000,
        100,
      );
      const alarm = status.alarms.find((a) => a.code === 'MODEL_UNAVAILABLE')!;
      expect(alarm.message).toMatch(v.expectInError);
      expect(alarm.message).toMatch(/safety rules alone.*inference\.model_dir/);
      expect(status.components['inference']?.state).toBe('rules_only');
      const metrics = await d.metrics();
      expect(metrics).toMatch(/^motobio_alarm\{code="MODEL_UNAVAILABLE"\} 1$/m);
      expect(metrics).toMatch(/^motobio_safety_triggers_total\{rule="hr_high"\} [1-9]/m);
      const logged = d.proc.logs().find((l) => l['code'] === 'MODEL_UNAVAILABLE');
      expect(logged?.['msg']).toMatch(/Reinstall the model/);
      expect(await d.stop()).toBe(0);

      const { rows, nextSeq } = readStore(store);
      const seqs = rows.map((r) => r.seq);
      expect(firstGap(seqs)).toBeUndefined();
      const decisions = rows.filter((r) => r.type === 'decision');
      expect(decisions.length).toBeGreaterThan(0);
      // Every decision was made without a model; the ones while the rule fired came from it.
      expect(decisions.every((r) => r.body['model'] === null)).toBe(true);
      expect(decisions.some((r) => r.body['source'] === 'safety' && r.body['name'] === 'safety_alert')).toBe(true);
      const safety = rows.filter((r) => r.type === 'safety');
      expect(safety.length).toBeGreaterThanOrEqual(1);
      expect(safety[0].body['name']).toBe('hr_high');
      expect(rows.some((r) => r.type === 'status' && r.body['alarm'] === 'MODEL_UNAVAILABLE' && r.body['state'] === 'raised')).toBe(true);
      const produced = nextSeq - seqs[0];
      expect(rows.length).toBe(produced);
      recordFaultResult({
        group: 'model',
        fault: `Model: ${v.fault}`,
        behaviour: `started on the safety rules alone (inference rules_only); alarm MODEL_UNAVAILABLE on /status, /metrics, log and a status record; ${safety.length} hr_high safety records, ${decisions.length} decisions, none from a model`,
        produced,
        received: rows.length,
        lost: produced - rows.length,
        duplicates: 0,
        figures: { safety_records: safety.length, decisions: decisions.length },
      });
    }, 90_000);
  }
});
