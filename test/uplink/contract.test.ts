import { describe, expect, it } from 'vitest';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Outbox } from '../../src/store/outbox.js';
import { BATCH_DICTIONARY, decodeBatch, encodeBatch, recordBlob } from '../../src/uplink/codec.js';
import { decodeEcgChunk } from '../../src/store/ecg-codec.js';
import { SeqTracker } from '../../src/uplink/seq-tracker.js';
import { parseTopic, dataTopic, statusTopic } from '../../src/uplink/topics.js';
import { Uplink } from '../../src/uplink/uplink.js';
import { hourOfRecords } from './records.js';

const schema = (name: string) => JSON.parse(readFileSync(join('docs', 'schemas', name), 'utf8')) as object;

describe('telemetry contract (docs/telemetry.md, docs/schemas)', () => {
  it('the published dictionary is the one the code uses, byte for byte', () => {
    expect(readFileSync(join('docs', 'schemas', 'batch.v1.dict')).equals(BATCH_DICTIONARY)).toBe(true);
  });

  it('real batches decode and validate against the JSON Schema, ECG blobs included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'motobio-contract-'));
    try {
      const box = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-1' });
      box.append(hourOfRecords(true).slice(0, 200));
      box.leaseNotices();
      const recs = [...box.lease('features', 50, 1 << 20), ...box.lease('raw', 5, 1 << 20), ...box.lease('safety', 5, 1 << 20)];
      const notice = { id: 1, firstSeq: 3, lastSeq: 9, priority: 'raw' as const, count: 2, wallMs: 1 };
      const batch = decodeBatch(encodeBatch('bike-1', 'x-1', recs, [notice]));
      const ajv = new Ajv2020({ strict: false });
      ajv.addSchema(schema('record.v1.schema.json'));
      const validate = ajv.compile(schema('batch.v1.schema.json'));
      expect(validate(batch.header), JSON.stringify(validate.errors)).toBe(true);
      expect(batch.header.records.every((r) => r.boot === box.bootId)).toBe(true);
      const ecg = batch.header.records.find((r) => r.ecg)!;
      expect(decodeEcgChunk(recordBlob(batch, ecg)!).counts.length).toBe(2500);
      const status = ajv.compile(schema('status.v1.schema.json'));
      expect(status({ v: 1, state: 'online', device: 'bike-1', link: 'lte', boot: 'b', at: 1 })).toBe(true);
      box.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses link settings that would break the topic layout, naming the setting', () => {
    const dir = mkdtempSync(join(tmpdir(), 'motobio-contract-'));
    const box = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-1' });
    try {
      expect(() => new Uplink(box, { deviceId: 'bike-1', links: [] })).toThrow(/no links configured/);
      expect(() => new Uplink(box, { deviceId: 'bike-1', links: [{ name: 'lte/x', url: 'mqtt://a' }] })).toThrow(/uplink\.links\[0\]\.name "lte\/x"/);
      expect(() => new Uplink(box, { deviceId: 'bike-1', links: [{ name: 'lte', url: 'mqtt://a' }, { name: 'lte', url: 'mqtt://b' }] })).toThrow(/used twice/);
    } finally {
      box.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses damaged messages with a reason', () => {
    expect(() => decodeBatch(Buffer.from('hello world'))).toThrow(/not a motobio v1 batch/);
    const good = encodeBatch('d', 'b', [], []);
    expect(() => decodeBatch(good.subarray(0, 9))).toThrow(/truncated/);
  });

  it('topics round-trip, with a custom prefix too', () => {
    expect(parseTopic(dataTopic('bike-1', 'safety'))).toEqual({ kind: 'data', device: 'bike-1', priority: 'safety' });
    expect(parseTopic(statusTopic('bike-1', 'lte', 'fleet/a'), 'fleet/a')).toEqual({ kind: 'status', device: 'bike-1', link: 'lte' });
    expect(parseTopic('other/v1/x/data/raw')).toEqual({ kind: 'other' });
  });

  it('the seq tracker drops duplicates and tells evicted gaps from lost ones', () => {
    const t = new SeqTracker();
    for (const s of [1, 2, 2, 5, 3, 9, 9, 10]) t.add(s);
    t.noteEvicted(6, 7);
    expect(t.report()).toEqual({ received: 6, duplicates: 2, maxSeq: 10, missing: 4, evicted: 2, lost: 2, gaps: [[4, 4], [6, 8]] });
  });
});
