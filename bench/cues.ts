/**
 * Cue latency (printed, never asserted): from the decision (CueStage.cue with the decision's
 * monotonic time) to the first audio frame handed to the device, through the real stage, a
 * long-lived aplay and ALSA's file plugin over the null PCM. Goal: p99 <= 50 ms on x86.
 *
 *   idle     nothing playing: a coaching cue starts
 *   cut-in   a safety alert arriving while a coaching prompt plays (the cut included)
 *   per-process, for comparison: one `aplay` per prompt, spawn to exit for a 20 ms prompt —
 *            the fixed cost a long-lived process avoids, paid before the first frame.
 *
 * Prompts are short technician files (written here) so the bench runs in seconds.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { COACHING_PROMPTS, SAFETY_PROMPTS } from '../src/cues/catalogue.js';
import { encodeWav, tone } from '../src/cues/pcm.js';
import { cueSettings } from '../src/cues/settings.js';
import { CueStage } from '../src/cues/stage.js';
import type { CueDelivery } from '../src/cues/types.js';
import { percentile } from '../src/inference/validate.js';
import { silentLogger } from '../src/util/log.js';

const ROUNDS = 60;

function line(name: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `  ${name.padEnd(34)} p50 ${percentile(s, 0.5).toFixed(2)}  p99 ${percentile(s, 0.99).toFixed(2)}  max ${s[s.length - 1].toFixed(2)} ms  (n=${s.length})`;
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('bench: timed out waiting for a cue delivery');
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'motobio-bench-cues-'));
  try {
    const capture = join(dir, 'rider.raw');
    writeFileSync(join(dir, '.asoundrc'), `pcm.rider { type file; slave.pcm "null"; file "${capture}"; format "raw" }\n`);
    const env = { ...process.env, HOME: dir };
    const prompts = join(dir, 'prompts', 'es');
    mkdirSync(prompts, { recursive: true });
    // Coaching 1 s (long enough to be cut), safety one 0.15 s beep.
    const long = new Int16Array(22050).map((_, i) => Math.round(8000 * Math.sin(i / 8)));
    for (const n of COACHING_PROMPTS) writeFileSync(join(prompts, `${n}.wav`), encodeWav(long));
    for (const n of SAFETY_PROMPTS) writeFileSync(join(prompts, `${n}.wav`), encodeWav(tone('safety').subarray(0, 3307)));
    const deliveries = new Map<number, CueDelivery>();
    const settings = cueSettings({
      audio: { output: 'alsa', device: 'rider', prompts_dir: join(dir, 'prompts'), cache_dir: join(dir, 'cache'), min_gap_s: 0, coaching_max_delay_s: 5, safety_repeat_max: 1 },
    });
    const stage = new CueStage({ settings, log: silentLogger, monoMs: () => performance.now(), onDelivery: (d) => deliveries.set(d.decisionSeq, d), env });
    await stage.start(new AbortController().signal);
    if (stage.status().state !== 'ready') throw new Error(`bench: audio output not ready: ${stage.status().lastError ?? ''}`);
    const idle: number[] = [];
    const cut: number[] = [];
    let seq = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const c = { decisionSeq: ++seq, kind: 'coaching' as const, name: 'breathing_cue', decidedMonoMs: performance.now() };
      stage.cue(c);
      await new Promise((r) => setTimeout(r, 100 + (i % 7) * 10));
      const s = { decisionSeq: ++seq, kind: 'safety' as const, name: 'hr_high', decidedMonoMs: performance.now(), active: false };
      stage.cue(s);
      await until(() => deliveries.has(c.decisionSeq) && deliveries.has(s.decisionSeq));
      const dc = deliveries.get(c.decisionSeq)!;
      const ds = deliveries.get(s.decisionSeq)!;
      if (dc.startMonoMs !== undefined) idle.push(dc.startMonoMs - c.decidedMonoMs);
      if (ds.startMonoMs !== undefined && dc.state === 'interrupted') cut.push(ds.startMonoMs - s.decidedMonoMs);
    }
    await stage.stop();
    console.log(line('decision -> first frame, idle', idle));
    console.log(line('decision -> first frame, cut-in', cut));
    // What a cut-in waits behind before the rider hears it: the player's lead, held in the ALSA buffer.
    console.log(`  ${'queued ahead of the ear'.padEnd(34)} ${settings.audio.lead_ms} ms lead (ALSA buffer ${(settings.audio.period_frames * 4 * 1000) / 22050} ms)`);

    const perProcess: number[] = [];
    const pcm = Buffer.from(new Int16Array(441).buffer);
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const child = spawn('aplay', ['-q', '-D', 'rider', '-t', 'raw', '-f', 'S16_LE', '-r', '22050', '-c', '1', '-'], { env, stdio: ['pipe', 'ignore', 'ignore'] });
      child.stdin.end(pcm);
      await new Promise((r) => child.once('exit', r));
      perProcess.push(performance.now() - t0);
    }
    console.log(line('per-process aplay, spawn -> exit', perProcess));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
