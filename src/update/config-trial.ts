/**
 * Which configuration the daemon starts on, and the trial that protects a pushed one.
 *
 *   <update.dir>/config/v<N>/config.yaml   pushed configurations (0600)
 *   <update.dir>/config/current ─▶ v<N>    the one in service (symlink, replaced with rename(2));
 *                                          absent: the technician's file (--config, /etc/motobio)
 *   <update.dir>/config/trial.json         {version, previous, attempts}: the switch is on trial
 *
 * The technician's file is always read first: it names the update directory, and its `device`
 * and `update` sections stay in force (a pushed configuration may not change the unit's id or
 * the keys it trusts). A pushed configuration then replaces everything else.
 *
 * Trial: applying writes trial.json (attempts 0), switches `current` and restarts. The first
 * start on it sets attempts to 1 before doing anything else. The update manager deletes
 * trial.json once the daemon has run healthy for `update.confirm_s`. A start that finds
 * attempts >= 1 knows the previous start on this configuration never got there (it crashed,
 * was killed, hung, or exited before READY), so it points `current` back and reports it.
 * Everything is on disk, so this holds across kill -9 and power cuts.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig, resolvePath, type LoadedConfig } from '../config/load.js';
import { CONFIG_FILE_NAME, configRoot, currentConfigLink, withBase } from '../config/in-force.js';

import { errorMessage } from '../util/errors.js';
import { ensurePrivateDir, readSymlink, removeDurable, replaceSymlink, writeFileDurable } from './durable-fs.js';
import { addPendingReport } from './pending-reports.js';
import { UpdateRefused } from './refusal.js';

/** `motobio run` exits with this to be restarted into a new configuration (EX_TEMPFAIL; systemd's Restart=on-failure restarts it). */
export const EXIT_RESTART = 75;

export interface TrialState {
  readonly version: number;
  /** What `current` pointed to before the switch ("v<M>"), or null for the technician's file. */
  readonly previous: string | null;
  readonly attempts: number;
  readonly switchedAt: string;
}

const trialFile = (updateDir: string) => join(configRoot(updateDir), 'trial.json');
const currentLink = currentConfigLink;

export function readTrial(updateDir: string): TrialState | undefined {
  try {
    const t = JSON.parse(readFileSync(trialFile(updateDir), 'utf8')) as TrialState;
    return Number.isSafeInteger(t.version) && Number.isSafeInteger(t.attempts) ? t : undefined;
  } catch {
    return undefined;
  }
}

export function writeTrial(updateDir: string, t: TrialState): void {
  writeFileDurable(trialFile(updateDir), `${JSON.stringify(t)}\n`);
}

export function clearTrial(updateDir: string): void {
  if (existsSync(trialFile(updateDir))) removeDurable(trialFile(updateDir));
}

export function currentConfigVersion(updateDir: string): number | null {
  const t = readSymlink(currentLink(updateDir));
  return t && /^v\d+$/.test(t) ? Number(t.slice(1)) : null;
}

/** Points `current` back at what the trial replaced, drops the trial and leaves a report. */
export function rollBackTrial(updateDir: string, t: TrialState, why: string): void {
  if (t.previous) replaceSymlink(currentLink(updateDir), t.previous);
  else if (readSymlink(currentLink(updateDir)) !== undefined) removeDurable(currentLink(updateDir));
  clearTrial(updateDir);
  addPendingReport(updateDir, {
    event: 'rolled_back',
    kind: 'config',
    version: t.version,
    reason: 'not_healthy',
    message: `configuration version ${t.version} was rolled back to ${t.previous ?? "the technician's file"}: ${why}`,
  });
}

