import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseHeader } from '../../src/sources/wfdb/header.js';
import { readRecord, toPhysical } from '../../src/sources/wfdb/record.js';
import { parseAnnotations, readAnnotations, beatSamples } from '../../src/sources/wfdb/annotations.js';
import { writeAnnotations } from '../../src/sources/wfdb/write.js';
import { MotobioError } from '../../src/util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'motobio-wfdb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectRecordError(fn: () => unknown, ...fragments: string[]): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MotobioError);
    for (const f of fragments) expect((e as Error).message).toContain(f);
    return;
  }
  throw new Error('expected an error');
}

describe('WFDB headers', () => {
  it('reads CRLF headers with gain, baseline, units and descriptions', () => {
    const h = parseHeader('118e00 2 360 650000\r\n118e00.dat 16 200(1024) 11 0 -167 29505 0 MLII\r\n118e00.dat 16 200(1024) 11 0 -103 -16890 0 V1\r\n# comment\r\n', 'x.hea');
    expect(h.frameRate).toBe(360);
    expect(h.frames).toBe(650000);
    expect(h.signals[0]).toMatchObject({ format: 16, gain: 200, baseline: 1024, description: 'MLII' });
    expect(h.comments).toEqual(['comment']);
  });

  it('reads multi-rate frames and counter frequencies (drivedb, qtdb)', () => {
    const h = parseHeader('drive05 2 15.5 78367\ndrive05.dat 16x32 1000 16 0 -49 -19117 0 ECG\ndrive05.dat 16 1/bpm 16 0 89 30902 0 HR\n', 'd.hea');
    expect(h.signals[0].samplesPerFrame).toBe(32);
    expect(h.signals[1]).toMatchObject({ gain: 1, units: 'bpm', baseline: 0 });
    expect(parseHeader('sel301 2 250/360 224999\nsel301.dat 212 200 12 0 511 -14413 0 ECG1\nsel301.dat 212 200 12 0 268 9404 0 ECG2\n', 's.hea').frameRate).toBe(250);
  });

  it('takes a gain of 0 as the WFDB default of 200', () => {
    expect(parseHeader('bw 1 360 10\nbw.dat 212 0 12 0 -29 -3562 0 noise1\n', 'bw.hea').signals[0].gain).toBe(200);
  });

  it('names the file and the problem for unknown formats and short signal lists', () => {
    expectRecordError(() => parseHeader('r 1 360 10\nr.dat 311 200 10 0 0 0 0 x\n', 'r.hea'), 'r.hea', 'format 311');
    expectRecordError(() => parseHeader('r 2 360 10\nr.dat 16 200 16 0 0 0 0 x\n', 'r.hea'), 'announces 2 signals');
    expectRecordError(() => parseHeader('', 'empty.hea'), 'empty.hea', 'no record line');
  });
});

describe('WFDB signals', () => {
  it('decodes format 212 (two 12-bit samples in three bytes, negative values too)', () => {
    const samples = [0, 1, -1, 2047, -2048, 1000, -1000];
    const bytes: number[] = [];
    for (let i = 0; i < samples.length; i += 2) {
      const a = samples[i] & 0xfff;
      const b = (samples[i + 1] ?? 0) & 0xfff;
      bytes.push(a & 0xff, ((a >> 8) & 0x0f) | ((b >> 4) & 0xf0), b & 0xff);
    }
    writeFileSync(join(dir, 'f212.dat'), Buffer.from(bytes));
    writeFileSync(join(dir, 'f212.hea'), `f212 1 360 ${samples.length}\nf212.dat 212 200 12 0 0 0 0 test\n`);
    expect(Array.from(readRecord(join(dir, 'f212')).signals[0].adc)).toEqual(samples);
  });

  it('splits interleaved signals of a real record and applies gain and baseline', () => {
    const rec = readRecord('src/sources/recordings/drive05-ecg-5min');
    expect(rec.signals.map((s) => s.fs)).toEqual([496, 15.5]);
    expect(rec.signals[0].adc.length).toBe(32 * rec.signals[1].adc.length);
    const hr = toPhysical(rec.signals[1]);
    const mean = hr.reduce((a, b) => a + b, 0) / hr.length;
    expect(mean).toBeGreaterThan(50);
    expect(mean).toBeLessThan(120);
  });

  it('reports a truncated .dat with the file name and what to do', () => {
    const src = readFileSync('test/fixtures/mitdb-208-2min.dat');
    writeFileSync(join(dir, 'trunc.dat'), src.subarray(0, 1000));
    writeFileSync(join(dir, 'trunc.hea'), readFileSync('test/fixtures/mitdb-208-2min.hea', 'utf8').replace(/^mitdb-208-2min/, 'trunc').replace(/mitdb-208-2min\.dat/g, 'trunc.dat'));
    expectRecordError(() => readRecord(join(dir, 'trunc')), 'trunc.dat', 'truncated', 'promises 43200 frames', 'holds 500');
  });

  it('reports a missing header or signal file clearly', () => {
    expectRecordError(() => readRecord(join(dir, 'nope')), 'nope.hea', 'no such header');
    writeFileSync(join(dir, 'orphan.hea'), 'orphan 1 360 10\norphan.dat 16 200 16 0 0 0 0 x\n');
    expectRecordError(() => readRecord(join(dir, 'orphan')), 'orphan.dat', 'missing');
  });
});

describe('MIT annotations', () => {
  it('reads SKIP, AUX, NUM, SUB and CHN words', () => {
    const w = (code: number, field: number): number[] => [((code << 10) | field) & 0xff, ((code << 10) | field) >> 8];
    const bytes = [
      ...w(1, 100), // N at 100
      ...w(61, 3), // SUB=3 on it
      ...w(62, 1), // CHN=1 for what follows
      ...w(60, 5), // NUM=5
      ...w(59, 0), 0x01, 0x00, 0x00, 0x00, // SKIP 65536 (high word first)
      ...w(28, 10), // rhythm change
      ...w(63, 4), ...Buffer.from('(AFL', 'latin1'), // AUX
      ...w(5, 300), // V
      ...w(31, 10), // ! flutter wave: not a beat
      0, 0,
    ];
    const anns = parseAnnotations(Uint8Array.from(bytes), 't.atr');
    expect(anns.map((a) => [a.sample, a.code])).toEqual([[100, 1], [65646, 28], [65946, 5], [65956, 31]]);
    expect(anns[0].subtype).toBe(3);
    expect(anns[1]).toMatchObject({ chan: 1, num: 5, aux: '(AFL' });
    expect(beatSamples(anns)).toEqual([100, 65946]);
  });

  it('round-trips through the writer and matches the real fixture', () => {
    const anns = readAnnotations('test/fixtures/mitdb-208-2min');
    writeAnnotations(join(dir, 'copy.atr'), anns);
    expect(readAnnotations(join(dir, 'copy')).map((a) => [a.sample, a.code, a.aux])).toEqual(anns.map((a) => [a.sample, a.code, a.aux]));
  });

  it('reports an annotation file cut in the middle of an entry', () => {
    expectRecordError(() => parseAnnotations(Uint8Array.from([0x00, 0xec, 0x01]), 'cut.atr'), 'cut.atr', 'middle of an entry');
  });
});
