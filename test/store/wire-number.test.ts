import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../../src/store/outbox.js';
import { wireNumber } from '../../src/core/wire-number.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('numbers as stored and sent', () => {
  it('drop binary float noise, keep what a sensor can tell', () => {
    expect(wireNumber(0.9199999999999999)).toBe(0.92);
    expect(wireNumber(675.38312345)).toBe(675.3831);
    expect(wireNumber(-12.00004999)).toBe(-12);
    expect(wireNumber(0.000123456)).toBe(0.000123);
    expect(wireNumber(1_733_251_234_567)).toBe(1_733_251_234_567);
    expect(wireNumber(Number.NaN)).toBeNaN();
  });

  it('a record appended to the real store reads back rounded, its whole numbers untouched', () => {
    dir = mkdtempSync(join(tmpdir(), 'motobio-wire-number-'));
    const box = Outbox.open(join(dir, 'o.db'), { deviceId: 'bike-1' });
    box.append([{ type: 'features', priority: 'features', payload: { quality: 0.9199999999999999, hrBpm: 71.04999999, rmssdMs: [31.123456789], seqOf: 1234567, tiny: 0.000123456 } }]);
    const [r] = box.lease('features', 10, 1 << 20);
    expect(r.body.toString()).toBe('{"quality":0.92,"hrBpm":71.05,"rmssdMs":[31.1235],"seqOf":1234567,"tiny":0.000123}');
    box.close();
  });
});
