/**
 * SqlClient over PGlite (PostgreSQL compiled to WASM) in a local folder: the embedded default,
 * so `motobio fleet ingest` runs on a laptop with no database server. One process owns the
 * folder; PGlite serialises statements itself, and a transaction holds its single connection.
 */
import { mkdirSync } from 'node:fs';
import type { PGlite } from '@electric-sql/pglite';
import { MotobioError, errorMessage } from '../util/errors.js';
import type { SqlClient, SqlQueryable, SqlResult } from './sql.js';

export class PgliteClient implements SqlClient {
  readonly describe: string;
  private constructor(private readonly db: PGlite, dir: string | undefined) {
    this.describe = dir === undefined ? 'pglite (in memory)' : `pglite ${dir}`;
  }

  /** dir undefined: in memory (tests). The folder is created 0700: it holds health data. */
  static async open(dir?: string): Promise<PgliteClient> {
    const { PGlite } = await import('@electric-sql/pglite');
    try {
      if (dir !== undefined) mkdirSync(dir, { recursive: true, mode: 0o700 });
      const db = await PGlite.create(dir === undefined ? undefined : { dataDir: dir });
      return new PgliteClient(db, dir);
    } catch (e) {
      throw new MotobioError('STORE_FAILED', `cannot open the embedded database${dir ? ` in ${dir}` : ''}: ${errorMessage(e)}; is another ingest using the folder? give --db-url-file for a PostgreSQL server`);
    }
  }

  async query<T>(text: string, params: readonly unknown[] = []): Promise<SqlResult<T>> {
    const r = await this.db.query<T>(text, params as unknown[]);
    return { rows: r.rows };
  }

  async exec(text: string): Promise<void> {
    await this.db.exec(text);
  }

  async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    return this.db.transaction(async (t) =>
      fn({
        query: async <R>(text: string, params: readonly unknown[] = []) => ({ rows: (await t.query<R>(text, params as unknown[])).rows }),
        exec: async (text: string) => void (await t.exec(text)),
      }),
    );
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