/** A pushed configuration checked as `motobio run` would load it: schema, cross-checks, named files. */
export function checkPushedConfig(text: string, where: string, env: NodeJS.ProcessEnv, cwd: string): void {
  let raw: unknown;
  try {
    raw = parseYaml(text) as unknown;
  } catch (e) {
    throw new UpdateRefused('invalid_content', `configuration is not valid YAML: ${errorMessage(e)}`);
  }
  if (raw && typeof raw === 'object' && ('device' in raw || 'update' in raw)) {
    throw new UpdateRefused('invalid_content', 'a pushed configuration may not set "device" or "update": they stay as the technician installed them; remove those sections');
  }
  try {
    loadConfig({ file: where, env, cwd, checkFiles: true });
  } catch (e) {
    throw new UpdateRefused('invalid_content', `configuration refused by the schema: ${errorMessage(e)}`);
  }
}

export interface StartupConfig {
  readonly loaded: LoadedConfig;
  /** Set when this start is the trial of a pushed configuration. */
  readonly trial?: { readonly version: number; rollBack(why: string): void };
}

/**
 * The configuration to start on. Throws only what loadConfig throws for the technician's own
 * file; a pushed configuration that cannot be used is rolled back and reported instead.
 */
export function selectStartupConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): StartupConfig {
  const base = loadConfig({ file, env, cwd });
  if (!base.config.update.enabled) return { loaded: base };
  try {
    return selectPushed(base, env, cwd);
  } catch (e) {
    // The update directory itself is unusable (permissions, a damaged disk): run on the
    // technician's file rather than not at all.
    process.stderr.write(`motobio: cannot use pushed configurations in ${base.config.update.dir} (${errorMessage(e)}); running on ${base.file ?? 'embedded defaults'}\n`);
    return { loaded: base };
  }
}

function selectPushed(base: LoadedConfig, env: NodeJS.ProcessEnv, cwd: string): StartupConfig {
  const dir = resolvePath(base.config.update.dir, cwd);
  const link = currentLink(dir);
  let current = readSymlink(link);
  if (current === undefined && !existsSync(trialFile(dir))) return { loaded: base };
  ensurePrivateDir(configRoot(dir));
  let trial = readTrial(dir);
  if (trial && current !== `v${trial.version}`) {
    // The switch itself never happened (crash between writing trial.json and the rename).
    clearTrial(dir);
    addPendingReport(dir, { event: 'failed', kind: 'config', version: trial.version, reason: 'apply_failed', message: `configuration version ${trial.version} was not switched in (the daemon stopped half way); ${current ?? "the technician's file"} stays` });
    trial = undefined;
  } else if (trial && trial.attempts >= 1) {
    rollBackTrial(dir, trial, 'the daemon did not run healthy on it (it exited, crashed, hung or was killed before it was confirmed)');
    current = trial.previous ?? undefined;
    trial = undefined;
  } else if (trial) {
    writeTrial(dir, { ...trial, attempts: trial.attempts + 1 });
  }
  if (current === undefined) return { loaded: base };
  const path = join(configRoot(dir), current, CONFIG_FILE_NAME);
  try {
    const pushed = withBase(loadConfig({ file: path, env, cwd }), base);
    if (!trial) return { loaded: pushed };
    const t = trial;
    return { loaded: pushed, trial: { version: t.version, rollBack: (why) => rollBackTrial(dir, t, why) } };
  } catch (e) {
    const why = `it no longer loads: ${errorMessage(e)}`;
    if (trial) rollBackTrial(dir, trial, why);
    else {
      rmSync(link, { force: true });
      addPendingReport(dir, { event: 'rolled_back', kind: 'config', version: Number(current.slice(1)) || null, reason: 'config_unusable', message: `pushed configuration ${current} is not used: ${why}; running on the technician's file` });
    }
    // One step back only: the previous pushed configuration (which had been confirmed) or the file.
    const back = trial?.previous;
    if (back) {
      try {
        return { loaded: withBase(loadConfig({ file: join(configRoot(dir), back, CONFIG_FILE_NAME), env, cwd }), base) };
      } catch {
        rmSync(link, { force: true });
      }
    }
    return { loaded: base };
  }
}
