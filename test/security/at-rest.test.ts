/**
 * Encryption at rest on real SQLite files: no plaintext in the database or its WAL, a wrong key
 * is a clear error that deletes nothing, a flipped byte (or a body moved to another row) is
 * detected, held and reported while every other record still goes out, and the uplink
 * delivers opened records, intact, to a real broker (aedes).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox, type StoreAlarm } from '../../src/store/outbox.js';
import { RecordCipher, cipherFromSettings, keyId, readKeyFile } from '../../src/store/record-cipher.js';
import { encodeEcgChunk, quantise } from '../../src/store/ecg-codec.js';
import { exportRecords } from '../../src/store/inspect.js';
import { run as dbCommand } from '../../src/cli/commands/db.js';
import { Uplink } from '../../src/uplink/uplink.js';
import { Receiver, type ReceivedRecord } from '../../src/uplink/receiver.js';
import { startAedes, waitFor } from '../helpers/brokers.js';
import { ecgChunk } from '../uplink/records.js';
import { recordFaultResult } from '../faults/report.js';

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-sec-rest-'));
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
  rmSync(dir, { recursive: true, force: true });
});

const MARKER = 'MARKER-7f3a-rider-private';
// Four decimals: the store keeps no more (src/core/wire-number.ts), and the plaintext search looks for these digits.
const HR = 123.4567;

function keyFile(name: string, format: 'base64' | 'hex' | 'raw' = 'base64', key = randomBytes(32)): string {
  const p = join(dir, name);
  writeFileSync(p, format === 'raw' ? key : `${key.toString(format)}\n`, { mode: 0o600 });
  return p;
}

function records(n: number) {
  return Array.from({ length: n }, (_, i) => ({ type: 'features', priority: 'features' as const, payload: { hrBpm: HR + i, note: MARKER, i } }));
}

function fileBytes(path: string): Buffer {
  return Buffer.concat([path, `${path}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
}

describe('keys', () => {
  it('accepts 32 bytes raw, base64 or hex (same key id) and refuses a loose mode or a wrong length with a clear message', async () => {
    const key = randomBytes(32);
    const ids = (['raw', 'base64', 'hex'] as const).map((f) => readKeyFile(keyFile(`k.${f}`, f, key)).id);
    expect(new Set(ids)).toEqual(new Set([keyId(key)]));

    const loose = keyFile('loose.key');
    chmodSync(loose, 0o640);
    expect(() => readKeyFile(loose)).toThrow(/mode 0640 lets group or others at it; make it private with "chmod 600/);
    const short = join(dir, 'short.key');
    writeFileSync(short, randomBytes(16).toString('base64'), { mode: 0o600 });
    expect(() => readKeyFile(short)).toThrow(/must hold 32 random bytes.*motobio db keygen/);
    // 16 bytes in hex are 32 characters: text, not a raw 32-byte key.
    writeFileSync(short, randomBytes(16).toString('hex'));
    expect(() => readKeyFile(short)).toThrow(/found 32 characters of text.*motobio db keygen/);
    expect(() => cipherFromSettings({ credential: 'store-key' }, undefined, {})).toThrow(/CREDENTIALS_DIRECTORY is not set.*LoadCredential=store-key/);
    // A systemd credential: $CREDENTIALS_DIRECTORY/<name>.
    keyFile('store-key', 'base64', key);
    expect(cipherFromSettings({ credential: 'store-key' }, undefined, { CREDENTIALS_DIRECTORY: dir }).current.id).toBe(keyId(key));

    // motobio db keygen: 0600, parses, never overwrites.
    const out = join(dir, 'new.key');
    expect(await dbCommand(['keygen', '--out', out])).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readKeyFile(out).key.length).toBe(32);
    await expect(dbCommand(['keygen', '--out', out])).rejects.toThrow(/never overwritten/);
    recordFaultResult({ group: 'at-rest', fault: 'key file group-readable or of the wrong length', behaviour: 'refused when loaded, the message names the mode or length and the fix (chmod 600 / motobio db keygen); raw, base64 and hex keys give the same key id', expected: null, received: null, lost: null, duplicates: null });
  });
});

describe('sealed records', () => {
  it('leave no plaintext of a feature value, a marker or an ECG chunk in the database or its WAL', () => {
    const cipher = new RecordCipher(readKeyFile(keyFile('k')));
    const ecg = ecgChunk(0);
    const chunkBytes = encodeEcgChunk(ecg.ecg!);
    const probe = (path: string) => {
      const bytes = fileBytes(path);
      return { marker: bytes.includes(MARKER), hr: bytes.includes(String(HR)), ecg: bytes.includes(chunkBytes.subarray(8, 72)) };
    };
    // Control: without a key the same search finds all three, so the search itself works.
    const clear = Outbox.open(join(dir, 'clear.db'), { deviceId: 'bike-a' });
    clear.append([...records(3), ecg]);
    expect(probe(join(dir, 'clear.db'))).toEqual({ marker: true, hr: true, ecg: true });
    clear.close();

    const path = join(dir, 'sealed.db');
    const box = Outbox.open(path, { deviceId: 'bike-a', cipher });
    box.append([...records(3), ecg]);
    expect(existsSync(`${path}-wal`)).toBe(true);
    expect(probe(path)).toEqual({ marker: false, hr: false, ecg: false });
    const back = [...box.iterate()];
    expect(back.map((r) => r.encoding)).toEqual(['json', 'json', 'json', 'ecg1']);
    expect(JSON.parse(back[0].body.toString('utf8'))).toEqual({ hrBpm: HR, note: MARKER, i: 0 });
    expect(back[3].body.equals(chunkBytes)).toBe(true);
    box.close();
    expect(probe(path)).toEqual({ marker: false, hr: false, ecg: false });
    recordFaultResult({
      group: 'at-rest',
      fault: 'database and WAL searched for plaintext (marker, feature value, ECG chunk)',
      behaviour: 'none found with store.encryption on (all three found in the unencrypted control store)',
      expected: null,
      received: null,
      lost: null,
      duplicates: null,
      figures: { records: 4 },
    });
  });

  it('a wrong key is a clear error and deletes nothing; adding the old key opens everything', async () => {
    const oldKey = keyFile('old.key');
    const newKey = keyFile('new.key');
    const path = join(dir, 'o.db');
    const a = Outbox.open(path, { deviceId: 'bike-a', cipher: cipherFromSettings({ key_file: oldKey }) });
    a.append(records(5));
    a.close();

    const alarms: StoreAlarm[] = [];
    const b = Outbox.open(path, { deviceId: 'bike-a', cipher: cipherFromSettings({ key_file: newKey }), onAlarm: (x) => alarms.push(x) });
    expect(b.lease('features', 100, 1e6)).toEqual([]);
    // One alarm for the lot (then at 10, 100, ...), not one per record.
    expect(alarms).toHaveLength(1);
    expect(alarms[0].code).toBe('RECORD_UNREADABLE');
    expect(alarms[0].message).toMatch(/sealed with key id [0-9a-f]{8}, which is not configured.*old_key_files\. Nothing was deleted \(1 record held so far\)/);
    expect(b.unreadableRecords()).toHaveLength(5);
    b.append(records(1)); // new records still go in, under the new key
    expect(b.stats().records).toBe(6);
    b.close();

    // `motobio db export` with the wrong key: an error naming the fix, the store untouched.
    await expect(dbCommand(['export', '--db', path, '--key-file', newKey])).rejects.toThrow(/not configured.*old_key_files/);
    expect(() => exportRecords(path, { format: 'ndjson' }, () => undefined)).toThrow(/record seq 1 is encrypted; give its key/);
    expect((new Database(path, { readonly: true }).prepare('SELECT COUNT(*) AS n FROM records').get() as { n: number }).n).toBe(6);

    // Rotation: the new key seals, the old one still opens.
    const c = Outbox.open(path, { deviceId: 'bike-a', cipher: cipherFromSettings({ key_file: newKey, old_key_files: [oldKey] }) });
    expect(c.lease('features', 100, 1e6).map((r) => JSON.parse(r.body.toString('utf8')) as { i: number }).map((p) => p.i)).toEqual([0, 1, 2, 3, 4, 0]);
    c.close();
    const lines: string[] = [];
    exportRecords(path, { format: 'ndjson', cipher: cipherFromSettings({ key_file: newKey, old_key_files: [oldKey] }) }, (s) => lines.push(s));
    expect(lines.join('')).toContain(MARKER);
    recordFaultResult({
      group: 'at-rest',
      fault: 'store opened with the wrong key',
      behaviour: 'records held, RECORD_UNREADABLE alarm naming the key id and old_key_files; db export refuses; nothing deleted; with the old key added all open',
      expected: null,
      received: null,
      lost: null,
      duplicates: null,
      figures: { records: 6 },
    });
  });

  it('a flipped byte or a body moved to another row is detected and reported; every other record goes out intact to a real broker', async () => {
    const cipher = cipherFromSettings({ key_file: keyFile('k') });
    const path = join(dir, 'o.db');
    const alarms: StoreAlarm[] = [];
    const box = Outbox.open(path, { deviceId: 'bike-a', cipher, onAlarm: (x) => alarms.push(x) });
    const ecg = [ecgChunk(0), ecgChunk(2500)];
    box.append([...records(20), ...ecg]);
    box.close();
    // Tamper on disk: flip one bit in seq 7's ciphertext; copy seq 3's whole body onto seq 12.
    const db = new Database(path);
    const body = (seq: number) => (db.prepare('SELECT body FROM records WHERE seq = ?').get(seq) as { body: Buffer }).body;
    const b7 = Buffer.from(body(7));
    b7[b7.length - 20] ^= 0x01;
    db.prepare('UPDATE records SET body = ? WHERE seq = ?').run(b7, 7);
    db.prepare('UPDATE records SET body = ? WHERE seq = ?').run(body(3), 12);
    db.close();

    const broker = await startAedes();
    cleanups.push(() => broker.close());
    const out = join(dir, 'received.ndjson');
    const receiver = await Receiver.start({ link: { url: broker.url }, out });
    cleanups.push(() => receiver.close());
    const got: ReceivedRecord[] = [];
    receiver.on('record', (r) => got.push(r));

    const reopened = Outbox.open(path, { deviceId: 'bike-a', cipher, onAlarm: (x) => alarms.push(x) });
    cleanups.push(() => reopened.close());
    const up = new Uplink(reopened, { deviceId: 'bike-a', links: [{ name: 'lte', url: broker.url }], batchMaxAgeMs: { features: 0, raw: 0 } });
    cleanups.push(() => up.stop(0));
    up.start();
    await waitFor('20 intact records at the receiver', () => got.length >= 20, 30_000);
    await waitFor('the outbox to hold only the 2 tampered records', () => reopened.stats().records === 2, 30_000);

    expect(got.map((r) => r.seq).sort((x, y) => x - y)).toEqual([...Array.from({ length: 22 }, (_, i) => i + 1)].filter((s) => s !== 7 && s !== 12));
    const sent = records(20);
    for (const r of got.filter((x) => x.type === 'features')) expect(r.data).toEqual(sent[r.seq - 1].payload);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; ecg?: { counts: number[] } });
    for (const [k, seq] of [21, 22].entries()) {
      expect(lines.find((l) => l.seq === seq)?.ecg?.counts).toEqual(Array.from(quantise(ecg[k].ecg!.mv, 1)));
    }
    expect(alarms.map((a) => a.code)).toEqual(['RECORD_UNREADABLE', 'RECORD_UNREADABLE']);
    expect(alarms.find((a) => a.message.includes('seq 7'))?.message).toMatch(/authentication tag does not match.*altered on disk; it is kept in the store and not sent/);
    expect(alarms.find((a) => a.message.includes('seq 12'))?.message).toMatch(/authentication tag does not match/);
    expect(reopened.unreadableRecords()).toHaveLength(2);
    recordFaultResult({
      group: 'at-rest',
      fault: 'one ciphertext byte flipped, one sealed body copied onto another row',
      behaviour: 'both detected by the GCM tag: RECORD_UNREADABLE alarm naming the seq, kept in the store, never sent; the other 20 delivered intact (JSON and ECG samples compared)',
      expected: 20,
      expectedFrom: '22 records appended by the test, 2 of them altered on disk and held: 20 owed',
      received: new Set(got.map((r) => r.seq)).size,
      lost: 20 - new Set(got.map((r) => r.seq)).size,
      duplicates: receiver.stats().devices['bike-a']?.duplicates ?? 0,
      figures: { held: 2 },
    });
  }, 60_000);
});
