/**
 * Drains the outbox over MQTT 5 through an ordered list of links, failing over in seconds.
 *
 *   Outbox ──lease(prio)──▶ encodeBatch ──publish QoS 1──▶ active link ──PUBACK──▶ Outbox.ack
 *                                                           │ dark (keepalive / PUBACK timeout / close)
 *                                                           ▼
 *                                next link in order takes over; leased records are released
 *                                and go out again (the server drops duplicates by device+seq)
 *
 * Links are tried in preference order. While a less preferred link is active, the preferred
 * ones are probed with capped, jittered backoff; one that stays connected for `holdMs`
 * takes the traffic back. Every switch is logged and counted. Several batches are in flight
 * at once; the highest priority with a ready batch (full, or its oldest record older than
 * its age bound) always goes first.
 *
 * A batch with safety records that has no PUBACK after `safetyHedgeMs` is published on the
 * next link too (connected for it if need be), without waiting for the PUBACK timeout to
 * condemn the first: a link that died while idle is otherwise noticed only by that timeout
 * or the keepalive. The first PUBACK acknowledges the records; the server drops the copy by seq.
 */
import { EventEmitter } from 'node:events';
import type { OutboxReader } from '../store/reader.js';
import { monotonicMs } from '../core/clock.js';
import { PRIORITIES, type Priority } from '../store/types.js';
import { MotobioError, errorMessage } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { BATCH_CONTENT_TYPE, encodeBatch } from './codec.js';
import { LinkConnection, NO_MATCHING_SUBSCRIBERS, refusalCode, safeUrl, type LinkConfig, type TlsInfo } from './link.js';
import { commandTopic, dataTopic, statusTopic } from './topics.js';

export interface UplinkOptions {
  readonly deviceId: string;
  readonly links: readonly LinkConfig[];
  /** First topic level(s), config `uplink.topic_prefix`; default `motobio`. */
  readonly topicPrefix?: string;
  /** Most records per batch, per priority. */
  readonly batchMaxRecords?: Partial<Record<Priority, number>>;
  /** Most body bytes per batch (before the batch's own compression). */
  readonly batchMaxBytes?: number;
  /** A partial batch leaves once its oldest record is this old, per priority. */
  readonly batchMaxAgeMs?: Partial<Record<Priority, number>>;
  readonly maxInFlight?: number;
  readonly pubackTimeoutMs?: number;
  /** A safety batch without PUBACK after this long goes out on the next link too; 0 = never. */
  readonly safetyHedgeMs?: number;
  /** How long a more preferred link must stay up before traffic moves back to it. */
  readonly holdMs?: number;
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  readonly log?: Logger;
  readonly onCommand?: (topic: string, payload: Buffer, link: string) => void;
}

// A batch goes to the topic of its highest priority; lower priorities may ride along in it.

export const DEFAULT_BATCH_MAX_RECORDS: Readonly<Record<Priority, number>> = { safety: 100, decision: 200, features: 500, status: 200, raw: 32 };
/**
 * Safety events leave at once; the rest wait up to two minutes to share a batch: at 60 s a day of
 * features and events costs ~580 kB on the wire, at 120 s ~420 kB (bench/uplink.ts). Raw ECG fills its own.
 */
export const DEFAULT_BATCH_MAX_AGE_MS: Readonly<Record<Priority, number>> = { safety: 0, decision: 120_000, features: 120_000, status: 120_000, raw: 10_000 };

export type LinkState = 'down' | 'connecting' | 'up';

export interface LinkStatus {
  readonly name: string;
  readonly url: string;
  readonly state: LinkState;
  readonly active: boolean;
  readonly connects: number;
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
  readonly upSinceMs: number | null;
  readonly bytesOut: number;
  readonly bytesIn: number;
  readonly tls: TlsInfo | null;
}

export interface SwitchEvent {
  readonly from: string | null;
  readonly to: string;
  readonly reason: string;
  readonly atMs: number;
  /** Time without any active link before this switch, ms (0 for a planned return). */
  readonly darkMs: number;
}

