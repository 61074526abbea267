import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../../src/store/outbox.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import type { RecordInput } from '../../src/store/types.js';
import { MotobioError } from '../../src/util/errors.js';
import { removeTranspiled, transpiledRoot } from '../helpers/transpile.js';

let dir: string;
afterAll(() => removeTranspiled());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-group-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const feat = (n: number): RecordInput => ({ type: 'features', priority: 'features', payload: { n } });
const safety = (n: number): RecordInput => ({ type: 'safety', priority: 'safety', payload: { n } });

/** Commit frames in the WAL (a frame whose "database size after commit" field is set): one per transaction. */
function walCommits(db: string): number {
  const b = readFileSync(`${db}-wal`);
  const pageSize = b.readUInt32BE(8);
  let commits = 0;
  for (let off = 32; off + 24 + pageSize <= b.length; off += 24 + pageSize) if (b.readUInt32BE(off + 4) !== 0) commits++;
  return commits;
}

function grouped(box: Outbox, periods: number, maxWaitMs = 60_000, errors: unknown[] = []) {
  return new GroupCommit<RecordInput>({ write: (items) => box.append(items), nextSeq: () => box.nextSequence(), periods, maxWaitMs, onError: (e) => errors.push(e) });
}

describe('group commit', () => {
  it('writes the records of `periods` decision periods in one transaction, with the seqs it reserved', () => {
    const path = join(dir, 'g.db');
    const box = Outbox.open(path, { deviceId: 'bike-1' });
    const before = walCommits(path);
    const g = grouped(box, 3);
    const seqs: number[] = [];
    for (let p = 0; p < 6; p++) {
      seqs.push(g.add(feat(2 * p), false), g.add(feat(2 * p + 1), false));
      // Nothing is written (nor visible to the uplink) before the group commits.
      if (p % 3 !== 2) expect(box.stats().records).toBe(p < 3 ? 0 : 6);
      g.periodDone();
    }
    expect(box.stats().records).toBe(12);
    expect(walCommits(path) - before).toBe(2);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect([...box.iterate()].map((r) => [r.seq, (JSON.parse(r.body.toString()) as { n: number }).n])).toEqual(seqs.map((s) => [s, s - 1]));
    box.close();
  });

  it('commits a safety record before append returns, with what waited before it', () => {
    const path = join(dir, 'g.db');
    const box = Outbox.open(path, { deviceId: 'bike-1' });
    const g = grouped(box, 12);
    g.add(feat(0), false);
    g.add(feat(1), false);
    expect(box.stats().records).toBe(0);
    expect(g.add(safety(2), true)).toBe(3);
    expect(box.stats().depth).toMatchObject({ features: 2, safety: 1 });
    expect(box.lease('safety', 10, 1 << 20).map((r) => r.seq)).toEqual([3]);
    expect(g.size).toBe(0);
    box.close();
  });

  it('commits a group after maxWaitMs when the periods stop coming (a stalled source)', async () => {
    const box = Outbox.open(join(dir, 'g.db'), { deviceId: 'bike-1' });
    const g = grouped(box, 12, 80);
    g.add(feat(0), false);
    await new Promise((r) => setTimeout(r, 40));
    expect(box.stats().records).toBe(0);
    await new Promise((r) => setTimeout(r, 150));
    expect(box.stats().records).toBe(1);
    box.close();
  });

  it('commits a group once no period completed for stallMs (the source stopped), re-armed by each period', async () => {
    const box = Outbox.open(join(dir, 'g.db'), { deviceId: 'bike-1' });
    const g = new GroupCommit<RecordInput>({ write: (items) => box.append(items), nextSeq: () => box.nextSequence(), periods: 100, maxWaitMs: 60_000, stallMs: 120, onError: () => undefined });
    g.add(feat(0), false);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 60));
      g.periodDone();
    }
    expect(box.stats().records).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(box.stats().records).toBe(1);
    box.close();
  });

  it('hands a failed commit to onError with every record of the group, and reserves the same seqs again', () => {
    const box = Outbox.open(join(dir, 'g.db'), { deviceId: 'bike-1' });
    const errors: unknown[] = [];
    let failed: RecordInput[] = [];
    let fail = true;
    const g = new GroupCommit<RecordInput>({
      write: (items) => {
        if (fail) throw new MotobioError('DISK_FULL', 'disk full');
        return box.append(items);
      },
      nextSeq: () => box.nextSequence(),
      periods: 1,
      maxWaitMs: 60_000,
      onError: (e, items) => {
        errors.push(e);
        failed = items;
      },
    });
    expect([g.add(feat(0), false), g.add(feat(1), false)]).toEqual([1, 2]);
    g.periodDone();
    expect(errors).toHaveLength(1);
    expect(failed.map((r) => (r.payload as { n: number }).n)).toEqual([0, 1]);
    fail = false;
    expect(g.add(feat(2), false)).toBe(1);
    g.commit();
    expect(box.stats().records).toBe(1);
    box.close();
  });

  it('one transaction per record when periods is 0 (commit_window_s = 0)', () => {
    const path = join(dir, 'g.db');
    const box = Outbox.open(path, { deviceId: 'bike-1' });
    const before = walCommits(path);
    const g = grouped(box, 0);
    for (let i = 0; i < 5; i++) g.add(feat(i), false);
    expect(walCommits(path) - before).toBe(5);
    box.close();
  });
});

describe('group commit under kill -9', () => {
  it('every commit and every safety record it reported is in the store; seqs have no gap', async () => {
    const root = transpiledRoot();
    const path = join(dir, 'crash.db');
    let reported = 0;
    let safeties = 0;
    for (let c = 0; c < 12; c++) {
      const child = spawn(process.execPath, [join(root, 'test/helpers/group-writer.js'), path], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<void>((res) => child.on('exit', () => res()));
      const deadline = Date.now() + 30_000;
      while (!out.includes('safety ') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, Math.random() * 150));
      child.kill('SIGKILL');
      await exited;
      expect(err).toBe('');
      const lines = out.trim().split('\n');
      const committed = lines.filter((l) => l.startsWith('committed ')).map((l) => Number(l.slice(10)));
      const safety = lines.filter((l) => l.startsWith('safety ')).map((l) => Number(l.slice(7)));
      const box = Outbox.open(path, { deviceId: 'bike-1', diskBudgetBytes: 1 << 30 });
      const all = [...box.iterate()];
      const seqs = all.map((r) => r.seq);
      expect(seqs.length).toBe(seqs[seqs.length - 1]);
      expect(seqs[seqs.length - 1]).toBeGreaterThanOrEqual(Math.max(reported, ...committed));
      const stored = new Map(all.map((r) => [r.seq, r.type]));
      for (const s of safety) expect(stored.get(s)).toBe('safety');
      box.close();
      reported = Math.max(reported, ...committed);
      safeties += safety.length;
    }
    expect(safeties).toBeGreaterThan(12);
  }, 300_000);
});
