/**
 * The real daemon (`node dist/src/cli/main.js run --config FILE`) for the fault cases: a
 * config file per case, health on a free loopback port, /status and /metrics readers, and the
 * store read back with better-sqlite3 for the count at the end. dist/ must be built first
 * (`npm run build`; CI builds before it tests): a missing build fails the case, it does not skip.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { REPO, freePort, getText, spawnNode, waitFor, type Proc } from '../../daemon/helpers.js';

export const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

export function requireBuild(): void {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" before the fault suite (it runs the real daemon from dist/)`);
}

export interface DaemonRun {
  readonly proc: Proc;
  readonly base: string;
  readonly configFile: string;
  status(): Promise<DaemonStatusView>;
  metrics(): Promise<string>;
  /** SIGTERM and the exit code. */
  stop(): Promise<number | null>;
}

export interface DaemonStatusView {
  state: string;
  clock: { sync: string; wallMs: number; monoMs: number };
  counters: { beats: number; decisions: number; safetyTriggers: number; errors: number };
  outbox: { records: number | null; bytes: number | null };
  components: Record<string, { state: string; lastError?: string; detail?: Record<string, unknown> }>;
  alarms: { code: string; message: string; detail?: Record<string, unknown> }[];
  lastErrors: { module: string; code: string; message?: string }[];
}

/** Writes `config` (health port filled in) to dir/config.yaml and starts `motobio run`. */
export async function startDaemon(dir: string, config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, opts: { waitHealthy?: boolean } = {}): Promise<DaemonRun> {
  requireBuild();
  const port = await freePort();
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, stringify({ ...config, health: { host: '127.0.0.1', port } }));
  const proc = spawnNode([MAIN, 'run', '--config', configFile], { cwd: dir, env });
  const base = `http://127.0.0.1:${port}`;
  const run: DaemonRun = {
    proc,
    base,
    configFile,
    status: async () => JSON.parse((await getText(`${base}/status`)).body) as DaemonStatusView,
    metrics: async () => (await getText(`${base}/metrics`)).body,
    stop: async () => {
      proc.kill('SIGTERM');
      return (await proc.exited).code;
    },
  };
  if (opts.waitHealthy ?? true) {
    await waitFor(
      'the daemon to answer /healthz 200',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`the daemon exited ${proc.child.exitCode}: ${proc.stderr.join('\n')}`);
        return (await getText(`${base}/healthz`)).status === 200;
      },
      60_000,
      100,
    );
  }
  return run;
}

/** A config for a fast replay of a record the test wrote, no uplink unless given. */
export function replayConfig(opts: {
  device: string;
  record: string;
  store: string;
  speed?: number;
  modelDir?: string;
  links?: unknown[];
  rules?: Record<string, number>;
  periodS?: number;
  /** false: the record is replayed once, so what the run must produce follows from its length. */
  loop?: boolean;
  batchMaxAgeS?: number;
}): Record<string, unknown> {
  return {
    device: { id: opts.device },
    source: { kind: 'replay', path: opts.record, speed: opts.speed ?? 50, loop: opts.loop ?? true },
    signal: { decision_period_s: opts.periodS ?? 5 },
    inference: { ...(opts.modelDir === undefined ? {} : { model_dir: opts.modelDir }), ...(opts.rules ? { rules: opts.rules } : {}) },
    store: { path: opts.store },
    uplink: { links: opts.links ?? [], ...(opts.batchMaxAgeS === undefined ? {} : { batch_max_age_s: opts.batchMaxAgeS }) },
    log_level: 'info',
  };
}

export interface StoredRow {
  seq: number;
  prio: number;
  type: string;
  boot_id: string;
  mono_ms: number;
  wall_ms: number;
  clock_synced: number;
  body: Record<string, unknown>;
}

/** Every record left in a (closed) store, by seq, with JSON bodies parsed; and its meta. */
export function readStore(path: string): { rows: StoredRow[]; nextSeq: number; evicted: Record<string, number> } {
  const db = new Database(path, { readonly: true });
  try {
    const rows = (db.prepare('SELECT seq, prio, type, boot_id, mono_ms, wall_ms, clock_synced, enc, body FROM records ORDER BY seq').all() as (Omit<StoredRow, 'body'> & { enc: string; body: Buffer })[]).map(
      ({ enc, body, ...r }) => ({ ...r, body: enc === 'json' ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {} }),
    );
    const nextSeq = Number((db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").get() as { value: string }).value);
    const evicted = Object.fromEntries((db.prepare("SELECT name, value FROM counters WHERE name LIKE 'evicted.%'").all() as { name: string; value: number }[]).map((r) => [r.name.slice(8), r.value]));
    return { rows, nextSeq, evicted };
  } finally {
    db.close();
  }
}

/** Asserts-free check that seqs run without a gap from `first`; returns the first gap or undefined. */
export function firstGap(seqs: readonly number[]): [number, number] | undefined {
  for (let i = 1; i < seqs.length; i++) if (seqs[i] !== seqs[i - 1] + 1) return [seqs[i - 1], seqs[i]];
  return undefined;
}

export function logLines(proc: Proc, pred: (l: Record<string, unknown>) => boolean): Record<string, unknown>[] {
  return proc.logs().filter(pred);
}

export { waitFor };
