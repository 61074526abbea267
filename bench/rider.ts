/**
 * Per-rider cue choice in a simulation built on real recordings: does the Thompson chooser
 * (src/rider/cue-choice.ts) find the cue kind that works for a rider, from the cue outcomes
 * the unit measures (src/cues/outcome.ts), and does it stay open when both kinds work?
 *
 * The rider response model (documented in docs/rider.md):
 *   - The rider's heart is a real one: the RR intervals the real EcgChain finds in drivedb
 *     drive05 (a real drive, 84 min) and mitdb 101, 112, 115, 122 (30 min each), replayed
 *     back to back in a loop; each simulated rider starts at a seeded random point.
 *   - A cue every 420 s (7 min: over the engine's 180-s cooldown, the rate a calm ride sees),
 *     two kinds allowed each time.
 *   - A cue of the helpful kind lowers the heart rate by E bpm, E drawn per cue from N(6, 2²):
 *     the drop grows as 1 - exp(-t/45 s), holds until 180 s after the cue, then fades with a
 *     60-s time constant (gone by the next cue's baseline). A cue of the other kind has E drawn from N(0, 2²) (it does nothing, noisily).
 *     Effects of successive cues add; the drop is applied to each RR interval (rr' = 60000 /
 *     (60000/rr - drop)), so the record's own variability is the rest of the noise.
 *   - The outcome is measured by CueOutcomeTracker exactly as on the unit (baseline the minute
 *     before, response 60-180 s after); the reward is its heart-rate drop.
 * Printed: cues until the helpful kind is chosen 80 % of the time (over riders), and with two
 * equally helpful kinds, how the picks split and whether any rider locked in.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { offlineWindow } from '../src/cues/offline.js';
import { CueOutcomeTracker, type CueOutcome } from '../src/cues/outcome.js';
import type { CueDelivery } from '../src/cues/types.js';
import { CueChooser } from '../src/rider/cue-choice.js';
import { normal, seeded } from '../src/rider/random.js';
import { EcgChain } from '../src/signal/chain.js';
import type { RrInterval } from '../src/signal/types.js';
import { readAnnotations } from '../src/sources/wfdb/annotations.js';
import { readRecord, toPhysical } from '../src/sources/wfdb/record.js';

const DATA = process.env['MOTOBIO_BENCH_DATA'] ?? '../shared/data';
const RECORDS = ['drivedb/drive05', 'mitdb/101', 'mitdb/112', 'mitdb/115', 'mitdb/122'];
const RIDERS = 200;
const CUES = 60;
const CUE_EVERY_S = 420;
const EFFECT_BPM = 6;
const EFFECT_SD_BPM = 2;
const RISE_S = 45;
const HOLD_S = 180;
const FADE_S = 60;
const KINDS = ['breathing_cue', 'relax_posture_cue'] as const;

/**
 * Cue outcomes streamed through the real chain against the same windows computed offline
 * from the reference beats (the agreement test/cues/outcome.test.ts asserts, printed here).
 */
function agreement(): void {
  const cases: [string, number, number[]][] = [
    ['mitdb/101', 1260, [120, 420, 720, 1020]],
    ['mitdb/112', 1260, [120, 420, 720, 1020]],
    ['mitdb/115', 1260, [120, 420, 720, 1020]],
    ['mitdb/122', 1260, [120, 420, 720, 1020]],
    ['qtdb/sel302', 900, [120, 400, 660]],
  ];
  let windows = 0;
  let maxHr = 0;
  let maxRmssd = 0;
  let sumRmssd = 0;
  const used: string[] = [];
  for (const [name, seconds, cues] of cases) {
    const base = join(DATA, name);
    if (!existsSync(`${base}.atr`)) continue;
    used.push(name);
    const sig = readRecord(base).signals[0];
    const mv = toPhysical(sig).subarray(0, Math.round(seconds * sig.fs));
    const chain = new EcgChain({ fs: sig.fs });
    const tracker = new CueOutcomeTracker();
    const outs: CueOutcome[] = [];
    const pending = [...cues];
    for (let i = 0; i < mv.length; i += sig.fs) {
      const out = chain.push(mv.subarray(i, i + sig.fs));
      while (pending.length && pending[0] <= chain.timeS) {
        const at = pending.shift()!;
        outs.push(...tracker.cue({ decisionSeq: at, kind: 'coaching', name: 'breathing_cue', state: 'played', language: 'es', prompt: 'voice' }, at));
      }
      outs.push(...tracker.push(out, chain.timeS));
    }
    outs.push(...tracker.push(chain.flush(), chain.timeS), ...tracker.flush());
    const anns = readAnnotations(base);
    for (const o of outs) {
      for (const w of [o.baseline, o.response]) {
        if (w.hrBpm === null || w.rmssdMs === null) continue;
        const ref = offlineWindow(anns, sig.fs, w.fromS, w.toS);
        windows++;
        maxHr = Math.max(maxHr, Math.abs(w.hrBpm - ref.hrBpm));
        maxRmssd = Math.max(maxRmssd, Math.abs(w.rmssdMs - ref.rmssdMs));
        sumRmssd += Math.abs(w.rmssdMs - ref.rmssdMs);
      }
    }
  }
  if (windows === 0) return;
  console.log(`cue outcome vs the offline computation from the reference beats (.atr), ${used.join(', ')}: ${windows} windows (baseline 60 s, response 60-180 s)`);
  console.log(`  |HR| max ${maxHr.toFixed(2)} bpm; |RMSSD| max ${maxRmssd.toFixed(2)} ms, mean ${(sumRmssd / windows).toFixed(2)} ms`);
}

