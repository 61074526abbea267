/**
 * Beat-by-beat matching as ANSI/AAMI EC57 and ../shared/tools/ec57.py do it: each reference
 * beat takes the nearest unused detection within the window; detections left over are
 * false positives. Kept identical to ec57.py so the two cross-check each other.
 */
export interface MatchCounts {
  ref: number;
  tp: number;
  fn: number;
  fp: number;
  /** Detected minus reference, seconds, for matched beats. */
  offsetsS: number[];
}

export function matchBeats(reference: readonly number[], detected: readonly number[], fs: number, skipS = 0, windowS = 0.15): MatchCounts {
  const win = Math.round(windowS * fs);
  const lo = Math.floor(skipS * fs);
  const ref = reference.filter((r) => r >= lo).sort((a, b) => a - b);
  const det = detected.filter((d) => d >= lo - win).sort((a, b) => a - b);
  const used = new Uint8Array(det.length);
  const offsetsS: number[] = [];
  let tp = 0;
  let j = 0;
  for (const r of ref) {
    while (j < det.length && det[j] < r - win) j++;
    let best = -1;
    let bestDist = Infinity;
    for (let k = j; k < det.length && det[k] <= r + win; k++) {
      const dist = Math.abs(det[k] - r);
      if (!used[k] && dist < bestDist) {
        bestDist = dist;
        best = k;
      }
    }
    if (best >= 0) {
      used[best] = 1;
      tp++;
      offsetsS.push((det[best] - r) / fs);
    }
  }
  let fp = 0;
  for (let k = 0; k < det.length; k++) if (!used[k] && det[k] >= lo) fp++;
  return { ref: ref.length, tp, fn: ref.length - tp, fp, offsetsS };
}
