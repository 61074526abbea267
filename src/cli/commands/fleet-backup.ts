/** `motobio fleet backup --out FILE`: a pg_dump of the fleet database (src/fleet/backup.ts). */
import { parseCommandArgs } from '../args.js';
import { MotobioError } from '../../util/errors.js';
import { FLEET_DB_HELP, fleetDbChoice } from '../fleet-options.js';

export const summary = 'fleet server: back up the fleet PostgreSQL database with pg_dump (--out FILE)';

const USAGE = `usage: motobio fleet backup --out FILE [--db-url-file F]

Writes a pg_dump custom-format archive (mode 0600), consistent while the ingest runs.
Restore it with "motobio fleet restore FILE".
${FLEET_DB_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('fleet backup', argv, { out: { type: 'string' }, 'db-url-file': { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } }, false);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.out || positionals.length > 0) throw new MotobioError('USAGE', `fleet backup: --out FILE is required\n${USAGE}`);
  const { databaseUrl } = await import('../../fleet/open.js');
  const url = databaseUrl(fleetDbChoice(values));
  if (url === undefined) throw new MotobioError('USAGE', 'fleet backup: needs a PostgreSQL database (--db-url-file or MOTOBIO_FLEET_DATABASE_URL); for the embedded PGlite, stop the ingest and copy its folder');
  const { backupDatabase } = await import('../../fleet/backup.js');
  const r = await backupDatabase(url, values.out);
  process.stdout.write(`${JSON.stringify({ file: values.out, bytes: r.bytes })}\n`);
  return 0;
}
