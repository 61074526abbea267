/**
 * A stored ECG strip as a WFDB record (`.hea` + format-16 `.dat`) that the unit's own `detect`
 * and any WFDB tool read:
 *
 *   ecg_chunks (device, boot, at in [t - before, t + after]) ──decodeEcgChunk──▶ counts
 *      ──lined up by startSample (the sensor's own timeline; holes = -32768, WFDB's "no sample")──▶ .dat
 *
 * One boot and one sampling rate per strip (startSample restarts with a boot): the boot whose
 * chunks are nearest the asked time. Gain is 1000 / lsbUv ADC units per mV, so the counts are
 * written unchanged.
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { decodeEcgChunk } from '../store/ecg-codec.js';
import { MotobioError } from '../util/errors.js';
import { num, type SqlQueryable } from './sql.js';

export interface StripOptions {
  readonly device: string;
  readonly at: Date;
  readonly beforeS?: number;
  readonly afterS?: number;
}

export interface Strip {
  readonly boot: string;
  readonly fs: number;
  readonly lsbUv: number;
  readonly startSample: number;
  /** Quantised samples; -32768 = none. */
  readonly counts: Int16Array;
  readonly chunks: number;
}

/** Longest strip exported at once (10 min at 500 Hz is 300,000 samples). */
const MAX_SAMPLES = 10 * 60 * 1000;

export async function readStrip(db: SqlQueryable, o: StripOptions): Promise<Strip> {
  const rows = await db.query<{ boot: string; start_sample: unknown; fs: number; lsb_uv: number; n: unknown; chunk: Uint8Array; at: unknown }>(
    `SELECT boot, start_sample, fs, lsb_uv, n, chunk, at FROM ecg_chunks
     WHERE device = $1 AND at BETWEEN $2::timestamptz - make_interval(secs => $3) AND $2::timestamptz + make_interval(secs => $4)
     ORDER BY abs(extract(epoch FROM at - $2::timestamptz)), seq`,
    [o.device, o.at.toISOString(), o.beforeS ?? 30, o.afterS ?? 30],
  );
  if (rows.rows.length === 0) throw new MotobioError('RECORD_NOT_FOUND', `no ECG of ${o.device} within ${o.beforeS ?? 30} s before and ${o.afterS ?? 30} s after ${o.at.toISOString()}; list what there is with: SELECT at FROM ecg_chunks WHERE device = '${o.device}'`);
  const { boot, fs } = rows.rows[0];
  const chunks = rows.rows.filter((r) => r.boot === boot && r.fs === fs).map((r) => ({ ...decodeEcgChunk(r.chunk), start: num(r.start_sample) }));
  chunks.sort((a, b) => a.start - b.start);
  const first = chunks[0].start;
  const last = chunks.reduce((m, c) => Math.max(m, c.start + c.counts.length), first);
  if (last - first > MAX_SAMPLES) throw new MotobioError('USAGE', `the strip would be ${last - first} samples; ask for a shorter window (--before/--after)`);
  const counts = new Int16Array(last - first).fill(-32768);
  for (const c of chunks) counts.set(c.counts, c.start - first);
  return { boot, fs, lsbUv: chunks[0].lsbUv, startSample: first, counts, chunks: chunks.length };
}

export function writeWfdb(strip: Strip, outBase: string, comments: readonly string[] = []): void {
  const name = basename(outBase);
  const dat = Buffer.alloc(strip.counts.length * 2);
  for (let i = 0; i < strip.counts.length; i++) dat.writeInt16LE(strip.counts[i], i * 2);
  writeFileSync(`${outBase}.dat`, dat);
  const gain = +(1000 / strip.lsbUv).toFixed(6);
  const init = strip.counts.find((c) => c !== -32768) ?? 0;
  const lines = [`${name} 1 ${strip.fs} ${strip.counts.length}`, `${name}.dat 16 ${gain}(0)/mV 16 0 ${init} 0 0 ECG`, ...comments.map((c) => `# ${c}`)];
  writeFileSync(`${outBase}.hea`, `${lines.join('\n')}\n`);
}
