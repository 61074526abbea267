/**
 * Where the daemon's relative paths resolve, so a technician's command finds the daemon's
 * store and calibration folder from any directory (`cd / && motobio db stats`).
 *
 *   $MOTOBIO_WORKDIR                              when set (tests, unusual installs)
 *   /var/lib/motobio                              the installed unit: systemd/motobio.service runs
 *                                                 `motobio run` there on /etc/motobio/config.yaml
 *   the current directory                         anything else (`npm start` in a checkout)
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH } from './schema.js';

/** systemd/motobio.service WorkingDirectory (and StateDirectory). */
export const UNIT_WORKDIR = '/var/lib/motobio';

export interface WorkdirProbe {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  exists?: (path: string) => boolean;
}

/** The working directory of a daemon started on `configFile` (undefined: the default lookup). */
export function daemonWorkdir(configFile: string | undefined, probe: WorkdirProbe = {}): string {
  const env = probe.env ?? process.env;
  const cwd = probe.cwd ?? process.cwd();
  const exists = probe.exists ?? existsSync;
  const explicit = env['MOTOBIO_WORKDIR'];
  if (explicit) return resolve(cwd, explicit);
  const file = configFile ?? env['MOTOBIO_CONFIG'];
  const installed = file === undefined ? exists(DEFAULT_CONFIG_PATH) : resolve(cwd, file) === DEFAULT_CONFIG_PATH;
  return installed && exists(UNIT_WORKDIR) ? UNIT_WORKDIR : cwd;
}
