/** `motobio fleet ecg DEVICE --at TIME --out BASE`: a stored ECG strip as a WFDB record (src/fleet/ecg-export.ts). */
import { parseCommandArgs, numberOption } from '../args.js';
import { MotobioError } from '../../util/errors.js';
import { FLEET_DB_HELP, fleetDbChoice } from '../fleet-options.js';

export const summary = 'fleet server: export a stored ECG strip as a WFDB record (DEVICE --at TIME --out BASE)';

const USAGE = `usage: motobio fleet ecg DEVICE --at TIME --out BASE [--before S] [--after S]

  --at TIME      ISO time, e.g. the time of a safety event (SELECT at FROM safety_events ...)
  --out BASE     writes BASE.hea and BASE.dat (WFDB format 16; read it with "motobio detect BASE")
                 and BASE.png (10-s rows, beats the unit's chain finds marked in red)
  --before S     seconds before TIME (default 30)
  --after S      seconds after TIME (default 30)
${FLEET_DB_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('fleet ecg', argv, {
    at: { type: 'string' },
    out: { type: 'string' },
    before: { type: 'string' },
    after: { type: 'string' },
    'db-url-file': { type: 'string' },
    'pglite-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || !values.at || !values.out) throw new MotobioError('USAGE', `fleet ecg: give DEVICE, --at and --out\n${USAGE}`);
  const at = new Date(values.at);
  if (Number.isNaN(at.getTime())) throw new MotobioError('USAGE', `fleet ecg: --at "${values.at}" is not a time; use ISO 8601, e.g. 2026-12-03T16:20:00Z`);
  const { openFleetStore } = await import('../../fleet/open.js');
  const { readStrip, writeWfdb } = await import('../../fleet/ecg-export.js');
  const store = await openFleetStore(fleetDbChoice(values, { maxConnections: 1 }));
  try {
    const strip = await readStrip(store.sql, {
      device: positionals[0],
      at,
      beforeS: numberOption('fleet ecg', 'before', values.before, 30),
      afterS: numberOption('fleet ecg', 'after', values.after, 30),
    });
    writeWfdb(strip, values.out, [`motobio fleet ecg ${positionals[0]} at ${at.toISOString()}, boot ${strip.boot}, first sample ${strip.startSample}`]);
    const { plotStrip } = await import('../../fleet/ecg-plot.js');
    const plot = plotStrip(strip);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${values.out}.png`, plot.png);
    process.stdout.write(`${JSON.stringify({ out: values.out, fs: strip.fs, samples: strip.counts.length, chunks: strip.chunks, boot: strip.boot, startSample: strip.startSample, beats: plot.beats })}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
