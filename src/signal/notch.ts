/**
 * Mains rejection for a live sensor: a second-order IIR notch (RBJ cookbook, Q 30, so about
 * 1.7 Hz wide at 50 Hz) applied before the chain. The chain's own boxcar stages leave 50/60 Hz
 * through the edge band (14-74 Hz); an unshielded front end next to an ignition coil picks it up.
 * Lost samples (NaN) pass as NaN and restart the filter at the next good sample, so a lead-off
 * never poisons its state.
 */
export const NOTCH_Q = 30;

export class PowerlineNotch {
  private readonly b0: number;
  private readonly b1: number;
  private readonly b2: number;
  private readonly a1: number;
  private readonly a2: number;
  private z1 = 0;
  private z2 = 0;
  private primed = false;

  constructor(fs: number, hz: number, q = NOTCH_Q) {
    if (!(hz > 0 && fs > 2 * hz)) throw new RangeError(`a ${hz} Hz notch needs a sample rate above ${2 * hz} Hz, got ${fs}`);
    const w = (2 * Math.PI * hz) / fs;
    const alpha = Math.sin(w) / (2 * q);
    const a0 = 1 + alpha;
    this.b0 = 1 / a0;
    this.b1 = (-2 * Math.cos(w)) / a0;
    this.b2 = 1 / a0;
    this.a1 = (-2 * Math.cos(w)) / a0;
    this.a2 = (1 - alpha) / a0;
  }

  /** Filters `x` in place and returns it. */
  process(x: Float64Array): Float64Array {
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (Number.isNaN(v)) {
        this.primed = false;
        continue;
      }
      if (!this.primed) {
        // Start as if the signal had sat at this value: no step transient at the start or after a gap.
        this.z2 = (this.b2 - this.a2) * v;
        this.z1 = (this.b1 - this.a1) * v + this.z2;
        this.primed = true;
      }
      const y = this.b0 * v + this.z1;
      this.z1 = this.b1 * v - this.a1 * y + this.z2;
      this.z2 = this.b2 * v - this.a2 * y;
      x[i] = y;
    }
    return x;
  }
}
