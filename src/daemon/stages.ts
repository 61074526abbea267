/**
 * The production stage factories for `motobio run`. Each stage module is loaded lazily
 * (`await import()`) so a unit without Bluetooth never loads noble, and a unit without a
 * model never loads onnxruntime.
 *
 * Wired: source (src/sources), chain (src/signal EcgChain), decisions (src/inference
 * DecisionEngine), outbox (src/store Outbox).
 * TODO(issue 6 integration), left for the lead:
 *   ride      RideContext: riding is assumed true and sensorConnected follows the features
 *             (no ride detection yet); restingHrBpm comes from the rider's calibration.
 *   uplink    the MQTT uplink from src/uplink over the same Outbox instance (uplink.links,
 *             topic_prefix, device.id), reporting link state into ctx.telemetry.setLink.
 *   calibration: loadCalibration(resolvePath(ctx.config.calibration_dir, ctx.cwd), sensorId)
 *             and applicableCalibration() (./calibration.ts) give the source's gain, polarity
 *             and sample rate once the sensor id is known.
 * A stage left out here runs as "not wired" (the daemon logs it once and carries on).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MotobioError } from '../util/errors.js';
import { EcgChain } from '../signal/chain.js';
import type { Priority, RecordInput } from '../store/types.js';
import { resolvePath } from './config.js';
import type { SignalFeatures } from '../signal/types.js';
import type { DaemonContext, Decision, DecisionEngine, OutboundRecord, Outbox, RecordType, StageFactories } from './context.js';

const PRIORITY_OF: Readonly<Record<RecordType, Priority>> = {
  safety: 'safety',
  decision: 'decision',
  features: 'features',
  quality: 'status',
  clock: 'status',
  status: 'status',
};

/** An OutboundRecord as the store takes it: the stamp's times, the clock state and seq in the body. */
export function toRecordInput(r: OutboundRecord): RecordInput {
  return {
    type: r.type,
    priority: PRIORITY_OF[r.type],
    payload: { ...r.body, clock: r.stamp.clock, localSeq: r.stamp.seq },
    monoMs: r.stamp.monoMs,
    wallMs: r.stamp.wallMs,
    clockSynced: r.stamp.clock === 'synchronized',
  };
}

export async function openOutbox(ctx: DaemonContext): Promise<Outbox> {
  const { Outbox: SqliteOutbox } = await import('../store/outbox.js');
  const path = resolvePath(ctx.config.store.path, ctx.cwd);
  const log = ctx.log.child({ mod: 'store' });
  const store = SqliteOutbox.open(path, {
    deviceId: ctx.config.device.id,
    bootId: ctx.clock.bootId,
    diskBudgetBytes: Math.round(ctx.config.store.disk_budget_mb * 1024 * 1024),
    clockSynced: () => ctx.clock.sync() === 'synchronized',
    log,
    onAlarm: (a) => {
      ctx.telemetry.countError('store', a.code, a.message);
      log.error({ code: a.code }, a.message);
    },
  });
  log.info({ path, records: store.stats().records }, 'store open');
  return {
    append(record) {
      store.append([toRecordInput(record)]);
    },
    // Every append is its own durable transaction (WAL, synchronous=FULL): nothing to flush.
    flush: () => Promise.resolve(),
    close() {
      store.close();
      return Promise.resolve();
    },
    depth() {
      const s = store.stats();
      return { records: s.records, bytes: s.bytes };
    },
  };
}

/** The manifest in a model directory: default-policy.manifest.json, else the only one. */
export function manifestIn(dir: string): string | undefined {
  const preferred = join(dir, 'default-policy.manifest.json');
  if (existsSync(preferred)) return preferred;
  try {
    const found = readdirSync(dir).filter((f) => f.endsWith('.manifest.json'));
    return found.length === 1 ? join(dir, found[0]) : undefined;
  } catch {
    return undefined;
  }
}

export async function openDecisionEngine(ctx: DaemonContext): Promise<DecisionEngine> {
  const { DecisionEngine: Engine } = await import('../inference/engine.js');
  const log = ctx.log.child({ mod: 'inference' });
  const dir = resolvePath(ctx.config.inference.model_dir, ctx.cwd);
  const manifestPath = manifestIn(dir);
  if (!manifestPath) log.warn({ dir }, 'no model manifest in inference.model_dir: decisions come from the safety rules alone');
  const rules = ctx.config.inference.rules;
  const engine = await Engine.create({
    ...(manifestPath === undefined ? {} : { manifestPath }),
    safety: { maxHrBpm: rules.hr_high_bpm, minHrBpm: rules.hr_low_bpm, sensorLostS: rules.no_beat_s, goodQuality: rules.min_quality },
    logger: log,
    onEvent: (e) => {
      if (e.type.endsWith('failed') || e.type.endsWith('rejected') || e.type === 'model_rolled_back') ctx.telemetry.countError('inference', e.type.toUpperCase(), 'error' in e ? e.error : undefined);
    },
  });
  let firstEndS: number | undefined;
  return {
    async decide(features: SignalFeatures) {
      firstEndS ??= features.endS;
      const record = await engine.decide({
        signal: features,
        ride: { restingHrBpm: null, minutesRiding: (features.endS - firstEndS) / 60, riding: true, sensorConnected: true },
      });
      const out: Decision[] = record.safetyTriggers.map((t) => ({ kind: 'safety' as const, name: t.rule, detail: { ...t } }));
      // Every period gives one decision record (action "none" included): the audit trail of the policy.
      out.push({
        kind: 'coaching',
        name: record.action,
        detail: {
          t: record.t,
          source: record.source,
          reason: record.reason,
          modelAction: record.modelAction,
          probabilities: record.probabilities,
          safetyActive: record.safetyActive,
          model: record.model,
          ...(record.modelError === undefined ? {} : { modelError: record.modelError }),
          latencyMs: record.latencyMs,
        },
      });
      return out;
    },
    close: () => engine.close(),
  };
}

export function productionStages(): StageFactories {
  return {
    async source(ctx) {
      const s = ctx.config.source;
      if (s.kind === 'replay') {
        const base = resolvePath(s.path, ctx.cwd);
        const record = s.record ? join(base, s.record) : base.replace(/\.hea$/, '');
        const { ReplaySource } = await import('../sources/replay.js');
        return new ReplaySource({ record, channel: s.channel, speed: s.speed, loop: s.loop });
      }
      const { createSource, parseDevice } = await import('../sources/factory.js');
      // The schema requires source.device for serial and ble.
      const device = s.device ?? '';
      if (s.kind === 'serial') return createSource({ transport: 'serial', path: device }, { baud: s.baud, channel: s.channel });
      const target = parseDevice(device);
      if (target.transport !== 'ble') {
        throw new MotobioError('CONFIG_INVALID', `source.device "${device}" is not a BLE name or address; for a serial port set source.kind: serial`);
      }
      return createSource(target, { channel: s.channel });
    },
    chain(_ctx, fs) {
      return new EcgChain(fs === undefined ? {} : { fs });
    },
    decisions: openDecisionEngine,
    outbox: openOutbox,
  };
}
