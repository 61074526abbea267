/**
 * One band of the detector's feature: low-pass, high-pass, then |slope| over a short lag.
 *
 *   x ─▶ boxcar² low-pass ─▶ l ─▶ l − moving average(l) ─▶ h ─▶ |h[n] − h[n−2k]|
 *
 * Every stage is a boxcar, so the band's delay is an exact integer number of samples and two
 * bands can be lined up with a DelayLine.
 */
import { BoxcarLowpass, DelayLine, MovingAverage, oddLength } from './filters.js';

export interface SlopeBandOptions {
  /** Low-pass boxcar length, s (two passes). */
  lowpassS: number;
  /** High-pass moving-average length, s. */
  highpassS: number;
  /** Half the slope lag, s. */
  lagS: number;
}

export class SlopeBand {
  /** Samples from an input sample to the same instant in the slope output. */
  readonly delay: number;
  private readonly lp: BoxcarLowpass;
  private readonly avg: MovingAverage;
  private readonly avgDelay: DelayLine;
  private readonly lagBuf: Float64Array;
  private lagPos = 0;
  private primed = false;
  private readonly scratch: Float64Array;
  private readonly scratch2: Float64Array;

  constructor(fs: number, options: SlopeBandOptions, block: number) {
    this.lp = new BoxcarLowpass(oddLength(options.lowpassS, fs, 3), 2);
    this.avg = new MovingAverage(oddLength(options.highpassS, fs, 3));
    this.avgDelay = new DelayLine(this.avg.delay);
    const k = Math.max(1, Math.round(options.lagS * fs));
    this.lagBuf = new Float64Array(2 * k);
    this.delay = this.lp.delay + this.avg.delay + k;
    this.scratch = new Float64Array(block);
    this.scratch2 = new Float64Array(block);
  }

  /**
   * Runs `x[0..len)` through the band: `low` receives the low-passed signal (the VF check reads
   * it), `slope` the band's |slope|. `low` and `slope` must be distinct from `x` and each other.
   */
  run(x: Float64Array, low: Float64Array, slope: Float64Array, len: number): void {
    if (!this.primed) {
      this.avg.prime(x[0]);
      this.avgDelay.prime(x[0]);
      this.primed = true;
    }
    const avg = this.scratch;
    const delayed = this.scratch2;
    this.lp.run(x, low, len);
    this.avg.run(low, avg, len);
    this.avgDelay.run(low, delayed, len);
    const buf = this.lagBuf;
    const size = buf.length;
    let p = this.lagPos;
    for (let i = 0; i < len; i++) {
      const h = delayed[i] - avg[i];
      const old = buf[p];
      buf[p] = h;
      p = p + 1 === size ? 0 : p + 1;
      // |slope| rather than slope²: wide ventricular beats keep half, not a quarter, of a normal beat's score.
      slope[i] = Math.abs(h - old);
    }
    this.lagPos = p;
  }
}
