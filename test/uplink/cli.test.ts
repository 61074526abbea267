import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../../src/store/outbox.js';
import { Uplink } from '../../src/uplink/uplink.js';
import { run as receive } from '../../src/cli/commands/receive.js';
import { run as testComms } from '../../src/cli/commands/test-comms.js';
import { run as db } from '../../src/cli/commands/db.js';
import { startAedes, startMosquitto, waitFor } from '../helpers/brokers.js';
import { hourOfRecords } from './records.js';

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-cli-'));
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a command module in-process and captures what it prints. */
async function capture(fn: (argv: string[]) => Promise<number>, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  let out = '';
  let err = '';
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true));
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const code = await fn(argv);
    return { code, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

describe('motobio receive', () => {
  it('decodes, de-duplicates, writes NDJSON and reports no gaps', async () => {
    const b = await startAedes();
    cleanups.push(() => b.close());
    const outFile = join(dir, 'out.ndjson');
    const hour = hourOfRecords(true);
    const done = capture(receive, ['--url', b.url, '--out', outFile, '--count', String(hour.length), '--report-every', '0']);
    await waitFor('the receiver to subscribe', () => b.broker.connectedClients > 0);
    await new Promise((r) => setTimeout(r, 200));
    const outbox = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-7' });
    cleanups.push(() => outbox.close());
    outbox.append(hour);
    const uplink = new Uplink(outbox, { deviceId: 'bike-7', links: [{ name: 'wifi', url: b.url }], batchMaxAgeMs: { decision: 200, features: 200, status: 200, raw: 200 } });
    cleanups.push(() => uplink.stop());
    uplink.start();
    const r = await done;
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out) as { devices: Record<string, { received: number; missing: number; lost: number }> };
    expect(summary.devices['bike-7']).toMatchObject({ received: hour.length, missing: 0, lost: 0 });
    const lines = readFileSync(outFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; ecg?: { counts: number[] } });
    expect(lines.length).toBe(hour.length);
    expect(new Set(lines.map((l) => l.seq)).size).toBe(hour.length);
    expect(lines.find((l) => l.ecg)?.ecg?.counts.length).toBe(2500);
    expect(statSync(outFile).mode & 0o077).toBe(0);
  });

  it('says what is missing when --url is left out', async () => {
    await expect(receive([])).rejects.toThrow(/--url is required/);
  });
});

describe('motobio test comms', () => {
  it('passes a good TLS link with RTT figures and fails one whose CA does not match', async () => {
    const m = await startMosquitto({ tls: true });
    cleanups.push(() => m.close());
    const p = m.pki!;
    const good = await capture(testComms, ['--url', m.url, '--ca', p.ca, '--cert', p.clientCert, '--key', p.clientKey, '--servername', 'broker.test', '--count', '5', '--json']);
    expect(good.code).toBe(0);
    const g = JSON.parse(good.out) as { ok: boolean; links: { acked: number; rttP50Ms: number; rttP95Ms: number; protocol: string; tls: { protocol: string } }[] };
    expect(g.ok).toBe(true);
    expect(g.links[0]).toMatchObject({ acked: 5, protocol: 'MQTT 5' });
    expect(g.links[0].tls.protocol).toMatch(/TLSv1\.[23]/);
    expect(g.links[0].rttP95Ms).toBeGreaterThanOrEqual(g.links[0].rttP50Ms);
    const bad = await capture(testComms, ['--url', m.url, '--ca', join(p.dir, 'rogue-ca.pem'), '--cert', p.clientCert, '--key', p.clientKey, '--servername', 'broker.test']);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/^FAIL adhoc/);
    expect(bad.out).toMatch(/error: link adhoc .*certificate/i);
  });
});

describe('motobio db', () => {
  it('backs up online while the daemon writes, reports stats, exports a time range, and restores without reusing seqs', async () => {
    const path = join(dir, 'store', 'o.db');
    const box = Outbox.open(path, { deviceId: 'bike-1' });
    const t0 = Date.UTC(2026, 4, 1, 8, 0, 0);
    const hour = hourOfRecords(true, t0);
    box.append(hour);
    // Keep writing during the backup.
    let extra = 0;
    const writer = setInterval(() => box.append([{ type: 'status', priority: 'status', payload: { extra: extra++ } }]), 2);
    const backup = join(dir, 'backup.db');
    const b = await capture(db, ['backup', backup, '--db', path]);
    clearInterval(writer);
    expect(b.code).toBe(0);
    expect(statSync(backup).mode & 0o077).toBe(0);
    await expect(db(['backup', backup, '--db', path])).rejects.toThrow(/exists; choose a new file name/);

    const st = await capture(db, ['stats', '--db', backup, '--json', '--check']);
    const s = JSON.parse(st.out) as { records: number; deviceId: string; integrity: string; depth: Record<string, number> };
    expect(s).toMatchObject({ deviceId: 'bike-1', integrity: 'ok' });
    expect(s.records).toBeGreaterThanOrEqual(hour.length);
    expect(s.depth.safety).toBe(6);

    // Ten minutes from 08:10: features every 5 s = 120, plus decisions, status, safety, ecg chunks.
    const from = new Date(t0 + 600_000).toISOString();
    const to = new Date(t0 + 1_200_000).toISOString();
    const csv = await capture(db, ['export', '--db', backup, '--from', from, '--to', to, '--format', 'csv']);
    const rows = csv.out.trim().split('\n');
    expect(rows[0]).toBe('device,seq,type,priority,boot_id,mono_ms,wall_ms,wall_iso,clock_synced,data');
    const inRange = hour.filter((r) => r.wallMs! >= t0 + 600_000 && r.wallMs! < t0 + 1_200_000).length;
    expect(rows.length - 1).toBe(inRange);
    const outFile = join(dir, 'x.ndjson');
    await capture(db, ['export', '--db', backup, '--from', String(t0), '--to', String(t0 + 60_000), '--out', outFile, '--ecg-samples']);
    const nd = readFileSync(outFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; ecg?: { counts: number[] } });
    expect(nd.find((r) => r.type === 'ecg')?.ecg?.counts.length).toBe(2500);
    await expect(db(['export', '--db', backup, '--from', 'yesterday'])).rejects.toThrow(/neither an ISO 8601 time/);

    // Restore needs the daemon stopped: the open store has a WAL.
    await expect(db(['restore', backup, '--db', path])).rejects.toThrow(/daemon may be running/);
    const nextBefore = box.stats().nextSeq;
    box.close();
    const rs = await capture(db, ['restore', backup, '--db', path]);
    expect(rs.code).toBe(0);
    expect(rs.out).toMatch(/previous store is at .*before-restore-/);
    const again = Outbox.open(path, { deviceId: 'bike-1' });
    expect(again.append([{ type: 'status', priority: 'status', payload: {} }]).firstSeq).toBeGreaterThanOrEqual(nextBefore);
    again.close();
    expect(existsSync(path)).toBe(true);
  });
});
