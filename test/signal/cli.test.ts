import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The CLI as a technician runs it: the built entry point (npm test builds first).
const CLI = 'dist/src/cli/main.js';
const EC57 = '../shared/tools/ec57.py';
const dir = mkdtempSync(join(tmpdir(), 'motobio-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const motobio = (...args: string[]) => spawnSync('node', [CLI, ...args], { encoding: 'utf8' });

describe('motobio detect and eval', () => {
  it('detect prints {fs, peaks} that the independent EC57 scorer agrees with', () => {
    const r = motobio('detect', 'test/fixtures/mitdb-208-2min', '--format', 'json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { fs: number; peaks: number[]; hrv: unknown[]; quality: unknown[] };
    expect(out.fs).toBe(360);
    const file = join(dir, 'det.json');
    writeFileSync(file, r.stdout);
    // ec57.py: record ref tp fn fp se ppv offset_mean offset_sd
    const line = execFileSync('python3', [EC57, 'test/fixtures/mitdb-208-2min', file], { encoding: 'utf8' }).trim().split(/\s+/);
    const [, ref, tp, fn, fp] = line.map(Number);
    expect(ref).toBe(207);
    expect(tp).toBe(out.peaks.length - fp);
    expect(fn + fp).toBeLessThanOrEqual(2);

    const ev = motobio('eval', 'test/fixtures/mitdb-208-2min', '--json');
    expect(ev.status).toBe(0);
    const rep = JSON.parse(ev.stdout) as { records: { whole: { tp: number; fn: number; fp: number } }[] };
    expect(rep.records[0].whole).toMatchObject({ tp, fn, fp });
  });

  it('detect --format csv prints one line per beat', () => {
    const r = motobio('detect', 'test/fixtures/qtdb-sel302-2min', '--format', 'csv');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('sample,time_s,rr_ms,rr_label');
    expect(lines.length).toBeGreaterThan(150);
  });

  it('eval scores a record without annotations on its HR channel (drivedb)', () => {
    const r = motobio('eval', 'src/sources/recordings/drive05-ecg-5min', '--json');
    const rep = JSON.parse(r.stdout) as { hrOnly: { hrMaeBpm: number; windows: number; refWindows: number; missedWindows: number; hrMissedPct: number }[] };
    expect(rep.hrOnly[0].windows).toBeGreaterThan(20);
    // Windows the detector found too few beats in are counted beside the mean, not dropped unseen.
    expect(rep.hrOnly[0].refWindows).toBe(rep.hrOnly[0].windows + rep.hrOnly[0].missedWindows);
    expect(rep.hrOnly[0].hrMissedPct).toBeCloseTo((100 * rep.hrOnly[0].missedWindows) / rep.hrOnly[0].refWindows, 9);
    expect(rep.hrOnly[0].hrMaeBpm).toBeLessThan(2);
  });

  it('eval --ratchet pins the record set, fails naming a record gone from it and a figure that slid', () => {
    // Ratcheted figures are named by folder: two 2-min excerpts in a folder called qtdb (target 99.9).
    const db = join(dir, 'qtdb');
    mkdirSync(db, { recursive: true });
    for (const rec of ['mitdb-208-2min', 'qtdb-sel302-2min']) for (const ext of ['hea', 'dat', 'atr']) copyFileSync(`test/fixtures/${rec}.${ext}`, join(db, `${rec}.${ext}`));
    const ratchet = join(dir, 'ratchet.json');
    writeFileSync(ratchet, '{}');
    const unpinned = motobio('eval', db, '--ratchet', ratchet);
    expect(unpinned.status).toBe(1);
    expect(unpinned.stderr).toContain('pins no records');
    expect(unpinned.stderr).toContain('figure qtdb.se: measured (100, target 99.9 in code) but not recorded');

    expect(motobio('eval', db, '--ratchet', ratchet, '--update').status).toBe(0);
    const pinned = JSON.parse(readFileSync(ratchet, 'utf8')) as { records: Record<string, Record<string, { beats: number }>>; figures: Record<string, { best: number; floor: number }> };
    expect(pinned.records).toEqual({ qtdb: { 'mitdb-208-2min': { beats: 207 }, 'qtdb-sel302-2min': { beats: 183 } } });
    expect(pinned.figures['qtdb.se']).toMatchObject({ best: 100, floor: 99.9 });
    const holds = motobio('eval', db, '--ratchet', ratchet);
    expect(holds.status).toBe(0);
    expect(holds.stderr).toContain('holds (2 records, 2 figures)');

    const saved = join(dir, 'report.json');
    writeFileSync(saved, motobio('eval', db, '--json').stdout);
    const report = JSON.parse(readFileSync(saved, 'utf8')) as { figures: Record<string, { value: number }> };
    report.figures['qtdb.se'].value = 99.5;
    writeFileSync(saved, JSON.stringify(report));
    const slid = motobio('eval', '--from', saved, '--ratchet', ratchet);
    expect(slid.status).toBe(1);
    expect(slid.stderr).toContain('qtdb.se: 99.5 is worse than its floor 99.9');

    rmSync(join(db, 'mitdb-208-2min.hea'));
    const gone = motobio('eval', db, '--ratchet', ratchet);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toContain('record qtdb/mitdb-208-2min: pinned in');
    expect(motobio('eval', db, '--ratchet', ratchet, '--update').status).not.toBe(0);
    expect(JSON.parse(readFileSync(ratchet, 'utf8'))).toEqual(pinned);
  });

  it('eval reports a record in a folder it cannot score as skipped, with the reason, instead of dropping it', () => {
    const db = join(dir, 'mixed');
    mkdirSync(db, { recursive: true });
    for (const ext of ['hea', 'dat', 'atr']) copyFileSync(`test/fixtures/mitdb-208-2min.${ext}`, join(db, `mitdb-208-2min.${ext}`));
    // An annotation-only header (afdb's, 0 signals) and a record without annotations or an HR channel.
    writeFileSync(join(db, 'annonly.hea'), 'annonly 0 250 9000000\n');
    copyFileSync('test/fixtures/mitdb-208-2min.dat', join(db, 'noref.dat'));
    writeFileSync(join(db, 'noref.hea'), readFileSync('test/fixtures/mitdb-208-2min.hea', 'utf8').replaceAll('mitdb-208-2min', 'noref'));
    const r = motobio('eval', db, '--json');
    expect(r.status).toBe(0);
    const rep = JSON.parse(r.stdout) as { records: unknown[]; skipped: { record: string; database: string; reason: string }[] };
    expect(rep.records).toHaveLength(1);
    expect(rep.skipped.map((s) => s.record)).toEqual(['annonly', 'noref']);
    expect(rep.skipped[0].reason).toMatch(/annonly\.hea: the record has 0 signals \(annotations only\).*eval --rhythm --beats qrs/);
    expect(rep.skipped[1].reason).toBe('no reference annotations (.atr) and no HR channel to score against');
    expect(r.stderr).toContain('eval: skipped mixed/noref: no reference annotations');
  });

  it('a truncated record or an unknown channel is one clear line, not a stack trace', () => {
    copyFileSync('test/fixtures/mitdb-208-2min.hea', join(dir, 'mitdb-208-2min.hea'));
    writeFileSync(join(dir, 'mitdb-208-2min.dat'), Buffer.alloc(100));
    const r = motobio('detect', join(dir, 'mitdb-208-2min'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^motobio: .*mitdb-208-2min\.dat: truncated/);
    expect(r.stderr).not.toContain('    at ');
    const c = motobio('detect', 'test/fixtures/mitdb-208-2min', '--channel', '3');
    expect(c.status).toBe(64);
    expect(c.stderr).toContain('no channel 3; this record has 0=MLII');
  });

  it('ends quietly when its reader stops reading (motobio eval ... | head -1)', async () => {
    // eval prints a line per record as it goes: after the reader is gone the next line meets EPIPE.
    const child = spawn('node', [CLI, 'eval', 'test/fixtures'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });
});
