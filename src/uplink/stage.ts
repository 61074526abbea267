/**
 * The uplink as a running stage of the daemon: the MQTT uplink over the configured links,
 * draining the store through its reader, with its status reported once a second.
 *
 *   StoreStage.reader ──lease/ack──▶ Uplink ──▶ links (failover)      telemetry ◀── status
 *   downlink (…/cmd/#) ──▶ onDownlink handler (signed updates; a few wait until it is set)
 */
import type { StageContext } from '../core/context.js';
import type { StoreStage } from '../store/stage.js';
import { MotobioError } from '../util/errors.js';
import type { UplinkStatus } from './uplink.js';

/** How long the uplink may wait for batches in flight at a stop, within the 5 s deadline. */
export const UPLINK_DRAIN_MS = 1500;

export interface UplinkStage {
  start(signal: AbortSignal): Promise<void>;
  /** Publishes the retained offline status where connected, then lets go of the store. */
  stop(): Promise<void>;
  /** Messages from the server on `…/cmd/#` (signed updates). */
  onDownlink?(handler: (topic: string, payload: Buffer) => void): void;
  /** A link is up. */
  connected?(): boolean;
  /** Links, the one in use and bytes per link since start (the health record, src/report). */
  status?(): UplinkStatus;
}

export async function openUplink(ctx: StageContext, store: StoreStage | undefined): Promise<UplinkStage> {
  const reader = store?.reader;
  if (!store || !reader || !store.retain) throw new MotobioError('INTERNAL', 'the uplink needs the SQLite store, which did not open');
  const { Uplink } = await import('./uplink.js');
  const { linkFromConfig } = await import('./from-config.js');
  const c = ctx.config;
  const log = ctx.log.child({ mod: 'uplink' });
  const uplink = new Uplink(reader, {
    deviceId: c.device.id,
    links: c.uplink.links.map((l) => linkFromConfig(l)),
    topicPrefix: c.uplink.topic_prefix,
    // Raw ECG keeps its own 10-s bound unless the setting is shorter.
    batchMaxAgeMs: ((ms) => ({ decision: ms, features: ms, status: ms, raw: Math.min(10_000, ms) }))(c.uplink.batch_max_age_s * 1000),
    holdMs: c.uplink.hold_s * 1000,
    log,
  });
  const releaseStore = store.retain();
  store.onAppend?.(() => uplink.notify());
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
    const d = store.depth();
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
    status: () => uplink.status(),
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
        releaseStore();
      }
    },
  };
}
