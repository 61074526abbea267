import { describe, expect, it } from 'vitest';
import { PowerlineNotch } from '../../src/signal/notch.js';

const sine = (fs: number, hz: number, seconds: number, amp = 1) => Float64Array.from({ length: Math.round(fs * seconds) }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / fs));
const rms = (x: Float64Array, from = 0) => Math.sqrt(x.subarray(from).reduce((s, v) => s + v * v, 0) / (x.length - from));

describe('the powerline notch', () => {
  for (const [fs, hz] of [
    [360, 50],
    [250, 60],
    [130, 50],
  ] as const) {
    it(`takes ${hz} Hz down by 30 dB or more at ${fs} Hz and passes 10 Hz within 1 %`, () => {
      const mains = new PowerlineNotch(fs, hz).process(sine(fs, hz, 10));
      expect(20 * Math.log10(rms(mains, fs * 2) / Math.SQRT1_2)).toBeLessThan(-30);
      const qrsBand = new PowerlineNotch(fs, hz).process(sine(fs, 10, 10));
      expect(Math.abs(rms(qrsBand, fs * 2) / Math.SQRT1_2 - 1)).toBeLessThan(0.01);
    });
  }

  it('passes lost samples as NaN and starts again cleanly after them', () => {
    const fs = 360;
    const x = Float64Array.from(sine(fs, 10, 4), (v) => v + 2);
    x.fill(NaN, 700, 800);
    const y = new PowerlineNotch(fs, 50).process(Float64Array.from(x));
    expect(y.slice(700, 800).every(Number.isNaN)).toBe(true);
    expect(y.slice(800).some(Number.isNaN)).toBe(false);
    // No step transient from the DC offset after the gap.
    expect(Math.abs(y[800] - x[800])).toBeLessThan(0.05);
  });

  it('refuses a sample rate that cannot carry the mains frequency', () => {
    expect(() => new PowerlineNotch(100, 50)).toThrow(/above 100 Hz/);
  });
});
