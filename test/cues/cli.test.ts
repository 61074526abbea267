/**
 * `motobio test audio` as a technician runs it (the built CLI in a child process), on aplay
 * into ALSA's file PCM: it lists the prompts, names a broken file, and plays what it lists.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filePcm } from './alsa.js';

const CLI = 'dist/src/cli/main.js';

describe('motobio test audio', () => {
  it('lists the prompts, names a broken file, and plays them on the device', () => {
    const pcm = filePcm();
    try {
      mkdirSync(join(pcm.dir, 'prompts', 'en'), { recursive: true });
      writeFileSync(join(pcm.dir, 'prompts', 'en', 'vf.wav'), 'RIFF....WAVEjunk');
      const r = spawnSync('node', [CLI, 'test', 'audio', '--device', pcm.device, '--language', 'en', '--prompts-dir', join(pcm.dir, 'prompts'), '--cache-dir', join(pcm.dir, 'cache'), '--only', 'breathing_cue,vf', '--json'], {
        encoding: 'utf8',
        env: pcm.env,
        timeout: 60_000,
      });
      expect(r.status).toBe(1);
      const out = JSON.parse(r.stdout) as { ok: boolean; prompts: { name: string; source: string; played: boolean }[]; problems: { name: string; file: string; error: string }[]; deviceError: string | null };
      expect(out.ok).toBe(false);
      expect(out.deviceError).toBeNull();
      expect(out.prompts.map((p) => [p.name, p.source, p.played])).toEqual([
        ['breathing_cue', 'rendered', true],
        ['vf', 'tone', true],
      ]);
      expect(out.problems).toEqual([expect.objectContaining({ name: 'vf', file: join(pcm.dir, 'prompts', 'en', 'vf.wav') })]);
      expect(pcm.soxSeconds()).toBeGreaterThan(1);
      const bad = spawnSync('node', [CLI, 'test', 'audio', '--device', 'no_such_pcm', '--cache-dir', join(pcm.dir, 'cache'), '--only', 'vf'], { encoding: 'utf8', env: pcm.env, timeout: 60_000 });
      expect(bad.status).toBe(1);
      expect(bad.stdout).toMatch(/device no_such_pcm: .*no_such_pcm/);
    } finally {
      pcm.cleanup();
    }
  }, 90_000);
});
