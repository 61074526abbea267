/**
 * The accuracy targets and the slide each figure is allowed, in code. The ratchet files
 * (accuracy.json, accuracy-noise.json) record the best value measured so far; they can raise a
 * floor, never take one below what is written here. Lowering a target is a code change a reviewer
 * sees (this file), not a number edited in a JSON file.
 */

/** What a figure may never be worse than, whatever a ratchet file says. */
export const TARGETS: Readonly<Record<string, number>> = {
  'mitdb.se': 99.8,
  'mitdb.ppv': 99.8,
  'mitdb.timingSdMs': 6,
  'nstdb/118e24.se': 99.5,
  'nstdb/118e24.ppv': 99.5,
  'nstdb/118e18.se': 99.5,
  'nstdb/118e18.ppv': 99.5,
  'nstdb/118e12.se': 99,
  'nstdb/118e12.ppv': 99,
  'nstdb/118e06.se': 95,
  'nstdb/118e06.ppv': 95,
  'nstdb/118e00.se': 85,
  'nstdb/118e00.ppv': 85,
  // The same noise and targets on the other records (eval --noise, noise-stress.ts): the
  // targets must hold on records the detector was not tuned on.
  'mitdb@24dB.se': 99.5,
  'mitdb@24dB.ppv': 99.5,
  'mitdb@18dB.se': 99.5,
  'mitdb@18dB.ppv': 99.5,
  'mitdb@12dB.se': 99,
  'mitdb@12dB.ppv': 99,
  'mitdb@6dB.se': 95,
  'mitdb@6dB.ppv': 95,
  'mitdb@0dB.se': 85,
  'mitdb@0dB.ppv': 85,
  'qtdb.se': 99.9,
  'qtdb.ppv': 99.9,
  'drivedb/drive05.hrMaeBpm': 2,
  // Windows where the reference HR is valid and the detector found fewer than 3 beats are left
  // out of hrMaeBpm, so dropping beats could "improve" it: their share is held beside it.
  'drivedb/drive05.hrMissedPct': 1,
};

/**
 * Se and +P trade against each other: a detector change that misses one beat more and finds two
 * false ones fewer is fair. So a met Se or +P may fall this many beats below its best (in
 * percentage points: 100 * beats / the figure's denominator, TP+FN for Se and TP+FP for +P).
 */
export const TOLERANCE_BEATS = 3;

/** Slides for figures that are not beat counts, in the figure's own unit. */
export const TOLERANCE_BY_UNIT: Readonly<Record<string, { amount: number; unit: string }>> = {
  // Pooled over ~45 000 beats; 0.05 ms is far below one sample (2.8 ms at 360 Hz).
  timingSdMs: { amount: 0.05, unit: 'ms' },
  // Over ~500 windows, 0.05 bpm is one window 25 bpm off.
  hrMaeBpm: { amount: 0.05, unit: 'bpm' },
  // One window of ~500 is 0.2 %.
  hrMissedPct: { amount: 0.2, unit: 'percentage points (about one 10-s window)' },
};
