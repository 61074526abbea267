/**
 * TLS never falls back and says why it refused: a real mosquitto with one listener per broken
 * certificate (expired, not yet valid, self-signed), the fleet listener with a client-certificate
 * check, and a plaintext listener. Each refusal is checked as the installer sees it: the message
 * of `motobio test comms` (testLink) and the link's lastError on the uplink status (/status).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../helpers/brokers.js';
import { makeFleetPki, type FleetPki } from './pki.js';
import { runMosquitto, type RunningMosquitto } from './mosq.js';
import { testLink } from '../../src/cli/commands/test-comms.js';
import { LinkConnection, type LinkConfig } from '../../src/uplink/link.js';
import { Uplink } from '../../src/uplink/uplink.js';
import { Outbox } from '../../src/store/outbox.js';
import { recordFaultResult } from '../faults/report.js';

let dir: string;
let pki: FleetPki;
let mosq: RunningMosquitto;
const port: Record<'fleet' | 'expired' | 'future' | 'self' | 'plain', number> = { fleet: 0, expired: 0, future: 0, self: 0, plain: 0 };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-sec-tls-'));
  pki = makeFleetPki(dir, ['bike-a']);
  for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = await freePort();
  const tlsListener = (p: number, server: string) => [
    `listener ${p} 127.0.0.1`,
    `cafile ${pki.ca}`,
    `certfile ${pki.certs[server].cert}`,
    `keyfile ${pki.certs[server].key}`,
    'require_certificate true',
    'use_identity_as_username true',
  ];
  const conf = [
    `user ${userInfo().username}`,
    'per_listener_settings false',
    'allow_anonymous true',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    ...tlsListener(port.fleet, 'server'),
    ...tlsListener(port.expired, 'server-expired'),
    ...tlsListener(port.future, 'server-future'),
    ...tlsListener(port.self, 'server-self'),
    `listener ${port.plain} 127.0.0.1`,
  ].join('\n');
  mosq = await runMosquitto(dir, `${conf}\n`, Object.values(port));
}, 120_000);

afterAll(async () => {
  await mosq?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const good = (): LinkConfig => ({ name: 'lte', url: `mqtts://127.0.0.1:${port.fleet}`, ca: pki.ca, cert: pki.certs['bike-a'].cert, key: pki.certs['bike-a'].key, connectTimeoutMs: 10_000 });

/** The refusal as `motobio test comms` prints it and as the uplink reports it per link. */
async function refusal(cfg: LinkConfig): Promise<{ comms: string; status: string }> {
  const r = await testLink(cfg, 'bike-a', 'motobio', 1);
  expect(r.ok, `test comms should fail for ${cfg.url}`).toBe(false);
  expect(r.tls).toBeNull();
  const sdir = mkdtempSync(join(tmpdir(), 'motobio-sec-tls-store-'));
  const box = Outbox.open(join(sdir, 'o.db'), { deviceId: 'bike-a' });
  box.append([{ type: 'safety', priority: 'safety', payload: { kind: 'hr-high' } }]);
  const up = new Uplink(box, { deviceId: 'bike-a', links: [cfg], retryMinMs: 200, retryMaxMs: 1000 });
  try {
    up.start();
    await waitFor(`a lastError on link ${cfg.name}`, () => up.status().links[0].lastError !== null, 30_000);
    const status = up.status().links[0].lastError ?? '';
    expect(up.status().ackedRecords).toBe(0);
    expect(box.stats().records).toBe(1);
    return { comms: r.error ?? '', status };
  } finally {
    await up.stop(0);
    box.close();
    rmSync(sdir, { recursive: true, force: true });
  }
}

async function expectRefused(fault: string, cfg: LinkConfig, kind: string, words: RegExp): Promise<void> {
  const { comms, status } = await refusal(cfg);
  for (const [where, msg] of [['test comms', comms], ['uplink status', status]] as const) {
    expect(msg, `${where}: ${msg}`).toContain(`TLS refused (${kind}`);
    expect(msg, `${where}: ${msg}`).toMatch(words);
  }
  recordFaultResult({ group: 'tls', fault, behaviour: `refused, nothing sent; message: "${comms.replace(/^link \S+ \(\S+\): /, '').slice(0, 160)}"`, expected: null, received: null, lost: null, duplicates: null, figures: { records_kept: 1 } });
}

