/**
 * The production stage factories for `motobio run`. Each stage module is loaded lazily
 * (`await import()`) so a unit without Bluetooth never loads noble, and a unit without a
 * model never loads onnxruntime.
 *
 * Wired: source (src/sources), chain (src/signal EcgChain), decisions (src/inference
 * DecisionEngine), outbox (src/store Outbox), uplink (src/uplink Uplink over the same store).
 *
 * The stop order is source, pipeline flush, store, uplink. Every append is already a durable
 * transaction, so the store's step only refuses further appends; the SQLite file itself is
 * closed after the uplink has stopped (it still releases leases and deletes acknowledged
 * records until then). Records in flight at the stop stay stored and are sent again; the
 * server drops duplicates by sequence.
 *
 * A sensor's passed calibration (calibration_dir/<sensor id>.json) sets the chain's gain,
 * polarity and sample rate.
 *
 * Not wired yet: RideContext (riding and sensorConnected are assumed true, no ride detection;
 * no resting heart rate per rider).
 * A stage left out here runs as "not wired" (the daemon logs it once and carries on).
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MotobioError, errorMessage, isMotobioError } from '../util/errors.js';
import type { AlarmChange } from '../core/alarms.js';
import { HeldAppends } from '../store/held-appends.js';
import { applicableCalibration, loadCalibration, type CalibrationProfile } from '../calibration/profile.js';
import { sensorIdFor } from '../calibration/session.js';
import { EcgChain } from '../signal/chain.js';
import type { Priority, RecordInput } from '../store/types.js';
import type { Outbox as SqliteOutbox } from '../store/outbox.js';
import { resolvePath } from '../config/load.js';
import type { SignalFeatures } from '../signal/types.js';
import type { DaemonContext, Decision, DecisionEngine, OutboundRecord, Outbox, RecordType, StageFactories, Uplink } from './context.js';

const PRIORITY_OF: Readonly<Record<RecordType, Priority>> = {
  safety: 'safety',
  decision: 'decision',
  features: 'features',
  quality: 'status',
  clock: 'status',
  status: 'status',
  update: 'status',
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

/** Adapters opened by openOutbox, to the store under them (the uplink needs the real one). */
const stores = new WeakMap<Outbox, { store: SqliteOutbox; closeAfterUplink: boolean }>();

/** Records held in memory while the disk is full (a few minutes of features and decisions). */
export const MAX_HELD_RECORDS = 10_000;

/** How long the uplink may wait for batches in flight at a stop, within the 5 s deadline. */
export const UPLINK_DRAIN_MS = 1500;

