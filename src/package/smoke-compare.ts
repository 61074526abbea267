/**
 * Compares a smoke run with a reference run of the same package on another architecture.
 * Actions, beat indices and store figures must be equal; probabilities may differ by
 * PROB_TOLERANCE, since onnxruntime's int8 kernels differ between x86 (AVX2/VNNI) and
 * arm64 (NEON) in rounding, not in meaning.
 */
import type { SmokeResult } from './smoke-checks.js';

/**
 * The int8 model quantizes its activations at run time; where a value sits on a rounding
 * boundary the two kernels can land one step apart, and one step of a hidden activation moves a
 * probability by about 1 %. The default policy of c1b8c24 differs by 0.0103 between arm64 and
 * x86 with every action equal (its predecessor by under 0.002, which was the old tolerance).
 * Quantization itself moves probabilities by up to 0.14 against fp32 (build.json), and a broken
 * arm64 build changes actions: those are what this comparison exists to catch.
 */
export const PROB_TOLERANCE = 0.02;

/** Every difference that matters, as a sentence; empty when the runs agree. */
export function compareSmoke(run: SmokeResult, ref: SmokeResult): string[] {
  const diffs: string[] = [];
  const m = run.model;
  const r = ref.model;
  if (m.rows !== r.rows) diffs.push(`model: ${m.rows} rows inferred, reference ${r.rows}`);
  let maxDiff = 0;
  for (let i = 0; i < Math.min(m.rows, r.rows); i++) {
    if (m.actions[i] !== r.actions[i]) diffs.push(`model: row ${i} chose ${m.actions[i]}, reference (${ref.arch}) chose ${r.actions[i]}`);
    for (let k = 0; k < (r.probs[i]?.length ?? 0); k++) maxDiff = Math.max(maxDiff, Math.abs((m.probs[i]?.[k] ?? NaN) - r.probs[i][k]) || 0);
  }
  if (maxDiff > PROB_TOLERANCE) diffs.push(`model: probabilities differ by up to ${maxDiff.toFixed(4)} (tolerance ${PROB_TOLERANCE})`);
  if (run.store.written !== ref.store.written || run.store.read !== ref.store.read || !run.store.roundTrip) {
    diffs.push(`store: wrote ${run.store.written}, read ${run.store.read}, round trip ${run.store.roundTrip ? 'intact' : 'broken'}; reference wrote ${ref.store.written}, read ${ref.store.read}`);
  }
  const s = run.signal;
  const q = ref.signal;
  if (s.samples !== q.samples) diffs.push(`signal: ${s.samples} samples read from ${s.record}, reference ${q.samples}`);
  if (s.beats !== q.beats) diffs.push(`signal: ${s.beats} beats, reference ${q.beats}`);
  if (s.first.join() !== q.first.join() || s.last.join() !== q.last.join()) {
    diffs.push(`signal: beat samples first [${s.first.join(', ')}] last [${s.last.join(', ')}], reference first [${q.first.join(', ')}] last [${q.last.join(', ')}]`);
  } else if (s.sha256 !== q.sha256) {
    diffs.push('signal: same beat count and ends, but some beat in between is at another sample (sha256 differs)');
  }
  if (ref.mqtt && !run.mqtt?.puback) diffs.push('mqtt: no PUBACK (the reference run had one)');
  return diffs;
}

/** The figures of one run in a few lines, for a person reading the CI log. */
export function describeSmoke(r: SmokeResult): string[] {
  const counts = new Map<string, number>();
  for (const a of r.model.actions) counts.set(a, (counts.get(a) ?? 0) + 1);
  return [
    `node ${r.node} ${r.arch}`,
    `model: ${r.model.precision}, ${r.model.rows} rows inferred, actions ${[...counts].map(([a, n]) => `${a}=${n}`).join(' ')}`,
    `store: ${r.store.written} written, ${r.store.read} read back, round trip ${r.store.roundTrip ? 'intact' : 'BROKEN'}`,
    `signal: ${r.signal.record} ${r.signal.samples} samples -> ${r.signal.beats} beats, first [${r.signal.first.join(', ')}]`,
    r.mqtt ? `mqtt: ${r.mqtt.topic} PUBACK ${r.mqtt.puback ? 'received' : 'MISSING'} after ${r.mqtt.ms} ms` : 'mqtt: not asked (no --broker)',
  ];
}
