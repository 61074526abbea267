import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { BinaryParser, encodeBinaryFrame, MAX_FRAME } from '../../src/sources/serial/binary-protocol.js';
import { TextParser, encodeTextLine } from '../../src/sources/serial/text-protocol.js';
import { AutoParser } from '../../src/sources/serial/detect.js';
import { crc16 } from '../../src/sources/serial/crc16.js';
import { AdcScale } from '../../src/sources/serial/adc.js';
import type { FrameParser, ParsedFrame } from '../../src/sources/serial/parser.js';
import { loadRecording, encode } from './serial-feed.js';

const MAX12 = 4095;
type Make = () => FrameParser;
const PARSERS: [string, Make][] = [
  ['text', () => new TextParser(MAX12)],
  ['binary', () => new BinaryParser(MAX12)],
  ['auto', () => new AutoParser(MAX12)],
];

function pushAll(p: FrameParser, chunks: Uint8Array[]): ParsedFrame[] {
  const out: ParsedFrame[] = [];
  for (const c of chunks) for (const f of p.push(c)) out.push(f);
  return out;
}

function valuesOf(frames: ParsedFrame[]): number[] {
  return frames.flatMap((f) => [...f.values]);
}

function inRange(frames: ParsedFrame[], max = MAX12): boolean {
  return frames.every((f) => f.values.every((v) => Number.isNaN(v) || (Number.isInteger(v) && v >= 0 && v <= max)));
}

/** Splits bytes at arbitrary points, as a serial driver does. */
function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

const sampleArb = fc.integer({ min: 0, max: MAX12 });
const framesArb = fc.array(fc.array(sampleArb, { minLength: 1, maxLength: 64 }), { minLength: 3, maxLength: 12 });

describe('CRC-16/CCITT-FALSE', () => {
  it('matches the catalogue check value', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x29b1);
  });
});

describe('AdcScale', () => {
  it('maps mid-scale to 0 mV and round-trips counts', () => {
    const s = new AdcScale({ bits: 10, vrefV: 3.3, gain: 1100 });
    expect(s.toMv(s.zero)).toBe(0);
    expect(s.toCount(s.toMv(700))).toBe(700);
    expect(s.toCount(1e9)).toBe(1023);
    expect(s.rangeMv).toBeCloseTo(1.5, 2);
    expect(() => new AdcScale({ bits: 7 })).toThrow(/adc.bits/);
    expect(() => new AdcScale({ gain: 0 })).toThrow(/adc.gain/);
  });
});

describe('TextParser', () => {
  it('reads values, lead-off marks, millis pairs, CRLF and LF, and counts what it drops', () => {
    const p = new TextParser(1023);
    const frames = p.push(Buffer.from('512\r\n!\n\n100,7\n101,!\r\nabc\n2000\n-5\n1,2,3\n'));
    expect(frames).toEqual([
      { values: [512], leadOff: false },
      { values: [NaN], leadOff: true },
      { values: [7], leadOff: false, deviceMs: 100 },
      { values: [NaN], leadOff: true, deviceMs: 101 },
    ]);
    expect(p.counters.framesGood).toBe(4);
    expect(p.counters.framesBad).toBe(4);
    expect(p.counters.bytesDropped).toBe('abc\n2000\n-5\n1,2,3\n'.length);
  });

  it('drops an over-long line without holding on to it', () => {
    const p = new TextParser(1023);
    expect(p.push(Buffer.from('9'.repeat(10_000)))).toEqual([]);
    expect(p.push(Buffer.from('\n12\n'))).toEqual([{ values: [12], leadOff: false }]);
    expect(p.counters.framesBad).toBe(1);
    expect(p.counters.bytesDropped).toBe(10_001);
  });

  it('decodes a real record byte by byte exactly', () => {
    const rec = loadRecording();
    const bytes = encode(rec.counts, 0, 3600, 'text', rec.fs);
    const p = new TextParser(MAX12);
    const out = pushAll(p, [...bytes].map((b) => Uint8Array.of(b)));
    expect(valuesOf(out)).toEqual([...rec.counts.subarray(0, 3600)]);
    expect(p.counters.framesBad).toBe(0);
  });
});

