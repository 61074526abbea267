/**
 * The cue stage end to end on real parts: espeak-ng renders the prompts, a long-lived aplay
 * plays them into ALSA's file plugin over the null PCM, and the capture is read back (sox for
 * its length and loudness, exact samples for order and whole-ness).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Telemetry } from '../../src/daemon/telemetry.js';
import { padToPeriods } from '../../src/cues/pcm.js';
import { PromptLibrary } from '../../src/cues/prompts.js';
import { cueSettings, type AudioSettings } from '../../src/cues/settings.js';
import { CueStage } from '../../src/cues/stage.js';
import type { CueDelivery, CueKind, CueRequest } from '../../src/cues/types.js';
import { silentLogger } from '../../src/util/log.js';
import { waitFor } from '../sources/wait.js';
import { filePcm, indexOfSamples, sameSamples, type FilePcm } from './alsa.js';

const PERIOD = 441;
let cacheDir: string;
let lib: PromptLibrary;

beforeAll(async () => {
  cacheDir = mkdtempSync(join(tmpdir(), 'motobio-cue-cache-'));
  lib = await PromptLibrary.load({ language: 'es', promptsDir: '', cacheDir, volume: 0.8, log: silentLogger });
  expect(lib.problems).toEqual([]);
}, 60_000);
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

/** What the device should receive for a prompt: its samples padded to whole periods. */
function expected(name: string, kind: CueKind): Int16Array {
  return padToPeriods(lib.get(name, kind).pcm, PERIOD);
}

interface Rig {
  stage: CueStage;
  pcm: FilePcm;
  telemetry: Telemetry;
  deliveries: CueDelivery[];
  statuses: Record<string, unknown>[];
  seq: number;
  cue(kind: CueKind, name: string, extra?: Partial<CueRequest>): CueRequest;
  delivered(seq: number): Promise<CueDelivery>;
  close(): Promise<void>;
}

async function rig(audio: Partial<AudioSettings>, options: { defined?: boolean; language?: 'es' | 'en'; start?: boolean } = {}): Promise<Rig> {
  const pcm = filePcm({ defined: options.defined ?? true });
  const telemetry = new Telemetry({ processMetrics: false });
  const deliveries: CueDelivery[] = [];
  const statuses: Record<string, unknown>[] = [];
  const stage = new CueStage({
    settings: cueSettings({ language: options.language ?? 'es', audio: { output: 'alsa', device: pcm.device, cache_dir: cacheDir, min_gap_s: 0, volume: 0.8, ...audio } }),
    log: silentLogger,
    monoMs: () => performance.now(),
    onDelivery: (d) => deliveries.push(d),
    onStatus: (s) => statuses.push({ ...s }),
    telemetry,
    registry: telemetry.registry,
    env: pcm.env,
  });
  if (options.start ?? true) await stage.start(new AbortController().signal);
  const r: Rig = {
    stage,
    pcm,
    telemetry,
    deliveries,
    statuses,
    seq: 0,
    cue(kind, name, extra = {}) {
      const req: CueRequest = { decisionSeq: ++r.seq, kind, name, decidedMonoMs: performance.now(), ...extra };
      stage.cue(req);
      return req;
    },
    async delivered(seq) {
      await waitFor(() => deliveries.some((d) => d.decisionSeq === seq), 20_000, `the delivery of cue ${seq}`);
      return deliveries.find((d) => d.decisionSeq === seq)!;
    },
    async close() {
      await stage.stop();
      pcm.cleanup();
    },
  };
  return r;
}

/** The capture, checked to hold nothing but silence after `frames` (what aplay plays out at close). */
function played(pcm: FilePcm, frames: number): Int16Array {
  const s = pcm.samples();
  expect(s.length).toBeGreaterThanOrEqual(frames);
  expect(s.subarray(frames).every((v) => v === 0)).toBe(true);
  return s.subarray(0, frames);
}

