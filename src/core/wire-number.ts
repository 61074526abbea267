/**
 * Numbers on the wire and in the store carry what the sensors can tell, not binary float noise
 * (`quality: 0.9199999999999999` was 0.92 to every consumer and 18 bytes to the 4G bill).
 * Four decimals, or three significant digits under 0.01, is finer than any source of the unit:
 * an ECG sample is 2 ms at 500 Hz, a strap's RR 1/1024 s, heart rate 0.1 bpm, quality 0.001.
 * Whole numbers (seq, times in ms, counts) pass untouched.
 */
export function wireNumber(v: number): number {
  if (Number.isInteger(v) || !Number.isFinite(v)) return v;
  const a = Math.abs(v);
  return a >= 0.01 ? Math.round(v * 1e4) / 1e4 : Number(v.toPrecision(3));
}

/** JSON.stringify replacer that rounds every fractional number with wireNumber. */
export function roundNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'number' ? wireNumber(value) : value;
}
