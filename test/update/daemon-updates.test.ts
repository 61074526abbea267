/**
 * Signed downlink updates through the real daemon (`node …/cli/main.js run --config …`), real
 * brokers (mosquitto for models and refusals, aedes for configuration) and real Ed25519 keys:
 *
 * - a good model update is written beside the installed model, validated, switched in and
 *   used (the decisions and /status name the new model version);
 * - unsigned, tampered, wrongly signed, replayed (same and older version), other-device and
 *   oversized updates are refused, reported with their reason (log line, `update` record at
 *   the server, /metrics) and change nothing on disk;
 * - a good configuration update restarts the daemon into it and is confirmed;
 * - a configuration the daemon cannot start on, one whose trial is cut by kill -9, and one
 *   that never reaches the broker within trial_s are rolled back automatically and reported.
 */
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAedes, startMosquitto, type AedesBroker, type Mosquitto } from '../helpers/brokers.js';
import { REPO, buildForTest, freePort, killAll, tempDir, waitFor } from '../daemon/helpers.js';
import { recordFaultResult } from '../faults/report.js';
import { Server, Supervisor, envelopeBytes, getJson, getText, logHas, signed, snapshot, updateStatus } from './harness.js';

const DEVICE = 'bike-017';
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');

let build: string;
let main: string;

beforeAll(() => {
  build = buildForTest(['src/cli/commands/keys.ts']);
  main = join(build, 'src', 'cli', 'main.js');
}, 240_000);

afterAll(() => {
  killAll();
  if (build) rmSync(build, { recursive: true, force: true });
});

function unitDir(root: string): { keys: string; updates: string } {
  const keys = join(root, 'keys');
  mkdirSync(keys, { mode: 0o755 });
  chmodSync(keys, 0o755);
  writeFileSync(join(keys, 'fleet.pub'), publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644 });
  return { keys, updates: join(root, 'var', 'updates') };
}

/** Everything but device and update: what the server may push. */
function pushable(brokerUrl: string, healthPort: number, root: string): string {
  return [
    'source: { kind: replay, speed: 20 }',
    `store: { path: ${join(root, 'var', 'motobio.db')} }`,
    `uplink: { batch_max_age_s: 0.5, links: [ { name: lte, url: "${brokerUrl}", keepalive_s: 5 } ] }`,
    `health: { port: ${healthPort} }`,
    '',
  ].join('\n');
}

function baseConfig(brokerUrl: string, healthPort: number, root: string): string {
  const u = unitDir(root);
  return `device: { id: ${DEVICE} }\nupdate: { keys_dir: ${u.keys}, dir: ${u.updates}, max_bytes: 2000000, confirm_s: 3, trial_s: 15 }\n${pushable(brokerUrl, healthPort, root)}`;
}

/** Sends malformed probes until the daemon reports one: its downlink subscription is in place. */
async function waitForDownlink(server: Server): Promise<void> {
  await waitFor(
    'the daemon to answer a probe on cmd/update',
    async () => {
      await server.publish('{"probe":1}');
      await new Promise((r) => setTimeout(r, 300));
      return server.updates().some((u) => u['reason'] === 'malformed');
    },
    90_000,
    10,
  );
}

