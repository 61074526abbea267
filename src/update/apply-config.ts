/**
 * A verified configuration update: written beside the current one, checked against the
 * schema exactly as `motobio run` would load it, put on trial and switched in with rename(2).
 * The caller then restarts the daemon into it (config-trial.ts decides at the next start).
 */
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { checkPushedConfig, clearTrial, readTrial, writeTrial } from './config-trial.js';
import { CONFIG_FILE_NAME, configRoot } from '../config/in-force.js';
import { ensurePrivateDir, fsyncDir, readSymlink, removeDurable, replaceSymlink, writeFileDurable } from './durable-fs.js';
import type { VerifiedUpdate } from './envelope.js';
import { UpdateRefused } from './refusal.js';
import type { VersionStore } from './version-store.js';
import { errorMessage } from '../util/errors.js';

export interface ApplyConfigOptions {
  readonly updateDir: string;
  readonly versions: VersionStore;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

export function applyConfig(update: VerifiedUpdate, o: ApplyConfigOptions): { path: string } {
  const names = [...update.files.keys()];
  if (names.length !== 1 || names[0] !== CONFIG_FILE_NAME) throw new UpdateRefused('invalid_content', `configuration update ${update.version} must carry exactly one file, ${CONFIG_FILE_NAME}; it has ${names.join(', ')}`);
  const trial = readTrial(o.updateDir);
  if (trial) throw new UpdateRefused('busy', `configuration version ${trial.version} is still on trial; send version ${update.version} again once it is confirmed (update.confirm_s)`);
  const root = configRoot(o.updateDir);
  const rootExisted = existsSync(root);
  ensurePrivateDir(root);
  const name = `v${update.version}`;
  const previous = readSymlink(join(root, 'current')) ?? null;
  const staging = join(root, `.staging-${name}`);
  const dir = join(root, name);
  for (const p of [staging, dir]) if (existsSync(p) && name !== previous) removeDurable(p);
  // Half-written updates from a crash or a full disk go first: they would only take space.
  for (const d of readdirSync(root)) if (d.startsWith('.staging-')) removeDurable(join(root, d));
  ensurePrivateDir(staging);
  const text = update.files.get(CONFIG_FILE_NAME)!;
  writeFileDurable(join(staging, CONFIG_FILE_NAME), text);
  try {
    checkPushedConfig(text.toString('utf8'), join(staging, CONFIG_FILE_NAME), o.env, o.cwd);
  } catch (e) {
    // A refused configuration leaves nothing behind, not even the directory made for it.
    removeDurable(rootExisted ? staging : root);
    throw e;
  }
  renameSync(staging, dir);
  fsyncDir(root);
  try {
    writeTrial(o.updateDir, { version: update.version, previous, attempts: 0, switchedAt: new Date().toISOString() });
    o.versions.set('config', update.version);
    replaceSymlink(join(root, 'current'), name);
  } catch (e) {
    if (readSymlink(join(root, 'current')) !== name) clearTrial(o.updateDir);
    throw new UpdateRefused('apply_failed', `configuration update ${update.version} could not be switched in (${errorMessage(e)}); the running configuration stays`);
  }
  for (const d of readdirSync(root)) {
    if (/^v\d+$/.test(d) && d !== name && d !== previous) removeDurable(join(root, d));
  }
  return { path: join(dir, CONFIG_FILE_NAME) };
}
