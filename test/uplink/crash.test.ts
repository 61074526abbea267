import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../../src/store/outbox.js';
import { Receiver } from '../../src/uplink/receiver.js';
import { startMosquitto, waitFor } from '../helpers/brokers.js';
import { removeTranspiled, transpiledRoot } from '../helpers/transpile.js';

let dir: string;
afterAll(() => removeTranspiled());
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-crash-'));
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
  rmSync(dir, { recursive: true, force: true });
});

function runChild(script: string, args: string[]) {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const state = { out: '', err: '', exited: false, code: null as number | null };
  child.stdout.on('data', (d: Buffer) => (state.out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (state.err += d.toString()));
  const done = new Promise<void>((r) =>
    child.on('exit', (code) => {
      state.exited = true;
      state.code = code;
      r();
    }),
  );
  cleanups.push(() => {
    if (!state.exited) child.kill('SIGKILL');
  });
  return { child, state, done };
}

describe('daemon killed with SIGKILL during capture and upload', () => {
  it('50 kills and restarts: the receiver sees every seq exactly once, no gap', async () => {
    const root = transpiledRoot();
    const script = join(root, 'test/helpers/uplink-daemon.js');
    const broker = await startMosquitto({ tls: true });
    cleanups.push(() => broker.close());
    const pki = broker.pki!;
    const tls = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey, servername: 'broker.test' };
    const receiver = await Receiver.start({ link: { url: broker.url, ...tls }, sessionId: 'server-crash' });
    cleanups.push(() => receiver.close());
    const db = join(dir, 'outbox.db');
    const link = JSON.stringify({ name: 'lte', url: broker.url, ...tls });

    const cycles = 50;
    let killsAfterUpload = 0;
    for (let c = 0; c < cycles; c++) {
      const { child, state, done } = runChild(script, [db, 'run', link]);
      // Kill at a random moment: sometimes while still starting, mostly mid-capture and mid-upload.
      const delay = Math.random() < 0.2 ? Math.random() * 400 : 700 + Math.random() * 1300;
      await new Promise((r) => setTimeout(r, delay));
      if (state.out.includes('acked')) killsAfterUpload++;
      child.kill('SIGKILL');
      await done;
      expect(state.err).toBe('');
    }
    expect(killsAfterUpload).toBeGreaterThan(cycles / 3);

    const drain = runChild(script, [db, 'drain', link]);
    await drain.done;
    expect(drain.state.err).toBe('');
    expect(drain.state.code).toBe(0);

    const box = Outbox.open(db, { deviceId: 'bike-1' });
    const lastSeq = box.stats().nextSeq - 1;
    expect(box.stats().records).toBe(0);
    box.close();
    await waitFor('the receiver to catch up', () => (receiver.stats().devices['bike-1']?.received ?? 0) >= lastSeq, 30_000);
    const rep = receiver.stats().devices['bike-1'];
    expect(rep).toMatchObject({ received: lastSeq, maxSeq: lastSeq, missing: 0, lost: 0 });
    expect(receiver.stats().badMessages).toBe(0);
  }, 600_000);
});
