/**
 * The daemon as systemd sees it: `motobio run` (the built dist/) as a child process replaying
 * a synthetic record in real time, no uplink. Prints time from spawn to /healthz answering,
 * to READY=1 (the "started" log line), resident memory after a while, and SIGTERM-to-exit.
 * Prints figures only; never asserts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { freePort } from './free-port.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const RUN_S = 20;

function record(dir: string): string {
  const fs = 360;
  const n = fs * 60;
  const adc = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const ph = (i / fs) % 0.8;
    adc[i] = Math.round((Math.exp(-(((ph - 0.2) / 0.012) ** 2)) * 1.2 + Math.exp(-(((ph - 0.45) / 0.05) ** 2)) * 0.25) * 200);
  }
  writeFileSync(join(dir, 'bench.dat'), Buffer.from(adc.buffer));
  writeFileSync(join(dir, 'bench.hea'), `bench 1 ${fs} ${n}\nbench.dat 16 200 11 0 ${adc[0]} 0 0 ECG\n`);
  return join(dir, 'bench');
}


async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-bench-daemon-'));
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const t0 = performance.now();
    let startedAt: number | undefined;
    const child = spawn(process.execPath, [MAIN, 'run'], {
      cwd: dir,
      env: { ...process.env, MOTOBIO_HEALTH__PORT: String(port), MOTOBIO_SOURCE__PATH: record(dir) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.on('data', (d: Buffer) => {
      if (startedAt === undefined && d.toString().includes('"msg":"started"')) startedAt = performance.now();
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const healthy = await until(async () => ((await fetch(`${base}/healthz`)).status === 200 ? performance.now() : undefined), 30_000);
    await until(() => Promise.resolve(startedAt), 30_000);
    console.log(`spawn -> /healthz 200:      ${healthy === undefined ? 'never' : `${(healthy - t0).toFixed(0)} ms`}`);
    console.log(`spawn -> started (READY=1):  ${startedAt === undefined ? 'never' : `${(startedAt - t0).toFixed(0)} ms`} (includes loading the ONNX model)`);
    await new Promise((r) => setTimeout(r, RUN_S * 1000));
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const rss = /^motobio_process_resident_memory_bytes (\S+)$/m.exec(metrics)?.[1];
    const lat = /^motobio_pipeline_latency_seconds_sum\{stage="decision"\} (\S+)$/m.exec(metrics)?.[1];
    const latN = /^motobio_pipeline_latency_seconds_count\{stage="decision"\} (\S+)$/m.exec(metrics)?.[1];
    const status = (await (await fetch(`${base}/status`)).json()) as { counters: { beats: number; decisions: number }; outbox: { records: number } };
    console.log(`after ${RUN_S} s of real-time replay: rss ${rss ? (Number(rss) / 1048576).toFixed(1) : '?'} MB, ${status.counters.beats} beats, ${status.counters.decisions} decisions, ${status.outbox.records} records stored`);
    if (lat && latN && Number(latN) > 0) console.log(`mean sample-arrival -> decision latency: ${((Number(lat) / Number(latN)) * 1000).toFixed(1)} ms over ${latN} decisions`);
    const s0 = performance.now();
    child.kill('SIGTERM');
    const code = await exited;
    console.log(`SIGTERM -> exit ${code}:         ${(performance.now() - s0).toFixed(0)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
