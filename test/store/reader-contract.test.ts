/** The SQLite outbox, clear and sealed, keeps the contract the uplink drains it by. */
import { afterAll, beforeAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../../src/store/outbox.js';
import { RecordCipher, keyId } from '../../src/store/record-cipher.js';
import { readerContract, type ReaderHarness } from './reader-contract.js';

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-reader-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function harness(cipher?: () => RecordCipher): ReaderHarness {
  const budget = 256 * 1024;
  return {
    open: () => Outbox.open(join(dir, `o${++n}.db`), { deviceId: 'contract', bootId: 'boot-contract', diskBudgetBytes: budget, evictHeadroom: 0, ...(cipher ? { cipher: cipher() } : {}) }),
    write: (r, priority, count, opts = {}) => {
      const box = r as Outbox;
      const pad = 'x'.repeat(opts.bytes ?? 10);
      const seqs: number[] = [];
      for (let i = 0; i < count; i++) seqs.push(box.append([{ type: priority === 'raw' ? 'ecg' : priority, priority, payload: { i, pad }, ...(opts.monoMs ? { monoMs: opts.monoMs[i] } : {}) }]).firstSeq);
      return seqs;
    },
    overfill: (r) => {
      const box = r as Outbox;
      const pad = 'x'.repeat(900);
      for (let i = 0; i < 600; i++) box.append([{ type: 'features', priority: 'features', payload: { i, pad } }]);
    },
  };
}

readerContract('SQLite outbox', harness());
readerContract('SQLite outbox, records sealed (AES-256-GCM)', harness(() => {
  const key = randomBytes(32);
  return new RecordCipher({ id: keyId(key), key, source: 'test' });
}));
