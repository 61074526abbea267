/**
 * Batch wire format v1 (content type `application/vnd.motobio.batch.v1`):
 *
 *   "MBB1" | u32be H | deflateRaw(header JSON, preset dictionary BATCH_DICTIONARY; H bytes) | blob section
 *
 * The preset dictionary (docs/schemas/batch.v1.dict, byte for byte) lets deflate reference the
 * field names of a small live batch instead of spelling them out: it is most of what keeps a
 * day of live features and events small on the wire. `boot` sits in the header when every
 * record shares it (the usual case) and in a record only when it differs.
 *
 * The header lists the records (JSON bodies inline as `data`) and any eviction notices;
 * raw ECG chunks are already compressed (store/ecg-codec.ts) and travel as binary blobs,
 * referenced from their record by `ecg: [offset, length]` into the blob section, so they are
 * neither base64-inflated nor deflated twice. docs/schemas/batch.v1.schema.json describes the
 * header.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { MotobioError } from '../util/errors.js';
import type { EvictionNotice, Priority, StoredRecord } from '../store/types.js';

export const BATCH_CONTENT_TYPE = 'application/vnd.motobio.batch.v1';

/** Frozen with format v1: changing a single byte breaks every consumer. Common strings last. */
export const BATCH_DICTIONARY = Buffer.from(
  '"ecg":[' +
    '"evicted":[{"first":,"last":,"prio":"raw","count":,"wall":}],' +
    '{"seq":,"type":"safety","prio":"safety","mono":,"wall":,"sync":true,"data":{"kind":"hr-high","hrBpm":,"heldS":}},' +
    '{"seq":,"type":"status","prio":"status","mono":,"wall":,"sync":true,"data":{"battery":0.,"tempC":,"source":"streaming","leadOff":false}},' +
    '{"seq":,"type":"decision","prio":"decision","mono":,"wall":,"sync":false,"data":{"action":"hold","confidence":0.,"model":"policy-int8@"}},' +
    '{"v":1,"device":"","batch":"","sent":,"boot":"","records":[' +
    '{"seq":,"type":"features","prio":"features","mono":,"wall":,"sync":false,"data":{"endS":,"windowS":60,"hrBpm":,"rmssdMs":,"sdnnMs":,"pnn50":0.,"lfMs2":,"hfMs2":,"lfHf":,"ectopicShare":0,"quality":0.9',
  'utf8',
);
const MAGIC = Buffer.from('MBB1', 'ascii');

export interface WireRecord {
  seq: number;
  type: string;
  prio: Priority;
  /** Filled in from the header's `boot` by decodeBatch when the record does not carry one. */
  boot: string;
  mono: number;
  wall: number;
  sync: boolean;
  data?: unknown;
  ecg?: [number, number];
}

export interface WireNotice {
  first: number;
  last: number;
  prio: Priority;
  count: number;
  wall: number;
}

export interface BatchHeader {
  v: 1;
  device: string;
  batch: string;
  sent: number;
  /** Boot id shared by every record that does not name its own. */
  boot?: string;
  records: WireRecord[];
  evicted?: WireNotice[];
}

export interface DecodedBatch {
  header: BatchHeader;
  /** Blob section; a record's `ecg: [off, len]` indexes it. */
  blobs: Buffer;
}

export function encodeBatch(device: string, batchId: string, records: readonly StoredRecord[], notices: readonly EvictionNotice[], sentMs = Date.now()): Buffer {
  // JSON bodies are already JSON text in the store: splice them in instead of parse + stringify.
  const parts: string[] = [];
  const blobs: Buffer[] = [];
  let off = 0;
  const boot = records[0]?.bootId;
  for (const r of records) {
    const ownBoot = r.bootId === boot ? '' : `,"boot":${JSON.stringify(r.bootId)}`;
    const meta = `{"seq":${r.seq},"type":${JSON.stringify(r.type)},"prio":"${r.priority}"${ownBoot},"mono":${r.monoMs},"wall":${r.wallMs},"sync":${r.clockSynced}`;
    if (r.encoding === 'json') parts.push(`${meta},"data":${r.body.toString('utf8')}}`);
    else {
      parts.push(`${meta},"ecg":[${off},${r.body.length}]}`);
      blobs.push(r.body);
      off += r.body.length;
    }
  }
  const ev = notices.length
    ? `,"evicted":${JSON.stringify(notices.map((n) => ({ first: n.firstSeq, last: n.lastSeq, prio: n.priority, count: n.count, wall: n.wallMs })))}`
    : '';
  const bootField = boot !== undefined ? `,"boot":${JSON.stringify(boot)}` : '';
  const header = `{"v":1,"device":${JSON.stringify(device)},"batch":${JSON.stringify(batchId)},"sent":${sentMs}${bootField},"records":[${parts.join(',')}]${ev}}`;
  const z = deflateRawSync(Buffer.from(header, 'utf8'), { level: 9, dictionary: BATCH_DICTIONARY });
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(z.length, 0);
  return Buffer.concat([MAGIC, len, z, ...blobs]);
}

export function decodeBatch(payload: Buffer): DecodedBatch {
  if (payload.length < 8 || !payload.subarray(0, 4).equals(MAGIC)) {
    throw new MotobioError('RECORD_INVALID', `batch: not a motobio v1 batch (${payload.length} bytes, starts ${payload.subarray(0, 4).toString('hex')}); check the content type and the producer version`);
  }
  const h = payload.readUInt32BE(4);
  if (8 + h > payload.length) throw new MotobioError('RECORD_INVALID', `batch: header length ${h} runs past the ${payload.length}-byte payload; the message is truncated`);
  let header: BatchHeader;
  try {
    header = JSON.parse(inflateRawSync(payload.subarray(8, 8 + h), { dictionary: BATCH_DICTIONARY }).toString('utf8')) as BatchHeader;
  } catch (e) {
    throw new MotobioError('RECORD_INVALID', `batch: header does not inflate to JSON (${(e as Error).message}); the message is damaged`);
  }
  if (header?.v !== 1 || !Array.isArray(header.records) || typeof header.device !== 'string') {
    throw new MotobioError('RECORD_INVALID', `batch: header version ${String(header?.v)} is not 1 or lacks device/records; upgrade the consumer`);
  }
  for (const r of header.records) if (r.boot === undefined && header.boot !== undefined) r.boot = header.boot;
  return { header, blobs: payload.subarray(8 + h) };
}

export function recordBlob(batch: DecodedBatch, r: WireRecord): Buffer | undefined {
  if (!r.ecg) return undefined;
  const [o, l] = r.ecg;
  if (o < 0 || l < 0 || o + l > batch.blobs.length) throw new MotobioError('RECORD_INVALID', `batch ${batch.header.batch}: record seq ${r.seq} points at blob bytes ${o}+${l} beyond the ${batch.blobs.length}-byte blob section`);
  return batch.blobs.subarray(o, o + l);
}
