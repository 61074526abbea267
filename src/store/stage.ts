/**
 * The store as a running stage of the daemon: the SQLite outbox, opened from the
 * configuration, with what a unit on the road needs around it.
 *
 *   pipeline ──append(OutboundRecord)──▶ StoreStage ──▶ GroupCommit ──▶ Outbox (SQLite, one transaction per group)
 *            ──periodDone()────────────────▲  │ safety: at once; else every commit_window_s of signal
 *                                           │ disk full: held in memory, in order (HeldAppends)
 *   alarms ──raised/cleared──▶ status record┘
 *   uplink ◀──reader (OutboxReader)── the same Outbox; the file closes when both are done
 *
 * SQLITE_FULL never reaches the pipeline: the record waits in memory for space. The file
 * stays open past close() while the uplink still releases leases and deletes acknowledged
 * records: each user holds it with retain() and the last release closes it.
 */
import { dirname } from 'node:path';
import { MotobioError, errorMessage, isMotobioError } from '../util/errors.js';
import type { AlarmChange } from '../core/alarms.js';
import type { StageContext } from '../core/context.js';
import { PRIORITY_OF, type OutboundRecord, type RecordSink } from '../core/record.js';
import { HeldAppends } from './held-appends.js';
import { GroupCommit } from './group-commit.js';
import type { OutboxReader } from './reader.js';
import type { RecordInput } from './types.js';

/** Records held in memory while the disk is full (a few minutes of features and decisions). */
export const MAX_HELD_RECORDS = 10_000;

/** What the daemon composes: appends, durability, depth, and the reader the uplink drains. */
export interface StoreStage extends RecordSink {
  /** Makes everything appended so far durable. */
  flush(): Promise<void>;
  /** Refuses further appends; the file closes once every retain() is released. */
  close(): Promise<void>;
  depth(): { records: number; bytes: number };
  /** Present when the store can be drained (the uplink needs it). */
  readonly reader?: OutboxReader;
  /** Called after every commit of stored records (the uplink sends sooner). */
  onAppend?(fn: () => void): void;
  /** One decision period's records are all appended (group commit counts these, on the data's timeline). */
  periodDone?(): void;
  /** Keeps the file open past close(); call the returned function when done with the reader. */
  retain?(): () => void;
}

/** An OutboundRecord as the store takes it: the stamp's times, the clock state and seq in the body. */
export function toRecordInput(r: OutboundRecord): RecordInput {
  if (r.ecg) return { type: r.type, priority: PRIORITY_OF[r.type], ecg: r.ecg, monoMs: r.stamp.monoMs, wallMs: r.stamp.wallMs, clockSynced: r.stamp.clock === 'synchronized' };
  return {
    type: r.type,
    priority: PRIORITY_OF[r.type],
    payload: { ...r.body, clock: r.stamp.clock, localSeq: r.stamp.seq },
    monoMs: r.stamp.monoMs,
    wallMs: r.stamp.wallMs,
    clockSynced: r.stamp.clock === 'synchronized',
  };
}