export async function openOutbox(ctx: DaemonContext): Promise<Outbox> {
  const { Outbox: SqliteOutbox } = await import('../store/outbox.js');
  const path = resolvePath(ctx.config.store.path, ctx.cwd);
  const log = ctx.log.child({ mod: 'store' });
  const alarms = ctx.telemetry.alarms;
  const { DiskWatch } = await import('../store/disk-watch.js');
  const disk = new DiskWatch(dirname(path));
  const enc = ctx.config.store.encryption;
  const cipher = enc ? (await import('../store/record-cipher.js')).cipherFromSettings(enc, (p) => resolvePath(p, ctx.cwd)) : undefined;
  if (cipher) log.info({ keyId: cipher.current.id, keys: cipher.keyIds.length }, 'store encryption on (AES-256-GCM record bodies)');
  const store = SqliteOutbox.open(path, {
    ...(cipher ? { cipher } : {}),
    deviceId: ctx.config.device.id,
    bootId: ctx.clock.bootId,
    diskBudgetBytes: Math.round(ctx.config.store.disk_budget_mb * 1024 * 1024),
    clockSynced: () => ctx.clock.sync() === 'synchronized',
    spaceCap: disk.cap,
    log,
    onAlarm: (a) => {
      ctx.telemetry.countError('store', a.code, a.message);
      log.error({ code: a.code }, a.message);
      if (a.code === 'STORE_CORRUPT_REPLACED' || a.code === 'SAFETY_EVICTED') alarms.raise(a.code, a.message);
    },
  });
  log.info({ path, records: store.stats().records }, 'store open');
  let closing = false;
  let onAppend: (() => void) | undefined;
  // SQLITE_FULL never reaches the pipeline: the record waits in memory, in order, for space.
  const held = new HeldAppends<OutboundRecord>(MAX_HELD_RECORDS);
  const write = (record: OutboundRecord) => {
    store.append([toRecordInput(record)]);
    onAppend?.();
  };
  const drainHeld = (): boolean => {
    if (held.size === 0) return true;
    const n = held.size;
    if (!held.drain(write)) return false;
    log.info({ records: n }, 'disk has room again: the records held in memory are stored');
    alarms.clear('DISK_FULL');
    return true;
  };
  const hold = (record: OutboundRecord, e: unknown) => {
    if (held.push(record)) ctx.telemetry.countError('store', 'RECORD_DROPPED', `disk full for ${MAX_HELD_RECORDS} records: the oldest held record was dropped`);
    if (alarms.has('DISK_FULL')) return;
    const message = `store ${path}: the disk is full (${errorMessage(e)}); records wait in memory (up to ${MAX_HELD_RECORDS}) and are stored once there is room. Free space on that filesystem or lower store.disk_budget_mb.`;
    log.error({ code: 'DISK_FULL', held: held.size }, message);
    ctx.telemetry.countError('store', 'DISK_FULL', message);
    alarms.raise('DISK_FULL', message, { path });
  };
  disk.on('low', (d) => {
    const message = `disk nearly full: the filesystem under ${path} has ${Math.round(d.freeBytes / 1024)} kB free (less than the ${Math.round(disk.reserveBytes / 1048576)} MB reserve); the store evicts its lowest-priority records to stay within it. Free space on that filesystem or lower store.disk_budget_mb.`;
    log.warn({ code: 'DISK_LOW', freeBytes: d.freeBytes }, message);
    alarms.raise('DISK_LOW', message, { freeBytes: d.freeBytes, totalBytes: d.totalBytes });
  });
  disk.on('ok', (d) => {
    log.info({ code: 'DISK_LOW', freeBytes: d.freeBytes }, 'disk has room again: DISK_LOW cleared');
    alarms.clear('DISK_LOW');
  });
  disk.start();
  const retry = setInterval(() => {
    try {
      drainHeld();
    } catch (e) {
      log.error({ err: errorMessage(e) }, 'storing a held record failed; it was dropped');
    }
  }, 1000);
  retry.unref();
  const adapter: Outbox & { onAppend(fn: () => void): void } = {
    append(record) {
      if (closing) throw new MotobioError('STORE_FAILED', `record "${record.type}" made after the store was closed; this is a bug in the daemon's stop order`);
      if (!drainHeld()) {
        held.push(record);
        return;
      }
      try {
        write(record);
      } catch (e) {
        if (!isMotobioError(e, 'DISK_FULL')) throw e;
        hold(record, e);
      }
    },
    // Every append is its own durable transaction (WAL, synchronous=FULL); only records held
    // for a full disk are left to write.
    flush() {
      drainHeld();
      return Promise.resolve();
    },
    close() {
      closing = true;
      clearInterval(retry);
      disk.stop();
      alarms.off('change', onAlarmChange);
      if (held.size > 0) log.error({ records: held.size }, 'stopping with records held for a full disk: they are lost; free space on the store\'s filesystem');
      if (!stores.get(adapter)?.closeAfterUplink) store.close();
      return Promise.resolve();
    },
    depth() {
      const s = store.stats();
      return { records: s.records, bytes: s.bytes };
    },
    onAppend(fn) {
      onAppend = fn;
    },
  };
  // Alarms go to the server too, as status records (those raised while the store opened first).
  const alarmRecord = (c: AlarmChange) => adapter.append({ type: 'status', stamp: ctx.clock.stamp(), body: { alarm: c.alarm.code, state: c.state, message: c.alarm.message } });
  const onAlarmChange = (c: AlarmChange) => {
    try {
      alarmRecord(c);
    } catch (e) {
      log.error({ err: errorMessage(e), alarm: c.alarm.code }, 'could not store the alarm record');
    }
  };
  for (const alarm of alarms.list()) onAlarmChange({ state: 'raised', alarm });
  alarms.on('change', onAlarmChange);
  stores.set(adapter, { store, closeAfterUplink: false });
  return adapter;
}

