/**
 * Builds the bootstrap coaching policy in models/ from the real recordings, reproducibly
 * (fixed seeds, fixed record order, no timestamps: the same data gives the same bytes).
 *
 *   ECG ─▶ EcgChain ─▶ SignalFeatures per 10 s ───┐
 *   seeded ride context (rest HR, minutes, cues) ─┴▶ raw features ─▶ teacher label
 *                                                         │
 *               normalisation stats (train split) ◀───────┘
 *                         │
 *   obs ─▶ train MLP (16-32-32-5, tanh) ─▶ fp32 ONNX ─▶ int8 ONNX ─▶ manifest + validation set
 *
 * Run: node dist/src/offline/model-build/build-default-policy.js [--data ../shared/data] [--out models]
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EcgChain } from '../../signal/chain.js';
import { channelOf, readRecord, toPhysical } from '../../sources/wfdb/record.js';
import type { SignalFeatures } from '../../signal/types.js';
import { ACTIONS, rawFeatures, vectorise, type Action, type CueHistory, type FeatureSpec, type RideContext } from '../../inference/features.js';
import { MANIFEST_SCHEMA, sha256, type ModelManifest } from '../../inference/manifest.js';
import { buildMlpModel, DEFAULT_OPSET } from '../../inference/onnx/mlp.js';
import { decodeModel, encodeModel } from '../../inference/onnx/model.js';
import { quantizeDynamic } from '../quantize/quantize.js';
import { agreement } from '../../inference/agreement.js';
import { teacher, TEACHER_RULES } from './teacher.js';
import { mulberry32, train } from './train.js';

export const MODEL_NAME = 'default-policy';
export const MODEL_VERSION = '0.1.0-bootstrap';

/** Feature order and missing-value fills (raw units). mean/std come from the training data. */
const FEATURES: { name: string; unit: string; description: string; transform?: 'log1p'; fill: number; required?: boolean }[] = [
  { name: 'hr_bpm', unit: 'bpm', description: 'heart rate over the last 10 s', fill: 75, required: true },
  { name: 'hr_above_rest_bpm', unit: 'bpm', description: "heart rate minus the rider's calibrated resting rate", fill: 0 },
  { name: 'hr_slope_bpm_per_min', unit: 'bpm/min', description: 'heart-rate slope over the last 60 s', fill: 0 },
  { name: 'rmssd_ms', unit: 'ms', description: 'RMSSD of NN intervals over 60 s', transform: 'log1p', fill: 40 },
  { name: 'sdnn_ms', unit: 'ms', description: 'SDNN of NN intervals over 60 s', transform: 'log1p', fill: 50 },
  { name: 'pnn50', unit: 'fraction', description: 'share of successive NN differences above 50 ms, 60 s', fill: 0.1 },
  { name: 'lf_hf', unit: 'ratio', description: 'LF/HF power ratio of NN intervals, 120 s', transform: 'log1p', fill: 1.5 },
  { name: 'quality', unit: 'fraction', description: 'mean signal-quality index, 0 unusable .. 1 clean', fill: 0 },
  { name: 'ectopic_share', unit: 'fraction', description: 'share of intervals needing correction, 60 s', fill: 0 },
  { name: 'minutes_riding', unit: 'min', description: 'minutes since the ride started', fill: 0 },
  { name: 'minutes_since_cue', unit: 'min', description: 'minutes since the last cue, or since the ride started when there has been none', fill: 120 },
  ...ACTIONS.map((a) => ({ name: `last_action_${a}`, unit: 'one-hot', description: `1 when the last cue given was ${a}`, fill: a === 'none' ? 1 : 0 })),
];

const HIDDEN = [32, 32];
const VARIANTS_PER_WINDOW = 4;
const VALIDATION_RECORDS = new Set(['mitdb/106', 'mitdb/119', 'mitdb/205', 'mitdb/223', 'qtdb/sel302']);
const VALIDATION_ROWS = 1000;

