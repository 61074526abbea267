/**
 * A real PostgreSQL 15 cluster for a test: initdb and pg_ctl as the `postgres` user (the
 * server refuses to run as root) in a temp folder, listening on a free loopback port, with
 * scram-sha-256 password authentication over TCP. Missing binaries fail the test with how
 * to install them (apt-get install postgresql-15); nothing is skipped.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../helpers/brokers.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface PgCluster {
  readonly dir: string;
  readonly port: number;
  /** postgresql://fleet:PASSWORD@127.0.0.1:PORT/fleet */
  readonly url: string;
  readonly password: string;
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  close(): void;
}

function idOf(user: string): { uid: number; gid: number } {
  const r = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`no "${user}" user: install PostgreSQL 15 (apt-get install postgresql-15)`);
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

function asPostgres(bin: string, args: string[], input?: string): string {
  const root = userInfo().uid === 0;
  const cmd = root ? 'runuser' : join(PG_BIN, bin);
  const argv = root ? ['-u', 'postgres', '--', join(PG_BIN, bin), ...args] : args;
  const r = spawnSync(cmd, argv, { encoding: 'utf8', input, cwd: '/' });
  if (r.error) throw new Error(`${bin} could not run (${r.error.message}); install PostgreSQL 15: apt-get install postgresql-15`);
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export async function startPostgres(): Promise<PgCluster> {
  if (!existsSync(join(PG_BIN, 'initdb'))) throw new Error(`${PG_BIN}/initdb is missing: apt-get install postgresql-15`);
  const dir = mkdtempSync(join(tmpdir(), 'motobio-pg-'));
  const root = userInfo().uid === 0;
  if (root) {
    const { uid, gid } = idOf('postgres');
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  const password = randomBytes(12).toString('hex');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (root) {
    const { uid, gid } = idOf('postgres');
    chownSync(pwfile, uid, gid);
  }
  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C.UTF-8']);
  const port = await freePort();
  const opts = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c fsync=on -c max_connections=50`;
  const start = () => void asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', opts, '-w', '-t', '60', 'start']);
  const stop = (mode: 'fast' | 'immediate' = 'fast') => void asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
  start();
  const psql = (sql: string) => asPostgres('psql', ['-h', dir, '-p', String(port), '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql]);
  psql(`CREATE ROLE fleet LOGIN PASSWORD '${password}'`);
  psql('CREATE DATABASE fleet OWNER fleet');
  const reap = () => {
    try {
      stop('immediate');
    } catch {
      /* already down */
    }
  };
  process.once('exit', reap);
  return {
    dir,
    port,
    password,
    url: `postgresql://fleet:${password}@127.0.0.1:${port}/fleet`,
    stop,
    start,
    close: () => {
      process.off('exit', reap);
      reap();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs a PostgreSQL client tool (pg_dump, pg_restore, psql) as postgres over the cluster's socket. */
export function pgTool(c: PgCluster, bin: string, args: string[]): string {
  return asPostgres(bin, ['-h', c.dir, '-p', String(c.port), '-U', 'postgres', ...args]);
}
