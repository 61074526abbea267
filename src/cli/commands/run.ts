/**
 * `motobio run [--config FILE]`: the daemon. Exit status: 0 after a clean stop on
 * SIGTERM/SIGINT, 1 on a failure (start-up failed, a stop overran its 5 s, an unexpected
 * error: systemd restarts it), 78 for an invalid configuration (systemd does not restart),
 * 130/143 when a second SIGINT/SIGTERM forced the exit, 64 for a usage error (EX_USAGE).
 */
import { parseCommandArgs } from '../args.js';

export const summary = 'run the daemon (source, signal chain, inference, store, uplink, health)';

const HELP = `usage: motobio run [--config FILE]

Runs the daemon in the foreground, logging JSON to stdout. Without --config it reads
$MOTOBIO_CONFIG or /etc/motobio/config.yaml, and without either runs on embedded defaults
(replay of a bundled drive, store under ./var, no uplink, health on 127.0.0.1:7411).
MOTOBIO_* environment variables override settings (docs/config.md).
Exit status: 0 clean stop, 1 failure, 78 invalid configuration, 130/143 forced by a second signal.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('run', argv, { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, false);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const { runDaemon } = await import('../../daemon/main.js');
  const { productionStages } = await import('../../daemon/stages.js');
  return runDaemon({ configFile: values.config, stages: productionStages() });
}