describe('BinaryParser', () => {
  it('decodes frames split anywhere, with sequence numbers and lead-off', () => {
    fc.assert(
      fc.property(framesArb, fc.array(fc.nat(), { maxLength: 20 }), fc.nat(0xffff), (frames, cuts, seq0) => {
        let seq = seq0;
        const parts: Uint8Array[] = [];
        for (const [k, values] of frames.entries()) {
          parts.push(encodeBinaryFrame({ seq, values, leadOff: k === 1 }));
          seq = (seq + values.length) & 0xffff;
        }
        const p = new BinaryParser(MAX12);
        const out = pushAll(p, splitAt(Buffer.concat(parts), cuts));
        expect(out.length).toBe(frames.length);
        expect(out[0].seq).toBe(seq0);
        expect(out[1].leadOff).toBe(true);
        expect(out[1].values.every(Number.isNaN)).toBe(true);
        expect(out.filter((_, k) => k !== 1).map((f) => f.values)).toEqual(frames.filter((_, k) => k !== 1));
        expect(p.counters.bytesDropped).toBe(0);
      }),
    );
  });

  it('produces the example frame of docs/serial-protocol.md', () => {
    const hex = Buffer.from(encodeBinaryFrame({ seq: 0x0102, values: [2048, 2049] })).toString('hex').toUpperCase().match(/../g)!.join(' ');
    expect(hex).toBe('A5 5A 01 00 02 01 04 00 08 01 08 8C 44');
  });

  it('rejects a CRC-valid frame whose values exceed the ADC range', () => {
    const p = new BinaryParser(1023);
    expect(p.push(encodeBinaryFrame({ seq: 0, values: [1024] }))).toEqual([]);
    expect(p.counters.framesBad).toBe(1);
  });

  it('keeps a frame whose header arrives in pieces', () => {
    const f = encodeBinaryFrame({ seq: 7, values: [1, 2, 3] });
    const p = new BinaryParser(MAX12);
    expect(p.push(f.subarray(0, 1))).toEqual([]);
    expect(p.push(f.subarray(1, 5))).toEqual([]);
    expect(p.push(f.subarray(5))).toEqual([{ values: [1, 2, 3], leadOff: false, seq: 7 }]);
  });
});

describe.each(PARSERS)('%s parser under arbitrary bytes (fast-check)', (name, make) => {
  it('never throws and never yields a sample outside the ADC range', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const p = make();
        const out = pushAll(p, chunks);
        expect(inRange(out)).toBe(true);
        const total = chunks.reduce((n, c) => n + c.length, 0);
        expect(p.counters.bytesIn).toBe(total);
      }),
      { numRuns: 300 },
    );
  });

  it('is back in sync within one frame after garbage ends', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2 * MAX_FRAME }), framesArb, fc.array(fc.nat(), { maxLength: 10 }), (garbage, frames, cuts) => {
        const p = make();
        const binary = name !== 'text';
        // Enough good frames after the garbage for auto-detection to decide, too.
        const all = binary ? frames : [...frames, ...frames];
        const encoded = all.map((values, k) =>
          binary ? encodeBinaryFrame({ seq: (k * 64) & 0xffff, values }) : Buffer.from(values.map((v) => encodeTextLine(v)).join(''), 'latin1'),
        );
        const out = pushAll(p, splitAt(Buffer.concat([garbage, ...encoded]), cuts));
        expect(inRange(out)).toBe(true);
        // Everything from the second frame on arrives intact.
        const expected = all.slice(1).flat();
        const got = valuesOf(out);
        expect(got.slice(got.length - expected.length)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('survives 10 MB of random bytes with counters that account for them', () => {
    const p = make();
    const frames: ParsedFrame[] = [];
    const total = 10 * 1024 * 1024;
    for (let done = 0; done < total; done += 64 * 1024) for (const f of p.push(randomBytes(64 * 1024))) frames.push(f);
    expect(inRange(frames)).toBe(true);
    const c = p.counters;
    expect(c.bytesIn).toBe(total);
    // Nearly everything is dropped and said to be; whatever decoded is in range (text can
    // legitimately find "123\n" in noise; a binary frame needs a matching CRC).
    expect(c.bytesDropped).toBeGreaterThan(total * 0.9);
    expect(c.framesBad).toBeGreaterThan(0);
    if (name === 'binary') expect(c.framesGood).toBeLessThanOrEqual(2);
  });
});

describe('AutoParser', () => {
  it.each(['text', 'text-millis', 'binary'] as const)('detects %s from a real record and loses nothing while deciding', (protocol) => {
    const rec = loadRecording();
    const p = new AutoParser(MAX12);
    const out = pushAll(p, [Buffer.from('\x00\xffgarbage\n'), encode(rec.counts, 0, 720, protocol, rec.fs)]);
    expect(p.protocol).toBe(protocol === 'binary' ? 'binary' : 'text');
    expect(valuesOf(out)).toEqual([...rec.counts.subarray(0, 720)]);
  });

  it('detects again when the firmware changes protocol', () => {
    const rec = loadRecording();
    const p = new AutoParser(MAX12);
    pushAll(p, [encode(rec.counts, 0, 360, 'text', rec.fs)]);
    expect(p.protocol).toBe('text');
    const out = pushAll(p, [encode(rec.counts, 360, 7200, 'binary', rec.fs)]);
    expect(p.protocol).toBe('binary');
    expect(valuesOf(out).length).toBeGreaterThan(6000);
    expect(p.counters.bytesIn).toBe(encode(rec.counts, 0, 360, 'text', rec.fs).length + encode(rec.counts, 360, 7200, 'binary', rec.fs).length);
  });
});

