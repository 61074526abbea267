/**
 * SqlClient over node-postgres: a Pool to a real PostgreSQL server. Credentials come from the
 * URL given here (read from a file or the environment by fleet/db-config.ts), never from argv,
 * and the URL is never logged: `describe` names only host, port and database.
 */
import pg from 'pg';
import { MotobioError, errorMessage } from '../util/errors.js';
import type { SqlClient, SqlQueryable, SqlResult } from './sql.js';

export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `postgresql://${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'postgresql://<unparseable url>';
  }
}

export class PgClient implements SqlClient {
  readonly describe: string;
  private readonly pool: pg.Pool;

  private constructor(url: string, max: number) {
    this.describe = describeUrl(url);
    this.pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 10_000 });
    // An idle client that loses its server must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  static async open(url: string, opts: { maxConnections?: number } = {}): Promise<PgClient> {
    const c = new PgClient(url, opts.maxConnections ?? 4);
    try {
      await c.query('SELECT 1');
    } catch (e) {
      await c.close();
      throw new MotobioError('STORE_FAILED', `cannot reach PostgreSQL at ${c.describe}: ${errorMessage(e)}; check the server, the database URL file and its credentials`);
    }
    return c;
  }

  async query<T>(text: string, params: readonly unknown[] = []): Promise<SqlResult<T>> {
    const r = await this.pool.query(text, params as unknown[]);
    return { rows: r.rows as T[] };
  }

  async exec(text: string): Promise<void> {
    await this.pool.query(text);
  }

  async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    const conn = await this.pool.connect();
    // The pool listens for errors of idle clients only: a server that dies mid-transaction
    // would otherwise be an uncaught 'error' event. The failing query rejects anyway.
    const onError = () => undefined;
    conn.on('error', onError);
    const tx: SqlQueryable = {
      query: async <R>(text: string, params: readonly unknown[] = []) => ({ rows: (await conn.query(text, params as unknown[])).rows as R[] }),
      exec: async (text: string) => void (await conn.query(text)),
    };
    try {
      await conn.query('BEGIN');
      const out = await fn(tx);
      await conn.query('COMMIT');
      conn.off('error', onError);
      conn.release();
      return out;
    } catch (e) {
      // A connection whose ROLLBACK fails is broken: destroy it instead of returning it to the pool.
      await conn.query('ROLLBACK').then(
        () => {
          conn.off('error', onError);
          conn.release();
        },
        (re: unknown) => {
          conn.off('error', onError);
          conn.release(re instanceof Error ? re : new Error(String(re)));
        },
      );
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
