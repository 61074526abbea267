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
    const rep = JSON.parse(r.stdout) as { hrOnly: { hrMaeBpm: number; windows: number }[] };
    expect(rep.hrOnly[0].windows).toBeGreaterThan(20);
    expect(rep.hrOnly[0].hrMaeBpm).toBeLessThan(2);
  });

  it('eval fails against a ratchet it does not reach, and --update records what it measured', () => {
    // Ratcheted figures are those with targets (mitdb, nstdb, qtdb, drivedb), named by folder.
    const db = join(dir, 'mitdb');
    mkdirSync(db, { recursive: true });
    for (const ext of ['hea', 'dat', 'atr']) copyFileSync(`test/fixtures/mitdb-208-2min.${ext}`, join(db, `mitdb-208-2min.${ext}`));
    const ratchet = join(dir, 'ratchet.json');
    writeFileSync(ratchet, JSON.stringify({ figures: { 'mitdb.se': { value: 100.5, better: 'higher' }, 'mitdb.ppv': { value: 50, better: 'higher', target: 99.8 } } }));
    const r = motobio('eval', db, '--ratchet', ratchet);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('mitdb.se');
    expect(r.stderr).not.toContain('mitdb.ppv: 99');
    expect(r.stderr).toContain('better than recorded: mitdb.ppv');
    expect(motobio('eval', db, '--ratchet', ratchet, '--update').status).toBe(0);
    const after = JSON.parse(readFileSync(ratchet, 'utf8')) as { figures: Record<string, { value: number }> };
    // How --update treats met and unmet figures is pinned in ratchet.test.ts; here, that it writes.
    expect(after.figures['mitdb.se'].value).toBeGreaterThan(99);
    expect(after.figures['mitdb.ppv'].value).toBeGreaterThan(99);
    expect(after.figures['mitdb.timingSdMs'].value).toBeLessThan(10);
  });

  it('a truncated record or an unknown channel is one clear line, not a stack trace', () => {
    copyFileSync('test/fixtures/mitdb-208-2min.hea', join(dir, 'mitdb-208-2min.hea'));
    writeFileSync(join(dir, 'mitdb-208-2min.dat'), Buffer.alloc(100));
    const r = motobio('detect', join(dir, 'mitdb-208-2min'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^motobio: .*mitdb-208-2min\.dat: truncated/);
    expect(r.stderr).not.toContain('    at ');
    const c = motobio('detect', 'test/fixtures/mitdb-208-2min', '--channel', '3');
    expect(c.status).toBe(2);
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