interface Sample {
  record: string;
  raw: Record<string, number | null>;
  label: Action;
}

/** ECG records: every annotated one (mitdb, nstdb, qtdb) plus the real drive (drivedb). */
function listRecords(dataDir: string): string[] {
  const out: string[] = [];
  for (const db of ['mitdb', 'nstdb', 'qtdb', 'drivedb']) {
    const dir = join(dataDir, db);
    if (!existsSync(dir)) throw new Error(`${dir}: missing; point --data at the shared recordings (see ../shared/data/README.md)`);
    for (const f of readdirSync(dir).sort()) {
      if (db === 'drivedb' ? f.endsWith('.hea') : f.endsWith('.atr')) out.push(`${db}/${f.slice(0, -4)}`);
    }
  }
  return out;
}

function rideVariant(rnd: () => number, restBase: number, t: number): { ride: RideContext; history: CueHistory } {
  const restingHrBpm = Math.max(40, Math.min(95, restBase + (rnd() * 20 - 14)));
  const minutesRiding = Math.max(t / 60, rnd() * 150);
  const hadCue = rnd() < 0.7;
  const cues: Action[] = ['breathing_cue', 'relax_posture_cue', 'suggest_break', 'safety_alert', 'breathing_cue', 'relax_posture_cue'];
  const history: CueHistory = hadCue
    ? { lastAction: cues[Math.floor(rnd() * cues.length)], minutesSinceCue: rnd() < 0.25 ? rnd() * 3 : rnd() * Math.min(minutesRiding, 90) }
    : { lastAction: 'none', minutesSinceCue: null };
  return { ride: { restingHrBpm, minutesRiding, riding: true, sensorConnected: true }, history };
}

function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** Every record's ECG through the real signal chain, features every 10 s once 60 s are in. */
function recordWindows(base: string): SignalFeatures[] {
  const signal = channelOf(readRecord(base), 0);
  const mv = toPhysical(signal);
  const fs = Math.round(signal.fs);
  const chain = new EcgChain({ fs: signal.fs });
  const windows: SignalFeatures[] = [];
  for (let s = 0; (s + 1) * fs <= mv.length; s++) {
    chain.push(mv.subarray(s * fs, (s + 1) * fs));
    if (s + 1 >= 60 && (s + 1) % 10 === 0) windows.push(chain.features());
  }
  return windows;
}

export function collectSamples(dataDir: string, log: (l: string) => void = () => undefined): Sample[] {
  const samples: Sample[] = [];
  const names = FEATURES.map((f) => f.name);
  listRecords(dataDir).forEach((rec, ri) => {
    const windows = recordWindows(join(dataDir, rec));
    const hrs = windows.map((w) => w.hrBpm).filter((h): h is number => h !== null);
    if (hrs.length < 10) {
      log(`${rec}: skipped, the chain found heart rate in only ${hrs.length} windows`);
      return;
    }
    const restBase = percentile(hrs, 0.1);
    const rnd = mulberry32(1000 + ri);
    for (const w of windows) {
      for (let v = 0; v < VARIANTS_PER_WINDOW; v++) {
        const { ride, history } = rideVariant(rnd, restBase, w.endS);
        samples.push({ record: rec, raw: rawFeatures(names, w, ride, history), label: 'none' });
      }
    }
  });
  return samples;
}

function round(x: number, digits = 4): number {
  return Number(x.toPrecision(digits));
}

export function featureSpecs(train: Sample[]): FeatureSpec[] {
  return FEATURES.map((f) => {
    const xs = train.map((s) => s.raw[f.name] ?? f.fill).map((x) => (f.transform === 'log1p' ? Math.log1p(Math.max(0, x)) : x));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length);
    const isOneHot = f.unit === 'one-hot';
    return {
      name: f.name,
      unit: f.unit,
      description: f.description,
      transform: f.transform ?? 'none',
      // One-hots stay 0/1: shifting them buys nothing and hides what they mean.
      mean: isOneHot ? 0 : round(mean),
      std: isOneHot ? 1 : round(Math.max(std, 1e-3)),
      clip: 5,
      fill: f.fill,
      ...(f.required ? { required: true } : {}),
    };
  });
}

