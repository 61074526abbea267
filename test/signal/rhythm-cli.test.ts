import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The built CLI against the independent episode scorer (../shared/tools/rhythm.py).
const CLI = 'dist/src/cli/main.js';
const RHYTHM = '../shared/tools/rhythm.py';
const dir = mkdtempSync(join(tmpdir(), 'motobio-rhythm-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const motobio = (...args: string[]) => spawnSync('node', [CLI, ...args], { encoding: 'utf8' });

interface Scored {
  refEpisodes: number;
  detEpisodes: number;
  matchedRef: number;
  matchedDet: number;
  overlapS: number;
}

/** rhythm.py's line: record TYPE ref_episodes ref_s det_episodes det_s matched_ref matched_det overlap_s */
function rhythmPy(type: string, base: string, json: string): number[] {
  const file = join(dir, `${type}.json`);
  writeFileSync(file, json);
  return execFileSync('python3', [RHYTHM, type, base, file], { encoding: 'utf8' }).trim().split(/\s+/).slice(2).map(Number);
}

describe('motobio detect and eval --rhythm', () => {
  it('detect --beats qrs on an annotation-only record gives episodes that rhythm.py scores as eval --rhythm does', () => {
    const base = 'test/fixtures/afdb-06426';
    const r = motobio('detect', base, '--beats', 'qrs');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { fs: number; peaks: number[]; rhythm: { type: string; start: number; end: number }[] };
    expect(out.fs).toBe(250);
    expect(out.rhythm.filter((e) => e.type === 'AF').length).toBeGreaterThan(5);
    for (const e of out.rhythm) expect(e.end).toBeGreaterThanOrEqual(e.start);
    const [ref, , det, , mr, md, ov] = rhythmPy('AF', base, r.stdout);

    const ev = motobio('eval', '--rhythm', '--beats', 'qrs', base, '--json');
    expect(ev.status).toBe(0);
    const s = (JSON.parse(ev.stdout) as { records: { scores: { AF: Scored } }[] }).records[0].scores.AF;
    expect([s.refEpisodes, s.detEpisodes, s.matchedRef, s.matchedDet]).toEqual([ref, det, mr, md]);
    expect(s.overlapS).toBeCloseTo(ov, -1);
  });

  it('detect on ECG adds a beat class per peak and the VF episodes of mitdb 207', () => {
    const base = 'test/fixtures/mitdb-207-1min-235s';
    const r = motobio('detect', base, '--format', 'json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { peaks: number[]; beat_class: string[] };
    expect(out.beat_class).toHaveLength(out.peaks.length);
    expect(out.beat_class.every((c) => c === 'N' || c === 'V' || c === 'S')).toBe(true);
    const [ref, , det, , mr, md] = rhythmPy('VF', base, r.stdout);
    expect(ref).toBe(3);
    expect(mr).toBe(3);
    expect(md).toBe(det);
  });

  it('says what to do when a record has no signals and no --beats', () => {
    const r = motobio('detect', 'test/fixtures/afdb-06426');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/no signals.*--beats qrs/);
    const e = motobio('eval', '--beats', 'qrs', 'test/fixtures/afdb-06426');
    expect(e.status).not.toBe(0);
    expect(e.stderr).toMatch(/--rhythm/);
  });
});
