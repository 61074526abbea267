/**
 * Writes WFDB records (format 16, multi-rate kept) and MIT annotation files. Used to cut the
 * attributed excerpts under test/fixtures/ and to build broken records in tests.
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Annotation } from './annotations.js';
import type { WfdbRecord } from './record.js';

export interface ExcerptOptions {
  fromS: number;
  seconds: number;
  /** Signal indices to keep; all by default. */
  signals?: number[];
  comments?: string[];
}

export function writeExcerpt(rec: WfdbRecord, outBase: string, opts: ExcerptOptions): { frames: number } {
  const keep = opts.signals ?? rec.signals.map((_, i) => i);
  const fr = rec.header.frameRate;
  const first = Math.round(opts.fromS * fr);
  const maxFrames = Math.min(...keep.map((i) => Math.floor(rec.signals[i].adc.length / rec.signals[i].spec.samplesPerFrame)));
  const frames = Math.max(0, Math.min(Math.round(opts.seconds * fr), maxFrames - first));
  const perFrame = keep.reduce((n, i) => n + rec.signals[i].spec.samplesPerFrame, 0);
  const buf = Buffer.alloc(frames * perFrame * 2);
  let o = 0;
  for (let f = first; f < first + frames; f++) {
    for (const i of keep) {
      const s = rec.signals[i];
      const spf = s.spec.samplesPerFrame;
      for (let j = 0; j < spf; j++) {
        buf.writeInt16LE(s.adc[f * spf + j], o);
        o += 2;
      }
    }
  }
  const name = basename(outBase);
  writeFileSync(`${outBase}.dat`, buf);
  const lines = [`${name} ${keep.length} ${fr} ${frames}`];
  for (const i of keep) {
    const s = rec.signals[i].spec;
    const fmt = s.samplesPerFrame > 1 ? `16x${s.samplesPerFrame}` : '16';
    lines.push(`${name}.dat ${fmt} ${s.gain}(${s.baseline})/${s.units} 16 0 0 0 0 ${s.description}`);
  }
  for (const c of opts.comments ?? []) lines.push(`# ${c}`);
  writeFileSync(`${outBase}.hea`, `${lines.join('\n')}\n`);
  return { frames };
}

/** MIT-format annotations (codes and sample times only; AUX text is kept for rhythm marks). */
export function writeAnnotations(path: string, anns: readonly Pick<Annotation, 'sample' | 'code' | 'aux'>[]): void {
  const words: number[] = [];
  let t = 0;
  for (const a of anns) {
    let d = a.sample - t;
    if (d < 0) throw new RangeError('annotations must be in time order');
    if (d > 1023) {
      words.push(59 << 10, (d >>> 16) & 0xffff, d & 0xffff);
      d = 0;
    }
    words.push((a.code << 10) | d);
    if (a.aux) {
      const bytes = Buffer.from(a.aux, 'latin1');
      words.push((63 << 10) | bytes.length);
      for (let i = 0; i < bytes.length; i += 2) words.push(bytes[i] | ((bytes[i + 1] ?? 0) << 8));
    }
    t = a.sample;
  }
  words.push(0);
  const buf = Buffer.alloc(words.length * 2);
  words.forEach((w, i) => buf.writeUInt16LE(w, 2 * i));
  writeFileSync(path, buf);
}
