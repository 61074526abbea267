/**
 * Backup and restore of the fleet database with PostgreSQL's own tools:
 *
 *   backup:  pg_dump --format=custom  ──▶ FILE (0600, written to FILE.partial then renamed)
 *   restore: FILE ──▶ pg_restore --clean --if-exists --single-transaction ──▶ the database
 *
 * The connection goes to the tools through PG* environment variables, never argv (where `ps`
 * shows a password). pg_dump takes a consistent snapshot while the ingest keeps writing; a
 * restore runs in one transaction, so it lands whole or not at all. The embedded PGlite has no
 * pg_dump: stop the ingest and copy its folder.
 */
import { spawn } from 'node:child_process';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { MotobioError } from '../util/errors.js';

/** The major version's own binaries first (Debian puts them there), then PATH. */
export function pgTool(name: 'pg_dump' | 'pg_restore', env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['MOTOBIO_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';
  const p = `${dir}/${name}`;
  return existsSync(p) ? p : name;
}

export function pgEnv(url: string): NodeJS.ProcessEnv {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MotobioError('CONFIG_INVALID', 'the database URL is not a URL; write postgresql://user:password@host:port/database');
  }
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], PGHOST: decodeURIComponent(u.hostname), PGPORT: u.port || '5432', PGDATABASE: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres' };
  if (u.username) env['PGUSER'] = decodeURIComponent(u.username);
  if (u.password) env['PGPASSWORD'] = decodeURIComponent(u.password);
  const ssl = u.searchParams.get('sslmode');
  if (ssl) env['PGSSLMODE'] = ssl;
  return env;
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(bin, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()).length > 8000 && (err = err.slice(-8000)));
    c.once('error', (e) => reject(new MotobioError('STORE_FAILED', `${bin} could not run (${e.message}); install the PostgreSQL 15 client (apt-get install postgresql-client-15)`)));
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new MotobioError('STORE_FAILED', `${bin} failed (exit ${code}): ${err.trim()}`))));
  });
}

export async function backupDatabase(url: string, out: string): Promise<{ bytes: number }> {
  const partial = `${out}.partial`;
  rmSync(partial, { force: true });
  try {
    // The file is created by pg_dump under our umask; main.ts sets 077, and --file keeps it 0600.
    await run(pgTool('pg_dump'), ['--format=custom', '--compress=6', '--no-owner', `--file=${partial}`], pgEnv(url));
  } catch (e) {
    rmSync(partial, { force: true });
    throw e;
  }
  renameSync(partial, out);
  return { bytes: statSync(out).size };
}

export async function restoreDatabase(url: string, file: string): Promise<void> {
  if (!existsSync(file)) throw new MotobioError('USAGE', `backup file ${file} does not exist`);
  await run(pgTool('pg_restore'), ['--clean', '--if-exists', '--no-owner', '--single-transaction', '--exit-on-error', `--dbname=${pgEnv(url)['PGDATABASE']}`, file], pgEnv(url));
}