function labelOf(raw: Record<string, number | null>, specs: FeatureSpec[]): Action {
  const v = (n: string) => raw[n] ?? specs.find((s) => s.name === n)!.fill;
  const last = ACTIONS.find((a) => raw[`last_action_${a}`] === 1) ?? 'none';
  return teacher({
    hr_bpm: v('hr_bpm'),
    hr_above_rest_bpm: v('hr_above_rest_bpm'),
    hr_slope_bpm_per_min: v('hr_slope_bpm_per_min'),
    rmssd_ms: v('rmssd_ms'),
    lf_hf: v('lf_hf'),
    quality: v('quality'),
    minutes_riding: v('minutes_riding'),
    minutes_since_cue: v('minutes_since_cue'),
    last_action: last,
  });
}

function roundedRaw(raw: Record<string, number | null>): Record<string, number | null> {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v === null ? null : round(v, 4)]));
}

export interface BuildReport {
  readonly records: { train: string[]; validation: string[] };
  readonly samples: { train: number; validation: number; validationFileRows: number };
  readonly labels: { train: Record<string, number>; validation: Record<string, number> };
  readonly teacherAgreement: { train: number; validation: number; validationPerAction: Record<string, { n: number; recall: number }> };
  readonly int8: { agreementWithFp32: number; rows: number; maxAbsProbDiff: number; fp32Bytes: number; int8Bytes: number };
  readonly teacherRules: readonly string[];
}

