/**
 * The configuration in force: what the daemon runs with, so every command a technician types
 * (`db stats`, `calibrate ecg`, `status`, `test comms`) works on the same store, calibration
 * folder, health port and links as the daemon, from any working directory.
 *
 *   technician's file (--config, $MOTOBIO_CONFIG, /etc/motobio/config.yaml, or embedded defaults)
 *     └─ update.enabled and <update.dir>/config/current ─▶ v<N>/config.yaml (a pushed one)
 *           replaces everything but `device` and `update` (src/update/config-trial.ts)
 *   then every path made absolute, once.
 *
 * This reads only: the daemon's own start (selectStartupConfig) also runs the trial of a
 * pushed configuration and rolls it back when it cannot start on it.
 */
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { daemonWorkdir } from './workdir.js';
import { loadConfig, resolveConfigPaths, resolvePath, type LoadedConfig } from './load.js';

export const CONFIG_FILE_NAME = 'config.yaml';
export const configRoot = (updateDir: string): string => join(updateDir, 'config');
export const currentConfigLink = (updateDir: string): string => join(configRoot(updateDir), 'current');

export interface InForce extends LoadedConfig {
  /** The pushed configuration version in force, or null on the technician's file. */
  readonly pushed: number | null;
  /** Where relative paths resolved. */
  readonly cwd: string;
}

/** A pushed configuration keeps the technician's `device` and `update` sections. */
export function withBase(pushed: LoadedConfig, base: LoadedConfig): LoadedConfig {
  return { ...pushed, config: { ...pushed.config, device: base.config.device, update: base.config.update } };
}

export interface InForceOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Where relative paths resolve: the daemon's working directory (the systemd unit's, else this process's). */
  cwd?: string;
}

export function configInForce(o: InForceOptions = {}): InForce {
  const env = o.env ?? process.env;
  const cwd = o.cwd ?? daemonWorkdir(o.file, { env });
  const base = loadConfig({ ...(o.file === undefined ? {} : { file: o.file }), env, cwd });
  let loaded = base;
  let pushed: number | null = null;
  if (base.config.update.enabled) {
    const dir = resolvePath(base.config.update.dir, cwd);
    let current: string | undefined;
    try {
      current = readlinkSync(currentConfigLink(dir));
    } catch {
      current = undefined;
    }
    if (current && /^v\d+$/.test(current)) {
      try {
        loaded = withBase(loadConfig({ file: join(configRoot(dir), current, CONFIG_FILE_NAME), env, cwd }), base);
        pushed = Number(current.slice(1));
      } catch {
        // The daemon rolls an unusable pushed configuration back at its next start; until then
        // the technician's file is the best statement of what it runs.
        loaded = base;
      }
    }
  }
  return { ...loaded, config: resolveConfigPaths(loaded.config, cwd), pushed, cwd };
}
