/**
 * The cue-outcome windows computed offline from a record's reference beats (WFDB .atr): the
 * yardstick the streaming outcome (./outcome.ts) is checked against, in tests and the bench.
 * Normal-to-normal intervals only (AAMI class N: N, L, R, e, j), as HRV is defined.
 */
import { BEAT_CODES, type Annotation } from '../sources/wfdb/annotations.js';

const NORMAL = new Set([1, 2, 3, 11, 34]);

export interface OfflineWindow {
  readonly hrBpm: number;
  readonly rmssdMs: number;
  readonly intervals: number;
}

/** Mean HR and RMSSD of the reference NN intervals whose ending beat is in (fromS, toS]. */
export function offlineWindow(anns: readonly Annotation[], fs: number, fromS: number, toS: number): OfflineWindow {
  const beats = anns.filter((a) => BEAT_CODES.has(a.code));
  const nn: { endSample: number; startSample: number; ms: number }[] = [];
  for (let i = 1; i < beats.length; i++) {
    const t = beats[i].sample / fs;
    if (t <= fromS || t > toS) continue;
    if (!NORMAL.has(beats[i].code) || !NORMAL.has(beats[i - 1].code)) continue;
    nn.push({ endSample: beats[i].sample, startSample: beats[i - 1].sample, ms: ((beats[i].sample - beats[i - 1].sample) / fs) * 1000 });
  }
  const hrBpm = (60_000 * nn.length) / nn.reduce((a, b) => a + b.ms, 0);
  let sq = 0;
  let n = 0;
  for (let k = 1; k < nn.length; k++) {
    // Successive only: the two intervals share a beat.
    if (nn[k].startSample !== nn[k - 1].endSample) continue;
    const d = nn[k].ms - nn[k - 1].ms;
    sq += d * d;
    n++;
  }
  return { hrBpm, rmssdMs: Math.sqrt(sq / n), intervals: nn.length };
}
