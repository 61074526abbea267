/**
 * Start-up time and memory of `motobio run` on its embedded defaults, measured as issue 16/22
 * state it: the built daemon spawned in an empty directory (no configuration file: the defaults
 * replay the bundled recording), the time from spawn to the first /healthz 200, then VmRSS and
 * VmHWM from /proc/PID/status and the split of resident memory from /proc/PID/smaps_rollup and
 * /proc/PID/smaps (anonymous: V8 heap, native allocations; file-backed: code of node and the addons).
 *
 *   spawn(node [V8 flags] dist/src/cli/main.js run) ─▶ poll /healthz ─▶ ready ms
 *        └─ wait SECONDS ─▶ /proc/PID/{status,smaps_rollup,smaps} + /metrics (V8 heap) ─▶ figures
 *
 * `npm run bench startup-memory` waits 20 s (not the issues' 60 s) to keep `npm run bench`
 * short; MOTOBIO_BENCH_STARTUP_SECONDS=60 MOTOBIO_BENCH_STARTUP_RUNS=3 reproduces the issues'
 * method (median of the runs printed). The daemon gets the V8 flags and MALLOC_ARENA_MAX that the
 * release's launcher gives `motobio run` (.ci/package/motobio.sh); MOTOBIO_BENCH_NODE_FLAGS
 * replaces both (e.g. "" to measure Node's defaults), MOTOBIO_BENCH_MAIN measures another build's
 * dist/src/cli/main.js. Prints figures only; never asserts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { freePort } from './free-port.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const LAUNCHER = fileURLToPath(new URL('../../.ci/package/motobio.sh', import.meta.url));

export interface StartupFigures {
  readyMs: number;
  rssMb: number;
  hwmMb: number;
  /** smaps_rollup: anonymous and file-backed resident memory. */
  anonMb: number;
  fileMb: number;
  /** V8's heap as the daemon's own metrics report it (used / total of the spaces). */
  heapUsedMb: number;
  heapTotalMb: number;
  /** CPU time the daemon used from spawn to the reading (user + system), s: what a smaller young generation costs. */
  cpuS: number;
  /** Resident memory of the biggest file mappings (node, onnxruntime, sqlite, ...), MB. */
  mappings: Record<string, number>;
}

/** The V8 flags and malloc arenas the release's launcher gives `motobio run` (.ci/package/motobio.sh). */
export function launcherSettings(): { flags: string[]; mallocArenaMax?: string } {
  try {
    const text = readFileSync(LAUNCHER, 'utf8');
    const flags = /^MOTOBIO_V8_FLAGS_DEFAULT="([^"]*)"/m.exec(text)?.[1] ?? '';
    return { flags: flags.split(/\s+/).filter(Boolean), mallocArenaMax: /^MOTOBIO_MALLOC_ARENA_MAX_DEFAULT=(\d+)/m.exec(text)?.[1] };
  } catch {
    return { flags: [] };
  }
}


const mb = (kb: number) => kb / 1024;
function kbField(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Resident kB per mapped file (smaps), the big ones only. */
function residentByFile(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const path = head[1].trim();
      name = path === '' ? '[anon]' : path.startsWith('[') ? path : (path.split('/').pop() ?? path);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[name] = (out[name] ?? 0) + Number(rss[1]);
  }
  const big: Record<string, number> = {};
  for (const [k, v] of Object.entries(out).sort((a, b) => b[1] - a[1])) if (v >= 1024) big[k] = Math.round(mb(v) * 10) / 10;
  return big;
}

