/**
 * `motobio fleet ingest` with nothing installed but a broker: no database URL means the
 * embedded PGlite in a local folder. A real mosquitto (loopback), the built CLI as a process:
 * batches go in, SIGTERM stops it cleanly, and `motobio fleet gaps` on the same folder sees what
 * was stored (a hole, then none). Bad options fail with a clear message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { startMosquitto, type Mosquitto } from '../helpers/brokers.js';
import { MAIN, requireBuild } from '../faults/helpers/daemon.js';
import { spawnNode, waitFor } from '../daemon/helpers.js';
import { batch, range } from './helpers/batches.js';

let dir: string;
let broker: Mosquitto;
beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'motobio-fleet-cli-'));
  broker = await startMosquitto();
}, 60_000);
afterAll(async () => {
  await broker?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]) {
  const p = spawnNode([MAIN, 'fleet', ...args], { cwd: dir });
  const e = await p.exited;
  return { code: e.code, out: p.stdout, err: p.stderr.join('\n') };
}

describe('motobio fleet ingest on the embedded PGlite', () => {
  it('stores batches in ./motobio-fleet-db with no database configured; fleet gaps reads the same folder', async () => {
    const w = spawnNode([MAIN, 'fleet', 'ingest', '--broker', broker.url, '--worker-id', 'laptop', '--connections', '1', '--refresh', '1'], { cwd: dir });
    await waitFor('the ingest running', () => w.logs().some((l) => l['msg'] === 'fleet ingest running'), 60_000, 100);
    expect(w.logs().find((l) => l['msg'] === 'fleet ingest running')?.['database']).toMatch(/^pglite motobio-fleet-db$/);
    const u = await connectAsync(broker.url, { protocolVersion: 5 });
    await u.publishAsync('motobio/v1/bike-l/data/features', batch('bike-l', range(1, 20).map((seq) => ({ seq }))), { qos: 1 });
    await u.publishAsync('motobio/v1/bike-l/data/features', batch('bike-l', range(31, 40).map((seq) => ({ seq }))), { qos: 1 });
    await u.publishAsync('motobio/v1/bike-l/data/features', Buffer.from('garbage'), { qos: 1 });
    await u.endAsync();
    await waitFor('three messages handled', () => w.stdout.some((l) => l.includes('"quarantined"')), 30_000, 100);
    await new Promise((r) => setTimeout(r, 1500));
    w.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    const stopped = w.logs().find((l) => l['msg'] === 'fleet ingest stopped');
    expect(stopped).toMatchObject({ stored: 30, quarantined: 1 });
    expect(statSync(join(dir, 'motobio-fleet-db')).mode & 0o777).toBe(0o700);

    const g = await cli(['gaps', '--json']);
    expect(g.code, g.err).toBe(0);
    expect(g.out.map((l) => JSON.parse(l) as { kind: string; first: number; last: number }).map((e) => [e.kind, e.first, e.last])).toEqual([['missing', 21, 30]]);
    const one = await cli(['gaps', 'bike-l', '--age', '0']);
    expect(one.code).toBe(1);
    expect(one.out.join('\n')).toMatch(/bike-l\tmissing\t21-30\t10\tsince .*OVER AGE LIMIT/);
  }, 120_000);

  it('refuses bad options with what to do', async () => {
    const noBroker = await cli(['ingest']);
    expect(noBroker.code).toBe(64);
    expect(noBroker.err).toMatch(/--broker is required/);
    const badGroup = await cli(['ingest', '--broker', broker.url, '--group', 'a/b']);
    expect(badGroup.code).toBe(64);
    expect(badGroup.err).toMatch(/--group must be/);
    // A database URL on the command line is not an option at all.
    const argvUrl = await cli(['ingest', '--broker', broker.url, '--db-url', 'postgresql://u:secret@127.0.0.1/x']);
    expect(argvUrl.code).toBe(64);
    expect(argvUrl.err).toMatch(/unknown option --db-url/);
    const missingFile = await cli(['gaps', '--db-url-file', join(dir, 'nope')]);
    expect(missingFile.code).toBe(1);
    expect(missingFile.err).toMatch(/cannot read the database URL file/);
    expect(existsSync(join(dir, 'nope'))).toBe(false);
  }, 60_000);
});
