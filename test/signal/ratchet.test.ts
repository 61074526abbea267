import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkRatchet, floorOf, readRatchet, update, writeRatchet, type Census, type Figures, type RatchetFile } from '../../src/offline/signal-eval/ratchet.js';
import { TARGETS, TOLERANCE_BEATS } from '../../src/offline/signal-eval/targets.js';

const dir = mkdtempSync(join(tmpdir(), 'motobio-ratchet-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A run on two nstdb records and one drive: what the ratchet is checked against.
const measured = (se12 = 99.956, ppv12 = 99.65): Figures => ({
  'nstdb/118e12.se': { value: se12, better: 'higher', target: 99, beats: 2278 },
  'nstdb/118e12.ppv': { value: ppv12, better: 'higher', target: 99, beats: 2286 },
  'nstdb/118e24.se': { value: 100, better: 'higher', target: 99.5, beats: 2278 },
  'nstdb/118e24.ppv': { value: 100, better: 'higher', target: 99.5, beats: 2278 },
  'drivedb/drive05.hrMaeBpm': { value: 1.357, better: 'lower', target: 2 },
  'drivedb/drive05.hrMissedPct': { value: 0, better: 'lower', target: 1 },
});
const census = (drop?: string, beats118e24 = 2278): Census => {
  const scored = new Map([
    ['nstdb/118e12', [{ beats: 2278 }]],
    ['nstdb/118e24', [{ beats: beats118e24 }]],
    ['drivedb/drive05', [{ hrWindows: 475 }]],
  ]);
  if (drop) scored.delete(drop);
  return { scored, skipped: new Map() };
};
const empty: RatchetFile = { about: '', rules: [], records: {}, figures: {} };
const pinned = (): RatchetFile => update(empty, measured(), census());
const messages = (r: RatchetFile, f: Figures, c: Census): string[] => checkRatchet(r, f, c, 'accuracy.json').failures.map((x) => x.message);

describe('accuracy ratchet', () => {
  it('pins what a run scored and then holds on the same run', () => {
    const r = pinned();
    expect(r.records).toEqual({ nstdb: { '118e12': { beats: 2278 }, '118e24': { beats: 2278 } }, drivedb: { drive05: { hrWindows: 475 } } });
    expect(r.figures['nstdb/118e12.se']).toMatchObject({ best: 99.956, target: 99, slide: `${TOLERANCE_BEATS} beats of 2278 = 0.132 pp`, floor: 99.824 });
    expect(checkRatchet(r, measured(), census())).toEqual({ failures: [], improvements: [] });
  });

  it('fails naming a pinned record that is missing, skipped or re-annotated, and a database with none left', () => {
    const r = pinned();
    const noE24 = measured();
    delete noE24['nstdb/118e24.se'];
    delete noE24['nstdb/118e24.ppv'];
    const missing = messages(r, noE24, census('nstdb/118e24'));
    expect(missing[0]).toMatch(/^record nstdb\/118e24: pinned in accuracy.json \(2278 reference beats\) but not in the data given; restore it/);
    expect(missing).toContain('figure nstdb/118e24.se: recorded in accuracy.json but not measured by this run (its record or database is missing or skipped: see above)');

    const c = census('nstdb/118e24');
    c.skipped.set('nstdb/118e24', 'no channel 0 (the record has 0)');
    expect(messages(r, noE24, c)[0]).toBe('record nstdb/118e24: pinned in accuracy.json but skipped: no channel 0 (the record has 0)');

    expect(messages(r, measured(), census(undefined, 2277))).toEqual([
      'record nstdb/118e24: 2277 reference beats, accuracy.json pins 2278 reference beats; the record is not the published one: restore it from PhysioNet',
    ]);

    const noDrive = measured();
    delete noDrive['drivedb/drive05.hrMaeBpm'];
    delete noDrive['drivedb/drive05.hrMissedPct'];
    expect(messages(r, noDrive, census('drivedb/drive05'))[0]).toMatch(/^database drivedb: none of its 1 pinned records was scored; give eval the folder/);
  });

  it('fails on a record scored but not pinned (a different record set) and on a file with no records', () => {
    const c = census();
    c.scored.set('nstdb/118e18', [{ beats: 2278 }]);
    expect(messages(pinned(), measured(), c)).toEqual([
      'record nstdb/118e18: scored but not pinned in accuracy.json, so the pooled figures are over another record set; pin it with --update, or leave it out of the paths',
    ]);
    expect(messages({ ...pinned(), records: {} }, measured(), census())[0]).toMatch(/pins no records/);
  });

  it('fails on a met figure that slides more than the tolerance below its best, not one within it', () => {
    const r = pinned();
    // 118e12 Se 99.956 over 2278 beats: 3 beats are 0.132 pp.
    expect(messages(r, measured(99.956 - 0.13), census())).toEqual([]);
    expect(messages(r, measured(99.456), census())).toEqual(['nstdb/118e12.se: 99.456 is worse than its floor 99.824 (best 99.956 - 3 beats of 2278 = 0.132 pp)']);
    // The old rule held a met figure at its target: 99.0 passed.
    expect(messages(r, measured(99.0), census())).toHaveLength(1);
    const worseHr = measured();
    worseHr['drivedb/drive05.hrMissedPct'] = { value: 0.42, better: 'lower', target: 1 };
    expect(messages(r, worseHr, census())).toEqual(['drivedb/drive05.hrMissedPct: 0.42 is worse than its floor 0.2 (best 0 + 0.2 percentage points (about one 10-s window))']);
  });

  it('a JSON edit can raise a floor but never lower it below the target in code', () => {
    const r = pinned();
    expect(floorOf('nstdb/118e12.se', 10, 'higher', 0.132)).toBe(TARGETS['nstdb/118e12.se']);
    r.figures['nstdb/118e12.se'] = { ...r.figures['nstdb/118e12.se'], best: 50, floor: 49 };
    expect(messages(r, measured(98.9), census())).toEqual(['nstdb/118e12.se: 98.9 is worse than its floor 99 (the target in code; best 50)']);
    // A target edited in the file is not read as one, and the file is called stale.
    r.figures['nstdb/118e12.ppv'] = { ...r.figures['nstdb/118e12.ppv'], best: 50, target: 90 };
    const stale = messages(r, measured(99.5, 98.5), census());
    expect(stale).toContain('nstdb/118e12.ppv: 98.5 is worse than its floor 99 (the target in code; best 50)');
    expect(stale).toContain('figure nstdb/118e12.ppv: accuracy.json states target 90, the code (src/offline/signal-eval/targets.ts) says 99; restate it with --update');
    // Raising the best raises the floor.
    r.figures['nstdb/118e24.ppv'] = { ...r.figures['nstdb/118e24.ppv'], best: 101 };
    expect(messages(r, measured(), census())).toContain('nstdb/118e24.ppv: 100 is worse than its floor 100.868 (best 101 - 3 beats of 2278 = 0.132 pp)');
  });

  it('fails on a figure with a target measured but not recorded', () => {
    const r = pinned();
    delete r.figures['drivedb/drive05.hrMissedPct'];
    expect(messages(r, measured(), census())).toEqual(["figure drivedb/drive05.hrMissedPct: measured (0, target 1 in code) but not recorded in accuracy.json; record it with --update"]);
  });

  it('--update raises a best, never lowers one, and refuses to record a missing record or a regression', () => {
    const r = pinned();
    const up = update(r, measured(99.9, 99.8), census());
    expect(up.figures['nstdb/118e12.se'].best).toBe(99.956);
    expect(up.figures['nstdb/118e12.ppv'].best).toBe(99.8);
    expect(() => update(r, measured(99.0), census())).toThrow(/refuses to record this run:\n {2}nstdb\/118e12.se: 99 is worse than its floor/);
    expect(() => update(r, measured(), census(undefined, 2000))).toThrow(/record nstdb\/118e24: 2000 reference beats/);
  });

  it('writes a file that reads back the same, and reads the format before records were pinned', () => {
    const file = join(dir, 'accuracy.json');
    writeRatchet(file, pinned());
    const back = readRatchet(file);
    expect(back.records).toEqual(pinned().records);
    expect(back.figures).toEqual(pinned().figures);
    expect(readFileSync(file, 'utf8')).toContain('"118e12": { "beats": 2278 }');
    writeFileSync(file, JSON.stringify({ figures: { 'nstdb/118e12.se': { value: 99.956, better: 'higher', target: 99 } } }));
    const old = readRatchet(file);
    expect(old.figures['nstdb/118e12.se'].best).toBe(99.956);
    expect(messages(old, measured(), census())[0]).toMatch(/pins no records \(an older format\?\)/);
    writeFileSync(file, '{"figures": {"x": {"better": "higher"}}}');
    expect(() => readRatchet(file)).toThrow(/figure x needs a numeric "best"/);
  });
});
