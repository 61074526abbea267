/**
 * A synthetic WFDB record (format 16, one ECG channel, gain 200/mV, 360 Hz) in segments of
 * different heart rates; bpm 0 is a stretch with no beat (electrodes on, baseline only). E.g.
 * 40 s at 72 bpm then 10 s without a beat: looped by the replay source, the no-beat stretch
 * makes the sensor_lost safety rule (no_beat_s: 5) fire once per pass. Same beat shape as
 * test/daemon/helpers.ts writeSyntheticRecord.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeSegmentedRecord(dir: string, segments: readonly { bpm: number; seconds: number }[], name = 'segmented'): string {
  const fs = 360;
  const n = segments.reduce((s, g) => s + Math.round(g.seconds * fs), 0);
  const adc = new Int16Array(n);
  let i = 0;
  for (const g of segments) {
    const period = g.bpm > 0 ? 60 / g.bpm : 1;
    const end = i + Math.round(g.seconds * fs);
    for (let k = 0; i < end; i++, k++) {
      const phase = (k / fs) % period;
      const beat = g.bpm > 0 ? 1 : 0;
      const qrs = beat * (Math.exp(-(((phase - 0.2) / 0.012) ** 2)) * 1.2 - Math.exp(-(((phase - 0.225) / 0.01) ** 2)) * 0.25);
      const tWave = beat * Math.exp(-(((phase - 0.45) / 0.05) ** 2)) * 0.25;
      adc[i] = Math.round((qrs + tWave + 0.05 * Math.sin((2 * Math.PI * 0.2 * i) / fs)) * 200);
    }
  }
  writeFileSync(join(dir, `${name}.dat`), Buffer.from(adc.buffer));
  writeFileSync(join(dir, `${name}.hea`), `${name} 1 ${fs} ${n}\n${name}.dat 16 200 11 0 ${adc[0]} 0 0 ECG\n`);
  return join(dir, name);
}
