/**
 * MIT-format annotation (.atr) reader. Each 16-bit little-endian word holds a 6-bit code
 * and a 10-bit field; codes 59-63 are pseudo-annotations (SKIP, NUM, SUB, CHN, AUX) that
 * modify the stream rather than mark a point.
 */
import { readFileSync, existsSync } from 'node:fs';
import { MotobioError } from '../../util/errors.js';

export interface Annotation {
  readonly sample: number;
  readonly code: number;
  readonly subtype: number;
  readonly chan: number;
  readonly num: number;
  readonly aux: string;
}

const SKIP = 59;
const NUM = 60;
const SUB = 61;
const CHN = 62;
const AUX = 63;

/** Beat codes per WFDB ecgcodes.h. Flutter waves ('!', 31) and isolated artefacts ('|', 16) are not beats. */
export const BEAT_CODES: ReadonlySet<number> = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 25, 30, 34, 35, 38, 41]);
export const RHYTHM_CODE = 28;

export function parseAnnotations(data: Uint8Array, source: string): Annotation[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: Annotation[] = [];
  let t = 0;
  let chan = 0;
  let num = 0;
  let i = 0;
  while (i + 2 <= data.length) {
    const w = view.getUint16(i, true);
    i += 2;
    const code = w >> 10;
    const field = w & 0x3ff;
    if (code === 0 && field === 0) return out;
    switch (code) {
      case SKIP: {
        if (i + 4 > data.length) throw truncated(source);
        const hi = view.getUint16(i, true);
        const lo = view.getUint16(i + 2, true);
        i += 4;
        t += ((hi << 16) | lo) | 0;
        break;
      }
      case NUM:
        num = field >= 512 ? field - 1024 : field;
        break;
      case SUB:
        setLast(out, { subtype: field });
        break;
      case CHN:
        chan = field;
        break;
      case AUX: {
        if (i + field > data.length) throw truncated(source);
        const text = Buffer.from(data.subarray(i, i + field)).toString('latin1').replace(/\0+$/, '');
        i += field + (field & 1);
        setLast(out, { aux: text });
        break;
      }
      default:
        t += field;
        out.push({ sample: t, code, subtype: 0, chan, num, aux: '' });
    }
  }
  // A file without the 0x0000 terminator is accepted: some writers omit it.
  return out;
}

function setLast(out: Annotation[], patch: Partial<Annotation>): void {
  const last = out[out.length - 1];
  if (last) out[out.length - 1] = { ...last, ...patch };
}

function truncated(source: string): MotobioError {
  return new MotobioError('RECORD_INVALID', `${source}: the annotation file ends in the middle of an entry; re-copy it`);
}

export function readAnnotations(base: string, extension = 'atr'): Annotation[] {
  const path = `${base}.${extension}`;
  if (!existsSync(path)) throw new MotobioError('RECORD_NOT_FOUND', `${path}: no annotation file; evaluation needs the reference beats`);
  return parseAnnotations(readFileSync(path), path);
}

export function beatSamples(annotations: readonly Annotation[]): number[] {
  return annotations.filter((a) => BEAT_CODES.has(a.code)).map((a) => a.sample);
}
