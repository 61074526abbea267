/**
 * `motobio fleet gaps [DEVICE]`: the gap ledger (src/fleet/ledger.ts), the fleet-wide proof of
 * "nothing lost": per device, the seqs not stored (missing: on their way or lost), the runs the
 * unit announced as evicted, and quarantined seqs.
 */
import { parseCommandArgs, numberOption } from '../args.js';
import { MotobioError } from '../../util/errors.js';
import { FLEET_DB_HELP, fleetDbChoice } from '../fleet-options.js';

export const summary = 'fleet server: list missing, evicted and quarantined seq ranges per device ([DEVICE] [--json])';

const USAGE = `usage: motobio fleet gaps [DEVICE] [--json] [--age S]

  DEVICE      one device (default: every device)
  --json      one JSON object per line
  --age S     a missing range open longer than S seconds is an alarm (default 3600)
${FLEET_DB_HELP}
Exit status 0, or 1 when a missing range is older than --age.
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('fleet gaps', argv, {
    json: { type: 'boolean', default: false },
    age: { type: 'string' },
    'db-url-file': { type: 'string' },
    'pglite-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new MotobioError('USAGE', `fleet gaps: at most one DEVICE, got ${positionals.length}\n${USAGE}`);
  const ageMs = numberOption('fleet gaps', 'age', values.age, 3600) * 1000;
  const { openFleetStore } = await import('../../fleet/open.js');
  const store = await openFleetStore(fleetDbChoice(values, { maxConnections: 1 }));
  try {
    await store.refreshLedger();
    const entries = await store.ledger(positionals[0]);
    const now = Date.now();
    let old = 0;
    for (const e of entries) {
      const over = e.kind === 'missing' && now - Date.parse(e.since) > ageMs;
      if (over) old++;
      const count = e.last - e.first + 1;
      if (values.json) process.stdout.write(`${JSON.stringify({ ...e, count, overAgeLimit: over })}\n`);
      else process.stdout.write(`${e.device}\t${e.kind}\t${e.first}-${e.last}\t${count}\tsince ${e.since}${over ? '\tOVER AGE LIMIT' : ''}\n`);
    }
    if (!values.json) {
      const missing = entries.filter((e) => e.kind === 'missing').reduce((s, e) => s + e.last - e.first + 1, 0);
      const evicted = entries.filter((e) => e.kind === 'evicted').reduce((s, e) => s + e.last - e.first + 1, 0);
      process.stderr.write(`fleet gaps: ${missing} seqs missing, ${evicted} announced evicted, ${entries.filter((e) => e.kind === 'quarantined').length} quarantined${old ? `; ${old} ranges over the age limit` : ''}\n`);
    }
    return old > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}
