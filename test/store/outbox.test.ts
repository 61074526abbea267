import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox, type StoreAlarm } from '../../src/store/outbox.js';
import { decodeEcgChunk, encodeEcgChunk } from '../../src/store/ecg-codec.js';
import type { RecordInput } from '../../src/store/types.js';
import { isMotobioError } from '../../src/util/errors.js';
import { readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import { removeTranspiled, transpiledRoot } from '../helpers/transpile.js';

let dir: string;
afterAll(() => removeTranspiled());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const feat = (n: number): RecordInput => ({ type: 'features', priority: 'features', payload: { n } });

describe('outbox', () => {
  it('gives every record the next seq and keeps all its fields', () => {
    const box = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-1', bootId: 'boot-a', clockSynced: () => true });
    const a = box.append([feat(1), feat(2)]);
    const b = box.append([{ type: 'safety', priority: 'safety', payload: { kind: 'hr-high' }, monoMs: 12.5, wallMs: 1_700_000_000_000, clockSynced: false }]);
    expect([a.firstSeq, a.lastSeq, b.firstSeq, b.lastSeq]).toEqual([1, 2, 3, 3]);
    const [r] = box.lease('safety', 10, 1 << 20);
    expect(r).toMatchObject({ deviceId: 'bike-1', seq: 3, bootId: 'boot-a', monoMs: 12.5, wallMs: 1_700_000_000_000, clockSynced: false, priority: 'safety', type: 'safety', encoding: 'json' });
    expect(JSON.parse(r.body.toString())).toEqual({ kind: 'hr-high' });
    const [f] = box.lease('features', 1, 1 << 20);
    expect(f.clockSynced).toBe(true);
    box.close();
  });

  it('rejects a whole append with a clear error when one record is bad, and stores nothing', () => {
    const box = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-1' });
    let err: unknown;
    try {
      box.append([feat(1), { type: 'BAD TYPE', priority: 'features', payload: 1 }]);
    } catch (e) {
      err = e;
    }
    expect(isMotobioError(err, 'RECORD_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/record 1.*type must match/);
    expect(() => box.append([{ type: 'x', priority: 'urgent' as never }])).toThrow(/priority must be one of safety, decision/);
    expect(box.stats().records).toBe(0);
    expect(box.append([feat(3)]).firstSeq).toBe(1);
    box.close();
  });

  it('leases highest priority first, oldest first, and never hands out a record twice', () => {
    const box = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-1' });
    box.append([feat(1), { type: 'status', priority: 'status', payload: {} }, feat(2), { type: 'decision', priority: 'decision', payload: {} }, feat(3)]);
    expect(box.nextPriority()).toBe('decision');
    const d = box.lease('decision', 10, 1 << 20);
    expect(d.map((r) => r.seq)).toEqual([4]);
    expect(box.nextPriority()).toBe('features');
    const f1 = box.lease('features', 2, 1 << 20);
    const f2 = box.lease('features', 10, 1 << 20);
    expect(f1.map((r) => r.seq)).toEqual([1, 3]);
    expect(f2.map((r) => r.seq)).toEqual([5]);
    expect(box.lease('features', 10, 1 << 20)).toEqual([]);
    box.release(f1.map((r) => r.id));
    expect(box.lease('features', 10, 1 << 20).map((r) => r.seq)).toEqual([1, 3]);
    box.ack([...d, ...f1, ...f2].map((r) => r.id));
    expect(box.stats().depth).toMatchObject({ decision: 0, features: 0, status: 1 });
    expect(box.nextPriority()).toBe('status');
    // Ids are never reused once the table empties (leases scan by id).
    box.ack(box.lease('status', 10, 1 << 20).map((r) => r.id));
    expect(box.stats().records).toBe(0);
    box.append([feat(6)]);
    expect(box.lease('features', 10, 1 << 20).map((r) => r.seq)).toEqual([6]);
    box.close();
  });

  it('keeps records and the sequence across close and reopen, and refuses a store of another device', () => {
    const path = join(dir, 'o.db');
    let box = Outbox.open(path, { deviceId: 'bike-1' });
    box.append([feat(1), feat(2)]);
    box.ack(box.lease('features', 10, 1 << 20).map((r) => r.id));
    box.close();
    box = Outbox.open(path, { deviceId: 'bike-1' });
    expect(box.append([feat(3)]).firstSeq).toBe(3);
    box.close();
    expect(() => Outbox.open(path, { deviceId: 'bike-2' })).toThrow(/belongs to device "bike-1".*"bike-2"/);
  });

  it('creates its files owner-only', () => {
    const path = join(dir, 'var', 'store', 'o.db');
    const box = Outbox.open(path, { deviceId: 'bike-1' });
    box.append([feat(1)]);
    expect(statSync(join(dir, 'var', 'store')).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(join(dir, 'var', 'store'))) expect(statSync(join(dir, 'var', 'store', f)).mode & 0o077).toBe(0);
    box.close();
  });

  it('evicts raw ECG first, then status, features, decisions, and keeps safety events while anything else can go', () => {
    const budget = 256 * 1024;
    const box = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-1', diskBudgetBytes: budget, evictHeadroom: 0 });
    const pad = 'x'.repeat(900);
    const order = ['raw', 'status', 'features', 'decision', 'safety'] as const;
    let i = 0;
    // Fill well past the budget with an even mix; the newest safety events keep coming.
    while (i < 500) {
      const p = order[i % order.length];
      box.append([p === 'raw' ? { type: 'ecg', priority: 'raw', ecg: { startSample: i * 250, fs: 250, lsbUv: 1, mv: Float64Array.from({ length: 250 }, (_, k) => Math.sin(k + i)) } } : { type: p, priority: p, payload: { i, pad } }]);
      i++;
    }
    const s = box.stats();
    expect(s.bytes).toBeLessThanOrEqual(budget);
    expect(s.evicted.raw).toBe(100);
    expect(s.evicted.status).toBe(100);
    expect(s.evicted.safety).toBe(0);
    expect(s.evicted.decision).toBe(0);
    expect(s.depth.safety).toBe(100);
    expect(s.evicted.features).toBeGreaterThan(0);
    // Oldest first within a priority: what is left of features is the newest.
    const left = [...box.iterate({ priority: 'features' })].map((r) => JSON.parse(r.body.toString()) as { i: number });
    expect(left.length).toBe(s.depth.features);
    expect(left[left.length - 1].i).toBe(497);
    expect(left[0].i).toBe(497 - 5 * (left.length - 1));
    // Every evicted record is announced as a seq range for the server.
    const notices = box.leaseNotices(10_000);
    expect(notices.reduce((n, x) => n + x.count, 0)).toBe(s.evictedTotal);
    box.close();
    // Counts survive a restart.
    const again = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-1', diskBudgetBytes: budget });
    expect(again.stats().evicted).toEqual(s.evicted);
    again.close();
  });

  it('evicts the oldest safety events only when nothing else is left, and raises an alarm', () => {
    const alarms: StoreAlarm[] = [];
    const box = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-1', diskBudgetBytes: 64 * 1024, evictHeadroom: 0, onAlarm: (a) => alarms.push(a) });
    for (let i = 0; i < 200; i++) box.append([{ type: 'safety', priority: 'safety', payload: { i, pad: 'y'.repeat(500) } }]);
    expect(box.stats().evicted.safety).toBeGreaterThan(0);
    expect(alarms.map((a) => a.code)).toContain('SAFETY_EVICTED');
    const left = [...box.iterate()].map((r) => JSON.parse(r.body.toString()) as { i: number });
    expect(left[left.length - 1].i).toBe(199);
    box.close();
  });

  it('moves a corrupt store aside with a timestamp, starts fresh above the old sequence and raises an alarm', () => {
    const path = join(dir, 'o.db');
    const box = Outbox.open(path, { deviceId: 'bike-1' });
    box.append([feat(1), feat(2), feat(3)]);
    box.close();
    writeFileSync(path, Buffer.alloc(8192, 0x5a));
    const alarms: StoreAlarm[] = [];
    const fresh = Outbox.open(path, { deviceId: 'bike-1', onAlarm: (a) => alarms.push(a) });
    expect(alarms.map((a) => a.code)).toEqual(['STORE_CORRUPT_REPLACED']);
    const moved = fresh.stats().recoveredFrom;
    expect(moved).toMatch(/o\.db\.corrupt-\d{4}-/);
    expect(existsSync(moved!)).toBe(true);
    expect(fresh.append([feat(4)]).firstSeq).toBeGreaterThan(3);
    fresh.close();
  });

  it('stores raw ECG losslessly at its quantisation step', () => {
    const rec = readRecord(join(process.cwd(), '..', 'shared', 'data', 'mitdb', '101'));
    const mv = toPhysical(rec.signals[0]).subarray(0, 3600);
    mv[10] = NaN;
    const chunk = { startSample: 123, fs: 360, lsbUv: 5, mv };
    const back = decodeEcgChunk(encodeEcgChunk(chunk));
    expect(back.startSample).toBe(123);
    expect(back.fs).toBe(360);
    expect(Number.isNaN(back.mv[10])).toBe(true);
    for (let i = 0; i < mv.length; i++) if (i !== 10) expect(Math.abs(back.mv[i] - mv[i])).toBeLessThanOrEqual(0.0025 + 1e-9);
  });
});

describe('outbox under kill -9', () => {
  it('never loses an append it reported and never leaves a seq gap', async () => {
    const root = transpiledRoot();
    const path = join(dir, 'crash.db');
    const cycles = 25;
    let lastReported = 0;
    for (let c = 0; c < cycles; c++) {
      const child = spawn(process.execPath, [join(root, 'test/helpers/outbox-writer.js'), path, 'bike-1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<void>((res) => child.on('exit', () => res()));
      // Wait for it to write, then kill at a random moment.
      const deadline = Date.now() + 30_000;
      while (!out.includes('ok ') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
      expect(err).toBe('');
      await new Promise((r) => setTimeout(r, Math.random() * 150));
      child.kill('SIGKILL');
      await exited;
      const seqs = out.trim().split('\n').filter((l) => l.startsWith('ok ')).map((l) => Number(l.slice(3)));
      const reported = Math.max(lastReported, ...seqs);
      const box = Outbox.open(path, { deviceId: 'bike-1', diskBudgetBytes: 1 << 30 });
      const all = [...box.iterate()].map((r) => r.seq);
      expect(all.length).toBe(all[all.length - 1]);
      expect(all[all.length - 1]).toBeGreaterThanOrEqual(reported);
      expect(box.stats().nextSeq).toBe(all.length + 1);
      box.close();
      lastReported = reported;
    }
    expect(lastReported).toBeGreaterThan(cycles);
  }, 300_000);
});
