/**
 * `motobio run [--config FILE]`: the daemon. Exit status: 0 after a clean stop on
 * SIGTERM/SIGINT, 1 on a failure (start-up failed, a stop overran its 5 s, an unexpected
 * error: systemd restarts it), 78 for an invalid configuration (systemd does not restart),
 * 130/143 when a second SIGINT/SIGTERM forced the exit, 2 for a usage error.
 */
import { isMotobioError, errorMessage } from '../../util/errors.js';
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
  const { EXIT_CONFIG, loadConfig } = await import('../../daemon/config.js');
  let loaded;
  try {
    loaded = loadConfig({ file: values.config });
  } catch (e) {
    if (!isMotobioError(e, 'CONFIG_INVALID')) throw e;
    process.stderr.write(`motobio: ${e.message}\n`);
    return EXIT_CONFIG;
  }
  const { createLogger } = await import('../../util/log.js');
  const { Clock } = await import('../../daemon/clock.js');
  const { Telemetry } = await import('../../daemon/telemetry.js');
  const { createNotifier } = await import('../../daemon/sd-notify.js');
  const { buildDaemon } = await import('../../daemon/daemon.js');
  const { installProcessHandlers, EXIT_FAILURE } = await import('../../daemon/lifecycle.js');
  const { productionStages } = await import('../../daemon/stages.js');

  const { config, file } = loaded;
  const log = createLogger({ level: config.log_level }).child({ device: config.device.id });
  log.info({ config: file ?? 'embedded defaults', env: loaded.envVariables, source: config.source.kind, links: config.uplink.links.map((l) => l.name) }, 'motobio starting');
  const telemetry = new Telemetry();
  const ctx = { config, configFile: file, cwd: process.cwd(), log, clock: new Clock(), telemetry };
  if (ctx.clock.bootIdSynthetic) log.warn('cannot read the kernel boot id; records carry a per-process id instead');
  const notifier = createNotifier({ log: log.child({ mod: 'sd-notify' }) });

  let exitWith: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => {
    exitWith = resolve;
  });
  try {
    const daemon = await buildDaemon({ ctx, telemetry, stages: productionStages(), notifier });
    const handlers = installProcessHandlers(daemon.lifecycle, log);
    const started = await daemon.lifecycle.start(handlers.signal);
    if (!started) log.info('start-up was interrupted; exiting once the stop has finished');
  } catch (e) {
    log.fatal({ err: errorMessage(e), code: isMotobioError(e) ? e.code : undefined }, 'start-up failed');
    process.stderr.write(`motobio: ${errorMessage(e)}\n`);
    exitWith(EXIT_FAILURE);
    // Whatever a failed stage left open must not keep a failed daemon alive.
    setTimeout(() => process.exit(EXIT_FAILURE), 1000).unref();
  }
  // The process handlers end the process (process.exit) once a stop has finished.
  return exited;
}