export interface UplinkStatus {
  readonly active: string | null;
  readonly links: readonly LinkStatus[];
  readonly switches: number;
  readonly lastSwitch: SwitchEvent | null;
  readonly inFlightBatches: number;
  readonly inFlightRecords: number;
  readonly sentBatches: number;
  readonly ackedBatches: number;
  readonly ackedRecords: number;
  readonly failedBatches: number;
  /** Batches the broker refused (PUBACK reason >= 0x80, e.g. the ACL); their records stay stored. */
  readonly refusedBatches: number;
  /**
   * Batches the broker accepted with PUBACK 16 (no matching subscribers): nobody, not even a
   * persistent session, has them, so their records stay stored and go again with backoff.
   */
  readonly unroutedBatches: number;
  readonly payloadBytesAcked: number;
}

interface LinkSlot {
  readonly cfg: LinkConfig;
  readonly index: number;
  conn: LinkConnection | undefined;
  state: LinkState;
  connects: number;
  failures: number;
  lastError: string | null;
  upSince: number | null;
  nextAttemptAt: number;
  bytesOutClosed: number;
  bytesInClosed: number;
}

interface InFlight {
  readonly slot: LinkSlot;
  readonly ids: number[];
  readonly noticeIds: number[];
  /** Publishes of this batch not settled yet (2 once hedged); the first PUBACK settles it. */
  outstanding: number;
  done: boolean;
  /** The link carrying the copy: kept connected until both publishes have settled. */
  hedgeSlot?: LinkSlot;
}

/** A safety batch waiting for another link to come up and carry a copy. */
interface Hedge {
  readonly id: string;
  readonly f: InFlight;
  readonly topic: string;
  readonly priority: Priority;
  readonly payload: Buffer;
}

/** Without a PUBACK within 1 s on a live link (tens to hundreds of ms on LTE), the copy goes out. */
export const DEFAULT_SAFETY_HEDGE_MS = 1000;

/** A message from the server on `{prefix}/v1/{device}/cmd/#` (signed updates, src/update). */
export interface DownlinkMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly link: string;
}

export class Uplink extends EventEmitter<{ switch: [SwitchEvent]; acked: [{ records: number; priority: Priority }]; downlink: [DownlinkMessage] }> {
  private readonly outbox: OutboxReader;
  private readonly opts: UplinkOptions;
  private readonly log: Logger;
  private readonly slots: LinkSlot[];
  private readonly maxRecords: Record<Priority, number>;
  private readonly maxAge: Record<Priority, number>;
  private readonly inflight = new Map<string, InFlight>();
  private active: LinkSlot | undefined;
  private lastActiveName: string | null = null;
  private darkSince: number | null = null;
  private started = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private wakeQueued = false;
  private batchNo = 0;
  /** Batch ids are `<uplink start, base 36>-<n>`: unique per run, short on the wire. */
  private readonly startedAt = Date.now().toString(36);
  private noticesInFlight = false;
  private readonly counters = { switches: 0, sentBatches: 0, ackedBatches: 0, ackedRecords: 0, failedBatches: 0, refusedBatches: 0, unroutedBatches: 0, payloadBytesAcked: 0 };
  /** Consecutive refused or unrouted batches; while > 0 one batch probes at a time after a backoff. */
  private refusals = 0;
  private refusedUntil = 0;
  private lastSwitch: SwitchEvent | null = null;
  private readonly hedges: Hedge[] = [];
  /** Links carrying a hedged copy: not retired until it settles. */
  private readonly hedging = new Map<LinkSlot, number>();

