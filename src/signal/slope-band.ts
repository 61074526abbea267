/**
 * One band of the detector's feature: low-pass, high-pass, then |slope| over a short lag.
 *
 *   x ─▶ boxcar² low-pass ─▶ l ─▶ l − moving average(l) ─▶ h ─▶ |h[n] − h[n−2k]|
 *
 * Every stage is a boxcar, so the band's delay is an exact integer number of samples and two
 * bands can be lined up with a DelayLine.
 *
 * The stages run fused in one loop over the block, with the very arithmetic of MovingAverage
 * and DelayLine (a test holds the two to the bit). Run stage by stage, each boxcar's running
 * sum is a chain of dependent adds and the passes queue one behind another; fused, the three
 * chains overlap. With BaselineRemover fused the same way, the detector's filtering went from
 * 44 to 31 ns a sample on the machine docs/performance.md describes.
 */
import { boxcar, oddLength, primeBoxcar } from './filters.js';
import type { Boxcar } from './filters.js';

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
  private readonly lp1: Boxcar;
  private readonly lp2: Boxcar;
  private readonly avg: Boxcar;
  /** Delays l by the average's delay, so the average is centred on the sample it is taken from. */
  private readonly delayBuf: Float64Array;
  private readonly delayLen: number;
  private delayPos = 0;
  private readonly lagBuf: Float64Array;
  private lagPos = 0;
  private primed = false;

  constructor(fs: number, options: SlopeBandOptions) {
    const lpLen = oddLength(options.lowpassS, fs, 3);
    this.lp1 = boxcar(lpLen);
    this.lp2 = boxcar(lpLen);
    this.avg = boxcar(oddLength(options.highpassS, fs, 3));
    this.delayLen = (this.avg.length - 1) / 2;
    this.delayBuf = new Float64Array(Math.max(1, this.delayLen));
    const k = Math.max(1, Math.round(options.lagS * fs));
    this.lagBuf = new Float64Array(2 * k);
    this.delay = 2 * ((lpLen - 1) / 2) + this.delayLen + k;
  }

  /**
   * Runs `x[0..len)` through the band: `low` receives the low-passed signal (the VF check reads
   * it), `slope` the band's |slope|. `low` and `slope` must be distinct from `x` and each other.
   */
  run(x: Float64Array, low: Float64Array, slope: Float64Array, len: number): void {
    if (len === 0) return;
    const a = this.lp1;
    const b = this.lp2;
    const c = this.avg;
    if (!this.primed) {
      primeBoxcar(a, x[0]);
      primeBoxcar(b, x[0]);
      primeBoxcar(c, x[0]);
      this.delayBuf.fill(x[0]);
      this.primed = true;
    }
    const aBuf = a.buf;
    const aLen = a.length;
    let aPos = a.pos;
    let aSum = a.sum;
    let aFresh = a.fresh;
    const bBuf = b.buf;
    let bPos = b.pos;
    let bSum = b.sum;
    let bFresh = b.fresh;
    const cBuf = c.buf;
    const cLen = c.length;
    let cPos = c.pos;
    let cSum = c.sum;
    let cFresh = c.fresh;
    const dBuf = this.delayBuf;
    const dLen = this.delayLen;
    let dPos = this.delayPos;
    const lag = this.lagBuf;
    const lagLen = lag.length;
    let p = this.lagPos;
    for (let i = 0; i < len; i++) {
      // Low-pass, first boxcar.
      const x0 = x[i];
      const aOld = aBuf[aPos];
      aBuf[aPos] = x0;
      aFresh += x0;
      if (aPos + 1 === aLen) {
        aPos = 0;
        aSum = aFresh;
        aFresh = 0;
      } else {
        aPos++;
        aSum += x0 - aOld;
      }
      const x1 = aSum / aLen;
      // Low-pass, second boxcar (same length).
      const bOld = bBuf[bPos];
      bBuf[bPos] = x1;
      bFresh += x1;
      if (bPos + 1 === aLen) {
        bPos = 0;
        bSum = bFresh;
        bFresh = 0;
      } else {
        bPos++;
        bSum += x1 - bOld;
      }
      const l = bSum / aLen;
      low[i] = l;
      // High-pass: l, delayed to the centre of its moving average, minus that average.
      const cOld = cBuf[cPos];
      cBuf[cPos] = l;
      cFresh += l;
      if (cPos + 1 === cLen) {
        cPos = 0;
        cSum = cFresh;
        cFresh = 0;
      } else {
        cPos++;
        cSum += l - cOld;
      }
      let centred = l;
      if (dLen > 0) {
        centred = dBuf[dPos];
        dBuf[dPos] = l;
        dPos = dPos + 1 === dLen ? 0 : dPos + 1;
      }
      const h = centred - cSum / cLen;
      const old = lag[p];
      lag[p] = h;
      p = p + 1 === lagLen ? 0 : p + 1;
      // |slope| rather than slope²: wide ventricular beats keep half, not a quarter, of a normal beat's score.
      slope[i] = Math.abs(h - old);
    }
    a.pos = aPos;
    a.sum = aSum;
    a.fresh = aFresh;
    b.pos = bPos;
    b.sum = bSum;
    b.fresh = bFresh;
    c.pos = cPos;
    c.sum = cSum;
    c.fresh = cFresh;
    this.delayPos = dPos;
    this.lagPos = p;
  }
}