/** The chain's RR intervals of the records, back to back on one timeline. */
function baseRr(): { rr: RrInterval[]; spanS: number; used: string[] } {
  const out: RrInterval[] = [];
  const used: string[] = [];
  let offset = 0;
  for (const name of RECORDS) {
    const base = join(DATA, name);
    if (!existsSync(`${base}.hea`)) continue;
    const sig = readRecord(base).signals[0];
    const mv = toPhysical(sig);
    const chain = new EcgChain({ fs: sig.fs });
    const chunk = Math.round(sig.fs);
    const rr: RrInterval[] = [];
    for (let i = 0; i < mv.length; i += chunk) rr.push(...chain.push(mv.subarray(i, i + chunk)).rr);
    rr.push(...chain.flush().rr);
    for (const r of rr) out.push({ ...r, timeS: r.timeS + offset });
    offset += mv.length / sig.fs;
    used.push(name);
  }
  return { rr: out, spanS: offset, used };
}

function drop(effects: readonly { atS: number; bpm: number }[], t: number): number {
  let d = 0;
  for (const e of effects) {
    const s = t - e.atS;
    if (s <= 0) continue;
    const rise = 1 - Math.exp(-s / RISE_S);
    d += s <= HOLD_S ? e.bpm * rise : e.bpm * (1 - Math.exp(-HOLD_S / RISE_S)) * Math.exp(-(s - HOLD_S) / FADE_S);
  }
  return d;
}

interface RiderRun {
  picks: string[];
  rewards: { kind: string; r: number }[];
}

function simulate(base: { rr: RrInterval[]; spanS: number }, seed: number, helpful: readonly string[]): RiderRun {
  const rnd = seeded(seed);
  const chooser = new CueChooser(null, `sim-${seed}`, seeded(seed * 7919 + 1));
  const tracker = new CueOutcomeTracker();
  const effects: { atS: number; bpm: number }[] = [];
  const start = rnd() * base.spanS;
  // Index into the looped base series, and the ride's own time.
  let idx = base.rr.findIndex((r) => r.timeS >= start);
  let lap = 0;
  const rideT = (r: RrInterval) => r.timeS + lap * base.spanS - start;
  let nowS = 0;
  const pushUntil = (untilS: number) => {
    const batch: RrInterval[] = [];
    while (nowS < untilS) {
      if (idx >= base.rr.length) {
        idx = 0;
        lap++;
      }
      const r = base.rr[idx++];
      const t = rideT(r);
      if (t <= nowS) continue;
      nowS = t;
      const d = drop(effects, t);
      const scale = (ms: number) => 60_000 / Math.max(20, 60_000 / ms - d);
      batch.push({ timeS: t, rrMs: scale(r.rrMs), label: r.label, correctedMs: scale(r.correctedMs) });
    }
    return tracker.push({ rr: batch, quality: [] }, untilS);
  };
  const picks: string[] = [];
  const rewards: { kind: string; r: number }[] = [];
  const take = (outs: ReturnType<typeof pushUntil>) => {
    for (const o of outs) {
      const r = chooser.reward(o);
      if (r !== null) rewards.push({ kind: o.name, r });
    }
  };
  for (let i = 0; i < CUES; i++) {
    const at = 120 + i * CUE_EVERY_S;
    take(pushUntil(at));
    const c = chooser.choose([...KINDS], KINDS[0]);
    picks.push(c.chosen);
    effects.push({ atS: at, bpm: (helpful.includes(c.chosen) ? EFFECT_BPM : 0) + EFFECT_SD_BPM * normal(rnd) });
    const d: CueDelivery = { decisionSeq: i + 1, kind: 'coaching', name: c.chosen, state: 'played', language: 'es', prompt: 'voice' };
    take(tracker.cue(d, at));
  }
  take(pushUntil(120 + CUES * CUE_EVERY_S));
  return { picks, rewards };
}

