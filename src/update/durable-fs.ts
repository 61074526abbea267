/**
 * The few file operations updates need, each crash-safe: a file is written to a temporary
 * name, fsynced, renamed into place and its directory fsynced, so after a power cut or a
 * kill -9 either the old or the new content is there, never half of one. The `current`
 * pointer is a symlink replaced with rename(2), which is atomic.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readlinkSync, renameSync, rmSync, symlinkSync, writeSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Writes `path` durably with mode 0600 (temp file, fsync, rename, fsync of the directory). */
export function writeFileDurable(path: string, data: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

/** Points symlink `link` at `target` (a name relative to the link's directory) atomically. */
export function replaceSymlink(link: string, target: string): void {
  const tmp = join(dirname(link), `.${basename(link)}.${process.pid}.tmp`);
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, link);
  fsyncDir(dirname(link));
}

export function readSymlink(link: string): string | undefined {
  try {
    return readlinkSync(link);
  } catch {
    return undefined;
  }
}

export function removeDurable(path: string): void {
  rmSync(path, { recursive: true, force: true });
  fsyncDir(dirname(path));
}
