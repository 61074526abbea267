/**
 * A small real filesystem for the disk-full cases: tmpfs with a size limit, mounted on a
 * unique mount point (needs root, like the rest of the fault suite), grown or shrunk in place
 * with `mount -o remount,size=`, and always unmounted by cleanup() (lazily, so a process that
 * still holds a file cannot leave the mount behind).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  readonly path: string;
  remount(sizeBytes: number): void;
  freeBytes(): number;
  cleanup(): void;
}

export function mountTmpfs(sizeBytes: number): Tmpfs {
  const path = join(tmpdir(), `mbdisk-${process.pid % 100000}-${randomBytes(3).toString('hex')}`);
  mkdirSync(path, { mode: 0o700 });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', path], { stdio: 'pipe' });
  } catch (e) {
    rmSync(path, { recursive: true, force: true });
    throw new Error(`cannot mount a tmpfs on ${path} (the disk-full cases need root): ${(e as { stderr?: Buffer }).stderr?.toString() ?? String(e)}`);
  }
  let mounted = true;
  return {
    path,
    remount: (size) => void execFileSync('mount', ['-o', `remount,size=${size}`, path], { stdio: 'pipe' }),
    freeBytes: () => {
      const s = statfsSync(path);
      return s.bavail * s.bsize;
    },
    cleanup: () => {
      if (mounted) {
        try {
          execFileSync('umount', ['-l', path], { stdio: 'pipe' });
        } catch {
          /* already gone */
        }
        mounted = false;
      }
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** Writes `bytes` (or until the filesystem is full) to `file`; returns what was written. */
export function fill(file: string, bytes = Number.POSITIVE_INFINITY): number {
  const fd = openSync(file, 'w', 0o600);
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let written = 0;
  try {
    while (written < bytes) {
      const n = Math.min(chunk.length, bytes - written);
      try {
        written += writeSync(fd, chunk, 0, n);
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOSPC') break;
        throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}