export async function openUplink(ctx: DaemonContext, outbox: Outbox | undefined): Promise<Uplink> {
  const entry = outbox ? stores.get(outbox) : undefined;
  if (!outbox || !entry) throw new MotobioError('INTERNAL', 'the uplink needs the SQLite store, which did not open');
  const { Uplink: MqttUplink } = await import('../uplink/uplink.js');
  const { linkFromConfig } = await import('../uplink/from-config.js');
  const c = ctx.config;
  const log = ctx.log.child({ mod: 'uplink' });
  const uplink = new MqttUplink(entry.store, {
    deviceId: c.device.id,
    links: c.uplink.links.map((l) => linkFromConfig(l, (p) => resolvePath(p, ctx.cwd))),
    topicPrefix: c.uplink.topic_prefix,
    // Raw ECG keeps its own 10-s bound unless the setting is shorter.
    batchMaxAgeMs: ((ms) => ({ decision: ms, features: ms, status: ms, raw: Math.min(10_000, ms) }))(c.uplink.batch_max_age_s * 1000),
    holdMs: c.uplink.hold_s * 1000,
    log,
  });
  entry.closeAfterUplink = true;
  (outbox as Outbox & { onAppend?(fn: () => void): void }).onAppend?.(() => uplink.notify());
  const t = ctx.telemetry;
  const report = () => {
    const s = uplink.status();
    for (const l of s.links) t.setLink(l.name, l.state, l.active);
    const first = s.links.find((l) => l.active) ?? s.links[0];
    t.setStatus('uplink', {
      state: s.active ? 'connected' : 'offline',
      detail: {
        active: s.active,
        switches: s.switches,
        ackedRecords: s.ackedRecords,
        inFlightRecords: s.inFlightRecords,
        // Per link, so a technician sees which path fails and why (a refused certificate says which).
        links: Object.fromEntries(s.links.map((l) => [l.name, { state: l.state, lastError: l.lastError }])),
      },
      ...(first?.lastError ? { lastError: first.lastError } : {}),
    });
    const d = outbox.depth();
    t.setOutbox(d.records, d.bytes);
  };
  uplink.on('switch', (e) => {
    t.countLinkSwitch(e.from ?? 'none', e.to);
    log.info({ from: e.from, to: e.to, reason: e.reason, darkMs: e.darkMs }, 'uplink switched link');
    report();
  });
  let timer: NodeJS.Timeout | undefined;
  // Downlink messages that arrive before the update manager listens wait here (a few at most).
  let onDownlink: ((topic: string, payload: Buffer) => void) | undefined;
  const early: [string, Buffer][] = [];
  uplink.on('downlink', (m) => (onDownlink ? onDownlink(m.topic, m.payload) : early.length < 4 && early.push([m.topic, m.payload])));
  return {
    onDownlink(fn) {
      onDownlink = fn;
      for (const [topic, payload] of early.splice(0)) fn(topic, payload);
    },
    connected: () => uplink.status().active !== null,
    start() {
      // Starts offline: connecting happens in the background and never blocks start-up.
      uplink.start();
      report();
      timer = setInterval(report, 1000);
      timer.unref();
      return Promise.resolve();
    },
    async stop() {
      clearInterval(timer);
      try {
        await uplink.stop(UPLINK_DRAIN_MS);
        report();
      } finally {
        entry.store.close();
      }
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
  const { modelDirFor } = await import('../update/stage.js');
  const chosen = modelDirFor(ctx);
  const dir = chosen.dir;
  const manifestPath = manifestIn(dir);
  const alarms = ctx.telemetry.alarms;
  const rulesOnly = (why: string) => {
    const message = `no usable coaching model (${why}): decisions come from the safety rules alone. Reinstall the model (models/ of the package) or point inference.model_dir at a directory with a valid manifest, then restart.`;
    log.error({ dir, code: 'MODEL_UNAVAILABLE' }, message);
    alarms.raise('MODEL_UNAVAILABLE', message, { dir });
    ctx.telemetry.setStatus('inference', { state: 'rules_only', lastError: why });
  };
  if (!manifestPath) rulesOnly(`no model manifest in ${dir}`);
  const rules = ctx.config.inference.rules;
  const engine = await Engine.create({
    ...(manifestPath === undefined ? {} : { manifestPath }),
    safety: { maxHrBpm: rules.hr_high_bpm, minHrBpm: rules.hr_low_bpm, sensorLostS: rules.no_beat_s, goodQuality: rules.min_quality },
    logger: log,
    onEvent: (e) => {
      if (e.type.endsWith('failed') || e.type.endsWith('rejected') || e.type === 'model_rolled_back') ctx.telemetry.countError('inference', e.type.toUpperCase(), 'error' in e ? e.error : undefined);
      if (e.type === 'model_load_failed') rulesOnly(e.error);
      if (e.type === 'model_rolled_back') void import('../update/stage.js').then((m) => m.modelRolledBack(ctx, e.error));
      if (e.type === 'model_loaded' || e.type === 'model_swapped') {
        alarms.clear('MODEL_UNAVAILABLE');
        ctx.telemetry.setStatus('inference', { state: 'running', detail: { model: e.type === 'model_loaded' ? e.model : e.to } });
      }
    },
  });
  let firstEndS: number | undefined;
  if (chosen.fromUpdate && engine.status().model === null) {
    // The applied model update does not load any more: the installed model is better than rules only.
    const base = manifestIn(resolvePath(ctx.config.inference.model_dir, ctx.cwd));
    log.error({ dir, error: engine.status().lastModelError }, 'the applied model update does not load; going back to the installed model');
    if (base) await engine.swapModel(base);
  }
  return {
    swapModel: async (path: string) => {
      const r = await engine.swapModel(path);
      return r.ok ? { ok: true } : r;
    },
    model: () => engine.status().model,
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

/**
 * The passed calibration profile of the configured sensor (calibration_dir/<sensor id>.json,
 * the id `motobio calibrate ecg` gives the device), or undefined with the reason logged. A
 * broken profile is reported and the sensor runs uncalibrated: a file never stops the daemon.
 */
function sensorCalibration(ctx: DaemonContext): CalibrationProfile['apply'] | undefined {
  const s = ctx.config.source;
  if (s.kind === 'replay' || !s.device) return undefined;
  const dir = resolvePath(ctx.config.calibration_dir, ctx.cwd);
  const id = sensorIdFor(s.device);
  const log = ctx.log.child({ mod: 'calibration' });
  try {
    const got = applicableCalibration(loadCalibration(dir, id));
    if (got.apply) log.info({ sensor: id, apply: got.apply }, 'calibration applied');
    else log.warn({ sensor: id }, got.reason);
    return got.apply;
  } catch (e) {
    log.error({ sensor: id, err: errorMessage(e) }, 'calibration profile unusable; the sensor runs uncalibrated');
    return undefined;
  }
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
    chain(ctx, fs) {
      const cal = fs === undefined ? undefined : sensorCalibration(ctx);
      return new EcgChain({
        ...(fs === undefined ? {} : { fs: cal?.fs_hz ?? fs }),
        ...(cal ? { scale: cal.gain * (cal.invert ? -1 : 1) } : {}),
      });
    },
    decisions: openDecisionEngine,
    outbox: openOutbox,
    uplink: openUplink,
    updates: (ctx, deps) => import('../update/stage.js').then((m) => m.openUpdates(ctx, deps)),
  };
}
