/**
 * Uplink benchmark against a real local mosquitto (loopback, no TLS): drain rate of a 24-hour
 * backlog of features, bytes on the wire (TCP payload, counted on the socket) per record and
 * per day for features plus events with live-mode batch sizes, and for raw ECG. As root with
 * iproute2 and nftables, also over an emulated 4G link: the broker in a network namespace of
 * its own behind a veth pair, 5 Mbit/s each way (tc tbf), 1 % loss each way (nftables numgen
 * random), and 100 ms round trip from a delaying TCP proxy (test/helpers/netns.ts, shared with
 * the network fault suite).
 * Printed, never asserted. Needs `mosquitto` on PATH (or /usr/sbin).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Outbox } from '../src/store/outbox.js';
import { Uplink, type UplinkOptions } from '../src/uplink/uplink.js';
import type { RecordInput } from '../src/store/types.js';
import { readRecord } from '../src/sources/wfdb/record.js';
import { NetLab, requireNetTools, startDelayProxy, startMosquittoInNs, type DelayProxy, type NsBroker } from '../test/helpers/netns.js';
import { freePort } from './free-port.js';

const DATA = process.env['MOTOBIO_BENCH_DATA'] ?? '../shared/data';


async function startBroker(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const bin = spawnSync('sh', ['-c', 'command -v mosquitto || ls /usr/sbin/mosquitto'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  if (!bin) throw new Error('mosquitto not found; apt-get install mosquitto');
  const port = await freePort();
  writeFileSync(join(dir, 'm.conf'), `user ${userInfo().username}\nallow_anonymous true\nmax_queued_messages 1000000\nlistener ${port} 127.0.0.1\n`);
  const child = spawn(bin, ['-c', join(dir, 'm.conf')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `mqtt://127.0.0.1:${port}`, child };
}

function dayOfEvents(): RecordInput[] {
  const out: RecordInput[] = [];
  const t0 = Date.now() - 86_400_000;
  for (let s = 0; s < 86_400; s += 5) {
    const wallMs = t0 + s * 1000;
    const monoMs = s * 1000;
    out.push({ type: 'features', priority: 'features', wallMs, monoMs, payload: { hrBpm: 72 + (s % 17), rmssdMs: +(31.5 + (s % 13) / 3).toFixed(1), sdnnMs: 44.2, pnn50: 0.12, lfHf: 1.7, quality: 0.93, ectopicShare: 0, windowS: 60 } });
    if (s % 30 === 0) out.push({ type: 'decision', priority: 'decision', wallMs, monoMs, payload: { action: s % 60 ? 'hold' : 'ease-off', confidence: 0.81, model: 'policy-int8@3' } });
    if (s % 60 === 0) out.push({ type: 'status', priority: 'status', wallMs, monoMs, payload: { battery: 0.8, tempC: 41, source: 'streaming', leadOff: false } });
    if (s % 1800 === 0) out.push({ type: 'safety', priority: 'safety', wallMs, monoMs, payload: { kind: 'hr-high', hrBpm: 171, heldS: 30 } });
  }
  return out;
}

async function drain(dir: string, url: string, name: string, records: RecordInput[], opts: Partial<UplinkOptions>): Promise<{ s: number; bytesOut: number; n: number }> {
  const box = Outbox.open(join(dir, `${name}.db`), { deviceId: 'bench' });
  for (let i = 0; i < records.length; i += 1000) box.append(records.slice(i, i + 1000));
  const up = new Uplink(box, { deviceId: 'bench', links: [{ name: 'lte', url, keepaliveS: 30 }], ...opts });
  const t = performance.now();
  up.start();
  while (box.stats().records > 0) await new Promise((r) => setTimeout(r, 5));
  const s = (performance.now() - t) / 1000;
  const bytesOut = up.status().links[0].bytesOut;
  await up.stop();
  box.close();
  return { s, bytesOut, n: records.length };
}

/** Live mode without waiting a day: each age window's records are appended, then sent as the age bound would. */
async function liveDay(dir: string, url: string, day: RecordInput[], windowS: number): Promise<{ bytesOut: number; n: number; batches: number }> {
  const box = Outbox.open(join(dir, `live${windowS}.db`), { deviceId: 'bench' });
  const up = new Uplink(box, { deviceId: 'bench', links: [{ name: 'lte', url, keepaliveS: 30 }], batchMaxAgeMs: { safety: 0, decision: 0, features: 0, status: 0, raw: 0 } });
  up.start();
  const t0 = day[0].wallMs!;
  let i = 0;
  for (let w = windowS * 1000; i < day.length; w += windowS * 1000) {
    const batch: RecordInput[] = [];
    while (i < day.length && day[i].wallMs! - t0 < w) batch.push(day[i++]);
    // Safety events leave at once in live mode; the rest waits for the window.
    const safety = batch.filter((r) => r.priority === 'safety');
    if (safety.length) box.append(safety);
    box.append(batch.filter((r) => r.priority !== 'safety'));
    up.notify();
    while (box.stats().records > 0) await new Promise((r) => setImmediate(r));
  }
  const bytesOut = up.status().links[0].bytesOut;
  const batches = up.status().ackedBatches;
  await up.stop();
  box.close();
  return { bytesOut, n: day.length, batches };
}

