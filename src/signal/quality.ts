/**
 * Signal-quality index per 2-s window, in [0, 1]. It multiplies independent checks, each
 * of which a technician can read off the window: lead-off (the sensor's own flag or a
 * railed input), flat line, clipping, high-frequency (muscle, mains) noise relative to the
 * QRS amplitude, baseline excursion, and how well the window's beats match the running beat
 * template (electrode motion makes beats that do not look like the rider's own).
 */
import { BaselineRemover, BoxcarLowpass, oddLength } from './filters.js';
import type { QualityWindow } from './types.js';

const WINDOW_S = 2;
/** Peak-to-peak under this (mV) is a flat line: an open input or a dead front end. */
const FLAT_MV = 0.05;
/** A QRS larger than this (mV) is not an ECG from the chest; it is movement or a railed input. */
const IMPLAUSIBLE_MV = 8;
const TEMPLATE_HALF_S = 0.08;
/** High-frequency noise between beats relative to peak-to-peak: ~0.015 on clean ECG, 0.09 with heavy muscle noise. */
const NOISE_RATIO_CLEAN = 0.02;
const NOISE_RATIO_SPAN = 0.05;
/** A run of this many equal samples at the window's extreme counts as clipping. */
const CLIP_RUN = 4;
/** Morphology score of a window without a beat (long RR or a window between beats): neutral-low. */
const NO_BEAT_SCORE = 0.7;
/** Samples filtered per typed-array pass. */
const BLOCK = 512;

export class QualityIndex {
  private readonly fs: number;
  private readonly windowLen: number;
  private readonly baseline: BaselineRemover;
  private readonly smooth: BoxcarLowpass;
  private readonly delay: number;

  private readonly ring: Float64Array;
  private n = 0;
  private ringW = 0;
  private windowStart = 0;
  // Per-window accumulators.
  private min = Infinity;
  private max = -Infinity;
  private rawMin = Infinity;
  private rawMax = -Infinity;
  private hfSq = 0;
  private readonly hfAbs: Float64Array;
  private hfCount = 0;
  private count = 0;
  private nanCount = 0;
  private railRun = 0;
  /** Flat runs in this window as (value, length) pairs. */
  private runs: number[] = [];
  private lastRaw = NaN;
  private beatScores: number[] = [];
  private readonly pendingBeats: number[] = [];

  private template: Float64Array | undefined;
  private readonly half: number;
  private readonly xBuf = new Float64Array(BLOCK);
  private readonly yBuf = new Float64Array(BLOCK);
  private readonly sBuf = new Float64Array(BLOCK);

  constructor(fs: number) {
    this.fs = fs;
    this.windowLen = Math.round(WINDOW_S * fs);
    this.baseline = new BaselineRemover(oddLength(0.3, fs, 3));
    this.smooth = new BoxcarLowpass(oddLength(0.025, fs, 3), 1);
    this.delay = this.baseline.delay;
    this.half = Math.max(2, Math.round(TEMPLATE_HALF_S * fs));
    this.ring = new Float64Array(Math.ceil(3 * fs));
    this.hfAbs = new Float64Array(this.windowLen + 1);
  }

  /** Delay (samples) between the input and the quality branch's timeline. */
  get latency(): number {
    return this.delay;
  }

  push(chunk: ArrayLike<number>): QualityWindow[] {
    const out: QualityWindow[] = [];
    for (let from = 0; from < chunk.length; from += BLOCK) this.block(chunk, from, Math.min(BLOCK, chunk.length - from), out);
    return out;
  }

  /** Filters a block in typed-array passes when it holds no NaN (NaN samples do not step the filters). */
  private block(chunk: ArrayLike<number>, from: number, len: number, out: QualityWindow[]): void {
    const xb = this.xBuf;
    let clean = true;
    for (let i = 0; i < len; i++) {
      const v = chunk[from + i];
      xb[i] = v;
      if (Number.isNaN(v)) clean = false;
    }
    if (clean) {
      this.baseline.run(xb, this.yBuf, len);
      this.smooth.run(this.yBuf, this.sBuf, len);
    }
    const ring = this.ring;
    for (let i = 0; i < len; i++) {
      const raw = xb[i];
      const n = this.n++;
      // n % ring.length, without a division per sample.
      const w = this.ringW;
      this.ringW = w + 1 === ring.length ? 0 : w + 1;
      if (Number.isNaN(raw)) {
        this.nanCount++;
        ring[w] = 0;
      } else {
        const y = clean ? this.yBuf[i] : this.baseline.step(raw);
        const s = clean ? this.sBuf[i] : this.smooth.step(y);
        ring[w] = y;
        const hf = y - s;
        this.hfSq += hf * hf;
        if (this.hfCount < this.hfAbs.length) this.hfAbs[this.hfCount++] = Math.abs(hf);
        if (y < this.min) this.min = y;
        if (y > this.max) this.max = y;
        if (raw < this.rawMin) this.rawMin = raw;
        if (raw > this.rawMax) this.rawMax = raw;
        // Clipping: the input sits on one value for a run; whether that value is the rail
        // (the window's extreme) is decided when the window closes.
        if (raw === this.lastRaw) this.railRun++;
        else {
          this.endRun();
          this.railRun = 1;
        }
        this.lastRaw = raw;
        this.count++;
      }
      if (n + 1 - this.windowStart >= this.windowLen) {
        this.scorePending();
        out.push(this.closeWindow(n + 1));
        this.windowStart = n + 1;
      }
    }
  }