describe('model updates and refusals (mosquitto)', () => {
  let broker: Mosquitto;
  let server: Server;
  let sup: Supervisor;
  let dir: { path: string; cleanup: () => void };
  let port: number;
  let updatesDir: string;
  let applied5: Buffer = Buffer.alloc(0);
  const modelFiles = (manifestVersion: string): [string, Buffer][] => {
    const m = JSON.parse(readFileSync(join(REPO, 'models', 'default-policy.manifest.json'), 'utf8')) as Record<string, unknown>;
    m['version'] = manifestVersion;
    return [
      ['default-policy.manifest.json', Buffer.from(JSON.stringify(m, null, 2))],
      ...['default-policy.int8.onnx', 'default-policy.fp32.onnx', 'default-policy.validation.ndjson'].map((n): [string, Buffer] => [n, readFileSync(join(REPO, 'models', n))]),
    ];
  };

  beforeAll(async () => {
    broker = await startMosquitto();
    dir = tempDir('motobio-upd-model-');
    port = await freePort();
    updatesDir = join(dir.path, 'var', 'updates');
    const cfg = join(dir.path, 'config.yaml');
    writeFileSync(cfg, baseConfig(broker.url, port, dir.path));
    server = await Server.connect(broker.url, DEVICE);
    sup = new Supervisor(main, cfg, dir.path);
    sup.start();
    await waitForDownlink(server);
  }, 120_000);

  afterAll(async () => {
    await sup?.stop();
    await server?.close();
    await broker?.close();
    dir?.cleanup();
  });

  it('applies a good model update beside the installed one and decides with it', async () => {
    const env = signed('model', 5, DEVICE, modelFiles('9.9.9-test'), privateKey);
    applied5 = envelopeBytes(env);
    await server.publish(applied5);
    const applied = await server.waitUpdate('model 5 applied', (u) => u['event'] === 'applied' && u['kind'] === 'model' && u['version'] === 5);
    expect((applied['model'] as { version: string }).version).toBe('9.9.9-test');
    // Decisions made after the swap carry the new model's identity.
    await waitFor('a decision by model 9.9.9-test', () => [...server.records.values()].some((r) => r.type === 'decision' && (r.data['model'] as { version?: string } | null)?.version === '9.9.9-test'), 60_000);
    const st = updateStatus(await getJson(port, '/status'));
    expect(st['model']).toMatchObject({ version: 5, running: { version: '9.9.9-test', precision: 'int8' } });
    // Beside the installed one: a versioned directory and a `current` symlink, private files.
    const modelRoot = join(updatesDir, 'model');
    expect(readlinkSync(join(modelRoot, 'current'))).toBe('v5');
    expect(statSync(join(modelRoot, 'v5', 'default-policy.int8.onnx')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(updatesDir, 'versions.json'), 'utf8'))).toEqual({ model: 5, config: 0 });
    recordFaultResult({ group: 'downlink', fault: 'good signed model update', behaviour: 'written beside the installed model, validated (hash, ops, test inference, int8 agreement), current symlink renamed over, hot-swapped; decisions name the new version', expected: null, received: null, lost: null, duplicates: null });
  }, 120_000);

  it('a model update that fails validation is refused and the running model stays', async () => {
    const files = modelFiles('9.9.9-broken');
    // A manifest whose hash does not match its model file: signed correctly, but not a valid model.
    const m = JSON.parse(files[0][1].toString()) as { model: { sha256: string } };
    m.model.sha256 = '0'.repeat(64);
    files[0] = [files[0][0], Buffer.from(JSON.stringify(m))];
    const before = snapshot(updatesDir);
    await server.publish(envelopeBytes(signed('model', 6, DEVICE, files, privateKey)));
    const r = await server.waitUpdate('model 6 refused', (u) => u['event'] === 'refused' && u['version'] === 6);
    expect(r['reason']).toBe('invalid_content');
    expect(snapshot(updatesDir)).toEqual(before);
    expect(updateStatus(await getJson(port, '/status'))['model']).toMatchObject({ version: 5, running: { version: '9.9.9-test' } });
    recordFaultResult({ group: 'downlink', fault: 'signed model update that fails validation', behaviour: 'refused (invalid_content), its directory removed, the running model stays; reported', expected: null, received: null, lost: null, duplicates: null });
  }, 120_000);

  it('refuses unsigned, tampered, wrongly signed, replayed, other-device and oversized updates, reports each and changes nothing', async () => {
    const good7 = signed('model', 7, DEVICE, modelFiles('9.9.9-other'), privateKey);
    const { keyId: _k, signature: _s, ...unsigned } = good7;
    const onnx = good7.files.findIndex((f) => f.name === 'default-policy.int8.onnx');
    const bytes = Buffer.from(good7.files[onnx].data, 'base64');
    bytes[bytes.length >> 1] ^= 0x01;
    const tamperedFile = { ...good7, files: good7.files.map((f, i) => (i === onnx ? { ...f, data: bytes.toString('base64') } : f)) };
    const tamperedField = { ...good7, version: 8 };
    const wrongKey = signed('model', 7, DEVICE, modelFiles('9.9.9-other'), stranger.privateKey);
    const replaySame = signed('model', 5, DEVICE, modelFiles('9.9.9-test'), privateKey);
    const replayOlder = signed('model', 3, DEVICE, modelFiles('9.9.9-old'), privateKey);
    const otherDevice = signed('model', 7, 'bike-018', modelFiles('9.9.9-other'), privateKey);
    const oversized = signed('config', 1, DEVICE, [['config.yaml', Buffer.from(`# ${'x'.repeat(2_100_000)}\n`)]], privateKey);
    const cases: [string, string, unknown, string][] = [
      ['unsigned', 'unsigned model update', unsigned, 'unsigned'],
      ['tampered byte in a file', 'model update with one byte of the .onnx flipped in transit', tamperedFile, 'hash_mismatch'],
      ['tampered signed field', 'model update with its version changed after signing', tamperedField, 'bad_signature'],
      ['wrong key', 'model update signed with a key the unit does not trust', wrongKey, 'unknown_key'],
      ['replay of the same version', 'replay of the applied model update (same version)', replaySame, 'replayed'],
      ['replay of an older version', 'validly signed older model update (version 3 after 5)', replayOlder, 'replayed'],
      ['other device', 'model update signed for another device, sent to this one', otherDevice, 'wrong_device'],
      ['oversized', 'update larger than update.max_bytes', oversized, 'oversized'],
    ];
    const before = snapshot(updatesDir);
    expect(Object.keys(before).length).toBeGreaterThan(3);
    for (const [name, fault, env, reason] of cases) {
      const seen = server.updates().filter((u) => u['reason'] === reason).length;
      await server.publish(envelopeBytes(env));
      const r = await server.waitUpdate(`${name} refused`, (u) => u['event'] === 'refused' && u['reason'] === reason && server.updates().filter((x) => x['reason'] === reason).length > seen);
      expect(typeof r['message']).toBe('string');
      expect((r['payload'] as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(snapshot(updatesDir), `${name}: nothing on disk may change`).toEqual(before);
      await waitFor(`a log line for ${name}`, () => logHas(sup.allLogs(), reason), 20_000);
      recordFaultResult({ group: 'downlink', fault, behaviour: `refused (${reason}), nothing written; log line, update record at the server, motobio_errors_total{module="update",code="${reason}"}`, expected: null, received: null, lost: null, duplicates: null });
    }
    // The very same bytes again (a second link to the same broker, a QoS 1 redelivery) are not a replay attack.
    const replays = server.updates().filter((u) => u['reason'] === 'replayed').length;
    await server.publish(applied5);
    await waitFor('the redelivery noticed', () => sup.allLogs().some((l) => String(l['msg']).includes('delivered again')), 30_000);
    // A probe behind it in the same queue: once its report is in, a report for the redelivery would be too.
    const probes = server.updates().filter((u) => u['reason'] === 'malformed').length;
    await server.publish('{"probe":2}');
    await server.waitUpdate('the probe after the redelivery', () => server.updates().filter((x) => x['reason'] === 'malformed').length > probes);
    expect(server.updates().filter((u) => u['reason'] === 'replayed').length).toBe(replays);
    expect(snapshot(updatesDir)).toEqual(before);
    const metrics = await getText(port, '/metrics');
    for (const reason of ['unsigned', 'hash_mismatch', 'bad_signature', 'unknown_key', 'replayed', 'wrong_device', 'oversized']) {
      expect(metrics).toMatch(new RegExp(`motobio_errors_total\\{[^}]*module="update"[^}]*code="${reason}"[^}]*\\} [1-9]`));
    }
    expect(updateStatus(await getJson(port, '/status'))['model']).toMatchObject({ version: 5, running: { version: '9.9.9-test' } });
  }, 180_000);

  it('after a restart the replay guard still holds and the updated model is loaded again', async () => {
    const oldPid = sup.proc!.child.pid;
    sup.kill9();
    await waitFor('a new daemon process after kill -9', async () => {
      try {
        return (await getJson(port, '/status'))['pid'] !== oldPid;
      } catch {
        return false;
      }
    }, 60_000);
    await waitFor('the updated model in service after the restart', async () => (updateStatus(await getJson(port, '/status'))['model'] as { running?: { version?: string } }).running?.version === '9.9.9-test', 60_000);
    const seen = server.updates().filter((u) => u['reason'] === 'replayed').length;
    await waitFor('the replay refused after the restart', async () => {
      await server.publish(envelopeBytes(signed('model', 5, DEVICE, modelFiles('9.9.9-test'), privateKey)));
      await new Promise((r) => setTimeout(r, 500));
      return server.updates().filter((u) => u['reason'] === 'replayed').length > seen;
    }, 60_000, 10);
    recordFaultResult({ group: 'downlink', fault: 'replay after kill -9 of the daemon', behaviour: 'versions.json (0600, written durably) survives; the replay is refused and the updated model is loaded at start', expected: null, received: null, lost: null, duplicates: null });
  }, 120_000);
});

describe('configuration updates with trial and rollback (aedes)', () => {
  let broker: AedesBroker;
  let server: Server;
  let sup: Supervisor;
  let dir: { path: string; cleanup: () => void };
  let updatesDir: string;
  let blocker: NetServer | undefined;
  const ports: number[] = [];

  beforeAll(async () => {
    broker = await startAedes();
    dir = tempDir('motobio-upd-config-');
    for (let i = 0; i < 6; i++) ports.push(await freePort());
    updatesDir = join(dir.path, 'var', 'updates');
    const cfg = join(dir.path, 'config.yaml');
    writeFileSync(cfg, baseConfig(broker.url, ports[0], dir.path));
    server = await Server.connect(broker.url, DEVICE);
    sup = new Supervisor(main, cfg, dir.path);
    sup.start();
    await waitForDownlink(server);
  }, 120_000);

  afterAll(async () => {
    await sup?.stop();
    await server?.close();
    await broker?.close();
    await new Promise<void>((r) => (blocker ? blocker.close(() => r()) : r()));
    dir?.cleanup();
  });

  const statusOn = async (port: number) => {
    try {
      return updateStatus(await getJson(port, '/status'));
    } catch {
      return undefined;
    }
  };

  it('applies a good configuration: restart into it, confirmed after running healthy', async () => {
    const text = pushable(broker.url, ports[1], dir.path);
    await server.publish(envelopeBytes(signed('config', 1, DEVICE, [['config.yaml', Buffer.from(text)]], privateKey)));
    await waitFor('the daemon on the pushed configuration (health on the new port)', async () => (await statusOn(ports[1]))?.['config'] !== undefined, 90_000);
    await server.waitUpdate('config 1 restarting', (u) => u['event'] === 'restarting' && u['version'] === 1);
    await server.waitUpdate('config 1 confirmed', (u) => u['event'] === 'applied' && u['kind'] === 'config' && u['version'] === 1);
    expect(sup.exits[0]).toBe(75);
    expect((await statusOn(ports[1]))?.['config']).toMatchObject({ version: 1, current: 1, trial: null });
    expect(readlinkSync(join(updatesDir, 'config', 'current'))).toBe('v1');
    expect(existsSync(join(updatesDir, 'config', 'trial.json'))).toBe(false);
    expect(statSync(join(updatesDir, 'config', 'v1', 'config.yaml')).mode & 0o777).toBe(0o600);
    recordFaultResult({ group: 'downlink', fault: 'good signed configuration update', behaviour: 'written beside, schema-checked, trial state on disk, current symlink renamed over, exit 75 and restart into it; confirmed after 3 s healthy with the broker reached', expected: null, received: null, lost: null, duplicates: null });
  }, 150_000);

  it('rolls back a configuration the daemon cannot start on (health port taken) and reports it', async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(ports[2], '127.0.0.1', () => r()));
    const exitsBefore = sup.exits.length;
    await server.publish(envelopeBytes(signed('config', 2, DEVICE, [['config.yaml', Buffer.from(pushable(broker.url, ports[2], dir.path))]], privateKey)));
    const r = await server.waitUpdate('config 2 rolled back', (u) => u['event'] === 'rolled_back' && u['version'] === 2, 120_000);
    expect(String(r['message'])).toMatch(/start-up failed/);
    expect(sup.exits.slice(exitsBefore, exitsBefore + 2)).toEqual([75, 1]);
    await waitFor('the daemon back on configuration 1', async () => (await statusOn(ports[1]))?.['config'] !== undefined, 60_000);
    expect(readlinkSync(join(updatesDir, 'config', 'current'))).toBe('v1');
    expect(existsSync(join(updatesDir, 'config', 'trial.json'))).toBe(false);
    // The version is used up: sending it again is a replay.
    await server.publish(envelopeBytes(signed('config', 2, DEVICE, [['config.yaml', Buffer.from(pushable(broker.url, ports[2], dir.path))]], privateKey)));
    await server.waitUpdate('config 2 replay refused', (u) => u['event'] === 'refused' && u['version'] === 2 && u['reason'] === 'replayed');
    recordFaultResult({ group: 'downlink', fault: 'signed configuration the daemon cannot start on', behaviour: 'start-up failed on trial: current pointed back to the previous configuration, exit 1, restarted on it; rolled_back reported; version used up', expected: null, received: null, lost: null, duplicates: null });
  }, 180_000);

  it('rolls back a configuration whose trial was cut by kill -9', async () => {
    await server.publish(envelopeBytes(signed('config', 3, DEVICE, [['config.yaml', Buffer.from(pushable(broker.url, ports[3], dir.path))]], privateKey)));
    // The first moment the new configuration answers, before it can have run healthy for 3 s.
    await waitFor('the daemon on configuration 3', async () => (await statusOn(ports[3]))?.['config'] !== undefined, 90_000, 20);
    expect(JSON.parse(readFileSync(join(updatesDir, 'config', 'trial.json'), 'utf8'))).toMatchObject({ version: 3, previous: 'v1', attempts: 1 });
    sup.kill9();
    await server.waitUpdate('config 3 rolled back', (u) => u['event'] === 'rolled_back' && u['version'] === 3, 120_000);
    await waitFor('the daemon back on configuration 1', async () => (await statusOn(ports[1]))?.['config'] !== undefined, 60_000);
    expect(readlinkSync(join(updatesDir, 'config', 'current'))).toBe('v1');
    expect(lstatSync(join(updatesDir, 'config', 'v1')).isDirectory()).toBe(true);
    recordFaultResult({ group: 'downlink', fault: 'kill -9 during the trial of a configuration update', behaviour: 'the next start found the trial already attempted (trial.json on disk) and rolled back to the previous configuration; rolled_back reported', expected: null, received: null, lost: null, duplicates: null });
  }, 180_000);

  it('rolls back a configuration that runs but never reaches the broker within trial_s', async () => {
    const exitsBefore = sup.exits.length;
    // ports[5] has nothing listening: the daemon runs, but the server could never reach it again.
    const cut = pushable(`mqtt://127.0.0.1:${ports[5]}`, ports[4], dir.path);
    await server.publish(envelopeBytes(signed('config', 4, DEVICE, [['config.yaml', Buffer.from(cut)]], privateKey)));
    await waitFor('the daemon on configuration 4', async () => (await statusOn(ports[4]))?.['config'] !== undefined, 90_000);
    const r = await server.waitUpdate('config 4 rolled back', (u) => u['event'] === 'rolled_back' && u['version'] === 4, 120_000);
    expect(String(r['message'])).toMatch(/no broker reached within 15 s/);
    expect(sup.exits.slice(exitsBefore, exitsBefore + 2)).toEqual([75, 75]);
    await waitFor('the daemon back on configuration 1', async () => (await statusOn(ports[1]))?.['config'] !== undefined, 60_000);
    expect(readlinkSync(join(updatesDir, 'config', 'current'))).toBe('v1');
    recordFaultResult({ group: 'downlink', fault: 'signed configuration that cuts the unit off from the broker', behaviour: 'ran on trial but reached no broker within update.trial_s (15 s): current pointed back, exit 75, restarted on the previous configuration; rolled_back reported', expected: null, received: null, lost: null, duplicates: null });
  }, 180_000);
});

