/**
 * One MQTT message to what the store takes, with the unit's own codec (uplink/codec.ts):
 *
 *   data topic ──decodeBatch──▶ header checks ──per record──▶ IngestRecord   (stored)
 *        │            │                             └──────▶ QuarantineEntry (this record)
 *        │            └─ does not decode / device ≠ topic ─▶ QuarantineEntry (whole batch)
 *   status topic ──JSON──▶ LinkStatusUpdate, or quarantine
 *
 * A batch that does not decode is kept whole (payload bytes and the reason); a record that fails
 * its schema (record.v1) is kept alone with its seq, so the ledger shows it as quarantined, not
 * as a gap; the rest of its batch is stored.
 */
import { decodeEcgChunk } from '../store/ecg-codec.js';
import { errorMessage } from '../util/errors.js';
import { decodeBatch, recordBlob, type WireRecord } from '../uplink/codec.js';
import { parseTopic } from '../uplink/topics.js';
import type { IngestBatch, IngestRecord, LinkStatusUpdate, QuarantineEntry } from './store.js';

export type Decoded =
  | { readonly kind: 'batch'; readonly batch: IngestBatch; readonly quarantine: readonly QuarantineEntry[] }
  | { readonly kind: 'status'; readonly status: LinkStatusUpdate }
  | { readonly kind: 'quarantine'; readonly quarantine: readonly QuarantineEntry[] }
  | { readonly kind: 'ignore' };

const TYPE_RE = /^[a-z0-9][a-z0-9._-]{0,39}$/;
const DEVICE_RE = /^[A-Za-z0-9._-]{1,64}$/;
/** Largest payload kept in quarantine: enough to study a bad batch, not a way to fill the disk. */
export const QUARANTINE_PAYLOAD_BYTES = 256 * 1024;

const keep = (p: Buffer) => (p.length > QUARANTINE_PAYLOAD_BYTES ? p.subarray(0, QUARANTINE_PAYLOAD_BYTES) : p);

function recordProblem(r: WireRecord): string | undefined {
  if (!TYPE_RE.test(r.type)) return `type ${JSON.stringify(r.type).slice(0, 60)} is not [a-z0-9][a-z0-9._-]{0,39}`;
  if (!Number.isSafeInteger(r.wall)) return `wall ${r.wall} is not a whole number of ms`;
  if ((r.data === undefined) === (r.ecg === undefined)) return 'it must carry exactly one of data and ecg';
  if (r.ecg && r.type !== 'ecg') return `type ${r.type} carries an ecg blob`;
  return undefined;
}

export function decodeMessage(topic: string, payload: Buffer, prefix?: string): Decoded {
  const t = parseTopic(topic, prefix);
  if (t.kind === 'status') return decodeStatus(topic, t.device, t.link, payload);
  if (t.kind !== 'data') return { kind: 'ignore' };
  const whole = (reason: string, device: string | null = t.device): Decoded => ({ kind: 'quarantine', quarantine: [{ topic, reason, device, payload: keep(payload) }] });
  let batch;
  try {
    batch = decodeBatch(payload);
  } catch (e) {
    return whole(errorMessage(e));
  }
  const device = batch.header.device;
  if (device !== t.device) return whole(`batch names device ${JSON.stringify(device).slice(0, 80)} but came on the topic of ${t.device}`);
  if (!DEVICE_RE.test(device)) return whole(`device id ${JSON.stringify(device).slice(0, 80)} is not 1-64 of [A-Za-z0-9._-]`, null);
  const records: IngestRecord[] = [];
  const quarantine: QuarantineEntry[] = [];
  for (const r of batch.header.records) {
    const problem = recordProblem(r);
    if (problem !== undefined) {
      quarantine.push({ topic, device, seq: r.seq, reason: `record seq ${r.seq}: ${problem}`, payload: Buffer.from(JSON.stringify(r).slice(0, QUARANTINE_PAYLOAD_BYTES)) });
      continue;
    }
    const base = { seq: r.seq, type: r.type, prio: r.prio, boot: r.boot, mono: r.mono, wall: r.wall, sync: r.sync };
    if (r.ecg) {
      const chunk = recordBlob(batch, r)!;
      try {
        const c = decodeEcgChunk(chunk);
        records.push({ ...base, ecg: { chunk: Buffer.from(chunk), startSample: c.startSample, fs: c.fs, lsbUv: c.lsbUv, n: c.counts.length } });
      } catch (e) {
        quarantine.push({ topic, device, seq: r.seq, reason: `record seq ${r.seq}: ecg chunk does not decode (${errorMessage(e)})`, payload: Buffer.from(chunk) });
      }
    } else records.push({ ...base, data: r.data });
  }
  const evicted = (batch.header.evicted ?? []).map((n) => ({ first: n.first, last: n.last, prio: n.prio, count: n.count, wall: Number.isSafeInteger(n.wall) ? n.wall : null }));
  return { kind: 'batch', batch: { device, records, evicted }, quarantine };
}

function decodeStatus(topic: string, device: string, link: string, payload: Buffer): Decoded {
  // An empty retained message clears the topic: nothing to record.
  if (payload.length === 0) return { kind: 'ignore' };
  const bad = (reason: string): Decoded => ({ kind: 'quarantine', quarantine: [{ topic, device, reason: `status: ${reason}`, payload: keep(payload) }] });
  let s: unknown;
  try {
    s = JSON.parse(payload.toString('utf8'));
  } catch (e) {
    return bad(`not JSON (${errorMessage(e)})`);
  }
  const o = s as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object' || (o['state'] !== 'online' && o['state'] !== 'offline')) return bad('no state online/offline (status.v1.schema.json)');
  if (o['device'] !== undefined && o['device'] !== device) return bad(`names device ${JSON.stringify(o['device']).slice(0, 80)} but came on the topic of ${device}`);
  return { kind: 'status', status: { device, link, state: o['state'], boot: typeof o['boot'] === 'string' ? o['boot'] : null, atMs: Number.isSafeInteger(o['at']) ? (o['at'] as number) : null } };
}