describe('mqtts refusals name the cause', () => {
  it('the fleet listener accepts the unit (sanity: the setup works)', async () => {
    const r = await testLink(good(), 'bike-a', 'motobio', 3);
    expect(r.error).toBeNull();
    expect(r.ok).toBe(true);
    expect(r.tls?.authorized).toBe(true);
  }, 60_000);

  it('a wrong CA', async () => {
    await expectRefused('broker certificate from a CA the unit does not trust (wrong tls.ca)', { ...good(), ca: pki.rogueCa }, 'untrusted-ca', /(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN).*tls\.ca/);
  }, 60_000);

  it('a self-signed broker certificate', async () => {
    await expectRefused('self-signed broker certificate', { ...good(), url: `mqtts://127.0.0.1:${port.self}` }, 'untrusted-ca', /DEPTH_ZERO_SELF_SIGNED_CERT.*self-signed/);
  }, 60_000);

  it('an expired broker certificate', async () => {
    await expectRefused('expired broker certificate', { ...good(), url: `mqtts://127.0.0.1:${port.expired}` }, 'server-cert-expired', /CERT_HAS_EXPIRED.*renew the broker certificate/);
  }, 60_000);

  it('a broker certificate not yet valid', async () => {
    await expectRefused('broker certificate not yet valid (unit clock behind)', { ...good(), url: `mqtts://127.0.0.1:${port.future}` }, 'server-cert-not-yet-valid', /CERT_NOT_YET_VALID.*clock/);
  }, 60_000);

  it('a wrong host name', async () => {
    await expectRefused('broker certificate for another host name', { ...good(), servername: 'fleet.example' }, 'wrong-host', /ERR_TLS_CERT_ALTNAME_INVALID.*"fleet\.example".*servername/);
  }, 60_000);

  it('an expired client certificate (the broker refuses it)', async () => {
    const c = pki.certs['bike-a-expired'];
    await expectRefused('expired client certificate', { ...good(), cert: c.cert, key: c.key }, 'client-cert-expired', /expired.*issue a new client certificate|expired on/);
  }, 60_000);

  it('a client certificate from another CA (the broker refuses it)', async () => {
    const c = pki.certs['bike-a-rogue'];
    await expectRefused('client certificate from an unknown CA', { ...good(), cert: c.cert, key: c.key }, 'client-cert-rejected', /not signed by a CA the broker trusts/);
  }, 60_000);

  it('no client certificate where the broker requires one', async () => {
    const { cert: _c, key: _k, ...noCert } = good();
    await expectRefused('no client certificate', noCert, 'client-cert-required', /tls\.cert and tls\.key/);
  }, 60_000);

  it('mqtts to a plaintext port never falls back to plaintext', async () => {
    await expectRefused('mqtts URL pointing at a plaintext listener', { ...good(), url: `mqtts://127.0.0.1:${port.plain}` }, 'not-tls', /never falls back/);
    // What goes on the wire: a TLS ClientHello (0x16 0x03), never an MQTT CONNECT.
    const seen: Buffer[] = [];
    const srv = createServer((s) => {
      s.on('data', (d: Buffer) => {
        seen.push(d);
        s.write('HTTP/1.0 400 not tls\r\n\r\n');
        s.end();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const p = (srv.address() as AddressInfo).port;
    await expect(LinkConnection.connect({ ...good(), url: `mqtts://127.0.0.1:${p}` }, { clientId: 'bike-a.t' })).rejects.toThrow(/TLS refused \(not-tls/);
    srv.close();
    const bytes = Buffer.concat(seen);
    expect(bytes[0]).toBe(0x16);
    expect(bytes[1]).toBe(0x03);
    expect(bytes.includes(Buffer.from('MQTT'))).toBe(false);
    expect(bytes.includes(Buffer.from('bike-a.t'))).toBe(false);
  }, 60_000);
});