export async function openStore(ctx: StageContext): Promise<StoreStage> {
  const { Outbox } = await import('./outbox.js');
  const { DiskWatch } = await import('./disk-watch.js');
  const path = ctx.config.store.path;
  const log = ctx.log.child({ mod: 'store' });
  const alarms = ctx.telemetry.alarms;
  const disk = new DiskWatch(dirname(path));
  const enc = ctx.config.store.encryption;
  const cipher = enc ? (await import('./record-cipher.js')).cipherFromSettings(enc, (p) => p) : undefined;
  if (cipher) log.info({ keyId: cipher.current.id, keys: cipher.keyIds.length }, 'store encryption on (AES-256-GCM record bodies)');
  const store = Outbox.open(path, {
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
  let users = 1;
  const releaseFile = () => {
    if (--users === 0) store.close();
  };
  let onAppend: (() => void) | undefined;
  const held = new HeldAppends<OutboundRecord>(MAX_HELD_RECORDS);
  const write = (record: OutboundRecord): number => {
    const seq = store.append([toRecordInput(record)]).firstSeq;
    onAppend?.();
    return seq;
  };
  const windowS = ctx.config.store.commit_window_s ?? 0;
  const periodS = ctx.config.signal.decision_period_s;
  const group = new GroupCommit<OutboundRecord>({
    write: (items) => store.append(items.map(toRecordInput)),
    nextSeq: () => store.nextSequence(),
    periods: windowS > 0 ? Math.max(1, Math.round(windowS / periodS)) : 0,
    // Wall-clock bound for a stalled source: one period later than the window, so the data's timeline decides while data flows.
    maxWaitMs: (windowS + periodS) * 1000,
    // A period that takes twice its length in wall time: the source stalled or ended, do not sit on the records.
    stallMs: 2 * periodS * 1000,
    onCommit: () => onAppend?.(),
    onSeqDrift: (reserved, got) => log.warn({ reserved, got }, 'group commit: records got other seqs than reserved (a record was refused); cue links to them may be off'),
    onError: (e, items) => {
      if (isMotobioError(e, 'DISK_FULL')) {
        for (const r of items) hold(r, e);
        return;
      }
      // One refused record must not take its group with it: store the others one by one.
      log.error({ err: errorMessage(e), records: items.length }, 'group commit failed; storing its records one by one');
      for (const r of items) {
        try {
          if (held.size > 0) held.push(r);
          else write(r);
        } catch (e2) {
          if (isMotobioError(e2, 'DISK_FULL')) hold(r, e2);
          else {
            ctx.telemetry.countError('store', isMotobioError(e2) ? e2.code : 'STORE_FAILED', errorMessage(e2));
            log.error({ err: errorMessage(e2), type: r.type }, 'record refused by the store; it is dropped');
          }
        }
      }
    },
  });
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
  const stage: StoreStage = {
    reader: store,
    append(record) {
      if (closing) throw new MotobioError('STORE_FAILED', `record "${record.type}" made after the store was closed; this is a bug in the daemon's stop order`);
      if (!drainHeld()) {
        held.push(record);
        return;
      }
      return group.add(record, PRIORITY_OF[record.type] === 'safety');
    },
    periodDone() {
      group.periodDone();
    },
    // Commits the open group (WAL, synchronous=FULL) and what was held for a full disk.
    flush() {
      if (drainHeld()) group.commit();
      return Promise.resolve();
    },
    close() {
      if (closing) return Promise.resolve();
      if (drainHeld()) group.commit();
      closing = true;
      clearInterval(retry);
      disk.stop();
      alarms.off('change', onAlarmChange);
      if (held.size > 0) log.error({ records: held.size }, "stopping with records held for a full disk: they are lost; free space on the store's filesystem");
      releaseFile();
      return Promise.resolve();
    },
    depth() {
      // Records in the open group or held for a full disk are waiting too: "drained" must not be
      // said while a group is still to be written and sent.
      const s = store.stats();
      return { records: s.records + group.size + held.size, bytes: s.bytes };
    },
    onAppend(fn) {
      onAppend = fn;
    },
    retain() {
      users++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        releaseFile();
      };
    },
  };
  // Alarms go to the server too, as status records (those raised while the store opened first).
  const onAlarmChange = (c: AlarmChange) => {
    try {
      stage.append({ type: 'status', stamp: ctx.clock.stamp(), body: { alarm: c.alarm.code, state: c.state, message: c.alarm.message } });
    } catch (e) {
      log.error({ err: errorMessage(e), alarm: c.alarm.code }, 'could not store the alarm record');
    }
  };
  for (const alarm of alarms.list()) onAlarmChange({ state: 'raised', alarm });
  alarms.on('change', onAlarmChange);
  return stage;
}
