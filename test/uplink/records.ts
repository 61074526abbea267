/** Synthetic but realistically shaped record streams for uplink tests and benches. */
import type { RecordInput } from '../../src/store/types.js';

/** One ECG-like chunk: a 1.2 Hz beat train on a slow baseline, quantised at 1 µV. */
export function ecgChunk(startSample: number, fs = 250, seconds = 10): RecordInput {
  const n = fs * seconds;
  const mv = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = (startSample + i) / fs;
    const phase = (t * 1.2) % 1;
    mv[i] = 0.1 * Math.sin(2 * Math.PI * 0.3 * t) + (phase < 0.04 ? 1.2 * Math.sin((phase / 0.04) * Math.PI) : 0) + 0.02 * Math.sin(2 * Math.PI * 50 * t);
  }
  return { type: 'ecg', priority: 'raw', ecg: { startSample, fs, lsbUv: 1, mv } };
}

export function featuresRecord(i: number, wallMs: number, monoMs: number): RecordInput {
  return {
    type: 'features',
    priority: 'features',
    wallMs,
    monoMs,
    payload: { hrBpm: 72 + (i % 17), rmssdMs: 31.5 + (i % 7), sdnnMs: 44.2, lfHf: 1.7, quality: 0.93, ectopicShare: 0, windowS: 60 },
  };
}

/**
 * An hour of riding at `features` every 5 s, a coaching decision every 30 s, status every
 * 60 s, a safety event every 10 min and (optionally) raw ECG in 10 s chunks.
 */
export function hourOfRecords(withEcg: boolean, t0 = Date.now() - 3_600_000): RecordInput[] {
  const out: RecordInput[] = [];
  for (let s = 0; s < 3600; s += 5) {
    const wallMs = t0 + s * 1000;
    const monoMs = 1000 + s * 1000;
    out.push(featuresRecord(s / 5, wallMs, monoMs));
    if (s % 30 === 0) out.push({ type: 'decision', priority: 'decision', wallMs, monoMs, payload: { action: s % 60 ? 'hold' : 'ease-off', confidence: 0.81, model: 'policy-int8@3' } });
    if (s % 60 === 0) out.push({ type: 'status', priority: 'status', wallMs, monoMs, payload: { battery: 0.8, tempC: 41, source: 'streaming' } });
    if (s % 600 === 0) out.push({ type: 'safety', priority: 'safety', wallMs, monoMs, payload: { kind: 'hr-high', hrBpm: 171, heldS: 30 } });
    if (withEcg && s % 10 === 0) out.push({ ...ecgChunk(s * 250), wallMs, monoMs });
  }
  return out;
}
