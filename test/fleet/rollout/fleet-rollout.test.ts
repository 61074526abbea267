/**
 * Staged rollouts with every part real (docs/rollouts.md "Test"): UNITS `motobio run` daemons
 * replaying a MIT-BIH excerpt at 10x, each with its own device id, certificate, workdir, store,
 * update dir and the server's public key -> mosquitto (docs/mosquitto TLS + ACL) -> one
 * `motobio fleet ingest` -> PostgreSQL 15 <- `motobio fleet rollout controller` (publishes the
 * signed updates back through mosquitto).
 *
 * 1. a good model goes 10 % -> 25 % -> 100 %; the controller is SIGKILLed mid-rollout and
 *    started again; every unit reports the version applied exactly once, none twice.
 * 2. a second rollout is aborted in its first stage: its canaries get a NEW signed update (the
 *    previous model, a higher version); one canary is offline at that moment and gets it when
 *    it comes back; the other units never receive the aborted version.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFleetBroker, type FleetBroker } from '../helpers/fleet-broker.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { MAIN, requireBuild, startDaemon, type DaemonRun } from '../../faults/helpers/daemon.js';
import { REPO, killAll, spawnNode, waitFor, type Proc } from '../../daemon/helpers.js';
import { PgClient } from '../../../src/fleet/db-pg.js';
import { num } from '../../../src/fleet/sql.js';
import { generateKeys } from '../../../src/update/keys.js';

const N = Number(process.env['MOTOBIO_ROLLOUT_UNITS'] ?? 8);
const UNITS = Array.from({ length: N }, (_, i) => `bike-${String(i + 1).padStart(2, '0')}`);
let dir: string;
let broker: FleetBroker;
let pg: PgCluster;
let db: PgClient;
let urlFile: string;
let signKey: string;
let ingest: Proc;
const units = new Map<string, DaemonRun>();

function modelDir(name: string, version: string): string {
  const d = join(dir, name);
  mkdirSync(d);
  for (const f of ['default-policy.int8.onnx', 'default-policy.fp32.onnx', 'default-policy.validation.ndjson']) copyFileSync(join(REPO, 'models', f), join(d, f));
  const m = JSON.parse(readFileSync(join(REPO, 'models', 'default-policy.manifest.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(d, 'default-policy.manifest.json'), JSON.stringify({ ...m, version }));
  return d;
}

async function startUnit(device: string): Promise<DaemonRun> {
  const udir = join(dir, device);
  const c = broker.pki.certs[device];
  const run = await startDaemon(udir, {
    device: { id: device },
    source: { kind: 'replay', path: join(dir, 'mitdb-118-5min'), speed: 10, loop: true },
    signal: { decision_period_s: 1 },
    store: { path: join(udir, 'motobio.db') },
    update: { keys_dir: join(dir, 'keys'), dir: join(udir, 'updates'), max_bytes: 2_000_000 },
    uplink: { batch_max_age_s: 0.5, links: [{ name: 'lte', url: broker.url, keepalive_s: 5, tls: { ca: broker.pki.ca, cert: c.cert, key: c.key } }] },
    log_level: 'warn',
  }, {}, { waitHealthy: false });
  units.set(device, run);
  return run;
}

const cli = (args: string[]) => spawnNode([MAIN, 'fleet', 'rollout', ...args, '--db-url-file', urlFile], { cwd: dir });
async function cliOut(args: string[]): Promise<string> {
  const p = cli(args);
  const { code } = await p.exited;
  if (code !== 0) throw new Error(`fleet rollout ${args.join(' ')} exited ${code}: ${p.stderr.join('\n')}${p.stdout.join('\n')}`);
  return p.stdout.join('\n');
}
function controller(): Proc {
  const c = broker.pki.certs['fleet-ingest'];
  return spawnNode([MAIN, 'fleet', 'rollout', 'controller', '--broker', broker.url, '--ca', broker.pki.ca, '--cert', c.cert, '--key', c.key, '--client-id', 'fleet-rollout', '--sign-key', signKey, '--tick', '0.5', '--db-url-file', urlFile], { cwd: dir, env: { MOTOBIO_LOG_LEVEL: 'info' } });
}
const status = async (id: string) => JSON.parse(await cliOut(['status', id, '--json'])) as Record<string, unknown> & { state: string; stage: number; phase: string; version: number; rollback_version: number };
const q = async <T = Record<string, unknown>>(sql: string, params: unknown[] = []) => (await db.query<T>(sql, params)).rows;
/** (device, event, version) of every update record the units sent. */
const reports = () => q<{ device: string; event: string; version: string; reason: string | null }>("SELECT ur.device, ur.event, coalesce(ur.version, r.data->>'version') AS version, ur.reason FROM update_reports ur JOIN records r USING (device, seq) ORDER BY ur.device, ur.seq");

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'motobio-rollout-'));
  [broker, pg] = await Promise.all([startFleetBroker(dir, [...UNITS, 'fleet-ingest']), startPostgres()]);
  urlFile = join(dir, 'db-url');
  writeFileSync(urlFile, `${pg.url}\n`, { mode: 0o600 });
  db = await PgClient.open(pg.url);
  const k = generateKeys();
  mkdirSync(join(dir, 'keys'), { mode: 0o755 });
  writeFileSync(join(dir, 'keys', 'server.pub'), k.publicPem, { mode: 0o644 });
  signKey = join(dir, 'server.key');
  writeFileSync(signKey, k.privatePem, { mode: 0o600 });
  for (const ext of ['hea', 'dat']) copyFileSync(join(REPO, `test/fixtures/mitdb-118-5min.${ext}`), join(dir, `mitdb-118-5min.${ext}`));
  const c = broker.pki.certs['fleet-ingest'];
  ingest = spawnNode([MAIN, 'fleet', 'ingest', '--broker', broker.url, '--ca', broker.pki.ca, '--cert', c.cert, '--key', c.key, '--worker-id', 'w1', '--connections', '2', '--db-url-file', urlFile, '--refresh', '5'], { cwd: dir });
  await waitFor('the ingest running', () => ingest.logs().some((l) => l['msg'] === 'fleet ingest running'), 60_000, 100);
  for (const u of UNITS) {
    mkdirSync(join(dir, u));
    await startUnit(u);
  }
  await waitFor(`all ${N} units sending decisions`, async () => num((await q<{ n: unknown }>('SELECT count(DISTINCT device) AS n FROM decisions'))[0].n) === N, 240_000, 500);
}, 400_000);

