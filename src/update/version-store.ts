/**
 * The last applied version of each update kind, the replay guard. Kept in
 * `<update.dir>/versions.json` (0600), written durably, so a replayed old update is still
 * refused after a restart, a kill -9 or a power cut. A version counts as applied from the
 * moment it is switched in, even if it is rolled back later: the same bytes must never be
 * applied twice, so a fixed update needs a higher version.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MotobioError, errorMessage } from '../util/errors.js';
import { ensurePrivateDir, writeFileDurable } from './durable-fs.js';
import type { UpdateKind } from './envelope.js';

export type Versions = Record<UpdateKind, number>;

export class VersionStore {
  readonly path: string;
  private versions: Versions;

  constructor(dir: string) {
    ensurePrivateDir(dir);
    this.path = join(dir, 'versions.json');
    this.versions = VersionStore.read(this.path);
  }

  private static read(path: string): Versions {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { model: 0, config: 0 };
      throw new MotobioError('STORE_FAILED', `cannot read ${path}: ${errorMessage(e)}`);
    }
    try {
      const v = JSON.parse(text) as Partial<Versions>;
      const ok = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
      if (!ok(v.model) || !ok(v.config)) throw new Error('fields model and config must be whole numbers');
      return { model: v.model!, config: v.config! };
    } catch (e) {
      // Never silently start from 0: that would re-open every old update to replay.
      throw new MotobioError('STORE_FAILED', `${path} is damaged (${errorMessage(e)}); updates stay refused until it is restored or rewritten with the last versions the server sent`);
    }
  }

  get(kind: UpdateKind): number {
    return this.versions[kind];
  }

  /** Records `version` as applied; only ever moves up. */
  set(kind: UpdateKind, version: number): void {
    if (version <= this.versions[kind]) return;
    const next = { ...this.versions, [kind]: version };
    writeFileDurable(this.path, `${JSON.stringify(next)}\n`);
    this.versions = next;
  }
}
