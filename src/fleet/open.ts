/**
 * Which database the fleet side uses. A PostgreSQL URL (with its password) comes from a file
 * (`--db-url-file`, mode 0600) or the environment (MOTOBIO_FLEET_DATABASE_URL), never from the
 * command line, where `ps` would show it; without one, the embedded PGlite in a local folder.
 */
import { readFileSync, statSync } from 'node:fs';
import { MotobioError, errorMessage } from '../util/errors.js';
import { SqlFleetStore, type FleetStore } from './store.js';

export const DATABASE_URL_ENV = 'MOTOBIO_FLEET_DATABASE_URL';
export const DEFAULT_PGLITE_DIR = 'motobio-fleet-db';

export interface DatabaseChoice {
  /** File holding the postgresql:// URL (first line). */
  readonly urlFile?: string;
  /** PGlite folder when no URL is given; default ./motobio-fleet-db. */
  readonly pgliteDir?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly maxConnections?: number;
}

export function databaseUrl(choice: DatabaseChoice): string | undefined {
  if (choice.urlFile !== undefined) {
    let text: string;
    try {
      const st = statSync(choice.urlFile);
      if ((st.mode & 0o077) !== 0) throw new MotobioError('CONFIG_INVALID', `database URL file ${choice.urlFile} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
      text = readFileSync(choice.urlFile, 'utf8');
    } catch (e) {
      if (e instanceof MotobioError) throw e;
      throw new MotobioError('CONFIG_INVALID', `cannot read the database URL file ${choice.urlFile}: ${errorMessage(e)}`);
    }
    const url = text.split('\n')[0].trim();
    if (!/^postgres(ql)?:\/\//.test(url)) throw new MotobioError('CONFIG_INVALID', `database URL file ${choice.urlFile} does not start with postgresql://; write one URL on its first line`);
    return url;
  }
  const env = (choice.env ?? process.env)[DATABASE_URL_ENV];
  return env === undefined || env === '' ? undefined : env;
}

/** Opens (and migrates) the fleet store. */
export async function openFleetStore(choice: DatabaseChoice = {}): Promise<FleetStore> {
  const url = databaseUrl(choice);
  let store: FleetStore;
  if (url !== undefined) {
    const { PgClient } = await import('./db-pg.js');
    store = new SqlFleetStore(await PgClient.open(url, { maxConnections: choice.maxConnections ?? 4 }));
  } else {
    const { PgliteClient } = await import('./db-pglite.js');
    store = new SqlFleetStore(await PgliteClient.open(choice.pgliteDir ?? DEFAULT_PGLITE_DIR));
  }
  try {
    await store.migrate();
  } catch (e) {
    await store.close();
    throw new MotobioError('STORE_FAILED', `migrating the fleet database (${store.sql.describe}) failed: ${errorMessage(e)}`);
  }
  return store;
}
