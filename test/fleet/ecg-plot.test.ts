/**
 * The PNG of an exported strip, on real ECG (the MIT-BIH 118 excerpt in test/fixtures): the
 * trace is drawn, and the beats marked are the unit's chain's, within a few of the reference
 * annotations' count.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { REPO } from '../daemon/helpers.js';
import { readRecord } from '../../src/sources/wfdb/record.js';
import { BEAT_CODES, readAnnotations } from '../../src/sources/wfdb/annotations.js';
import { plotStrip } from '../../src/fleet/ecg-plot.js';

describe('ECG strip plot', () => {
  it('draws 60 s of MIT-BIH 118 in 10-s rows with the beats marked', () => {
    const base = join(REPO, 'test/fixtures/mitdb-118-1min-300s');
    const rec = readRecord(base);
    const sig = rec.signals[0];
    const lsbUv = 1000 / sig.spec.gain;
    const counts = Int16Array.from(sig.adc, (a) => a - sig.spec.baseline);
    const plot = plotStrip({ boot: 'b', fs: sig.fs, lsbUv, startSample: 0, counts, chunks: 1 });
    const img = PNG.sync.read(plot.png);
    expect([img.width, img.height]).toEqual([1020, 6 * 140 + 20]);
    let dark = 0;
    let red = 0;
    for (let i = 0; i < img.data.length; i += 4) {
      const [r, g, b] = [img.data[i], img.data[i + 1], img.data[i + 2]];
      if (r < 60 && g < 60 && b < 80) dark++;
      if (r > 200 && g < 60 && b < 60) red++;
    }
    const beats = readAnnotations(base).filter((a) => BEAT_CODES.has(a.code)).length;
    expect(Math.abs(plot.beats - beats), `chain ${plot.beats} beats, reference ${beats}`).toBeLessThanOrEqual(3);
    // Each beat is a 2 x 12 red tick; the trace crosses every column of every row.
    expect(red).toBeGreaterThanOrEqual(plot.beats * 20);
    expect(dark).toBeGreaterThan(6 * 1000);
  });
});
