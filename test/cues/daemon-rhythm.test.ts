/**
 * Rhythm safety end to end through the real daemon, from the ECG of whole MIT-BIH records
 * (../shared/data) replayed faster than real time, with the prompts played into ALSA's file
 * plugin: mitdb 207's ventricular flutter is an emergency the rider hears (`vf`) with its ECG
 * strip kept, mitdb 203's
 * atrial fibrillation a calm `af_onset` prompt, and a whole real drive (drivedb drive05, 1.2 h)
 * raises no rhythm alarm at all.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readStore, replayConfig, startDaemon } from '../faults/helpers/daemon.js';
import { REPO, killAll, tempDir, waitFor } from '../daemon/helpers.js';
import { filePcm } from './alsa.js';

const DATA = join(REPO, '..', 'shared', 'data');
const RHYTHM_RULES = new Set(['sustained_vt', 'vf', 'pause', 'af_onset', 'nsvt', 'af_short']);
const dirs: { cleanup: () => void }[] = [];
afterAll(() => {
  killAll();
  for (const d of dirs) d.cleanup();
});

async function replay(record: string, speed: number) {
  expect(existsSync(`${record}.hea`), `${record}.hea`).toBe(true);
  const dir = tempDir('motobio-daemon-rhythm-');
  const pcm = filePcm();
  dirs.push(dir, pcm);
  const store = join(dir.path, 'motobio.db');
  const config = {
    ...replayConfig({ device: 'rhythm-e2e', record, store, speed, loop: false }),
    rider: { language: 'en', audio: { output: 'alsa', device: pcm.device, cache_dir: join(dir.path, 'cues') } },
  };
  const run = await startDaemon(dir.path, config, { HOME: pcm.dir });
  await waitFor('the replay to end', () => run.proc.logs().some((l) => String(l['msg']).startsWith('source ended')), 240_000, 250);
  expect(await run.stop()).toBe(0);
  const { rows } = readStore(store);
  const safety = rows.filter((r) => r.type === 'safety');
  const played = rows.filter((r) => r.type === 'cue' && r.body['state'] === 'played');
  return { rows, safety, played, names: new Set(safety.map((r) => String(r.body['name']))) };
}

describe('rhythm safety in the running daemon', () => {
  it('mitdb 207: ventricular flutter raises the vf emergency, and the rider hears it', async () => {
    const r = await replay(join(DATA, 'mitdb', '207'), 60);
    expect([...r.names]).toContain('vf');
    const vf = r.safety.filter((s) => s.body['name'] === 'vf');
    const heard = r.played.filter((c) => c.body['name'] === 'vf');
    expect(heard.length).toBeGreaterThan(0);
    for (const c of heard) expect(vf.some((s) => s.seq === c.body['decisionSeq'])).toBe(true);
    // The ECG that triggered it is kept for the server (src/report/ecg-strips.ts; its sample-exact
    // cover is test/report/daemon-report.test.ts's): raw chunks stored after the first alert.
    expect(r.rows.filter((x) => x.type === 'ecg' && x.seq > vf[0].seq).length).toBeGreaterThan(0);
  }, 300_000);

  it('mitdb 203: atrial fibrillation raises a calm af_onset prompt, and the rider hears it', async () => {
    const r = await replay(join(DATA, 'mitdb', '203'), 60);
    expect([...r.names]).toContain('af_onset');
    expect(r.played.some((c) => c.body['name'] === 'af_onset')).toBe(true);
  }, 300_000);

  it('drivedb drive05, a whole real drive: no rhythm alarm and no rhythm prompt', async () => {
    const r = await replay(join(DATA, 'drivedb', 'drive05'), 120);
    expect(r.rows.filter((x) => x.type === 'decision').length).toBeGreaterThan(500);
    expect([...r.names].filter((n) => RHYTHM_RULES.has(n))).toEqual([]);
    expect(r.played.filter((c) => RHYTHM_RULES.has(String(c.body['name'])))).toEqual([]);
  }, 300_000);
});
