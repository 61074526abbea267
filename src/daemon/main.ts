/**
 * The daemon's process-level entry: configuration, logger, clock, telemetry, sd-notify,
 * process handlers, then the lifecycle. `motobio run` calls it with the production stages;
 * tests call it (in a child process) with stages of their own, through the same seam.
 */
import { errorMessage, isMotobioError, isSettingProblem } from '../util/errors.js';
import { createLogger } from '../util/log.js';
import { Clock } from '../core/clock.js';
import { EXIT_CONFIG, resolveConfigPaths, type LoadedConfig } from '../config/load.js';
import { selectStartupConfig, type StartupConfig } from '../update/config-trial.js';
import type { StageContext } from '../core/context.js';
import type { StageFactories } from './context.js';
import { buildDaemon } from './daemon.js';
import { EXIT_FAILURE, installProcessHandlers } from './lifecycle.js';
import { createNotifier } from './sd-notify.js';
import { Telemetry } from './telemetry.js';

export interface RunDaemonOptions {
  configFile?: string;
  stages: StageFactories;
}

/**
 * Resolves with an exit code only when start-up fails; otherwise the process handlers end
 * the process once a stop has finished (exit 0, 1, or 128+n for a forced stop).
 */
export async function runDaemon(options: RunDaemonOptions): Promise<number> {
  let loaded: LoadedConfig;
  let trial: StartupConfig['trial'];
  try {
    // The technician's file, or a signed configuration pushed over the downlink (src/update).
    ({ loaded, trial } = selectStartupConfig(options.configFile));
  } catch (e) {
    if (!isMotobioError(e, 'CONFIG_INVALID')) throw e;
    process.stderr.write(`motobio: ${e.message}\n`);
    return EXIT_CONFIG;
  }
  const cwd = process.cwd();
  // Every path absolute, once: no stage resolves a path of its own.
  const config = resolveConfigPaths(loaded.config, cwd);
  const { file } = loaded;
  // Whatever the daemon writes (store, calibration) is private to its user, also outside systemd.
  process.umask(0o077);
  const log = createLogger({ level: config.log_level }).child({ device: config.device.id });
  log.info({ config: file ?? 'embedded defaults', env: loaded.envVariables, source: config.source.kind, links: config.uplink.links.map((l) => l.name) }, 'motobio starting');
  const telemetry = new Telemetry();
  const ctx: StageContext = { config, configFile: file, cwd, log, clock: new Clock(), telemetry };
  if (ctx.clock.bootIdSynthetic) log.warn('cannot read the kernel boot id; records carry a per-process id instead');
  const notifier = createNotifier({ log: log.child({ mod: 'sd-notify' }) });

  try {
    const daemon = await buildDaemon({ ctx, telemetry, stages: options.stages, notifier });
    const handlers = installProcessHandlers(daemon.lifecycle, log);
    const started = await daemon.lifecycle.start(handlers.signal);
    if (!started) log.info('start-up was interrupted; exiting once the stop has finished');
  } catch (e) {
    // A setting that names something unusable (no such record, a model that is not one) will
    // not get better by restarting: exit as for an invalid configuration.
    const settingProblem = isSettingProblem(e);
    log.fatal({ err: errorMessage(e), code: isMotobioError(e) ? e.code : undefined }, 'start-up failed');
    process.stderr.write(`motobio: ${errorMessage(e)}${settingProblem ? '\n(check the settings with "motobio config check")' : ''}\n`);
    let code = settingProblem ? EXIT_CONFIG : EXIT_FAILURE;
    if (trial) {
      // A pushed configuration the daemon cannot start on: back to the previous one, and a
      // failure exit so systemd restarts the daemon on it (78 would keep it down).
      trial.rollBack(`start-up failed: ${errorMessage(e)}`);
      log.error({ version: trial.version }, `configuration version ${trial.version} rolled back: start-up failed on it`);
      code = EXIT_FAILURE;
    }
    // Whatever a failed stage left open must not keep a failed daemon alive.
    setTimeout(() => process.exit(code), 1000).unref();
    return code;
  }
  return new Promise<number>(() => undefined);
}
