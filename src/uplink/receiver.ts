/**
 * The reference consumer (`motobio receive`, and the tests' ground truth): subscribes to
 * every device's batches, decodes them, drops duplicates by (device, seq), finds gaps, and
 * optionally writes each new record as one NDJSON line. A server scales out by giving
 * `group`, which subscribes through an MQTT 5 shared subscription so the broker spreads
 * messages over the group's members.
 */
import { EventEmitter } from 'node:events';
import { closeSync, openSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { decodeEcgChunk } from '../store/ecg-codec.js';
import { errorMessage } from '../util/errors.js';
import { decodeBatch, recordBlob, type WireRecord } from './codec.js';
import { LinkConnection, type LinkConfig } from './link.js';
import { SeqTracker, type GapReport } from './seq-tracker.js';
import { allDataFilter, allStatusFilter, parseTopic, sharedFilter } from './topics.js';

export interface ReceiverOptions {
  readonly link: Omit<LinkConfig, 'name'> & { name?: string };
  /** Shared-subscription group; unset = a plain subscription that sees everything. */
  readonly group?: string;
  /** NDJSON output file (created 0600, appended). */
  readonly out?: string;
  /** Seq the tracker expects first; `first-seen` for a consumer that joins a running device. */
  readonly start?: number | 'first-seen';
  /** First topic level(s); default `motobio`. */
  readonly topicPrefix?: string;
  /** Client id of a persistent session: the broker queues messages while we are away. */
  readonly sessionId?: string;
}

export interface ReceivedRecord extends WireRecord {
  readonly device: string;
}

export interface ReceiverStats {
  readonly batches: number;
  readonly badMessages: number;
  readonly lastError: string | null;
  readonly reconnects: number;
  readonly devices: Readonly<Record<string, GapReport>>;
  readonly status: Readonly<Record<string, unknown>>;
}

function ndjsonLine(device: string, rec: WireRecord, blob: Buffer | undefined): string {
  const line: Record<string, unknown> = { device, ...rec };
  if (blob) {
    const c = decodeEcgChunk(blob);
    line['ecg'] = { startSample: c.startSample, fs: c.fs, lsbUv: c.lsbUv, counts: Array.from(c.counts) };
  }
  return `${JSON.stringify(line)}\n`;
}

export class Receiver extends EventEmitter<{ record: [ReceivedRecord]; batch: [{ device: string; records: number; duplicates: number }] }> {
  private conn: LinkConnection | undefined;
  private readonly trackers = new Map<string, SeqTracker>();
  private readonly statuses: Record<string, unknown> = {};
  private batches = 0;
  private bad = 0;
  private lastError: string | null = null;
  private fd: number | undefined;
  private readonly opts: ReceiverOptions;

  private constructor(opts: ReceiverOptions) {
    super();
    this.opts = opts;
    this.clientId = opts.sessionId ?? `motobio-receive-${randomBytes(4).toString('hex')}`;
  }

  private closed = false;
  private reconnects = 0;
  private readonly clientId: string;

  static async start(opts: ReceiverOptions): Promise<Receiver> {
    const r = new Receiver(opts);
    if (opts.out) r.fd = openSync(opts.out, 'a', 0o600);
    try {
      await r.connect();
    } catch (e) {
      if (r.fd !== undefined) closeSync(r.fd);
      throw e;
    }
    return r;
  }

  private async connect(): Promise<void> {
    const conn = await LinkConnection.connect(
      { keepaliveS: 10, connectTimeoutMs: 10_000, ...this.opts.link, name: this.opts.link.name ?? 'receiver' },
      {
        clientId: this.clientId,
        onMessage: (t, p) => this.onMessage(t, p),
        ...(this.opts.sessionId !== undefined ? { sessionExpiryS: 24 * 3600 } : {}),
      },
    );
    if (this.closed) {
      await conn.close();
      return;
    }
    this.conn = conn;
    conn.on('down', () => this.reconnect());
    const data = this.opts.group ? sharedFilter(this.opts.group, allDataFilter(this.opts.topicPrefix)) : allDataFilter(this.opts.topicPrefix);
    await conn.subscribe(data);
    await conn.subscribe(allStatusFilter(this.opts.topicPrefix));
  }

  /** A consumer keeps trying: a broker restart must not end it. */
  private reconnect(): void {
    if (this.closed) return;
    setTimeout(() => {
      if (this.closed) return;
      this.connect().then(
        () => void this.reconnects++,
        (e: unknown) => {
          this.lastError = errorMessage(e);
          this.reconnect();
        },
      );
    }, 250);
  }

  get alive(): boolean {
    return this.conn?.alive ?? false;
  }

  private tracker(device: string, firstSeq: number): SeqTracker {
    let t = this.trackers.get(device);
    if (!t) {
      t = new SeqTracker(this.opts.start === 'first-seen' ? firstSeq : (this.opts.start ?? 1));
      this.trackers.set(device, t);
    }
    return t;
  }

  private onMessage(topic: string, payload: Buffer): void {
    const t = parseTopic(topic, this.opts.topicPrefix);
    if (t.kind === 'status') {
      try {
        this.statuses[`${t.device}/${t.link}`] = payload.length ? JSON.parse(payload.toString('utf8')) : null;
      } catch {
        this.bad++;
      }
      return;
    }
    if (t.kind !== 'data') return;
    try {
      const batch = decodeBatch(payload);
      const device = batch.header.device;
      if (device !== t.device) throw new Error(`batch names device "${device}" but came on ${topic}`);
      // Everything that can fail (a garbled ECG blob) happens before the first record is taken:
      // a batch is taken whole or not at all, never half.
      const lines = this.fd === undefined ? undefined : batch.header.records.map((rec) => ndjsonLine(device, rec, recordBlob(batch, rec)));
      const tr = this.tracker(device, batch.header.records.reduce((m, r) => Math.min(m, r.seq), Infinity));
      for (const n of batch.header.evicted ?? []) tr.noteEvicted(n.first, n.last);
      let dups = 0;
      for (const [i, rec] of batch.header.records.entries()) {
        if (!tr.add(rec.seq)) {
          dups++;
          continue;
        }
        if (this.fd !== undefined && lines) writeSync(this.fd, lines[i]);
        this.emit('record', { device, ...rec });
      }
      this.batches++;
      this.emit('batch', { device, records: batch.header.records.length, duplicates: dups });
    } catch (e) {
      this.bad++;
      this.lastError = `${topic}: ${errorMessage(e)}`;
    }
  }

  stats(): ReceiverStats {
    const devices: Record<string, GapReport> = {};
    for (const [d, t] of this.trackers) devices[d] = t.report();
    return { batches: this.batches, badMessages: this.bad, lastError: this.lastError, reconnects: this.reconnects, devices, status: { ...this.statuses } };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.conn?.close();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
