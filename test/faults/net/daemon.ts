/**
 * The real daemon (`node dist/src/cli/main.js run --config FILE`) for the network fault cases:
 * a config file with a fast, finite replay and the test's links, /status polling, and the count
 * of records it produced, read from its SQLite store after a clean stop.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { REPO, freePort, getText, spawnNode, writeSyntheticRecord, type Proc } from '../../daemon/helpers.js';

export const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

export interface DaemonLink {
  readonly name: string;
  readonly url: string;
  readonly bindAddress?: string;
}

export interface NetDaemonOptions {
  readonly dir: string;
  readonly device: string;
  readonly links: readonly DaemonLink[];
  /** Seconds of synthetic ECG replayed once (no loop), so production ends and the outbox can drain. */
  readonly recordS: number;
  readonly speed: number;
  readonly holdS: number;
  readonly batchMaxAgeS: number;
  /** Seconds of signal per features record (and decision); 2 gives about one record per signal second. */
  readonly decisionPeriodS?: number;
}

export interface LinkView {
  readonly state: string;
  readonly active: boolean;
}

export interface StatusView {
  readonly state: string;
  readonly sourceState: string | undefined;
  readonly active: string | null;
  readonly ackedRecords: number;
  readonly switches: number;
  readonly outboxRecords: number;
  readonly links: Record<string, LinkView>;
}

export interface NetDaemon {
  readonly proc: Proc;
  readonly dbPath: string;
  status(): Promise<StatusView | undefined>;
  /** SIGTERM and wait for exit 0. */
  stop(): Promise<void>;
}

export async function startNetDaemon(o: NetDaemonOptions): Promise<NetDaemon> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first (the fault suite runs the built daemon)`);
  const port = await freePort();
  const record = writeSyntheticRecord(o.dir, { name: 'ride', fs: 250, seconds: o.recordS, bpm: 80 });
  const dbPath = join(o.dir, 'var', 'motobio.db');
  const links = o.links
    .map((l) => [`    - name: ${l.name}`, `      url: ${l.url}`, '      keepalive_s: 5', ...(l.bindAddress ? [`      bind_address: ${l.bindAddress}`] : [])].join('\n'))
    .join('\n');
  const config = [
    'device:',
    `  id: ${o.device}`,
    'source:',
    '  kind: replay',
    `  path: ${record}`,
    `  speed: ${o.speed}`,
    '  loop: false',
    'signal:',
    `  decision_period_s: ${o.decisionPeriodS ?? 2}`,
    'store:',
    `  path: ${dbPath}`,
    'uplink:',
    `  batch_max_age_s: ${o.batchMaxAgeS}`,
    `  hold_s: ${o.holdS}`,
    '  links:',
    links,
    'health:',
    `  port: ${port}`,
    'log_level: info',
    '',
  ].join('\n');
  const file = join(o.dir, 'config.yaml');
  writeFileSync(file, config);
  const proc = spawnNode([MAIN, 'run', '--config', file], { cwd: o.dir });
  // A worker that dies with the test (timeout, crash) must not leave a daemon behind.
  const reap = () => proc.kill('SIGKILL');
  process.once('exit', reap);
  void proc.exited.then(() => process.off('exit', reap));
  const base = `http://127.0.0.1:${port}`;
  const status = async (): Promise<StatusView | undefined> => {
    try {
      const r = await getText(`${base}/status`);
      if (r.status !== 200) return undefined;
      const s = JSON.parse(r.body) as {
        state: string;
        components: Record<string, { state: string; detail?: { active?: string | null; ackedRecords?: number; switches?: number } }>;
        outbox: { records: number | null };
        links: Record<string, LinkView>;
      };
      const up = s.components['uplink']?.detail ?? {};
      return {
        state: s.state,
        sourceState: s.components['source']?.state,
        active: up.active ?? null,
        ackedRecords: up.ackedRecords ?? 0,
        switches: up.switches ?? 0,
        outboxRecords: s.outbox.records ?? 0,
        links: s.links ?? {},
      };
    } catch {
      return undefined;
    }
  };
  return {
    proc,
    dbPath,
    status,
    stop: async () => {
      proc.kill('SIGTERM');
      const e = await proc.exited;
      if (e.code !== 0) throw new Error(`the daemon exited with ${e.code ?? e.signal} on SIGTERM; stderr: ${proc.stderr.slice(-10).join('\n')}`);
    },
  };
}

/** What the stopped daemon's store says: the highest seq it issued and the records still undelivered. */
export function storeCounts(dbPath: string): { produced: number; undelivered: number } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const next = db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").get() as { value: string } | undefined;
    const { n } = db.prepare('SELECT COUNT(*) AS n FROM records').get() as { n: number };
    if (!next) throw new Error(`${dbPath} has no next_seq: the daemon never stored a record`);
    return { produced: Number(next.value) - 1, undelivered: n };
  } finally {
    db.close();
  }
}
