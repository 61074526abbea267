/**
 * Checks on the store's files before SQLite opens them. SQLite itself notices a bad page only
 * when it reads it (PRAGMA quick_check, which Outbox.open runs after this), and it silently
 * ignores a WAL whose header does not check out, which would drop every record committed in
 * it without a word. So, before opening:
 *
 *   - store.path must be a file the daemon's user can read and write (a directory or a file
 *     of another user is a setting to fix, not corruption: CONFIG_INVALID, nothing touched);
 *   - the main file must start with SQLite's header, with a valid page size, and (without a
 *     WAL, which may still hold the rest) every page its header claims: a truncated copy fails;
 *   - a WAL must have SQLite's magic, this database's page size and a valid header checksum.
 *
 * A failed check throws an error with code SQLITE_CORRUPT, which Outbox.open handles as it does
 * SQLite's own: the files are moved aside (never deleted) and a fresh store starts above the
 * sequence floor.
 */
import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { MotobioError, errorMessage } from '../util/errors.js';

const SQLITE_MAGIC = 'SQLite format 3\0';
const WAL_MAGIC_LE = 0x377f0682;
const WAL_MAGIC_BE = 0x377f0683;

export class StoreCorruptError extends Error {
  readonly code = 'SQLITE_CORRUPT';
}

function readHead(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/** SQLite's WAL checksum over `data` (whole 8-byte steps), word order from the magic. */
export function walChecksum(data: Buffer, bigEndian: boolean): [number, number] {
  let s0 = 0;
  let s1 = 0;
  for (let i = 0; i + 8 <= data.length; i += 8) {
    const x0 = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i);
    const x1 = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

/**
 * The page size the main file's header declares, or throws StoreCorruptError. With a WAL the
 * file may be legitimately short: a checkpoint interrupted by a full disk has written page 1
 * (the new page count) but not every page, and the WAL still holds them all.
 */
function checkMain(path: string, size: number, hasWal: boolean): number | undefined {
  if (size === 0) return undefined;
  const head = readHead(path, 100);
  if (head.length < 100 || head.subarray(0, 16).toString('latin1') !== SQLITE_MAGIC) {
    throw new StoreCorruptError(`${path} is not an SQLite database (its header is ${head.length < 100 ? `cut short at ${head.length} bytes` : 'not SQLite\'s'})`);
  }
  const raw = head.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new StoreCorruptError(`${path}: header gives page size ${raw}, which SQLite never writes`);
  if (hasWal) return pageSize;
  if (size % pageSize !== 0) throw new StoreCorruptError(`${path}: ${size} bytes is not a whole number of ${pageSize}-byte pages (the file was cut short)`);
  // The in-header page count is valid when "version-valid-for" equals the change counter.
  const pages = head.readUInt32BE(28);
  if (head.readUInt32BE(24) === head.readUInt32BE(92) && pages > 0 && size < pages * pageSize) {
    throw new StoreCorruptError(`${path}: header says ${pages} pages but the file holds ${size / pageSize} (the file was cut short)`);
  }
  return pageSize;
}

function checkWal(wal: string, size: number, pageSize: number | undefined): void {
  if (size === 0) return;
  const head = readHead(wal, 32);
  if (head.length < 32) throw new StoreCorruptError(`${wal}: WAL header cut short at ${head.length} bytes`);
  const magic = head.readUInt32BE(0);
  if (magic !== WAL_MAGIC_LE && magic !== WAL_MAGIC_BE) throw new StoreCorruptError(`${wal} is not an SQLite WAL (bad magic); it does not belong to this store`);
  const walPage = head.readUInt32BE(8);
  if (pageSize !== undefined && walPage !== pageSize) throw new StoreCorruptError(`${wal}: WAL page size ${walPage} differs from the database's ${pageSize}; it does not belong to this store`);
  const [c0, c1] = walChecksum(head.subarray(0, 24), magic === WAL_MAGIC_BE);
  if (c0 !== head.readUInt32BE(24) || c1 !== head.readUInt32BE(28)) throw new StoreCorruptError(`${wal}: WAL header checksum does not match; SQLite would silently drop what it holds`);
}

/**
 * Throws CONFIG_INVALID for a path the daemon cannot use as its store, StoreCorruptError for
 * files that are not an intact SQLite store; returns quietly for a missing or empty file.
 */
export function checkStoreFiles(path: string): void {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return;
    throw new MotobioError('CONFIG_INVALID', `store.path ${path}: cannot look at it (${errorMessage(e)}); check the path and the permissions of its directory`);
  }
  if (!isFile) throw new MotobioError('CONFIG_INVALID', `store.path ${path} is not a file (a directory or device is in its place); move it away or point store.path at a file. Nothing was changed.`);
  for (const f of [path, `${path}-wal`]) {
    try {
      if (sizeOf(f) !== undefined) accessSync(f, constants.R_OK | constants.W_OK);
    } catch (e) {
      throw new MotobioError(
        'CONFIG_INVALID',
        `store.path ${f}: this user (uid ${process.getuid?.() ?? '?'}) cannot read and write it (${errorMessage(e)}); give it to the daemon's user (chown motobio, mode 0600) or point store.path elsewhere. Nothing was changed.`,
      );
    }
  }
  const walSize = sizeOf(`${path}-wal`);
  const pageSize = checkMain(path, sizeOf(path) ?? 0, (walSize ?? 0) > 0);
  if (walSize !== undefined) checkWal(`${path}-wal`, walSize, pageSize);
}