export async function measureStartup(seconds: number, nodeFlags: string[], mainJs = MAIN, env: Record<string, string> = {}): Promise<StartupFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-bench-startup-'));
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const t0 = performance.now();
    const child = spawn(process.execPath, [...nodeFlags, mainJs, 'run'], {
      cwd: dir,
      env: { ...process.env, ...env, MOTOBIO_HEALTH__PORT: String(port) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let readyMs = NaN;
    while (performance.now() - t0 < 30_000 && child.exitCode === null) {
      try {
        if ((await fetch(`${base}/healthz`)).status === 200) {
          readyMs = performance.now() - t0;
          break;
        }
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const pid = child.pid ?? 0;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const mappings = residentByFile(pid);
    // utime and stime, fields 14 and 15 of /proc/PID/stat (after the parenthesised name), in clock ticks (100 Hz on Linux).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuS = (Number(fields[11]) + Number(fields[12])) / 100;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const gauge = (n: string) => Number(new RegExp(`^motobio_nodejs_heap_size_${n}_bytes (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN) / 1048576;
    child.kill('SIGTERM');
    await exited;
    return {
      readyMs,
      rssMb: mb(kbField(status, 'VmRSS')),
      hwmMb: mb(kbField(status, 'VmHWM')),
      anonMb: mb(kbField(rollup, 'Anonymous')),
      fileMb: mb(kbField(rollup, 'Rss') - kbField(rollup, 'Anonymous')),
      heapUsedMb: gauge('used'),
      heapTotalMb: gauge('total'),
      cpuS,
      mappings,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run(): Promise<void> {
  const seconds = Number(process.env.MOTOBIO_BENCH_STARTUP_SECONDS ?? 20);
  const runs = Number(process.env.MOTOBIO_BENCH_STARTUP_RUNS ?? 1);
  const flagsEnv = process.env.MOTOBIO_BENCH_NODE_FLAGS;
  const launcher = launcherSettings();
  const flags = flagsEnv === undefined ? launcher.flags : flagsEnv.split(/\s+/).filter(Boolean);
  // As the launcher does, unless the caller set MALLOC_ARENA_MAX (or the flags) itself.
  const env: Record<string, string> = flagsEnv === undefined && launcher.mallocArenaMax && process.env.MALLOC_ARENA_MAX === undefined ? { MALLOC_ARENA_MAX: launcher.mallocArenaMax } : {};
  const mainJs = process.env.MOTOBIO_BENCH_MAIN ?? MAIN;
  console.log(`motobio run on the embedded defaults (bundled recording), empty working directory, node ${flags.join(' ') || '(no V8 flags)'}${env.MALLOC_ARENA_MAX ? `, MALLOC_ARENA_MAX=${env.MALLOC_ARENA_MAX}` : process.env.MALLOC_ARENA_MAX ? `, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX}` : ''}`);
  console.log(`${runs} run(s), memory read ${seconds} s after /healthz (the issues measured after 60 s; 20 s keeps npm run bench short)`);
  const all: StartupFigures[] = [];
  for (let i = 0; i < runs; i++) {
    const f = await measureStartup(seconds, flags, mainJs, env);
    all.push(f);
    console.log(
      `  run ${i + 1}: ready ${f.readyMs.toFixed(0)} ms, VmRSS ${f.rssMb.toFixed(1)} MB, VmHWM ${f.hwmMb.toFixed(1)} MB ` +
        `(anonymous ${f.anonMb.toFixed(1)}, file-backed ${f.fileMb.toFixed(1)}; V8 heap used ${f.heapUsedMb.toFixed(1)} of ${f.heapTotalMb.toFixed(1)} MB; CPU ${f.cpuS.toFixed(2)} s)`,
    );
  }
  const pick = (k: keyof Omit<StartupFigures, 'mappings'>) => median(all.map((f) => f[k])).toFixed(k === 'readyMs' ? 0 : k === 'cpuS' ? 2 : 1);
  console.log(`median: spawn -> /healthz 200 ${pick('readyMs')} ms, VmRSS ${pick('rssMb')} MB, VmHWM ${pick('hwmMb')} MB, anonymous ${pick('anonMb')} MB, file-backed ${pick('fileMb')} MB, V8 heap used ${pick('heapUsedMb')} MB, CPU ${pick('cpuS')} s`);
  const last = all[all.length - 1];
  console.log(`resident by mapping (last run, >= 1 MB): ${Object.entries(last.mappings).map(([k, v]) => `${k} ${v}`).join(', ')}`);
}
