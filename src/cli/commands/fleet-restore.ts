/** `motobio fleet restore FILE`: pg_restore a `fleet backup` archive into the fleet database, in one transaction. */
import { parseCommandArgs } from '../args.js';
import { MotobioError } from '../../util/errors.js';
import { FLEET_DB_HELP, fleetDbChoice } from '../fleet-options.js';

export const summary = 'fleet server: restore a fleet backup into PostgreSQL (FILE; replaces the tables, all or nothing)';

const USAGE = `usage: motobio fleet restore FILE [--db-url-file F]

Replaces the fleet tables with the archive's, in one transaction (stop the ingest first).
Messages the units sent after the backup are gone from the database; the gap ledger shows
what is missing, and units still holding those records will not resend them.
${FLEET_DB_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('fleet restore', argv, { 'db-url-file': { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new MotobioError('USAGE', `fleet restore: give exactly one backup FILE\n${USAGE}`);
  const { databaseUrl, openFleetStore } = await import('../../fleet/open.js');
  const choice = fleetDbChoice(values);
  const url = databaseUrl(choice);
  if (url === undefined) throw new MotobioError('USAGE', 'fleet restore: needs a PostgreSQL database (--db-url-file or MOTOBIO_FLEET_DATABASE_URL)');
  const { restoreDatabase } = await import('../../fleet/backup.js');
  await restoreDatabase(url, positionals[0]);
  // An archive from an older release: bring its schema up to this one.
  const store = await openFleetStore({ ...choice, maxConnections: 1 });
  const records = await store.count('records');
  await store.close();
  process.stdout.write(`${JSON.stringify({ restored: positionals[0], records })}\n`);
  return 0;
}
