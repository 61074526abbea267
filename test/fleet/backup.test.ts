/**
 * `motobio fleet backup` and `motobio fleet restore` (pg_dump / pg_restore) on a real
 * PostgreSQL 15: a backup taken from a database the ingest wrote is restored into an empty
 * database and into the damaged original, every record and typed row comes back, the restored
 * database migrates as current and keeps taking batches exactly once. The password travels
 * only in the 0600 URL file: not in the tools' argv.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, pgTool, type PgCluster } from './helpers/postgres.js';
import { MAIN, requireBuild } from '../faults/helpers/daemon.js';
import { spawnNode } from '../daemon/helpers.js';
import { PgClient } from '../../src/fleet/db-pg.js';
import { SqlFleetStore } from '../../src/fleet/store.js';
import { ingest } from './store-contract.js';
import { range } from './helpers/batches.js';

let pg: PgCluster;
let dir: string;
beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'motobio-fleet-backup-'));
  pg = await startPostgres();
}, 120_000);
afterAll(() => {
  pg?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]) {
  const p = spawnNode([MAIN, 'fleet', ...args], { cwd: dir });
  const e = await p.exited;
  return { code: e.code, out: p.stdout.join('\n'), err: p.stderr.join('\n') };
}

const urlFile = (db: string) => {
  const f = join(dir, `${db}.url`);
  writeFileSync(f, `${pg.url.replace(/\/fleet$/, `/${db}`)}\n`, { mode: 0o600 });
  return f;
};

describe('fleet backup and restore', () => {
  it('backs up while in use, restores into an empty database and over a damaged one; the restored database takes batches exactly once', async () => {
    const src = new SqlFleetStore(await PgClient.open(pg.url));
    await src.migrate();
    await ingest(src, 'bike-1', [...range(1, 300).map((seq) => ({ seq })), { seq: 301, type: 'ecg', ecg: true }, { seq: 302, type: 'safety', data: { rule: 'hr-high', value: 180, threshold: 170 } }]);
    await ingest(src, 'bike-2', range(1, 40).map((seq) => ({ seq })), [{ firstSeq: 41, lastSeq: 50, priority: 'raw', count: 10, wallMs: 1 }]);
    const file = join(dir, 'fleet.dump');
    const b = await cli(['backup', '--out', file, '--db-url-file', urlFile('fleet')]);
    expect(b.code, b.err).toBe(0);
    expect(JSON.parse(b.out)).toMatchObject({ file });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(b.out + b.err).not.toContain(pg.password);

    // Into an empty database.
    pgTool(pg, 'psql', ['-q', '-c', 'CREATE DATABASE restored OWNER fleet']);
    const r = await cli(['restore', file, '--db-url-file', urlFile('restored')]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ records: 342 });
    const dst = new SqlFleetStore(await PgClient.open(pg.url.replace(/\/fleet$/, '/restored')));
    try {
      expect(await dst.migrate()).toEqual([]);
      expect(await dst.seqs('bike-1')).toEqual(await src.seqs('bike-1'));
      for (const t of ['features', 'ecg_chunks', 'safety_events', 'evictions', 'devices']) expect(await dst.count(t), t).toBe(await src.count(t));
      const chunk = async (s: SqlFleetStore) => (await s.sql.query<{ chunk: Buffer }>('SELECT chunk FROM ecg_chunks')).rows[0].chunk.toString('hex');
      expect(await chunk(dst)).toBe(await chunk(src));
      // It keeps taking batches, exactly once.
      expect((await ingest(dst, 'bike-1', range(290, 310).map((seq) => ({ seq })))).stored).toBe(8);
      await dst.refreshLedger();
      expect((await dst.ledger('bike-2')).map((e) => [e.kind, e.first, e.last])).toEqual([['evicted', 41, 50]]);
    } finally {
      await dst.close();
    }

    // Over the original after an accident.
    await src.sql.query('DELETE FROM records WHERE seq > 100');
    await src.close();
    const again = await cli(['restore', file, '--db-url-file', urlFile('fleet')]);
    expect(again.code, again.err).toBe(0);
    const back = new SqlFleetStore(await PgClient.open(pg.url));
    try {
      expect((await back.seqs('bike-1')).length).toBe(302);
    } finally {
      await back.close();
    }

    // A URL file others can read is refused before anything runs.
    const loose = join(dir, 'loose.url');
    writeFileSync(loose, `${pg.url}\n`, { mode: 0o644 });
    const bad = await cli(['backup', '--out', join(dir, 'x.dump'), '--db-url-file', loose]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/readable by others.*chmod 600/);
  }, 120_000);
});