const pct = (x: number) => `${(100 * x).toFixed(0)} %`;

export function run(): Promise<void> {
  const t0 = Date.now();
  agreement();
  const base = baseRr();
  if (base.used.length === 0) {
    console.log(`rider simulation: no records under ${DATA}; set MOTOBIO_BENCH_DATA`);
    return Promise.resolve();
  }
  console.log(`rider simulation on ${base.used.join(', ')} (${(base.spanS / 60).toFixed(0)} min of real RR through the EcgChain, looped)`);
  console.log(`  model: helpful cue -${EFFECT_BPM}±${EFFECT_SD_BPM} bpm (rises with tau ${RISE_S} s, held to ${HOLD_S} s, fades with tau ${FADE_S} s), other 0±${EFFECT_SD_BPM} bpm; a cue every ${CUE_EVERY_S} s; ${RIDERS} riders x ${CUES} cues`);

  // One helpful kind: relax_posture_cue (the chooser's first proposal is the other one).
  const one = Array.from({ length: RIDERS }, (_, k) => simulate(base, 1000 + k, ['relax_posture_cue']));
  const share = Array.from({ length: CUES }, (_, i) => one.filter((r) => r.picks[i] === 'relax_posture_cue').length / RIDERS);
  const smooth = share.map((_, i) => share.slice(Math.max(0, i - 4), i + 1).reduce((a, b) => a + b, 0) / Math.min(5, i + 1));
  const at80 = smooth.findIndex((s, i) => i >= 4 && s >= 0.8);
  const rew = (kind: string) => {
    const xs = one.flatMap((r) => r.rewards.filter((x) => x.kind === kind).map((x) => x.r));
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
    return `${m.toFixed(2)} ± ${sd.toFixed(2)} bpm (n ${xs.length})`;
  };
  console.log(`  measured reward (HR drop, outcome 60-180 s vs the minute before): helpful ${rew('relax_posture_cue')}, other ${rew('breathing_cue')}`);
  const blocks = [0, 10, 20, 30, 40, 50].map((b) => `${b + 1}-${b + 10}: ${pct(share.slice(b, b + 10).reduce((a, c) => a + c, 0) / 10)}`);
  console.log(`  one helpful kind: share of riders choosing it by cue, ${blocks.join(', ')}`);
  console.log(`  one helpful kind: chosen 80 % of the time (5-cue average over riders) from cue ${at80 < 0 ? `never within ${CUES}` : at80 + 1}`);
  const perRider = one.map((r) => {
    for (let i = 9; i < CUES; i++) if (r.picks.slice(i - 9, i + 1).filter((p) => p === 'relax_posture_cue').length >= 8) return i + 1;
    return Infinity;
  });
  const sorted = [...perRider].sort((a, b) => a - b);
  const med = sorted[Math.floor(RIDERS / 2)];
  console.log(`  one helpful kind: per rider, cues until 8 of the last 10 are the helpful kind: median ${med}, 90th percentile ${sorted[Math.floor(RIDERS * 0.9)]}, never ${perRider.filter((x) => x === Infinity).length}/${RIDERS}`);

  // Two equally helpful kinds: the choice must not lock in.
  const two = Array.from({ length: RIDERS }, (_, k) => simulate(base, 5000 + k, [...KINDS]));
  const shares = two.map((r) => r.picks.slice(20).filter((p) => p === 'breathing_cue').length / (CUES - 20));
  const meanShare = shares.reduce((a, b) => a + b, 0) / RIDERS;
  const minority = shares.map((s) => Math.min(s, 1 - s)).sort((a, b) => a - b);
  const locked = shares.filter((s) => s <= 0.05 || s >= 0.95).length;
  console.log(
    `  two equally helpful kinds, cues 21-${CUES}: breathing share ${pct(meanShare)} on average; the less-picked kind per rider: median ${pct(minority[Math.floor(RIDERS / 2)])}, 10th percentile ${pct(minority[Math.floor(RIDERS / 10)])}, lowest ${pct(minority[0])}; riders locked in (>= 95 % one kind): ${locked}/${RIDERS}`,
  );
  const majority = (r: RiderRun, from: number, to: number) => (r.picks.slice(from, to).filter((p) => p === 'breathing_cue').length * 2 > to - from ? 'breathing_cue' : 'relax_posture_cue');
  const switched = two.filter((r) => majority(r, 20, 40) !== majority(r, 40, 60)).length;
  console.log(`  two equally helpful kinds: riders whose majority kind in cues 21-40 differs from 41-60: ${switched}/${RIDERS} (the preference keeps moving: a fair coin per 20-cue block would give 100)`);
  console.log(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return Promise.resolve();
}
