/**
 * Options every `motobio fleet ...` command shares: where the database is. This file is not
 * a command, so it lives beside args.ts rather than under commands/.
 */
import { readFileSync } from 'node:fs';

export const FLEET_DB_HELP = `
database: a PostgreSQL URL from --db-url-file FILE (mode 0600, first line postgresql://user:pass@host/db)
or the environment variable MOTOBIO_FLEET_DATABASE_URL; never on the command line. Without either,
the embedded PGlite in --pglite-dir DIR (default ./motobio-fleet-db).
`;

export function fleetDbChoice(values: { 'db-url-file'?: string | undefined; 'pglite-dir'?: string | undefined }, extra: { maxConnections?: number } = {}) {
  return {
    ...(values['db-url-file'] ? { urlFile: values['db-url-file'] } : {}),
    ...(values['pglite-dir'] ? { pgliteDir: values['pglite-dir'] } : {}),
    ...extra,
  };
}

export function fleetVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
