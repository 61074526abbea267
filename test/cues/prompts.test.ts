/**
 * The prompt library with the real espeak-ng and real files: every catalogue prompt renders
 * in both languages, a technician's WAV (any common format, converted by sox here as a
 * recorder would write it) replaces a prompt, and a corrupt file or a missing espeak-ng is
 * reported by name and falls back to a tone without failing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { COACHING_PROMPTS, SAFETY_PROMPTS } from '../../src/cues/catalogue.js';
import { ACTIONS } from '../../src/inference/features.js';
import { decodeWav, encodeWav, tone } from '../../src/cues/pcm.js';
import { PromptLibrary } from '../../src/cues/prompts.js';
import { cueSettings } from '../../src/cues/settings.js';
import { inQuietPeriod } from '../../src/cues/quiet.js';
import { silentLogger } from '../../src/util/log.js';
import { sameSamples } from './alsa.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'motobio-prompts-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('prompt library', () => {
  it('has a prompt for every coaching action but none, every safety rule and the rhythm rules, in both languages', async () => {
    expect([...COACHING_PROMPTS].sort()).toEqual(ACTIONS.filter((a) => a !== 'none').sort());
    expect(SAFETY_PROMPTS).toEqual(expect.arrayContaining(['hr_high', 'hr_low', 'leads_off', 'sensor_lost', 'quality_low', 'sustained_vt', 'vf', 'pause', 'af_onset']));
    const cache = tmp();
    for (const language of ['es', 'en'] as const) {
      const lib = await PromptLibrary.load({ language, promptsDir: '', cacheDir: cache, volume: 1, log: silentLogger });
      expect(lib.problems).toEqual([]);
      expect(lib.list()).toHaveLength(COACHING_PROMPTS.length + SAFETY_PROMPTS.length);
      for (const p of lib.list()) {
        expect(p.source).toBe('rendered');
        expect(p.pcm.length / 22050).toBeGreaterThan(0.5);
        expect(p.pcm.length / 22050).toBeLessThan(8);
      }
    }
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    // Rendered once: a second load finds every file in the cache and writes nothing new.
    const before = readdirSync(cache).map((f) => `${f}:${statSync(join(cache, f)).mtimeMs}`).sort();
    await PromptLibrary.load({ language: 'es', promptsDir: '', cacheDir: cache, volume: 1, log: silentLogger });
    expect(readdirSync(cache).map((f) => `${f}:${statSync(join(cache, f)).mtimeMs}`).sort()).toEqual(before);
  }, 60_000);

  it('plays a technician file in place of a prompt, converted from 44.1 kHz stereo', async () => {
    const cache = tmp();
    const prompts = tmp();
    mkdirSync(join(prompts, 'es'));
    const file = join(prompts, 'es', 'breathing_cue.wav');
    // A recorder's file: 1 s of a 300 Hz tone, stereo, 44.1 kHz, 16 bit.
    execFileSync('sox', ['-n', '-r', '44100', '-c', '2', '-b', '16', file, 'synth', '1', 'sine', '300', 'gain', '-6']);
    const lib = await PromptLibrary.load({ language: 'es', promptsDir: prompts, cacheDir: cache, volume: 1, log: silentLogger });
    expect(lib.problems).toEqual([]);
    const p = lib.get('breathing_cue', 'coaching');
    expect(p).toMatchObject({ source: 'file', file });
    expect(p.pcm.length).toBe(22050);
    // sox's own resample of the same file agrees to within a few LSB of 16 bit.
    const ref = decodeWav(execFileSync('sox', [file, '-r', '22050', '-c', '1', '-b', '16', '-t', 'wav', '-']));
    let worst = 0;
    for (let i = 100; i < ref.length - 100; i++) worst = Math.max(worst, Math.abs(ref[i] - p.pcm[i]));
    expect(worst).toBeLessThan(400);
    expect(lib.get('suggest_break', 'coaching').source).toBe('rendered');
  }, 60_000);

  it('reports a corrupt or empty technician file by name and plays a tone for it; the rest still load', async () => {
    const cache = tmp();
    const prompts = tmp();
    mkdirSync(join(prompts, 'en'));
    writeFileSync(join(prompts, 'en', 'hr_high.wav'), 'this is not a wav');
    const truncated = encodeWav(tone('coaching')).subarray(0, 100);
    writeFileSync(join(prompts, 'en', 'suggest_break.wav'), truncated);
    const lib = await PromptLibrary.load({ language: 'en', promptsDir: prompts, cacheDir: cache, volume: 0.5, log: silentLogger });
    expect(lib.problems.map((p) => p.name).sort()).toEqual(['hr_high', 'suggest_break']);
    expect(lib.problems.find((p) => p.name === 'hr_high')?.file).toBe(join(prompts, 'en', 'hr_high.wav'));
    expect(lib.problems.find((p) => p.name === 'hr_high')?.error).toMatch(/not a WAV/);
    expect(lib.problems.find((p) => p.name === 'suggest_break')?.error).toMatch(/truncated/);
    expect(lib.get('hr_high', 'safety').source).toBe('tone');
    expect(lib.get('hr_low', 'safety').source).toBe('rendered');
    expect(lib.get('hr_high', 'safety').pcm.length).toBe(tone('safety').length);
  }, 60_000);

  it('without espeak-ng every prompt is a tone, each reported, and the library still loads', async () => {
    const lib = await PromptLibrary.load({ language: 'es', promptsDir: '', cacheDir: tmp(), volume: 1, log: silentLogger, espeak: '/nonexistent/espeak-ng' });
    expect(lib.problems).toHaveLength(COACHING_PROMPTS.length + SAFETY_PROMPTS.length);
    expect(lib.problems[0].error).toMatch(/espeak-ng is not installed/);
    expect(sameSamples(lib.get('vf', 'safety').pcm, tone('safety'))).toBe(true);
  });

  it('plays an unknown name as its kind’s tone', async () => {
    const lib = await PromptLibrary.load({ language: 'es', promptsDir: '', cacheDir: tmp(), volume: 1, log: silentLogger });
    const p = lib.get('no_such_rule', 'safety');
    expect(p.source).toBe('tone');
    expect(sameSamples(p.pcm, tone('safety'))).toBe(true);
  }, 60_000);

  it('reports a prompts_dir that does not exist', async () => {
    const missing = join(tmp(), 'nope');
    const lib = await PromptLibrary.load({ language: 'es', promptsDir: missing, cacheDir: tmp(), volume: 1, log: silentLogger });
    expect(lib.problems).toContainEqual(expect.objectContaining({ file: missing }));
    expect(existsSync(missing)).toBe(false);
  }, 60_000);
});

describe('cue settings', () => {
  it('fills the defaults: Spanish, prompts off', () => {
    const s = cueSettings();
    expect(s.language).toBe('es');
    expect(s.audio).toMatchObject({ output: 'none', volume: 0.8, mute: false, quiet_hours: [], coaching_max_delay_s: 3, safety_repeat_max: 3 });
  });

  it('names the setting that is wrong', () => {
    expect(() => cueSettings({ audio: { volume: 2 } })).toThrow(/rider\.audio\.volume: must be a number from 0 to 1/);
    expect(() => cueSettings({ audio: { quiet_hours: [{ from: '25:00', to: '06:00' }] } })).toThrow(/rider\.audio\.quiet_hours\.0\.from: must be a time/);
    expect(() => cueSettings({ language: 'fr' as 'es' })).toThrow(/rider\.language: must be "es" or "en"/);
  });

  it('quiet periods run past midnight', () => {
    const p = [{ from: '22:00', to: '06:30' }];
    expect(inQuietPeriod(p, new Date(2026, 0, 1, 23, 0))).toBe(true);
    expect(inQuietPeriod(p, new Date(2026, 0, 1, 6, 29))).toBe(true);
    expect(inQuietPeriod(p, new Date(2026, 0, 1, 6, 30))).toBe(false);
    expect(inQuietPeriod(p, new Date(2026, 0, 1, 12, 0))).toBe(false);
  });
});
