/**
 * Zip archives (the SB3 checkpoint and the PyTorch file inside it) through fflate, with the
 * limits and checks a hostile file needs: only the named entries are inflated, each entry's
 * declared size is capped before anything is allocated, and every entry's CRC-32 is checked
 * against the central directory (fflate does not), so a flipped byte in a weight storage is
 * caught here rather than becoming a silently different policy.
 *
 *   bytes ─▶ central directory (names, CRC, sizes) ─▶ filter(wanted, size cap) ─▶ fflate.unzipSync ─▶ CRC check ─▶ entries
 */
import { unzipSync } from 'fflate';
import { MotobioError, errorMessage } from '../../util/errors.js';

/** Larger than any MLP policy; refuses zip bombs before they are inflated. */
export const MAX_ENTRY_BYTES = 256 * 1024 * 1024;

export interface ZipEntryInfo {
  readonly name: string;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly size: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function bad(what: string, msg: string): never {
  throw new MotobioError('MODEL_INVALID', `${what}: ${msg}`);
}

/** Lists the central directory (zip64 sizes included). */
export function listZip(bytes: Uint8Array, what: string): ZipEntryInfo[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (v.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) bad(what, 'not a zip archive (no end-of-central-directory record); the file is truncated or not an SB3 checkpoint');
  let count = v.getUint16(eocd + 10, true);
  let offset = v.getUint32(eocd + 16, true);
  if ((count === 0xffff || offset === 0xffffffff) && eocd >= 20 && v.getUint32(eocd - 20, true) === 0x07064b50) {
    const z64 = Number(v.getBigUint64(eocd - 12, true));
    if (z64 + 56 > bytes.length || v.getUint32(z64, true) !== 0x06064b50) bad(what, 'broken zip64 end-of-central-directory record');
    count = Number(v.getBigUint64(z64 + 32, true));
    offset = Number(v.getBigUint64(z64 + 48, true));
  }
  const out: ZipEntryInfo[] = [];
  let p = offset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || v.getUint32(p, true) !== 0x02014b50) bad(what, `central directory entry ${i} is missing or corrupt; the file is damaged, re-copy it`);
    const crc = v.getUint32(p + 16, true);
    let csize = v.getUint32(p + 20, true);
    let size = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    if (p + 46 + nameLen + extraLen > bytes.length) bad(what, `central directory entry ${i} runs past the end of the file`);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field: the 64-bit sizes of the fields that read 0xffffffff.
    let e = p + 46 + nameLen;
    const end = e + extraLen;
    while (e + 4 <= end) {
      const id = v.getUint16(e, true);
      const len = v.getUint16(e + 2, true);
      if (id === 0x0001) {
        const fieldEnd = Math.min(end, e + 4 + len);
        let q = e + 4;
        if (size === 0xffffffff && q + 8 <= fieldEnd) {
          size = Number(v.getBigUint64(q, true));
          q += 8;
        }
        if (csize === 0xffffffff && q + 8 <= fieldEnd) csize = Number(v.getBigUint64(q, true));
      }
      e += 4 + len;
    }
    out.push({ name, crc32: crc, compressedSize: csize, size });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/**
 * Extracts the entries `want` accepts. Returns name -> bytes. Each entry is checked against
 * its CRC-32; an entry larger than `maxEntryBytes` is refused before it is inflated.
 */
export function readZip(bytes: Uint8Array, what: string, want: (name: string) => boolean, maxEntryBytes = MAX_ENTRY_BYTES): Map<string, Uint8Array> {
  const entries = listZip(bytes, what);
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const e of entries) {
    if (want(e.name) && e.size > maxEntryBytes) bad(what, `entry ${e.name} claims ${e.size} bytes, more than the ${maxEntryBytes} a policy can need; refused`);
  }
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter: (f) => want(f.name) && f.originalSize <= maxEntryBytes });
  } catch (e) {
    bad(what, `the zip archive cannot be read (${errorMessage(e)}); the file is corrupt or not an SB3 checkpoint, re-copy it`);
  }
  const out = new Map<string, Uint8Array>();
  for (const [name, data] of Object.entries(files)) {
    const info = byName.get(name);
    if (!info) bad(what, `entry ${name} is not in the central directory; the archive is corrupt`);
    if (data.length !== info.size) bad(what, `entry ${name} inflates to ${data.length} bytes, the directory says ${info.size}; the archive is corrupt`);
    const got = crc32(data);
    if (got !== info.crc32) bad(what, `entry ${name} fails its CRC-32 check (0x${got.toString(16)} vs 0x${info.crc32.toString(16)}); the archive is corrupt, re-copy it`);
    out.set(name, data);
  }
  return out;
}
