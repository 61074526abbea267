/**
 * A real ALSA PCM for tests: the `file` plugin over the `null` PCM, written into an
 * .asoundrc under a temporary HOME that aplay gets in its environment. What the file holds is
 * exactly what would have reached the helmet.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CUE_RATE_HZ } from '../../src/cues/types.js';

export interface FilePcm {
  readonly dir: string;
  readonly device: string;
  readonly capture: string;
  readonly env: NodeJS.ProcessEnv;
  /** Defines the PCM (for a test where the device appears later). */
  define(): void;
  samples(): Int16Array;
  /** Duration of the capture as sox reads it, s. */
  soxSeconds(): number;
  /** RMS amplitude of a span of the capture, as sox's `stat` reports it (0..1). */
  soxRms(startFrame: number, frames: number): number;
  cleanup(): void;
}

export function filePcm(options: { defined?: boolean } = {}): FilePcm {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-cues-'));
  const capture = join(dir, 'rider.raw');
  const asoundrc = join(dir, '.asoundrc');
  const define = (): void => writeFileSync(asoundrc, `pcm.rider { type file; slave.pcm "null"; file "${capture}"; format "raw" }\n`);
  if (options.defined ?? true) define();
  const raw = ['-t', 'raw', '-r', String(CUE_RATE_HZ), '-e', 'signed', '-b', '16', '-c', '1'];
  return {
    dir,
    device: 'rider',
    capture,
    env: { ...process.env, HOME: dir, ALSA_CONFIG_PATH: undefined },
    define,
    samples() {
      if (!existsSync(capture)) return new Int16Array(0);
      const b = readFileSync(capture);
      return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + (b.length & ~1)));
    },
    soxSeconds() {
      const r = spawnSync('sox', [...raw, capture, '-n', 'stat'], { encoding: 'utf8' });
      const m = /Length \(seconds\):\s+([0-9.]+)/.exec(r.stderr);
      if (!m) throw new Error(`sox stat gave no length: ${r.stderr}`);
      return Number(m[1]);
    },
    soxRms(startFrame, frames) {
      // sox prints `stat` on stderr.
      const r = spawnSync('sox', [...raw, capture, '-n', 'trim', `${startFrame}s`, `${frames}s`, 'stat'], { encoding: 'utf8' });
      const m = /RMS\s+amplitude:\s+([0-9.]+)/.exec(r.stderr);
      if (!m) throw new Error(`sox stat gave no RMS: ${r.stderr}`);
      return Number(m[1]);
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Where `needle` starts in `hay` (exact samples), or -1. */
export function indexOfSamples(hay: Int16Array, needle: Int16Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export function sameSamples(a: Int16Array, b: Int16Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