afterAll(async () => {
  killAll();
  await db?.close();
  await broker?.close();
  pg?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe(`staged rollout on ${N} real daemons`, () => {
  it('a good model reaches every unit through 10 % / 25 % / 100 %, across a controller SIGKILL', async () => {
    const good = modelDir('good', '0.2.0-good');
    const t0 = Date.now();
    const plan = ['start', '--id', 'good-1', '--kind', 'model', good, '--previous', join(REPO, 'models'), '--stages', '0.1,0.25,1', '--soak', '3', '--report-timeout', '60', '--window', '30', '--min-decisions', '20', '--min-units', '1'];
    expect(await cliOut(plan)).toContain('planned rollout good-1');
    expect(await cliOut(plan)).toContain('already planned rollout good-1');
    let ctl = controller();
    const s1 = await waitFor('stage 2 under way', async () => { const s = await status('good-1'); if (s.state !== 'running') throw new Error(`rollout good-1 ${s.state}: ${await cliOut(['status', 'good-1'])}`); return s.stage >= 1 && s; }, 300_000, 500).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\n${await cliOut(['status', 'good-1'])}\ncontroller: ${ctl.stdout.slice(-20).join('\n')}`);
    });
    const stage1 = num((await q<{ n: unknown }>("SELECT count(*) AS n FROM rollout_units WHERE rollout = 'good-1' AND stage = 0"))[0].n);
    expect(stage1).toBe(Math.ceil(0.1 * N));
    ctl.kill('SIGKILL');
    await ctl.exited;
    const killedAt = await status('good-1');
    ctl = controller();
    const done = await waitFor('rollout good-1 done', async () => { const s = await status('good-1'); return s.state === 'done' && s; }, 300_000, 1000);
    const secs = (Date.now() - t0) / 1000;
    const applied = await waitFor('every unit reported', async () => { const r = (await reports()).filter((x) => x.version === String(done.version) && x.event === 'applied'); return r.length >= N && r; }, 60_000, 500);
    // Each unit applied it once: nothing published to a stage twice reached a unit as a new update.
    expect(new Set(applied.map((r) => r.device)).size).toBe(N);
    expect(applied.length).toBe(N);
    const bad = (await reports()).filter((x) => x.version === String(done.version) && x.event !== 'applied' && x.reason !== 'replayed');
    expect(bad).toEqual([]);
    const decisions = await q<{ stage: number; decision: string; at: Date }>("SELECT stage, decision, at FROM rollout_decisions WHERE rollout = 'good-1' ORDER BY id");
    expect(decisions.map((d) => `${d.stage}:${d.decision}`)).toEqual(['0:pass', '1:pass', '2:pass']);
    const text = await cliOut(['status', 'good-1']);
    expect(text).toContain('state done');
    process.stdout.write(`good rollout on ${N} units: ${secs.toFixed(1)} s in all; controller killed in stage ${s1.stage + 1} (${killedAt.phase}); gates passed at ${decisions.map((d) => `${((d.at.getTime() - t0) / 1000).toFixed(1)} s`).join(', ')}\n${text}`);
    ctl.kill('SIGTERM');
    await ctl.exited;
  }, 600_000);

  it('an aborted rollout rolls its canaries back with a newer signed update, an offline canary on reconnect; the rest never get it', async () => {
    const next = modelDir('next', '0.3.0-next');
    await cliOut(['start', '--id', 'next-1', '--kind', 'model', next, '--previous', join(dir, 'good'), '--stages', '0.1,0.25,1', '--soak', '600', '--report-timeout', '60', '--window', '30', '--min-decisions', '20']);
    const ctl = controller();
    const r = await status('next-1');
    const canaries = (await q<{ device: string }>("SELECT device FROM rollout_units WHERE rollout = 'next-1' AND stage = 0 ORDER BY device")).map((x) => x.device);
    await waitFor('the canaries applied it', async () => (await reports()).filter((x) => x.version === String(r.version) && x.event === 'applied').length === canaries.length, 120_000, 500);
    // One canary goes offline before the abort.
    const offline = canaries[0];
    expect(await units.get(offline)!.stop()).toBe(0);
    const t0 = Date.now();
    expect(await cliOut(['abort', 'next-1'])).toContain('abort requested');
    expect(await cliOut(['abort', 'next-1'])).toContain('already');
    const online = canaries.slice(1);
    if (online.length > 0) {
      await waitFor('the online canaries on the previous model', async () => (await reports()).filter((x) => x.version === String(r.rollback_version) && x.event === 'applied' && online.includes(x.device)).length === online.length, 120_000, 200);
      process.stdout.write(`rollback: abort to the last online canary (${online.length}) reporting the previous model: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    const st = await status('next-1');
    expect(st.state).toBe('rolling_back');
    const back = Date.now();
    await startUnit(offline);
    await waitFor('the offline canary rolled back on reconnect', async () => (await reports()).some((x) => x.device === offline && x.version === String(r.rollback_version) && x.event === 'applied'), 120_000, 200);
    process.stdout.write(`offline canary: reconnect to rolled back ${((Date.now() - back) / 1000).toFixed(1)} s\n`);
    await waitFor('rollout next-1 rolled back', async () => (await status('next-1')).state === 'rolled_back', 60_000, 500);
    const others = (await reports()).filter((x) => !canaries.includes(x.device) && (x.version === String(r.version) || x.version === String(r.rollback_version)));
    expect(others).toEqual([]);
    // The rollback carries the previous model: the canaries decide with 0.2.0-good again.
    await waitFor('a decision by 0.2.0-good from the reconnected canary after the rollback', async () => (await q("SELECT 1 FROM decisions WHERE device = $1 AND model LIKE '%0.2.0-good%' AND at > $2 LIMIT 1", [offline, new Date(back).toISOString()])).length > 0, 60_000, 500);
    process.stdout.write(await cliOut(['status', 'next-1']));
    ctl.kill('SIGTERM');
    await ctl.exited;
  }, 600_000);
});
