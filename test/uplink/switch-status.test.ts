/**
 * Regression: the 'switch' event fired before the uplink took the new link, so listeners that
 * read status() (the daemon's /status and link metrics) saw no active link after every failover
 * until their next periodic refresh. Found by the network fault suite (test/faults/network.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Outbox } from '../../src/store/outbox.js';
import { Uplink, type UplinkStatus } from '../../src/uplink/uplink.js';
import { startAedes, waitFor } from '../helpers/brokers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

it("status() inside a 'switch' listener already names the new active link", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-switch-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const a = await startAedes();
  const b = await startAedes();
  cleanups.push(() => b.close());
  const outbox = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-s' });
  cleanups.push(() => outbox.close());
  const uplink = new Uplink(outbox, { deviceId: 'bike-s', links: [{ name: 'wifi', url: a.url }, { name: 'lte', url: b.url }], retryMinMs: 100, retryMaxMs: 300, holdMs: 60_000 });
  cleanups.push(() => uplink.stop(100));
  const seen: { to: string; status: UplinkStatus }[] = [];
  uplink.on('switch', (e) => seen.push({ to: e.to, status: uplink.status() }));
  uplink.start();
  await waitFor('wifi active', () => uplink.status().active === 'wifi', 15_000);
  await a.close();
  await waitFor('a switch to lte', () => seen.length > 0, 15_000);
  expect(seen[0].to).toBe('lte');
  expect(seen[0].status.active).toBe('lte');
  expect(seen[0].status.switches).toBe(1);
});