export async function buildDefaultPolicy(dataDir: string, outDir: string, log: (l: string) => void = () => undefined): Promise<BuildReport> {
  const all = collectSamples(dataDir, log);
  const trainSet = all.filter((s) => !VALIDATION_RECORDS.has(s.record));
  const valSet = all.filter((s) => VALIDATION_RECORDS.has(s.record));
  const specs = featureSpecs(trainSet);
  for (const s of all) s.label = labelOf(s.raw, specs);
  const encode = (s: Sample) => vectorise(specs, s.raw).obs;
  const xs = trainSet.map(encode);
  const ys = trainSet.map((s) => ACTIONS.indexOf(s.label));
  log(`${trainSet.length} training rows from ${new Set(trainSet.map((s) => s.record)).size} records, ${valSet.length} validation rows`);
  const mlp = train(xs, ys, ACTIONS.length, { hidden: HIDDEN, epochs: 60, batch: 64, lr: 3e-3, seed: 42, inputNoise: 0.08, weightDecay: 1e-4, log });
  // The fp32 reference gets the int8 quantizer's weights (±63 per output channel), so int8
  // differs from it only by activation rounding; all figures below are for the snapped model.
  mlp.snapToInt8Grid(63);

  const count = (set: Sample[]) => Object.fromEntries(ACTIONS.map((a) => [a, set.filter((s) => s.label === a).length]));
  const acc = (set: Sample[]) => set.filter((s) => ACTIONS[mlp.predict(encode(s))] === s.label).length / set.length;
  const perAction = Object.fromEntries(
    ACTIONS.map((a) => {
      const of = valSet.filter((s) => s.label === a);
      return [a, { n: of.length, recall: of.length ? round(of.filter((s) => ACTIONS[mlp.predict(encode(s))] === a).length / of.length) : 0 }];
    }),
  );

  const fp32Model = buildMlpModel({
    layers: mlp.toDense(),
    activation: 'tanh',
    docString: `motobio ${MODEL_NAME} ${MODEL_VERSION}: bootstrap policy imitating a rule-based teacher; see models/MODEL_CARD.md`,
    metadata: { 'motobio.model': MODEL_NAME, 'motobio.version': MODEL_VERSION },
  });
  const fp32 = encodeModel(fp32Model);
  const { model: int8Model, report: qReport } = quantizeDynamic(decodeModel(fp32, 'fp32 model'));
  const int8 = encodeModel(int8Model);

  const stride = Math.max(1, Math.floor(valSet.length / VALIDATION_ROWS));
  // The file stores rounded raw features and the obs computed from exactly those, so
  // "model validate" can re-derive every obs from the manifest and prove the stats match.
  const valRows = valSet.filter((_, i) => i % stride === 0).slice(0, VALIDATION_ROWS).map((s) => ({ ...s, raw: roundedRaw(s.raw) }));
  const valObs = valRows.map((s) => Array.from(encode(s)).map((x) => round(x, 6)));
  const fullValAgreement = await agreement(fp32, int8, valSet.map((s) => Array.from(encode(s))));
  const validationText = valRows.map((s, i) => JSON.stringify({ obs: valObs[i], features: s.raw, label: s.label, record: s.record })).join('\n') + '\n';

  mkdirSync(outDir, { recursive: true });
  const files = { fp32: `${MODEL_NAME}.fp32.onnx`, int8: `${MODEL_NAME}.int8.onnx`, validation: `${MODEL_NAME}.validation.ndjson` };
  writeFileSync(join(outDir, files.fp32), fp32);
  writeFileSync(join(outDir, files.int8), int8);
  writeFileSync(join(outDir, files.validation), validationText);
  const manifest: ModelManifest & { $schema: string } = {
    $schema: './manifest.schema.json',
    schemaVersion: 1,
    name: MODEL_NAME,
    version: MODEL_VERSION,
    description: 'Bootstrap coaching policy: a small MLP imitating a transparent rule-based teacher, until the server team exports the PPO policy. See MODEL_CARD.md.',
    opset: DEFAULT_OPSET,
    model: { path: files.int8, sha256: sha256(int8), precision: 'int8' },
    reference: { path: files.fp32, sha256: sha256(fp32), precision: 'fp32' },
    validationSet: { path: files.validation, sha256: sha256(Buffer.from(validationText)) },
    input: { name: 'obs', shape: ['batch', specs.length] },
    output: { name: 'action_probs', shape: ['batch', ACTIONS.length], kind: 'probabilities' },
    features: specs,
    maxMissing: 4,
    actions: [...ACTIONS],
  };
  writeFileSync(join(outDir, `${MODEL_NAME}.manifest.json`), JSON.stringify(manifest, null, 2) + '\n');
  writeFileSync(join(outDir, 'manifest.schema.json'), JSON.stringify(MANIFEST_SCHEMA, null, 2) + '\n');

  const report: BuildReport = {
    records: { train: [...new Set(trainSet.map((s) => s.record))], validation: [...new Set(valSet.map((s) => s.record))] },
    samples: { train: trainSet.length, validation: valSet.length, validationFileRows: valRows.length },
    labels: { train: count(trainSet), validation: count(valSet) },
    teacherAgreement: { train: round(acc(trainSet)), validation: round(acc(valSet)), validationPerAction: perAction },
    int8: { agreementWithFp32: round(fullValAgreement.share), rows: fullValAgreement.rows, maxAbsProbDiff: round(fullValAgreement.maxAbsProbDiff), fp32Bytes: qReport.fp32Bytes, int8Bytes: qReport.int8Bytes },
    teacherRules: TEACHER_RULES,
  };
  writeFileSync(join(outDir, `${MODEL_NAME}.build.json`), JSON.stringify(report, null, 2) + '\n');
  return report;
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const { values } = parseArgs({ options: { data: { type: 'string', default: '../shared/data' }, out: { type: 'string', default: 'models' } } });
  buildDefaultPolicy(values.data, values.out, (l) => process.stdout.write(`${l}\n`)).then(
    (r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`),
    (e: unknown) => {
      process.stderr.write(`build-default-policy: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
