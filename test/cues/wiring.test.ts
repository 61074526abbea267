/**
 * The wiring the daemon uses: decisions shaped as the decision engine makes them
 * (src/inference/daemon-engine.ts) go to a stage built from a daemon context (real Clock,
 * real Telemetry), a safety alert repeats while the coaching decisions' safetyActive lists its
 * rule, deliveries reach both the record callback and the event stream.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Clock } from '../../src/core/clock.js';
import type { StageContext } from '../../src/core/context.js';
import type { Decision } from '../../src/inference/stage.js';
import type { MotobioConfig } from '../../src/config/schema.js';
import { Telemetry } from '../../src/daemon/telemetry.js';
import { EventStream } from '../../src/cues/event-stream.js';
import type { CueDelivery } from '../../src/cues/types.js';
import { createCueStage, cueRecord, cueRequestFor, decisionToCue, publishDecision } from '../../src/cues/wiring.js';
import { silentLogger } from '../../src/util/log.js';
import { waitFor } from '../sources/wait.js';
import { filePcm } from './alsa.js';

describe('cue wiring', () => {
  it('maps the decision engine’s decisions to cues: none is no cue, safety is active', () => {
    const stamp = { seq: 41, monoMs: 1234.5 };
    expect(cueRequestFor({ kind: 'coaching', name: 'none' }, stamp)).toBeUndefined();
    expect(cueRequestFor({ kind: 'coaching', name: 'suggest_break' }, stamp)).toEqual({ decisionSeq: 41, kind: 'coaching', name: 'suggest_break', decidedMonoMs: 1234.5 });
    expect(cueRequestFor({ kind: 'safety', name: 'hr_high' }, stamp)).toMatchObject({ kind: 'safety', active: true });
    // The engine's coaching record mirrors a fired rule as safety_alert/source safety: the rule's own decision is the cue.
    expect(cueRequestFor({ kind: 'coaching', name: 'safety_alert', detail: { source: 'safety' } }, stamp)).toBeUndefined();
    expect(cueRequestFor({ kind: 'coaching', name: 'safety_alert', detail: { source: 'model' } }, stamp)).toMatchObject({ kind: 'coaching', name: 'safety_alert' });
  });

  it('repeats an alert while safetyActive lists it, and records and streams every delivery', async () => {
    const pcm = filePcm();
    const cache = mkdtempSync(join(tmpdir(), 'motobio-wiring-'));
    const clock = new Clock();
    const telemetry = new Telemetry({ processMetrics: false });
    const ctx: StageContext = { config: {} as MotobioConfig, configFile: undefined, cwd: cache, log: silentLogger, clock, telemetry };
    const events = new EventStream({ log: silentLogger });
    const server = createServer((req, res) => events.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const records: ReturnType<typeof cueRecord>[] = [];
    const stage = createCueStage(ctx, {
      settings: { language: 'en', audio: { output: 'alsa', device: pcm.device, cache_dir: 'prompt-cache', safety_repeat_max: 3, safety_repeat_gap_s: 0.3 } },
      onDelivery: (d) => records.push(cueRecord(d, clock.stamp())),
      events,
      env: pcm.env,
    });
    const ac = new AbortController();
    try {
      await stage.start(ac.signal);
      expect(stage.status().state).toBe('ready');
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/events?types=cue,safety`, { signal: ac.signal });
      const safety: Decision = { kind: 'safety', name: 'hr_high', detail: { rule: 'hr_high', sinceS: 10, value: 190, threshold: 185, message: 'heart rate above 185 bpm for 20 s', t: 30 } };
      const s1 = clock.stamp();
      publishDecision(events, safety, s1);
      decisionToCue(stage, safety, s1);
      // The coaching decision of the same period: held back, the rule still active.
      decisionToCue(stage, { kind: 'coaching', name: 'none', detail: { safetyActive: ['hr_high'] } }, clock.stamp());
      await waitFor(() => (stage.status().counts['safety_played'] ?? 0) === 0 && pcm.samples().length > 0, 15_000, 'the alert to play');
      // Next period: the rule has cleared.
      await new Promise((r) => setTimeout(r, 4000));
      decisionToCue(stage, { kind: 'coaching', name: 'none', detail: { safetyActive: [] } }, clock.stamp());
      await waitFor(() => records.length === 1, 15_000, 'the delivery record');
      const rec = records[0];
      expect(rec.type).toBe('cue');
      const body = rec.body as unknown as CueDelivery;
      expect(body).toMatchObject({ decisionSeq: s1.seq, kind: 'safety', name: 'hr_high', state: 'played', language: 'en', prompt: 'voice' });
      expect(body.repeat).toBeGreaterThanOrEqual(1);
      expect(body.repeat).toBeLessThanOrEqual(3);
      expect(body.startMonoMs!).toBeGreaterThanOrEqual(s1.monoMs);
      const text = await readUntil(res, /event: cue/);
      expect(text).toContain('event: safety');
      expect(text).toContain(`"decisionSeq":${s1.seq}`);
      expect(telemetry.snapshot().components['cues']).toMatchObject({ state: 'ready' });
      // The relative cache directory landed under the context's cwd.
      expect(readdirSync(join(cache, 'prompt-cache')).filter((f) => f.startsWith('en-hr_high-'))).toHaveLength(1);
    } finally {
      ac.abort();
      await stage.stop();
      events.close();
      server.closeAllConnections();
      server.close();
      pcm.cleanup();
      rmSync(cache, { recursive: true, force: true });
    }
  }, 60_000);
});

async function readUntil(res: Response, re: RegExp): Promise<string> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  while (!re.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  return text;
}

describe('the cues line of motobio status', () => {
  it('says prompts are off, or the output, language, tones and the last cue', async () => {
    const { formatCueLine } = await import('../../src/cues/status-line.js');
    const telemetry = new Telemetry({ processMetrics: false });
    const clock = new Clock();
    const ctx: StageContext = { config: {} as MotobioConfig, configFile: undefined, cwd: process.cwd(), log: silentLogger, clock, telemetry };
    const stage = createCueStage(ctx, { settings: {}, onDelivery: () => undefined });
    await stage.start(new AbortController().signal);
    decisionToCue(stage, { kind: 'safety', name: 'vf' }, clock.stamp());
    await stage.stop();
    const line = formatCueLine(telemetry.snapshot().components['cues']);
    expect(line).toMatch(/^cues: +prompts OFF/);
    expect(line).toContain('es');
    expect(line).toMatch(/last: safety vf muted \(audio_off\), decision #\d+/);
    expect(formatCueLine({ state: 'failed', lastError: 'no headset', detail: { output: 'alsa:rider', language: 'en', promptProblems: ['vf'] } })).toBe(
      'cues:      alsa:rider UNAVAILABLE (no headset), retrying, en, as tones: vf',
    );
  });
});
