/**
 * Cuts the small attributed excerpts under test/fixtures/ from ../shared/data (PhysioNet,
 * ODC-By 1.0; see test/fixtures/README.md). Run: node dist/bench/make-fixtures.js [DATA_DIR]
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { readRecord } from '../src/sources/wfdb/record.js';
import { readAnnotations } from '../src/sources/wfdb/annotations.js';
import { writeAnnotations, writeExcerpt } from '../src/sources/wfdb/write.js';

const data = process.argv[2] ?? '../shared/data';
const out = 'test/fixtures';

function excerpt(db: string, name: string, outName: string, fromS: number, seconds: number, signals: number[], credit: string): void {
  const rec = readRecord(join(data, db, name));
  const { frames } = writeExcerpt(rec, join(out, outName), { fromS, seconds, signals, comments: [`Excerpt of PhysioNet ${db}/${name} from ${fromS} s, ${seconds} s long. ${credit} ODC-By 1.0.`] });
  try {
    const fr = rec.header.frameRate;
    const first = Math.round(fromS * fr);
    const anns = readAnnotations(rec.base)
      .filter((a) => a.sample >= first && a.sample < first + frames)
      .map((a) => ({ sample: a.sample - first, code: a.code, aux: a.aux }));
    writeAnnotations(join(out, `${outName}.atr`), anns);
  } catch {
    // drivedb has no annotations.
  }
  console.log(`${outName}: ${frames} frames`);
}

excerpt('mitdb', '118', 'mitdb-118-5min', 0, 300, [0], 'MIT-BIH Arrhythmia Database (Moody & Mark 2001).');
excerpt('mitdb', '208', 'mitdb-208-2min', 0, 120, [0], 'MIT-BIH Arrhythmia Database (Moody & Mark 2001).');
excerpt('qtdb', 'sel302', 'qtdb-sel302-2min', 60, 120, [0], 'QT Database (Laguna et al. 1997).');
excerpt('nstdb', '118e06', 'nstdb-118e06-1min', 300, 60, [0], 'MIT-BIH Noise Stress Test Database (Moody et al. 1984).');
// The same minute at -6 dB and clean: their difference is nstdb's electrode-motion noise (noise-stress.ts).
excerpt('nstdb', '118e_6', 'nstdb-118e_6-1min', 300, 60, [0], 'MIT-BIH Noise Stress Test Database (Moody et al. 1984).');
excerpt('mitdb', '118', 'mitdb-118-1min-300s', 300, 60, [0], 'MIT-BIH Arrhythmia Database (Moody & Mark 2001).');
excerpt('drivedb', 'drive05', '../../src/sources/recordings/drive05-ecg-5min', 600, 300, [0, 4], 'Stress Recognition in Automobile Drivers (Healey & Picard 2005).');
// Aberrated atrial premature beats just under the threshold, each followed by a compensatory pause.
excerpt('mitdb', '201', 'mitdb-201-1min-420s', 420, 60, [0], 'MIT-BIH Arrhythmia Database (Moody & Mark 2001).');
// Multiform PVCs in noise: a search-back that fires too early (50.6-51.8 s) and a wide hump after a spike (47.4 s).
excerpt('mitdb', '203', 'mitdb-203-1min-20s', 20, 60, [0], 'MIT-BIH Arrhythmia Database (Moody & Mark 2001).');
// Three ventricular flutter episodes and the beats that end them.
excerpt('mitdb', '207', 'mitdb-207-1min-235s', 235, 60, [0], 'MIT-BIH Arrhythmia Database (Moody & Mark 2001).');
// Right bundle branch block beats and one hump three times as wide as the QRS at 1624.3 s.
excerpt('mitdb', '118', 'mitdb-118-1min-1590s', 1590, 60, [0], 'MIT-BIH Arrhythmia Database (Moody & Mark 2001).');
// Rhythm (issue 21): sustained ventricular tachycardia from 578.3 s (55 s), and atrial fibrillation onsets.
excerpt('mitdb', '223', 'mitdb-223-1min-570s', 570, 60, [0], 'MIT-BIH Arrhythmia Database (Moody & Mark 2001).');
// AF ends at 378.4 s (nodal rhythm, then sinus with APCs): an offset.
excerpt('mitdb', '201', 'mitdb-201-2min-330s', 330, 120, [0], 'MIT-BIH Arrhythmia Database (Moody & Mark 2001).');
// afdb is annotation-only (0 signals): its header, rhythms and reference beats are copied whole (10 h of RR, 110 kB; 27 AF episodes).
for (const ext of ['hea', 'atr', 'qrs']) copyFileSync(join(data, 'afdb', `06426.${ext}`), join(out, `afdb-06426.${ext}`));
console.log('afdb-06426: header and annotations');
