/**
 * The scheduler's rules on their own, with a player that takes a fixed time per prompt (the
 * real player and device are in stage.test.ts): superseding, safety order, and, over a seeded
 * storm of requests, exactly one delivery per cue, no two prompts at once and never two
 * coaching prompts closer than min_gap_s.
 */
import { describe, expect, it } from 'vitest';
import { CueScheduler, type AudioAvailability } from '../../src/cues/scheduler.js';
import { cueSettings, type AudioSettings } from '../../src/cues/settings.js';
import type { CueDelivery, CueKind, CueRequest } from '../../src/cues/types.js';
import { sleep } from '../../src/sources/backoff.js';
import { waitFor } from '../sources/wait.js';

function harness(audio: Partial<AudioSettings>, playMs: (req: CueRequest) => number) {
  const deliveries: CueDelivery[] = [];
  const plays: { seq: number; kind: CueKind; start: number; end: number }[] = [];
  let availability: AudioAvailability = 'up';
  const s = new CueScheduler({
    settings: cueSettings({ audio: { output: 'alsa', ...audio } }).audio,
    language: 'es',
    monoMs: () => performance.now(),
    audio: () => availability,
    quiet: () => false,
    emit: (d) => deliveries.push(d),
    async play(req, signal) {
      const start = performance.now();
      await sleep(playMs(req), signal);
      const end = performance.now();
      plays.push({ seq: req.decisionSeq, kind: req.kind, start, end });
      return { startMonoMs: start, endMonoMs: end, completed: !signal.aborted, frames: 441, prompt: 'voice' };
    },
  });
  let seq = 0;
  return {
    s,
    deliveries,
    plays,
    setAudio: (a: AudioAvailability) => (availability = a),
    cue(kind: CueKind, name: string, extra: Partial<CueRequest> = {}): CueRequest {
      const req = { decisionSeq: ++seq, kind, name, decidedMonoMs: performance.now(), ...extra };
      s.request(req);
      return req;
    },
    of: (r: CueRequest) => deliveries.find((d) => d.decisionSeq === r.decisionSeq),
  };
}

describe('cue scheduler', () => {
  it('the policy’s "none" is no cue', () => {
    const h = harness({}, () => 10);
    expect(h.s.request({ decisionSeq: 1, kind: 'coaching', name: 'none', decidedMonoMs: performance.now() })).toBe(false);
    expect(h.deliveries).toEqual([]);
  });

  it('a newer coaching cue supersedes one waiting; a newer alert for the same rule supersedes one waiting', async () => {
    const h = harness({ min_gap_s: 0, coaching_max_delay_s: 5, safety_repeat_max: 1 }, () => 150);
    const a = h.cue('safety', 'hr_high', { active: false });
    const b = h.cue('coaching', 'breathing_cue');
    const c = h.cue('coaching', 'suggest_break');
    const d = h.cue('safety', 'vf', { active: false });
    const e = h.cue('safety', 'vf', { active: false });
    await waitFor(() => h.deliveries.length === 5, 5000, 'five deliveries');
    expect(h.of(b)).toMatchObject({ state: 'dropped', reason: 'superseded' });
    expect(h.of(d)).toMatchObject({ state: 'dropped', reason: 'superseded', repeat: 0 });
    // Safety in order, neither cutting the other; then the coaching cue that waited.
    expect(h.plays.map((p) => p.seq)).toEqual([a.decisionSeq, e.decisionSeq, c.decisionSeq]);
    expect(h.of(c)?.state).toBe('played');
  });

  it('drops what arrives while the stage starts or the output is down', () => {
    const h = harness({}, () => 10);
    h.setAudio('starting');
    expect(h.of(h.cue('safety', 'hr_high'))).toMatchObject({ state: 'dropped', reason: 'audio_starting' });
    h.setAudio('down');
    expect(h.of(h.cue('coaching', 'breathing_cue'))).toMatchObject({ state: 'dropped', reason: 'audio_unavailable' });
  });

  it('over a seeded storm: one delivery per cue, one prompt at a time, coaching min gap kept', async () => {
    let x = 12345;
    const rand = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const minGapS = 0.05;
    const h = harness({ min_gap_s: minGapS, coaching_max_delay_s: 0.08, safety_repeat_max: 3, safety_repeat_gap_s: 0.01 }, () => 5 + Math.floor(rand() * 25));
    const sent: CueRequest[] = [];
    const rules = ['hr_high', 'vf', 'pause'];
    for (let i = 0; i < 300; i++) {
      const r = rand();
      if (r < 0.45) sent.push(h.cue('coaching', ['breathing_cue', 'suggest_break'][i % 2], rand() < 0.1 ? { decidedMonoMs: performance.now() - 200 } : {}));
      else if (r < 0.6) sent.push(h.cue('safety', rules[i % 3], { active: rand() < 0.5 }));
      else if (r < 0.7) h.s.setSafetyActive(rules.filter(() => rand() < 0.3));
      await sleep(Math.floor(rand() * 12));
    }
    await sleep(200);
    await h.s.stop();
    const bySeq = new Map<number, CueDelivery[]>();
    for (const d of h.deliveries) bySeq.set(d.decisionSeq, [...(bySeq.get(d.decisionSeq) ?? []), d]);
    for (const r of sent) expect(bySeq.get(r.decisionSeq), `cue ${r.decisionSeq}`).toHaveLength(1);
    expect(h.deliveries).toHaveLength(sent.length);
    const plays = [...h.plays].sort((a, b) => a.start - b.start);
    for (let i = 1; i < plays.length; i++) expect(plays[i].start).toBeGreaterThanOrEqual(plays[i - 1].end - 0.5);
    const coaching = plays.filter((p) => p.kind === 'coaching');
    for (let i = 1; i < coaching.length; i++) expect(coaching[i].start - coaching[i - 1].end).toBeGreaterThanOrEqual(minGapS * 1000 - 2);
    const states = new Set(h.deliveries.map((d) => `${d.kind}:${d.state}`));
    // The storm exercised the paths it was meant to.
    for (const s of ['coaching:played', 'coaching:interrupted', 'coaching:dropped', 'safety:played']) expect(states).toContain(s);
    for (const d of h.deliveries) if (d.kind === 'safety' && d.state === 'played') expect(d.repeat).toBeLessThanOrEqual(3);
  }, 30_000);
});