  /** Queues a detected beat (input-timeline sample) to be scored once its whole complex is in. */
  addBeat(sample: number): void {
    this.pendingBeats.push(sample);
  }

  private scorePending(): void {
    while (this.pendingBeats.length > 0 && this.pendingBeats[0] + this.delay + this.half < this.n) {
      this.scoreBeat(this.pendingBeats.shift()!);
    }
  }

  private scoreBeat(sample: number): void {
    const centre = sample + this.delay;
    const len = this.ring.length;
    if (centre - this.half <= this.n - len) return;
    const seg = new Float64Array(2 * this.half + 1);
    for (let k = -this.half; k <= this.half; k++) seg[k + this.half] = this.ring[(centre + k) % len]!;
    if (!this.template) {
      this.template = seg;
      this.beatScores.push(1);
      return;
    }
    const r = correlation(seg, this.template);
    this.beatScores.push(Math.max(0, r));
    // Only beats that look like the template update it, so noise cannot drag it away.
    if (r > 0.8) for (let k = 0; k < seg.length; k++) this.template[k] = 0.9 * this.template[k] + 0.1 * seg[k];
  }

  private endRun(): void {
    if (this.railRun >= CLIP_RUN) this.runs.push(this.lastRaw, this.railRun);
  }

  private clippedShare(): number {
    this.endRun();
    this.railRun = 0;
    const range = this.rawMax - this.rawMin;
    let clipped = 0;
    for (let i = 0; i < this.runs.length; i += 2) {
      const v = this.runs[i];
      if (v >= this.rawMax - 0.02 * range || v <= this.rawMin + 0.02 * range) clipped += this.runs[i + 1];
    }
    return this.count > 0 ? clipped / this.count : 0;
  }

  private closeWindow(endSample: number): QualityWindow {
    const total = this.count + this.nanCount;
    const p2p = this.count > 0 ? this.max - this.min : 0;
    const leadOff = this.nanCount > total * 0.2;
    const flat = !leadOff && p2p < FLAT_MV;
    const clipFrac = this.clippedShare();
    const clipped = clipFrac > 0.05;
    // The median ignores the QRS complexes (a small share of samples), so it measures the
    // high-frequency noise between beats: muscle, mains, a loose electrode's crackle.
    const hfMedian = this.hfCount ? medianInPlace(this.hfAbs.subarray(0, this.hfCount)) : 0;
    const hfRatio = p2p > 0 ? hfMedian / p2p : 1;
    const noiseScore = clamp01(1 - (hfRatio - NOISE_RATIO_CLEAN) / NOISE_RATIO_SPAN);
    const implausible = p2p > IMPLAUSIBLE_MV;
    // Beats that match the rider's own template score 1; electrode motion makes them drift.
    const beatScore = this.beatScores.length ? this.beatScores.reduce((a, b) => a + b, 0) / this.beatScores.length : NO_BEAT_SCORE;
    const morphology = clamp01((beatScore - 0.4) / 0.5);
    let sqi = noiseScore * morphology * (1 - Math.min(1, clipFrac * 4));
    if (leadOff || flat || implausible) sqi = 0;
    const noisy = !leadOff && !flat && sqi < 0.5;
    this.resetWindow();
    return { endS: endSample / this.fs, sqi: round3(sqi), leadOff, flat, clipped, noisy, noiseScore: leadOff ? 0 : round3(noiseScore) };
  }

  private resetWindow(): void {
    this.min = Infinity;
    this.max = -Infinity;
    this.rawMin = Infinity;
    this.rawMax = -Infinity;
    this.hfSq = 0;
    this.hfCount = 0;
    this.count = 0;
    this.nanCount = 0;
    this.runs = [];
    this.beatScores = [];
  }
}

function correlation(a: Float64Array, b: Float64Array): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= a.length;
  mb /= b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] - ma;
    const y = b[i] - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

/** The element a sort would put at a.length >> 1 (Hoare's quickselect: linear time, no sort of the window). */
function medianInPlace(a: Float64Array): number {
  const k = a.length >> 1;
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k];
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
