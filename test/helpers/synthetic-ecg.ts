/**
 * Synthetic ECG for edge cases the real records do not cover (30 and 220 bpm, step changes
 * of rate, flat line, clipping): P-QRS-T as sums of Gaussians, McSharry-style, in mV.
 */
export interface SyntheticOptions {
  fs: number;
  seconds: number;
  /** Heart rate in bpm, constant or as a function of time (s). */
  bpm: number | ((t: number) => number);
  amplitude?: number;
}

const WAVES = [
  // [offset s relative to R, width s, amplitude relative to R]
  [-0.2, 0.025, 0.12], // P
  [-0.025, 0.01, -0.12], // Q
  [0, 0.012, 1], // R
  [0.03, 0.012, -0.25], // S
  [0.3, 0.05, 0.3], // T
] as const;

export function syntheticEcg(o: SyntheticOptions): { mv: Float64Array; beats: number[] } {
  const n = Math.round(o.seconds * o.fs);
  const mv = new Float64Array(n);
  const amp = o.amplitude ?? 1.2;
  const rate = typeof o.bpm === 'number' ? () => o.bpm as number : o.bpm;
  const beats: number[] = [];
  for (let t = 0.5; t < o.seconds - 0.5; t += 60 / rate(t)) beats.push(t);
  for (const bt of beats) {
    const rr = 60 / rate(bt);
    // T wave moves closer at high rates (QT shortens), as in real tachycardia.
    const qtScale = Math.min(1, Math.sqrt(rr));
    for (const [off, w, a] of WAVES) {
      const centre = bt + (off > 0.1 ? off * qtScale : off);
      const from = Math.max(0, Math.floor((centre - 5 * w) * o.fs));
      const to = Math.min(n - 1, Math.ceil((centre + 5 * w) * o.fs));
      for (let i = from; i <= to; i++) {
        const d = (i / o.fs - centre) / w;
        mv[i] += amp * a * Math.exp(-0.5 * d * d);
      }
    }
  }
  return { mv, beats: beats.map((t) => Math.round(t * o.fs)) };
}

/** Linear-interpolation resampling, to run one real record at other sampling rates. */
export function resample(x: Float64Array, fsIn: number, fsOut: number): Float64Array {
  const n = Math.floor(((x.length - 1) * fsOut) / fsIn) + 1;
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = (i * fsIn) / fsOut;
    const j = Math.floor(t);
    const f = t - j;
    y[i] = (x[j] ?? 0) * (1 - f) + (x[j + 1] ?? x[j] ?? 0) * f;
  }
  return y;
}
