/**
 * Source benchmarks (printed, never asserted):
 *   - parser throughput on a real record (mitdb/118, 12-bit) and on random bytes
 *   - replay as fast as the consumer takes it
 *   - heap and RSS across 100 unplug/replug cycles of a SerialSource on a socat pty
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, promises as fsp, rmSync, constants as fsc } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AdcScale } from '../src/sources/serial/adc.js';
import { BinaryParser, encodeBinaryFrame } from '../src/sources/serial/binary-protocol.js';
import { AutoParser } from '../src/sources/serial/detect.js';
import type { FrameParser } from '../src/sources/serial/parser.js';
import { SerialSource } from '../src/sources/serial/serial-source.js';
import { TextParser, encodeTextLine } from '../src/sources/serial/text-protocol.js';
import { ReplaySource } from '../src/sources/replay.js';
import { readRecord, toPhysical } from '../src/sources/wfdb/record.js';

const RECORD = fileURLToPath(new URL('../../test/fixtures/mitdb-118-5min', import.meta.url));
const ADC = { bits: 12, vrefV: 3.3, gain: 300 };

function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function counts(): { fs: number; counts: number[] } {
  const sig = readRecord(RECORD).signals[0];
  const scale = new AdcScale(ADC);
  return { fs: sig.fs, counts: Array.from(toPhysical(sig), (v) => scale.toCount(v)) };
}

function throughput(name: string, make: () => FrameParser, bytes: Buffer, samplesIn: number): void {
  const p = make();
  const t0 = performance.now();
  let samples = 0;
  for (let i = 0; i < bytes.length; i += 64) for (const f of p.push(bytes.subarray(i, i + 64))) samples += f.values.length;
  const s = (performance.now() - t0) / 1000;
  const extra = samplesIn > 0 ? `, ${(samples / s / 1e6).toFixed(2)} M samples/s (${samples}/${samplesIn} decoded)` : `, ${p.counters.framesBad} bad frames, ${p.counters.bytesDropped} bytes dropped`;
  console.log(`  ${name.padEnd(28)} ${(bytes.length / s / 1e6).toFixed(1)} MB/s${extra}`);
}

export async function cycles(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-bench-'));
  const dev = join(dir, 'ttyV0');
  const wr = join(dir, 'ttyV1');
  let child: ChildProcess | undefined;
  const plug = async (): Promise<void> => {
    child = spawn('socat', [`pty,raw,echo=0,link=${dev}`, `pty,raw,echo=0,link=${wr}`], { stdio: 'ignore' });
    while (!(existsSync(dev) && existsSync(wr))) await new Promise((r) => setTimeout(r, 5));
  };
  const unplug = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
    await fsp.rm(dev, { force: true });
    await fsp.rm(wr, { force: true });
  };
  const { fs, counts: c } = counts();
  const source = new SerialSource({ path: dev, fs, adc: ADC, backoff: { initialMs: 10, maxMs: 100 } });
  let received = 0;
  source.on('samples', (ch) => (received += ch.mv.length));
  await source.start();
  const frame = Buffer.concat(Array.from({ length: 10 }, (_, k) => encodeBinaryFrame({ seq: k * 8, values: c.slice(k * 8, k * 8 + 8) })));
  const heap: number[] = [];
  const rss: number[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      await plug();
      while (source.connectionCount <= i) await new Promise((r) => setTimeout(r, 5));
      const h = await fsp.open(wr, fsc.O_WRONLY | fsc.O_NOCTTY);
      const before = received;
      await h.write(frame);
      while (received < before + 80) await new Promise((r) => setTimeout(r, 5));
      await h.close();
      await unplug();
      if (i === 9 || i === n - 1) {
        gc();
        heap.push(process.memoryUsage().heapUsed);
        rss.push(process.memoryUsage().rss);
      }
    }
  } finally {
    await source.stop();
    await unplug();
    rmSync(dir, { recursive: true, force: true });
  }
  const ms = (performance.now() - t0) / n;
  console.log(`  ${n} unplug/replug cycles: ${ms.toFixed(0)} ms per cycle, ${source.connectionCount} connections`);
  console.log(`  heap after cycle 10: ${(heap[0] / 1e6).toFixed(2)} MB, after cycle ${n}: ${(heap[1] / 1e6).toFixed(2)} MB (${((heap[1] - heap[0]) / 1e3).toFixed(0)} kB)`);
  // Known upstream: bindings-cpp's native Poller keeps a persistent callback after close, about
  // 1 kB per opened port (serialport/node-serialport#1582); the source itself holds nothing.
  console.log(`  rss  after cycle 10: ${(rss[0] / 1e6).toFixed(1)} MB, after cycle ${n}: ${(rss[1] / 1e6).toFixed(1)} MB`);
}

export async function run(): Promise<void> {
  const { fs, counts: c } = counts();
  const text = Buffer.from(c.map((v) => encodeTextLine(v)).join(''), 'latin1');
  const bin = Buffer.concat(Array.from({ length: Math.ceil(c.length / 8) }, (_, k) => encodeBinaryFrame({ seq: (k * 8) & 0xffff, values: c.slice(k * 8, k * 8 + 8) })));
  console.log(`parsers (300 s of mitdb/118 at ${fs} Hz, 64-byte reads):`);
  throughput('text', () => new TextParser(4095), text, c.length);
  throughput('binary', () => new BinaryParser(4095), bin, c.length);
  throughput('auto (binary stream)', () => new AutoParser(4095), bin, c.length);
  const noise = randomBytes(10 * 1024 * 1024);
  console.log('parsers (10 MB of random bytes):');
  throughput('text', () => new TextParser(4095), noise, 0);
  throughput('binary', () => new BinaryParser(4095), noise, 0);
  throughput('auto', () => new AutoParser(4095), noise, 0);

  const replay = new ReplaySource({ record: RECORD, speed: 0 });
  let n = 0;
  replay.on('samples', (ch) => (n += ch.mv.length));
  const t0 = performance.now();
  await replay.start();
  await replay.finished();
  console.log(`replay as fast as consumed: ${(n / ((performance.now() - t0) / 1000) / 1e6).toFixed(2)} M samples/s (${n} samples)`);

  console.log('serial source on a socat pty:');
  try {
    await cycles(100);
  } catch (e) {
    console.log(`  skipped: ${e instanceof Error ? e.message : String(e)} (needs socat)`);
  }
}
