/**
 * The one seam between the fleet store and a database engine: run a statement, run a
 * transaction. Two engines implement it with the same SQL text:
 *
 *   SqlFleetStore ──SqlClient──▶ PgClient     (node-postgres Pool, a PostgreSQL 15 server)
 *                           └──▶ PgliteClient (PostgreSQL compiled to WASM, a local folder)
 *
 * Parameters are positional ($1 ...) and arrays travel as PostgreSQL arrays on both, so a
 * bulk write is one `INSERT ... SELECT FROM unnest(...)` statement whichever engine runs it.
 */
export interface SqlResult<T> {
  readonly rows: T[];
}

export interface SqlQueryable {
  query<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<SqlResult<T>>;
  /** Several statements, no parameters (migrations): the simple query protocol on both engines. */
  exec(text: string): Promise<void>;
}

export interface SqlClient extends SqlQueryable {
  /** Runs fn inside BEGIN ... COMMIT on one connection; ROLLBACK and rethrow when it throws. */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
  /** What the client talks to, for logs (never credentials). */
  readonly describe: string;
  close(): Promise<void>;
}

/** int8 comes back as a string from node-postgres and as a number from PGlite. */
export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}
