/**
 * Fault suite, model: the real daemon started with a coaching model that is cut short, a
 * manifest whose hash does not match, a manifest that is garbage, and no model directory at
 * all. Each time it starts on the safety rules alone, raises MODEL_UNAVAILABLE (/status,
 * /metrics, a log line with what to do, a status record), and the safety rules still fire on a
 * replayed record whose heart rate (130 bpm) is above the configured limit (100 bpm).
 * The 120-s record is replayed once; what it must produce (helpers/count.ts) is counted by a
 * receiver on a real mosquitto, not read from the unit's store.
 */
import { cpSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO, killAll, tempDir, writeSyntheticRecord } from '../daemon/helpers.js';
import { recordFaultResult } from './report.js';
import { replayConfig, requireBuild, startDaemon, waitFor } from './helpers/daemon.js';
import { Tally, ecgStripRecords, expectedRecords, healthRecordsIn } from './helpers/count.js';
import { startMosquitto } from '../helpers/brokers.js';
import { Receiver } from '../../src/uplink/receiver.js';

const cleanups: (() => void | Promise<void>)[] = [];
const RECORD_S = 120;
const PERIOD_S = 5;

function workDir(): string {
  const t = tempDir('motobio-fault-model-');
  cleanups.push(t.cleanup);
  return t.path;
}

beforeAll(() => requireBuild());
afterEach(() => killAll());
afterAll(async () => {
  killAll();
  while (cleanups.length > 0) await cleanups.pop()?.();
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
      const record = writeSyntheticRecord(dir, { seconds: RECORD_S, bpm: 130 });
      const store = join(dir, 'state', 'motobio.db');
      const modelDir = v.modelDir(dir);
      const broker = await startMosquitto();
      cleanups.push(() => broker.close());
      const rx = await Receiver.start({ link: { url: broker.url } });
      cleanups.push(() => rx.close());
      const tally = new Tally(rx, 'fault-model');
      const d = await startDaemon(
        dir,
        replayConfig({ device: 'fault-model', record, store, speed: 20, modelDir, rules: { hr_high_bpm: 100 }, periodS: PERIOD_S, loop: false, links: [{ name: 'lo', url: broker.url }], batchMaxAgeS: 0.5 }),
      );
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
      await waitFor('the replay to end and the outbox to drain', async () => {
        const s = await d.status();
        return s.components['source']?.state === 'ended' && s.outbox.records === 0;
      }, 60_000, 100);
      expect(await d.stop()).toBe(0);
      // Its ECG strip is cut around where the alert fired on the data's timeline (the safety record's endS).
      const alert = await waitFor('the safety record', () => tally.records.find((r) => r.type === 'safety'), 15_000, 50);
      const alertS = Number((alert.data as { endS?: unknown }).endS);
      const strips = ecgStripRecords({ alertsS: [alertS], signalS: RECORD_S, fs: 360 });
      // 130 bpm from the start: hr_high holds after 20 s and repeats only after 120 s, so it fires once.
      const want = expectedRecords({
        signalS: RECORD_S,
        periodS: PERIOD_S,
        extra: {
          clock: { n: 1, why: 'the start anchor' },
          status: { n: 1 + healthRecordsIn(RECORD_S), why: `MODEL_UNAVAILABLE raised, ${healthRecordsIn(RECORD_S)} health record (one per 60 s of signal)` },
          safety: { n: 1, why: 'hr_high once: held 20 s, repeats after 120 s' },
          cue: { n: 1, why: 'its delivery record (no audio output: muted)' },
          ecg: { n: strips.records, why: `the alert's strip at ${alertS} s: ${(strips.samples / 360).toFixed(1)} s of ECG from 30 s before (clipped to the start) to 30 s after, in 10-s chunks` },
        },
      });
      await waitFor(`the receiver to get the ${want.total} records the run must produce`, () => tally.received >= want.total, 15_000, 50);

      expect(tally.byType, want.rule).toEqual(want.byType);
      expect(tally.missing).toBe(0);
      const decisions = tally.records.filter((r) => r.type === 'decision');
      const body = (r: { data?: unknown }) => (r.data ?? {}) as Record<string, unknown>;
      // Every decision was made without a model; the ones while the rule fired came from it.
      expect(decisions.every((r) => body(r)['model'] === null)).toBe(true);
      expect(decisions.some((r) => body(r)['source'] === 'safety' && body(r)['name'] === 'safety_alert')).toBe(true);
      const safety = tally.records.filter((r) => r.type === 'safety');
      expect(body(safety[0])['name']).toBe('hr_high');
      expect(tally.records.some((r) => r.type === 'status' && body(r)['alarm'] === 'MODEL_UNAVAILABLE' && body(r)['state'] === 'raised')).toBe(true);
      recordFaultResult({
        group: 'model',
        fault: `Model: ${v.fault}`,
        behaviour: `started on the safety rules alone (inference rules_only); alarm MODEL_UNAVAILABLE on /status, /metrics, log and a status record; ${safety.length} hr_high safety records, ${decisions.length} decisions, none from a model`,
        expected: want.total,
        expectedFrom: want.rule,
        received: tally.received,
        lost: want.total - tally.received,
        duplicates: tally.duplicates,
        figures: { safety_records: safety.length, decisions: decisions.length },
      });
    }, 90_000);
  }
});
