/**
 * The production stage factories for `motobio run`. Each stage module is loaded lazily
 * (`await import()`) so a unit without Bluetooth never loads noble, and a unit without a
 * model never loads onnxruntime.
 *
 * Wired: source (src/sources), chain (src/signal EcgChain), outbox (src/store Outbox).
 * TODO(issue 6 integration), left for the lead:
 *   decisions the ONNX policy plus safety rules from src/inference: DecisionEngine.create(
 *             { manifestPath from inference.model_dir, safety from inference.rules }) and an
 *             adapter from SignalFeatures + ride context to its decide(PolicyInput), mapping a
 *             DecisionRecord to Decision[] (its safetyTriggers to kind 'safety').
 *   uplink    the MQTT uplink from src/uplink over the same Outbox instance (uplink.links,
 *             topic_prefix, device.id), reporting link state into ctx.telemetry.setLink.
 *   calibration: loadCalibration(resolvePath(ctx.config.calibration_dir, ctx.cwd), sensorId)
 *             and applicableCalibration() (./calibration.ts) give the source's gain, polarity
 *             and sample rate once the sensor id is known.
 * A stage left out here runs as "not wired" (the daemon logs it once and carries on).
 */
import { join } from 'node:path';
import { MotobioError } from '../util/errors.js';
import { EcgChain } from '../signal/chain.js';
import type { Priority, RecordInput } from '../store/types.js';
import { resolvePath } from './config.js';
import type { DaemonContext, OutboundRecord, Outbox, RecordType, StageFactories } from './context.js';

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
    outbox: openOutbox,
  };
}
