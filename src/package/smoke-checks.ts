/**
 * The installed package's own smoke checks: each one exercises a native part the unit needs
 * (onnxruntime's int8 kernels, better-sqlite3, the signal chain on a real record, an MQTT
 * PUBACK) and returns figures that must be equal on every architecture, so an arm64 run can be
 * compared with an x86 run of the same package (smoke-compare.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../core/package.js';
import { readDataset } from '../inference/agreement.js';
import { resolveBeside } from '../inference/manifest.js';
import { PolicyModel, argmax } from '../inference/policy.js';
import { EcgChain } from '../signal/chain.js';
import { channelOf, readRecord, toPhysical } from '../sources/wfdb/record.js';
import { Outbox } from '../store/outbox.js';
import { MotobioError, errorMessage } from '../util/errors.js';
import type { Sb3Result } from './smoke-sb3-compare.js';

/** Validation rows pushed through the model; enough to meet every action the policy has. */
export const MODEL_ROWS = 64;
export const RECORD = 'src/sources/recordings/drive05-ecg-5min';

export interface ModelResult {
  readonly precision: string;
  readonly rows: number;
  readonly actions: string[];
  /** Probabilities per row, rounded to 1e-4 (int8 kernels may differ in the last bits between ISAs). */
  readonly probs: number[][];
}

export interface StoreResult {
  readonly written: number;
  readonly read: number;
  readonly roundTrip: boolean;
}

export interface SignalResult {
  readonly record: string;
  readonly samples: number;
  readonly beats: number;
  readonly first: number[];
  readonly last: number[];
  /** sha256 of every beat's sample index, one per line: equal only if every beat is. */
  readonly sha256: string;
}

export interface MqttResult {
  readonly topic: string;
  readonly puback: boolean;
  readonly ms: number;
}

export interface SmokeResult {
  readonly node: string;
  readonly arch: string;
  readonly model: ModelResult;
  readonly store: StoreResult;
  readonly signal: SignalResult;
  readonly mqtt?: MqttResult;
  /** An SB3 checkpoint imported and its int8 policy run on the target (smoke-sb3.ts). */
  readonly sb3?: Sb3Result;
}

export async function checkModel(root = packageRoot()): Promise<ModelResult> {
  const manifestPath = join(root, 'models/default-policy.manifest.json');
  const model = await PolicyModel.load(manifestPath);
  try {
    const set = model.manifest.validationSet;
    if (!set) throw new MotobioError('MODEL_INVALID', `${manifestPath}: no validationSet listed; the smoke test needs its rows as inputs`);
    const rows = readDataset(resolveBeside(manifestPath, set.path), model.manifest.features.length).slice(0, MODEL_ROWS);
    const actions: string[] = [];
    const probs: number[][] = [];
    for (const row of rows) {
      const p = await model.infer(Float32Array.from(row.obs));
      actions.push(model.actions[argmax(p)]);
      probs.push(Array.from(p, (v) => Math.round(v * 1e4) / 1e4));
    }
    return { precision: model.file.precision, rows: rows.length, actions, probs };
  } finally {
    await model.release();
  }
}

export function checkStore(): StoreResult {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-smoke-'));
  try {
    const outbox = Outbox.open(join(dir, 'smoke.db'), { deviceId: 'smoke', integrityCheck: 'quick' });
    try {
      const payloads = Array.from({ length: 50 }, (_, i) => ({ i, note: `smoke ${i}` }));
      const res = outbox.append(payloads.map((payload) => ({ type: 'smoke', priority: 'features' as const, payload })));
      const leased = outbox.lease('features', 100, 1 << 20);
      const bodies = leased.map((r) => JSON.parse(r.body.toString('utf8')) as unknown);
      outbox.ack(leased.map((r) => r.id));
      const roundTrip = JSON.stringify(bodies) === JSON.stringify(payloads) && outbox.stats().records === 0;
      return { written: res.count, read: leased.length, roundTrip };
    } finally {
      outbox.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function checkSignal(root = packageRoot()): SignalResult {
  const rec = readRecord(join(root, RECORD));
  const ecg = channelOf(rec, 0);
  const mv = toPhysical(ecg);
  const fs = ecg.fs;
  const chain = new EcgChain({ fs });
  const beats: number[] = [];
  const chunk = Math.round(fs / 4);
  for (let i = 0; i < mv.length; i += chunk) {
    for (const b of chain.push(mv.subarray(i, i + chunk)).beats) beats.push(b.sample);
  }
  return {
    record: RECORD,
    samples: mv.length,
    beats: beats.length,
    first: beats.slice(0, 5),
    last: beats.slice(-5),
    sha256: createHash('sha256').update(beats.join('\n')).digest('hex'),
  };
}

/** Publishes one QoS 1 record and waits for the broker's PUBACK. */
export async function checkMqtt(url: string, timeoutMs: number): Promise<MqttResult> {
  const mqtt = await import('mqtt');
  const topic = `motobio/v1/smoke-${process.arch}/data/status`;
  const t0 = performance.now();
  let client: import('mqtt').MqttClient | undefined;
  try {
    client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `motobio-smoke-${randomUUID().slice(0, 8)}`, reconnectPeriod: 0, connectTimeout: timeoutMs });
    // At QoS 1 the promise settles only once the broker's PUBACK has arrived.
    await client.publishAsync(topic, JSON.stringify({ smoke: true, arch: process.arch }), { qos: 1 });
    return { topic, puback: true, ms: Math.round(performance.now() - t0) };
  } catch (e) {
    throw new MotobioError('UPLINK_FAILED', `MQTT smoke publish to ${url} failed (${errorMessage(e)}); is the broker running on that port?`, { cause: e });
  } finally {
    await client?.endAsync();
  }
}
