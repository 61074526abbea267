/**
 * A sequence floor kept beside the database, so a store that had to be replaced (found
 * corrupt at open) never re-issues a sequence number the server may already hold. The file
 * holds a number R with every issued seq < R; it is rewritten (tmp + fsync + rename + dir
 * fsync) only when the store reserves the next block, so the cost is one extra fsync per
 * SEQ_BLOCK records.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export const SEQ_BLOCK = 100_000;

export function readSeqFloor(path: string): number {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

export function writeSeqFloor(path: string, value: number): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${value}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