describe('cue stage on an ALSA file PCM', () => {
  it('plays prompts whole and in order, one delivery each with start and end on the monotonic clock', async () => {
    const r = await rig({});
    try {
      const a = r.cue('coaching', 'breathing_cue');
      const da = await r.delivered(a.decisionSeq);
      const b = r.cue('safety', 'hr_high', { active: false });
      const db = await r.delivered(b.decisionSeq);
      const c = r.cue('coaching', 'suggest_break');
      const dc = await r.delivered(c.decisionSeq);
      await r.stage.stop();
      for (const d of [da, db, dc]) {
        expect(d.state).toBe('played');
        expect(d.prompt).toBe('voice');
        expect(d.language).toBe('es');
        expect(d.endMonoMs! - d.startMonoMs!).toBeGreaterThan(500);
      }
      expect(db.repeat).toBe(1);
      expect(da.endMonoMs!).toBeLessThanOrEqual(db.startMonoMs!);
      expect(db.endMonoMs!).toBeLessThanOrEqual(dc.startMonoMs!);
      const want = [expected('breathing_cue', 'coaching'), expected('hr_high', 'safety'), expected('suggest_break', 'coaching')];
      const total = want.reduce((n, w) => n + w.length, 0);
      const got = played(r.pcm, total);
      let at = 0;
      for (const w of want) {
        expect(sameSamples(got.subarray(at, at + w.length), w)).toBe(true);
        // sox agrees there is speech in each segment, not silence.
        expect(r.pcm.soxRms(at, w.length)).toBeGreaterThan(0.02);
        at += w.length;
      }
      expect(r.pcm.soxSeconds()).toBeGreaterThanOrEqual(total / 22050 - 1e-3);
      expect(r.deliveries).toHaveLength(3);
    } finally {
      await r.close();
    }
  }, 60_000);

  it('cuts a coaching prompt at once for a safety alert, which repeats while its condition holds', async () => {
    const r = await rig({ safety_repeat_max: 2, safety_repeat_gap_s: 0.2 });
    try {
      const coaching = r.cue('coaching', 'relax_posture_cue');
      await waitFor(() => r.stage.status().playing?.decisionSeq === coaching.decisionSeq, 10_000, 'the coaching prompt to start');
      await new Promise((res) => setTimeout(res, 500));
      const safety = r.cue('safety', 'sustained_vt', { active: true });
      const cutAtMs = safety.decidedMonoMs;
      const dc = await r.delivered(coaching.decisionSeq);
      const ds = await r.delivered(safety.decisionSeq);
      await r.stage.stop();
      expect(dc.state).toBe('interrupted');
      expect(dc.reason).toBe('safety');
      expect(ds.state).toBe('played');
      expect(ds.repeat).toBe(2);
      const full = expected('relax_posture_cue', 'coaching');
      const alert = expected('sustained_vt', 'safety');
      const all = r.pcm.samples();
      const start = indexOfSamples(all, alert);
      const got = played(r.pcm, start + 2 * alert.length);
      expect(start).toBeGreaterThan(0);
      // What came before the alert is the opening of the coaching prompt, and not all of it.
      expect(sameSamples(got.subarray(0, start), full.subarray(0, start))).toBe(true);
      expect(start).toBeLessThan(full.length);
      // Cut near the alert's arrival: no more than the player's lead (80 ms) plus the device buffer and a scheduling slack.
      const heardBeforeCutMs = (start / 22050) * 1000;
      const elapsedAtCutMs = cutAtMs - dc.startMonoMs!;
      expect(heardBeforeCutMs).toBeGreaterThanOrEqual(elapsedAtCutMs - 200);
      expect(heardBeforeCutMs).toBeLessThan(elapsedAtCutMs + 1000);
      // Played twice, back to back with the gap (no audio is written in the gap), then nothing.
      expect(sameSamples(got.subarray(start), new Int16Array([...alert, ...alert]))).toBe(true);
      expect(ds.startMonoMs! - cutAtMs).toBeLessThan(1000);
    } finally {
      await r.close();
    }
  }, 60_000);

  it('stops repeating a safety alert when its condition no longer holds', async () => {
    const r = await rig({ safety_repeat_max: 5, safety_repeat_gap_s: 1 });
    try {
      const s = r.cue('safety', 'hr_low', { active: true });
      await waitFor(() => r.stage.status().playing?.decisionSeq === s.decisionSeq, 10_000, 'the first play');
      // The rule clears around the end of the first play (during it, in the gap, or in the second play).
      await new Promise((res) => setTimeout(res, 3500));
      r.stage.setSafetyActive([]);
      const d = await r.delivered(s.decisionSeq);
      expect(d.state).toBe('played');
      expect(d.repeat).toBeGreaterThanOrEqual(1);
      expect(d.repeat).toBeLessThan(5);
    } finally {
      await r.close();
    }
  }, 60_000);

  it('never plays two coaching prompts back to back: the second is dropped, not queued', async () => {
    const r = await rig({ min_gap_s: 30, coaching_max_delay_s: 1 });
    try {
      const a = r.cue('coaching', 'breathing_cue');
      const da = await r.delivered(a.decisionSeq);
      const b = r.cue('coaching', 'suggest_break');
      const db = await r.delivered(b.decisionSeq);
      // While one plays, a newer one supersedes a waiting one; the newest is dropped at its deadline.
      const c = r.cue('coaching', 'relax_posture_cue', { decidedMonoMs: performance.now() - 5000 });
      const dc = await r.delivered(c.decisionSeq);
      await r.stage.stop();
      expect(da.state).toBe('played');
      expect(db).toMatchObject({ state: 'dropped', reason: 'late_min_gap' });
      expect(dc).toMatchObject({ state: 'dropped', reason: 'late_decision' });
      const a1 = expected('breathing_cue', 'coaching');
      expect(sameSamples(played(r.pcm, a1.length), a1)).toBe(true);
    } finally {
      await r.close();
    }
  }, 60_000);

  it('drops a coaching prompt that cannot start within its delay behind a safety alert', async () => {
    const r = await rig({ coaching_max_delay_s: 0.5, safety_repeat_max: 1 });
    try {
      const s = r.cue('safety', 'vf', { active: false });
      await waitFor(() => r.stage.status().playing?.decisionSeq === s.decisionSeq, 10_000, 'the alert to start');
      const c = r.cue('coaching', 'breathing_cue');
      const dc = await r.delivered(c.decisionSeq);
      expect(dc).toMatchObject({ state: 'dropped', reason: 'late_safety' });
      expect((await r.delivered(s.decisionSeq)).state).toBe('played');
    } finally {
      await r.close();
    }
  }, 60_000);

  it('mutes every cue with mute, and coaching only in quiet hours', async () => {
    const r = await rig({ mute: true });
    try {
      const a = r.cue('safety', 'hr_high');
      expect(await r.delivered(a.decisionSeq)).toMatchObject({ state: 'muted', reason: 'mute' });
    } finally {
      await r.close();
    }
    const q = await rig({ quiet_hours: [{ from: '00:00', to: '23:59' }] });
    try {
      const a = q.cue('coaching', 'breathing_cue');
      expect(await q.delivered(a.decisionSeq)).toMatchObject({ state: 'muted', reason: 'quiet_hours' });
      const b = q.cue('safety', 'hr_high', { active: false });
      expect((await q.delivered(b.decisionSeq)).state).toBe('played');
    } finally {
      await q.close();
    }
  }, 60_000);

  it('with no audio output configured: prompts off, said at start and in status, cues muted', async () => {
    const r = await rig({ output: 'none' });
    try {
      expect(r.statuses).toContainEqual(expect.objectContaining({ event: 'prompts_off' }));
      expect(r.telemetry.snapshot().components['cues']?.state).toBe('off');
      const a = r.cue('safety', 'hr_high');
      expect(await r.delivered(a.decisionSeq)).toMatchObject({ state: 'muted', reason: 'audio_off' });
    } finally {
      await r.close();
    }
  });

  it('a missing device raises an alarm, the stage carries on, and it recovers with backoff when the device appears', async () => {
    const r = await rig({}, { defined: false });
    try {
      const snap = r.telemetry.snapshot();
      expect(snap.alarms.map((a) => a.code)).toContain('AUDIO_UNAVAILABLE');
      expect(snap.components['cues']?.state).toBe('failed');
      expect(snap.components['cues']?.lastError).toMatch(/rider/);
      expect(r.statuses).toContainEqual(expect.objectContaining({ event: 'audio_unavailable' }));
      expect(await r.telemetry.metrics()).toMatch(/motobio_cue_audio_up 0/);
      const a = r.cue('safety', 'hr_high');
      expect(await r.delivered(a.decisionSeq)).toMatchObject({ state: 'dropped', reason: 'audio_unavailable' });
      // The headset gets paired: the next retry opens it.
      r.pcm.define();
      await waitFor(() => r.stage.status().state === 'ready', 15_000, 'the retry to open the device');
      expect(r.telemetry.snapshot().alarms.map((x) => x.code)).not.toContain('AUDIO_UNAVAILABLE');
      expect(r.statuses).toContainEqual(expect.objectContaining({ event: 'audio_restored' }));
      const b = r.cue('safety', 'hr_high', { active: false });
      expect((await r.delivered(b.decisionSeq)).state).toBe('played');
      expect(await r.telemetry.metrics()).toMatch(/motobio_cue_deliveries_total\{kind="safety",state="played"\} 1/);
    } finally {
      await r.close();
    }
  }, 60_000);

  it('a device failing mid-prompt interrupts it, raises the alarm, and the stage reopens it', async () => {
    const r = await rig({});
    try {
      const a = r.cue('coaching', 'relax_posture_cue');
      await waitFor(() => r.stage.status().playing?.decisionSeq === a.decisionSeq, 10_000, 'the prompt to start');
      await new Promise((res) => setTimeout(res, 200));
      const pid = (r.stage as unknown as { output: { pid?: number } }).output.pid;
      process.kill(pid!, 'SIGKILL');
      expect(await r.delivered(a.decisionSeq)).toMatchObject({ state: 'interrupted', reason: 'audio_failed' });
      expect(r.telemetry.snapshot().alarms.map((x) => x.code)).toContain('AUDIO_UNAVAILABLE');
      await waitFor(() => r.stage.status().state === 'ready', 15_000, 'the reopen');
    } finally {
      await r.close();
    }
  }, 60_000);

  it('gives every pending cue its delivery when it stops', async () => {
    const r = await rig({ safety_repeat_max: 3, safety_repeat_gap_s: 5 });
    const s = r.cue('safety', 'pause', { active: true });
    const c = r.cue('coaching', 'breathing_cue');
    await waitFor(() => r.stage.status().playing !== undefined, 10_000, 'playing');
    await r.close();
    const byseq = new Map(r.deliveries.map((d) => [d.decisionSeq, d]));
    expect(r.deliveries).toHaveLength(2);
    expect(byseq.get(s.decisionSeq)?.state).toMatch(/interrupted|played/);
    expect(byseq.get(c.decisionSeq)).toMatchObject({ state: 'dropped', reason: 'stopping' });
  }, 60_000);
});
