/**
 * `motobio bench latency --samples 1000` (the checklist's measure_latency): p50/p95/p99 of
 * inference alone and from the end of a decision window to the recorded decision.
 */
import { parseCommandArgs, numberOption } from '../args.js';
import { MotobioError } from '../../util/errors.js';

export const summary = 'measure decision latency: inference alone and end of window -> recorded decision';

const USAGE = `usage: motobio bench latency [--samples 1000] [--model models/default-policy.manifest.json]
                             [--record ../shared/data/mitdb/119] [--json]
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'latency') {
    if (sub === '--help' || sub === '-h') {
      process.stdout.write(USAGE);
      return 0;
    }
    throw new MotobioError('USAGE', `bench: unknown benchmark "${sub ?? ''}"; try "motobio bench latency --samples 1000"`);
  }
  const { values } = parseCommandArgs('bench latency', rest, {
    samples: { type: 'string' },
    model: { type: 'string' },
    record: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const samples = numberOption('bench latency', 'samples', values.samples, 1000);
  if (!Number.isInteger(samples) || samples < 1) throw new MotobioError('USAGE', `bench latency: --samples must be a positive integer, got ${samples}`);
  const { measureLatency, formatLatency } = await import('../../offline/bench/latency.js');
  const { findManifest } = await import('../../inference/validate.js');
  const report = await measureLatency({
    manifestPath: findManifest(values.model ?? 'models/default-policy.manifest.json'),
    record: values.record ?? '../shared/data/mitdb/119',
    samples,
  });
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatLatency(report)}\n`);
  return 0;
}
