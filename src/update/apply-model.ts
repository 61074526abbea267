/**
 * A verified model update goes in beside the running model, never over it:
 *
 *   <update.dir>/model/.staging-v<N>/  files written durably (0600)
 *        │ rename(2)
 *        ▼
 *   <update.dir>/model/v<N>/  ──engine.swapModel (manifest checks, hashes, ops, test inference,
 *        │                      fp32-vs-int8 agreement)── refused? ─▶ v<N> removed, old model runs
 *        ▼
 *   version recorded, then <update.dir>/model/current ─▶ v<N> (symlink replaced with rename(2))
 *
 * If the pointer cannot be switched, the engine is swapped back to the previous model. The
 * previous version's directory is kept (the engine's fallback and the next start's), older
 * ones are removed.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { manifestIn, parseManifest } from '../inference/manifest.js';

import { errorMessage } from '../util/errors.js';
import { ensurePrivateDir, fsyncDir, readSymlink, removeDurable, replaceSymlink, writeFileDurable } from './durable-fs.js';
import type { VerifiedUpdate } from './envelope.js';
import { UpdateRefused } from './refusal.js';
import type { VersionStore } from './version-store.js';
import { renameSync } from 'node:fs';

export type SwapResult = { ok: true } | { ok: false; error: string };
export type SwapModel = (manifestPath: string) => Promise<SwapResult>;

export const modelRoot = (updateDir: string): string => join(updateDir, 'model');

/** The manifest of the applied model update, if there is one. */
export function currentModelDir(updateDir: string): string | undefined {
  const root = modelRoot(updateDir);
  const target = readSymlink(join(root, 'current'));
  return target && existsSync(join(root, target)) ? join(root, target) : undefined;
}

/** The one manifest of an update and the files it names, all of which the update must carry. */
export function checkModelFiles(update: VerifiedUpdate): string {
  const manifests = [...update.files.keys()].filter((n) => n.endsWith('.manifest.json'));
  if (manifests.length !== 1) throw new UpdateRefused('invalid_content', `model update ${update.version} must carry exactly one *.manifest.json, it has ${manifests.length}`);
  const name = manifests[0];
  let manifest;
  try {
    manifest = parseManifest(update.files.get(name)!.toString('utf8'), name);
  } catch (e) {
    throw new UpdateRefused('invalid_content', `model update ${update.version}: ${errorMessage(e)}`);
  }
  const wanted = [manifest.model.path, manifest.reference?.path, manifest.validationSet?.path].filter((p): p is string => p !== undefined);
  for (const p of wanted) {
    if (!update.files.has(p)) throw new UpdateRefused('invalid_content', `model update ${update.version}: the manifest names "${p}", which the update does not carry (files must sit beside the manifest)`);
  }
  return name;
}

export interface ApplyModelOptions {
  readonly updateDir: string;
  readonly versions: VersionStore;
  readonly swap: SwapModel;
  /** The manifest to go back to when there is no earlier update (the installed model). */
  readonly baseManifest: () => string | undefined;
}

export async function applyModel(update: VerifiedUpdate, o: ApplyModelOptions): Promise<{ dir: string }> {
  const manifestName = checkModelFiles(update);
  const root = modelRoot(o.updateDir);
  ensurePrivateDir(root);
  const name = `v${update.version}`;
  const staging = join(root, `.staging-${name}`);
  const dir = join(root, name);
  const previous = readSymlink(join(root, 'current'));
  // Left over from an attempt interrupted by a crash: never the running one (its version is higher).
  for (const p of [staging, dir]) if (existsSync(p) && name !== previous) removeDurable(p);
  // Half-written updates from a crash or a full disk go first: they would only take space.
  for (const d of readdirSync(root)) if (d.startsWith('.staging-')) removeDurable(join(root, d));
  ensurePrivateDir(staging);
  for (const [file, bytes] of update.files) writeFileDurable(join(staging, file), bytes);
  renameSync(staging, dir);
  fsyncDir(root);

  const swapped = await o.swap(join(dir, manifestName));
  if (!swapped.ok) {
    removeDurable(dir);
    throw new UpdateRefused('invalid_content', `model update ${update.version} failed validation and was not switched in; the running model stays: ${swapped.error}`);
  }
  try {
    o.versions.set('model', update.version);
    replaceSymlink(join(root, 'current'), name);
  } catch (e) {
    const back = previous ? manifestIn(join(root, previous)) : o.baseManifest();
    const undone = back ? await o.swap(back) : { ok: false as const, error: 'no previous model to go back to' };
    throw new UpdateRefused('apply_failed', `model update ${update.version} could not be made permanent (${errorMessage(e)}); ${undone.ok ? 'the previous model runs again' : `going back failed too: ${undone.error}`}`);
  }
  for (const d of readdirSync(root)) {
    if (/^v\d+$/.test(d) && d !== name && d !== previous) removeDurable(join(root, d));
  }
  return { dir };
}

