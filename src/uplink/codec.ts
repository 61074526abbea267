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

/**
 * Largest header a consumer inflates: a batch of 500 live records is ~200 kB of JSON, so 16 MiB
 * is generous, and a deflate bomb (a few kB that inflate to gigabytes) stops there.
 */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;

const PRIORITY_NAMES: ReadonlySet<string> = new Set<Priority>(['safety', 'decision', 'features', 'status', 'raw']);

function invalidBatch(problem: string): MotobioError {
  return new MotobioError('RECORD_INVALID', `batch: ${problem}; the batch is dropped whole (no record of it is taken)`);
}

/** Every record whole, every blob inside the blob section: a consumer takes all of a batch or none. */
function checkRecords(header: BatchHeader, blobBytes: number): void {
  if (header.boot !== undefined && typeof header.boot !== 'string') throw invalidBatch(`header boot is ${typeof header.boot}, not a string`);
  for (const [i, r] of (header.records as unknown[]).entries()) {
    const at = `record ${i}`;
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw invalidBatch(`${at} is ${r === null ? 'null' : typeof r}, not an object`);
    const w = r as Partial<Record<keyof WireRecord, unknown>>;
    if (!Number.isSafeInteger(w.seq) || (w.seq as number) < 1) throw invalidBatch(`${at} has seq ${JSON.stringify(w.seq) ?? 'undefined'}, not a positive whole number`);
    const bad = (field: string, want: string) => invalidBatch(`${at} (seq ${String(w.seq)}) has ${field} ${JSON.stringify(w[field as keyof WireRecord]) ?? 'undefined'}, not ${want}`);
    if (typeof w.type !== 'string') throw bad('type', 'a string');
    if (typeof w.prio !== 'string' || !PRIORITY_NAMES.has(w.prio)) throw bad('prio', 'a priority');
    if (w.boot !== undefined && typeof w.boot !== 'string') throw bad('boot', 'a string');
    if (w.boot === undefined && header.boot === undefined) throw bad('boot', 'a string (and the header has none)');
    if (typeof w.mono !== 'number' || !Number.isFinite(w.mono)) throw bad('mono', 'a number');
    if (typeof w.wall !== 'number' || !Number.isFinite(w.wall)) throw bad('wall', 'a number');
    if (typeof w.sync !== 'boolean') throw bad('sync', 'true or false');
    if (w.ecg !== undefined) {
      const e = w.ecg;
      if (!Array.isArray(e) || e.length !== 2 || !e.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) throw bad('ecg', '[offset, length]');
      const [o, l] = e as [number, number];
      if (o + l > blobBytes) throw invalidBatch(`${at} (seq ${String(w.seq)}) points at blob bytes ${o}+${l} beyond the ${blobBytes}-byte blob section`);
    }
  }
}

export function decodeBatch(payload: Buffer): DecodedBatch {
  if (payload.length < 8 || !payload.subarray(0, 4).equals(MAGIC)) {
    throw new MotobioError('RECORD_INVALID', `batch: not a motobio v1 batch (${payload.length} bytes, starts ${payload.subarray(0, 4).toString('hex')}); check the content type and the producer version`);
  }
  const h = payload.readUInt32BE(4);
  if (8 + h > payload.length) throw new MotobioError('RECORD_INVALID', `batch: header length ${h} runs past the ${payload.length}-byte payload; the message is truncated`);
  let header: BatchHeader;
  try {
    header = JSON.parse(inflateRawSync(payload.subarray(8, 8 + h), { dictionary: BATCH_DICTIONARY, maxOutputLength: MAX_HEADER_BYTES }).toString('utf8')) as BatchHeader;
  } catch (e) {
    throw new MotobioError('RECORD_INVALID', `batch: header does not inflate to JSON of at most ${MAX_HEADER_BYTES} bytes (${(e as Error).message}); the message is damaged`);
  }
  if (header === null || typeof header !== 'object' || header.v !== 1 || !Array.isArray(header.records) || typeof header.device !== 'string') {
    throw new MotobioError('RECORD_INVALID', `batch: header version ${String((header as { v?: unknown } | null)?.v)} is not 1 or lacks device/records; upgrade the consumer`);
  }
  if (header.evicted !== undefined) {
    const ok = Array.isArray(header.evicted) && header.evicted.every((n: unknown) => {
      const x = n as Partial<Record<keyof WireNotice, unknown>> | null;
      return x !== null && typeof x === 'object' && Number.isSafeInteger(x.first) && Number.isSafeInteger(x.last) && typeof x.prio === 'string' && PRIORITY_NAMES.has(x.prio) && Number.isSafeInteger(x.count);
    });
    if (!ok) throw invalidBatch('its eviction notices are not a list of {first, last, prio, count}');
  }
  const blobs = payload.subarray(8 + h);
  checkRecords(header, blobs.length);
  for (const r of header.records) if (r.boot === undefined && header.boot !== undefined) r.boot = header.boot;
  return { header, blobs };
}

export function recordBlob(batch: DecodedBatch, r: WireRecord): Buffer | undefined {
  if (!r.ecg) return undefined;
  const [o, l] = r.ecg;
  if (o < 0 || l < 0 || o + l > batch.blobs.length) throw new MotobioError('RECORD_INVALID', `batch ${batch.header.batch}: record seq ${r.seq} points at blob bytes ${o}+${l} beyond the ${batch.blobs.length}-byte blob section`);
  return batch.blobs.subarray(o, o + l);
}