  constructor(outbox: OutboxReader, opts: UplinkOptions) {
    super();
    if (opts.links.length === 0) throw new MotobioError('CONFIG_INVALID', 'uplink: no links configured; add at least one to uplink.links (name, url)');
    const names = new Set<string>();
    for (const [i, l] of opts.links.entries()) {
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(l.name ?? '')) throw new MotobioError('CONFIG_INVALID', `uplink.links[${i}].name "${l.name}" must be 1-32 of A-Z a-z 0-9 _ - (it becomes an MQTT topic level)`);
      if (names.has(l.name)) throw new MotobioError('CONFIG_INVALID', `uplink.links[${i}].name "${l.name}" is used twice; give every link its own name`);
      names.add(l.name);
    }
    this.outbox = outbox;
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
    this.maxRecords = { ...DEFAULT_BATCH_MAX_RECORDS, ...opts.batchMaxRecords };
    this.maxAge = { ...DEFAULT_BATCH_MAX_AGE_MS, ...opts.batchMaxAgeMs };
    this.slots = opts.links.map((cfg, index) => ({
      cfg,
      index,
      conn: undefined,
      state: 'down',
      connects: 0,
      failures: 0,
      lastError: null,
      upSince: null,
      nextAttemptAt: 0,
      bytesOutClosed: 0,
      bytesInClosed: 0,
    }));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.darkSince = Date.now();
    this.timer = setInterval(() => this.tick(), 200);
    this.tick();
  }

  /** Wakes the pump; the daemon calls this after each append. */
  notify(): void {
    if (this.wakeQueued || this.stopped) return;
    this.wakeQueued = true;
    setImmediate(() => {
      this.wakeQueued = false;
      this.tick();
    });
  }

  /** Stops sending, waits up to `drainMs` for batches in flight, says offline and closes every link. Safe to call twice. */
  async stop(drainMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    const until = Date.now() + drainMs;
    while (this.inflight.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await Promise.all(
      this.slots.map(async (s) => {
        const conn = s.conn;
        if (!conn) return;
        await conn.close({ topic: statusTopic(this.opts.deviceId, s.cfg.name, this.opts.topicPrefix), payload: this.statusPayload(s, 'offline'), retain: true });
        this.retire(s, conn);
      }),
    );
  }

  status(): UplinkStatus {
    let inFlightRecords = 0;
    for (const f of this.inflight.values()) inFlightRecords += f.ids.length;
    return {
      active: this.active?.cfg.name ?? null,
      links: this.slots.map((s) => ({
        name: s.cfg.name,
        url: safeUrl(s.cfg.url),
        state: s.state,
        active: s === this.active,
        connects: s.connects,
        consecutiveFailures: s.failures,
        lastError: s.lastError,
        upSinceMs: s.upSince,
        bytesOut: s.bytesOutClosed + (s.conn?.bytesOut ?? 0),
        bytesIn: s.bytesInClosed + (s.conn?.bytesIn ?? 0),
        tls: s.conn?.tls ?? null,
      })),
      switches: this.counters.switches,
      lastSwitch: this.lastSwitch,
      inFlightBatches: this.inflight.size,
      inFlightRecords,
      sentBatches: this.counters.sentBatches,
      ackedBatches: this.counters.ackedBatches,
      ackedRecords: this.counters.ackedRecords,
      failedBatches: this.counters.failedBatches,
      refusedBatches: this.counters.refusedBatches,
      unroutedBatches: this.counters.unroutedBatches,
      payloadBytesAcked: this.counters.payloadBytesAcked,
    };
  }

  private statusPayload(s: LinkSlot, state: 'online' | 'offline'): Buffer {
    return Buffer.from(JSON.stringify({ v: 1, state, device: this.opts.deviceId, link: s.cfg.name, boot: this.outbox.bootId, at: Date.now() }));
  }

  private tick(): void {
    if (this.stopped || !this.started) return;
    const now = Date.now();
    this.chooseActive(now);
    // Connect what we may need: everything more preferred than the active link (to return to
    // it) and, with no active link, everything.
    // With no active link, links are tried in order: one waits while a more preferred one is
    // still connecting, so traffic starts on the preferred link when it works.
    // A safety batch waiting for a copy on another link needs every link.
    const limit = this.active && this.hedges.length === 0 ? this.active.index : this.slots.length;
    for (const s of this.slots) {
      if (s.index >= limit) break;
      if (s.state === 'down' && now >= s.nextAttemptAt) this.connect(s);
      if (!this.active && s.state === 'connecting') break;
    }
    // Less preferred links that are no longer needed go once their batches are acknowledged.
    for (const s of this.slots) {
      if (this.active && s.index > this.active.index && s.conn && !this.hedging.has(s) && this.hedges.length === 0 && ![...this.inflight.values()].some((f) => f.slot === s)) {
        const conn = s.conn;
        this.retire(s, conn);
        void conn.close({ topic: statusTopic(this.opts.deviceId, s.cfg.name, this.opts.topicPrefix), payload: this.statusPayload(s, 'offline'), retain: true });
      }
    }
    this.sendHedges();
    this.pump();
  }

  /** Publishes the waiting safety copies on the first live link other than the one that holds them. */
  private sendHedges(): void {
    for (let i = this.hedges.length - 1; i >= 0; i--) {
      const h = this.hedges[i];
      if (h.f.done) {
        this.hedges.splice(i, 1);
        continue;
      }
      const other = this.slots.find((x) => x !== h.f.slot && x.conn?.alive);
      if (!other?.conn) continue;
      this.hedges.splice(i, 1);
      const conn = other.conn;
      h.f.outstanding++;
      h.f.hedgeSlot = other;
      this.hedging.set(other, (this.hedging.get(other) ?? 0) + 1);
      this.log.warn({ batch: h.id, from: h.f.slot.cfg.name, to: other.cfg.name }, `safety batch without PUBACK on ${h.f.slot.cfg.name} after ${this.opts.safetyHedgeMs ?? DEFAULT_SAFETY_HEDGE_MS} ms: sent on ${other.cfg.name} too`);
      this.settle(h.id, h.f, h.topic, h.priority, h.payload, conn.publish(h.topic, h.payload, { properties: { contentType: BATCH_CONTENT_TYPE, payloadFormatIndicator: false } }, this.opts.pubackTimeoutMs ?? 3000), other);
    }
  }

  private chooseActive(now: number): void {
    const hold = this.opts.holdMs ?? 30_000;
    const up = this.slots.filter((s) => s.state === 'up');
    let next: LinkSlot | undefined = this.active;
    if (!next) next = up[0];
    else {
      const better = up.find((s) => s.index < next!.index && s.upSince !== null && now - s.upSince >= hold);
      if (better) next = better;
    }
    if (next && next !== this.active) {
      const reason = this.active ? `${next.cfg.name} stayed up for ${hold} ms` : this.lastActiveName ? `${this.lastActiveName} went dark` : 'first connection';
      const darkMs = this.active ? 0 : now - (this.darkSince ?? now);
      const ev: SwitchEvent = { from: this.active?.cfg.name ?? this.lastActiveName, to: next.cfg.name, reason, atMs: now, darkMs };
      // The new state first: 'switch' listeners (the daemon's /status and metrics) read status().
      this.active = next;
      this.lastActiveName = next.cfg.name;
      this.darkSince = null;
      if (ev.from !== null && ev.from !== ev.to) {
        this.counters.switches++;
        this.lastSwitch = ev;
        this.log.info({ from: ev.from, to: ev.to, darkMs, switches: this.counters.switches }, `uplink switched from ${ev.from} to ${ev.to}: ${reason}`);
        this.emit('switch', ev);
      } else if (ev.from === null) this.log.info({ link: ev.to }, `uplink active on ${ev.to}`);
    }
  }

  private backoff(failures: number): number {
    const min = this.opts.retryMinMs ?? 500;
    const max = this.opts.retryMaxMs ?? 15_000;
    const base = Math.min(max, min * 2 ** Math.min(failures - 1, 20));
    return base * (0.8 + Math.random() * 0.4);
  }

  private connect(s: LinkSlot): void {
    s.state = 'connecting';
    const dev = this.opts.deviceId;
    LinkConnection.connect(s.cfg, {
      clientId: `${dev}.${s.cfg.name}`,
      will: { topic: statusTopic(dev, s.cfg.name, this.opts.topicPrefix), payload: this.statusPayload(s, 'offline'), retain: true },
      onMessage: (topic, payload) => {
        this.opts.onCommand?.(topic, payload, s.cfg.name);
        this.emit('downlink', { topic, payload, link: s.cfg.name });
      },
    }).then(
      (conn) => {
        if (this.stopped) {
          void conn.close();
          return;
        }
        s.conn = conn;
        s.state = 'up';
        s.upSince = Date.now();
        s.connects++;
        s.failures = 0;
        s.lastError = null;
        conn.on('down', (reason) => this.onDown(s, conn, reason));
        this.log.info({ link: s.cfg.name, url: safeUrl(s.cfg.url), tls: conn.tls?.protocol ?? null }, `link ${s.cfg.name} connected`);
        conn.publish(statusTopic(dev, s.cfg.name, this.opts.topicPrefix), this.statusPayload(s, 'online'), { retain: true }, this.opts.pubackTimeoutMs ?? 3000).catch(() => undefined);
        conn.subscribe(commandTopic(dev, this.opts.topicPrefix)).catch((e: unknown) => this.log.warn({ link: s.cfg.name }, `downlink subscription failed: ${errorMessage(e)}`));
        this.tick();
      },
      (e: unknown) => {
        const msg = errorMessage(e);
        s.state = 'down';
        s.failures++;
        s.nextAttemptAt = Date.now() + this.backoff(s.failures);
        // Say it once per new reason (a bad certificate path must not hide at debug level), not per retry.
        if (msg !== s.lastError) this.log.warn({ link: s.cfg.name, failures: s.failures }, `link ${s.cfg.name} cannot connect: ${msg}`);
        else this.log.debug({ link: s.cfg.name, failures: s.failures }, msg);
        s.lastError = msg;
      },
    );
  }

  private retire(s: LinkSlot, conn: LinkConnection): void {
    if (s.conn !== conn) return;
    s.bytesOutClosed += conn.bytesOut;
    s.bytesInClosed += conn.bytesIn;
    s.conn = undefined;
    s.state = 'down';
    s.upSince = null;
  }

  private onDown(s: LinkSlot, conn: LinkConnection, reason: string): void {
    this.retire(s, conn);
    s.failures++;
    s.lastError = reason;
    s.nextAttemptAt = Date.now() + this.backoff(s.failures);
    if (this.active === s) {
      this.active = undefined;
      this.darkSince = Date.now();
      this.log.warn({ link: s.cfg.name, reason }, `active link ${s.cfg.name} went dark: ${reason}`);
    }
    if (!this.stopped) this.notify();
  }

  /** The broker refused a batch (PUBACK >= 0x80): keep the records, say why once, back off. */
  private onRefused(s: LinkSlot, topic: string, records: number, rc: number): void {
    this.counters.refusedBatches++;
    if (Date.now() >= this.refusedUntil) {
      this.refusals++;
      this.refusedUntil = Date.now() + this.backoff(this.refusals);
    }
    const what = rc === 135 ? 'not authorized' : rc === 144 ? 'topic name invalid' : rc === 151 ? 'quota exceeded' : 'refused';
    const message = `broker refused batches on ${topic} (PUBACK reason ${rc}, ${what}): this unit may not write there. Check the broker's ACL and that device.id matches this unit's certificate or user name (docs/mosquitto/). The records stay stored and are retried with backoff`;
    if (message !== s.lastError) this.log.error({ link: s.cfg.name, reasonCode: rc, records, refusedBatches: this.counters.refusedBatches }, message);
    s.lastError = message;
  }

  /**
   * PUBACK 16: the broker accepted the batch but no subscription matched (the server's ingest is
   * not subscribed yet, e.g. after a broker restart without its sessions). Acknowledging would
   * delete records nobody has: keep them, say so once, and probe with backoff like a refusal.
   */
  private onUnrouted(s: LinkSlot, topic: string, records: number): void {
    this.counters.unroutedBatches++;
    if (Date.now() >= this.refusedUntil) {
      this.refusals++;
      this.refusedUntil = Date.now() + this.backoff(this.refusals);
    }
    const message = `broker has no subscriber for ${topic} (PUBACK reason 16, no matching subscribers): the server's ingest is not subscribed, so nobody received the batch. The records stay stored and are retried with backoff until a subscriber (or its persistent session) takes them`;
    if (message !== s.lastError) this.log.warn({ link: s.cfg.name, reasonCode: NO_MATCHING_SUBSCRIBERS, records, unroutedBatches: this.counters.unroutedBatches }, message);
    s.lastError = message;
  }

  private ready(p: Priority): boolean {
    const pending = this.outbox.pending(p);
    if (pending <= 0) return false;
    if (pending >= this.maxRecords[p] || this.maxAge[p] <= 0) return true;
    const oldest = this.outbox.oldestPending(p);
    if (!oldest) return false;
    if (oldest.bootId !== this.outbox.bootId) return true;
    // A record "from the future" was stamped on another clock base: treat it as old.
    const age = monotonicMs() - oldest.monoMs;
    return age < 0 || age >= this.maxAge[p];
  }

  private pump(): void {
    const maxInFlight = this.opts.maxInFlight ?? 8;
    for (;;) {
      const s = this.active;
      if (!s?.conn || !s.conn.alive || this.stopped) return;
      if (this.inflight.size >= maxInFlight) return;
      // After a refusal (ACL) or a batch nobody was subscribed to, never a hot loop: wait, then one batch at a time until one is accepted.
      if (this.refusals > 0 && (this.inflight.size > 0 || Date.now() < this.refusedUntil)) return;
      const p = PRIORITIES.find((x) => this.ready(x));
      if (p === undefined) return;
      if (!this.send(s, s.conn, p)) return;
    }
  }

  private send(s: LinkSlot, conn: LinkConnection, p: Priority): boolean {
    const maxBytes = this.opts.batchMaxBytes ?? 256 * 1024;
    const records = this.outbox.lease(p, this.maxRecords[p], maxBytes);
    if (records.length === 0) return false;
    // Lower priorities that are waiting ride along when there is room: one message a minute
    // instead of one per priority is most of the 4G bill for live data.
    let room = this.maxRecords[p] - records.length;
    let bytes = records.reduce((n, r) => n + r.body.length, 0);
    for (const q of PRIORITIES.slice(PRIORITIES.indexOf(p) + 1)) {
      if (room <= 0 || bytes >= maxBytes) break;
      if (this.outbox.pending(q) <= 0) continue;
      const extra = this.outbox.lease(q, Math.min(room, this.maxRecords[q]), maxBytes - bytes);
      records.push(...extra);
      room -= extra.length;
      bytes += extra.reduce((n, r) => n + r.body.length, 0);
    }
    const notices = this.noticesInFlight ? [] : this.outbox.leaseNotices(100);
    if (notices.length > 0) this.noticesInFlight = true;
    const id = `${this.startedAt}-${++this.batchNo}`;
    const payload = encodeBatch(this.opts.deviceId, id, records, notices);
    const f: InFlight = { slot: s, ids: records.map((r) => r.id), noticeIds: notices.map((n) => n.id), outstanding: 1, done: false };
    this.inflight.set(id, f);
    this.counters.sentBatches++;
    const topic = dataTopic(this.opts.deviceId, p, this.opts.topicPrefix);
    this.settle(id, f, topic, p, payload, conn.publish(topic, payload, { properties: { contentType: BATCH_CONTENT_TYPE, payloadFormatIndicator: false } }, this.opts.pubackTimeoutMs ?? 3000), undefined);
    const hedgeMs = this.opts.safetyHedgeMs ?? DEFAULT_SAFETY_HEDGE_MS;
    if (p === 'safety' && hedgeMs > 0 && this.slots.length > 1) {
      setTimeout(() => {
        if (f.done || this.stopped) return;
        this.hedges.push({ id, f, topic, priority: p, payload });
        this.tick();
      }, hedgeMs).unref();
    }
    return true;
  }

  /** The outcome of one publish of a batch: the first PUBACK acknowledges it, the last failure releases it. */
  private settle(id: string, f: InFlight, topic: string, priority: Priority, payload: Buffer, publish: Promise<number>, via: LinkSlot | undefined): void {
    publish
      .then(
        (reasonCode) => {
          if (reasonCode === NO_MATCHING_SUBSCRIBERS) {
            // Accepted by the broker, received by nobody: not a delivery. The other publish of a
            // hedged batch may still reach a subscriber; otherwise the records stay stored.
            this.onUnrouted(via ?? f.slot, topic, f.ids.length);
            if (f.outstanding > 1 || f.done) return;
            f.done = true;
            this.outbox.release(f.ids);
            this.outbox.releaseNotices(f.noticeIds);
            return;
          }
          if (f.done) return;
          f.done = true;
          try {
            this.outbox.ack(f.ids);
            if (f.noticeIds.length) this.outbox.ackNotices(f.noticeIds);
          } catch (e) {
            this.log.error({ batch: id }, `could not delete acknowledged records: ${errorMessage(e)}; they will be sent again`);
          }
          this.counters.ackedBatches++;
          this.refusals = 0;
          this.counters.ackedRecords += f.ids.length;
          this.counters.payloadBytesAcked += payload.length;
          this.emit('acked', { records: f.ids.length, priority });
        },
        (e: unknown) => {
          const rc = refusalCode(e);
          if (rc !== undefined) this.onRefused(via ?? f.slot, topic, f.ids.length, rc);
          else this.log.debug({ batch: id }, `batch not acknowledged: ${errorMessage(e)}`);
          // The other publish of a hedged batch may still be acknowledged.
          if (f.outstanding > 1 || f.done) return;
          f.done = true;
          this.counters.failedBatches++;
          this.outbox.release(f.ids);
          this.outbox.releaseNotices(f.noticeIds);
        },
      )
      .finally(() => {
        const slot = f.hedgeSlot;
        if (--f.outstanding === 0 && slot) {
          const n = (this.hedging.get(slot) ?? 1) - 1;
          if (n > 0) this.hedging.set(slot, n);
          else this.hedging.delete(slot);
        }
        if (f.done && this.inflight.get(id) === f) {
          if (f.noticeIds.length) this.noticesInFlight = false;
          this.inflight.delete(id);
        }
        this.notify();
      });
  }
}