function ecgHour(): { records: RecordInput[]; raw16: number } | undefined {
  try {
    const rec = readRecord(join(DATA, 'mitdb', '101'));
    const sig = rec.signals[0];
    const chunk = sig.fs * 10;
    const records: RecordInput[] = [];
    let raw16 = 0;
    // 30 minutes of record 101, twice: one hour of one lead.
    for (let rep = 0; rep < 2; rep++) {
      for (let i = 0; i + chunk <= sig.adc.length; i += chunk) {
        const mv = new Float64Array(chunk);
        for (let k = 0; k < chunk; k++) mv[k] = (sig.adc[i + k] - sig.spec.baseline) / sig.spec.gain;
        records.push({ type: 'ecg', priority: 'raw', ecg: { startSample: rep * sig.adc.length + i, fs: sig.fs, lsbUv: 1000 / sig.spec.gain, mv } });
        raw16 += chunk * 2;
      }
    }
    return { records, raw16 };
  } catch {
    return undefined;
  }
}

async function emulated4g(dir: string): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('emulated 4G: skipped (needs root for network namespaces)');
    return;
  }
  let lab: NetLab | undefined;
  let broker: NsBroker | undefined;
  let proxy: DelayProxy | undefined;
  try {
    requireNetTools();
    lab = NetLab.create([{ name: 'lte', rateKbit: 5000, lossPct: 1 }]);
    const lte = lab.link('lte');
    broker = await startMosquittoInNs(lab, dir, lte);
    proxy = await startDelayProxy({ targetHost: lte.nsAddr, targetPort: broker.port, localAddress: lte.hostAddr, minMs: 50, maxMs: 50 });
    const feats = dayOfEvents().filter((r) => r.type === 'features');
    const d = await drain(dir, proxy.url, '4g', feats, { pubackTimeoutMs: 10_000 });
    console.log(`emulated 4G (5 Mbit/s, 1 % loss each way, 100 ms RTT): 24-hour backlog of ${d.n} features drained in ${d.s.toFixed(2)} s (goal < 10 s), ${(d.bytesOut / 1000).toFixed(0)} kB sent`);
  } catch (e) {
    console.log(`emulated 4G: skipped (${(e as Error).message}); needs iproute2, tc and nftables`);
  } finally {
    await proxy?.close();
    await broker?.close();
    lab?.close();
  }
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-bench-uplink-'));
  let broker: ChildProcess | undefined;
  try {
    const b = await startBroker(dir);
    broker = b.child;
    const feats = dayOfEvents().filter((r) => r.type === 'features');
    const backlog = await drain(dir, b.url, 'backlog', feats, {});
    console.log(`24-hour backlog of features (${backlog.n} records) to loopback mosquitto: drained in ${backlog.s.toFixed(2)} s (${Math.round(backlog.n / backlog.s).toLocaleString('en')} records/s), ${(backlog.bytesOut / backlog.n).toFixed(1)} bytes/record on the wire`);

    const day = dayOfEvents();
    for (const windowS of [60, 120, 300]) {
      const live = await liveDay(dir, b.url, day, windowS);
      console.log(
        `a day of features + events (${live.n} records) sent live, batch age ${windowS} s: ${(live.bytesOut / 1000).toFixed(0)} kB/day MQTT on the wire (${(live.bytesOut / 24 / 1000).toFixed(1)} kB/hour, ${(live.bytesOut / live.n).toFixed(1)} bytes/record, ${live.batches} batches)`,
      );
    }
    console.log(`  (keepalive at 30 s adds at most ${((86_400 / 30) * 4 / 1000).toFixed(0)} kB/day; TCP/IP and TLS framing are not included)`);
    const bulk = await drain(dir, b.url, 'bulk', day, {});
    console.log(`the same day sent as a backlog (full batches): ${(bulk.bytesOut / 1000).toFixed(0)} kB on the wire (${(bulk.bytesOut / bulk.n).toFixed(1)} bytes/record)`);

    const ecg = ecgHour();
    if (ecg) {
      const e = await drain(dir, b.url, 'ecg', ecg.records, {});
      console.log(`an hour of raw ECG (mitdb 101 lead 0, 360 Hz): ${(e.bytesOut / 1e6).toFixed(2)} MB on the wire = ${((e.bytesOut / ecg.raw16) * 100).toFixed(1)} % of its 16-bit size (${(ecg.raw16 / 1e6).toFixed(2)} MB)`);
    } else console.log('raw ECG: ../shared/data/mitdb/101 not available');
    await emulated4g(dir);
  } finally {
    broker?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
