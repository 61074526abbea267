import { parseCommandArgs } from '../args.js';
import { MotobioError } from '../../util/errors.js';
import { readRecord, channelOf, recordBase, toPhysical } from '../../sources/wfdb/record.js';
import { runChain } from '../../offline/signal-eval/run-record.js';
import { windowedHr } from '../../offline/signal-eval/evaluate.js';
import { runRhythm } from '../../offline/signal-eval/rhythm-eval.js';
import type { RhythmEpisode } from '../../signal/rhythm/types.js';

export const summary = 'stream a WFDB record through the signal chain and print the beats';

const USAGE = `usage: motobio detect RECORD [--channel N] [--format json|csv] [--beats ANNOTATOR]

json: {"fs", "peaks": [sample indices], "beat_class": ["N"|"V"|"S" per peak],
       "rhythm": [{"type": "AF"|"VT"|"VF"|"pause", "start", "end" (samples), "confidence", ...}],
       "hr": 10-s heart rate, "hrv": 120-s windows every 60 s,
       "quality": 2-s signal-quality windows, "rr": labelled RR intervals}
csv:  one line per beat: sample,time_s,rr_ms,rr_label
--beats ANNOTATOR (e.g. qrs): the beat times of RECORD.ANNOTATOR go through the chain as an RR
      stream (a BLE strap's path), also on records with no signals (afdb); json has fs, peaks
      (those beats) and rhythm.
`;

/** Episodes on the record's sample timeline, as ../shared/tools/rhythm.py reads them. */
function rhythmJson(episodes: readonly RhythmEpisode[], fs: number): object[] {
  return episodes.map((e) => ({
    type: e.type,
    start: Math.round(e.startS * fs),
    end: Math.round(e.endS * fs),
    confidence: e.confidence,
    ...(e.type === 'VT' ? { sustained: e.sustained === true } : {}),
    detected: Math.round(e.detectedS * fs),
    evidence: e.evidence,
  }));
}

const r3 = (v: number | null): number | null => (v === null ? null : Math.round(v * 1000) / 1000);

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('detect', argv, {
    channel: { type: 'string', default: '0' },
    format: { type: 'string', default: 'json' },
    beats: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const path = positionals[0];
  if (path === undefined || positionals.length > 1) throw new MotobioError('USAGE', `detect: name exactly one record\n${USAGE}`);
  if (values.format !== 'json' && values.format !== 'csv') throw new MotobioError('USAGE', `detect: --format must be json or csv, got "${values.format}"`);
  if (values.beats !== undefined) {
    if (!/^[A-Za-z0-9_]+$/.test(values.beats)) throw new MotobioError('USAGE', `detect: --beats takes an annotator name such as qrs or atr, got "${values.beats}"`);
    if (values.format !== 'json') throw new MotobioError('USAGE', 'detect: --beats prints json only');
    const r = runRhythm(recordBase(path), { beats: values.beats });
    process.stdout.write(`${JSON.stringify({ record: r.record, fs: r.fs, source: `${values.beats} beats as RR`, peaks: r.peaks, rhythm: rhythmJson(r.episodes, r.fs) })}\n`);
    return 0;
  }
  const rec = readRecord(path);
  if (rec.signals.length === 0) throw new MotobioError('USAGE', `detect: ${rec.base} has no signals (an annotation-only record); give --beats ANNOTATOR (e.g. --beats qrs) to stream its beat annotations as RR`);
  const sig = channelOf(rec, Number(values.channel));
  const run = runChain(toPhysical(sig), sig.fs, { hrvEveryS: 60, hrvWindowS: 120 });
  const classOf = new Map(run.beatClasses.map((c) => [c.sample, c.cls]));

  if (values.format === 'csv') {
    const rrByTime = new Map(run.rr.map((r) => [r.timeS, r]));
    const lines = ['sample,time_s,rr_ms,rr_label'];
    for (const b of run.beats) {
      const r = rrByTime.get(b.timeS);
      lines.push(`${b.sample},${b.timeS.toFixed(4)},${r ? r.rrMs.toFixed(1) : ''},${r?.label ?? ''}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  }
  const endS = sig.adc.length / sig.fs;
  const out = {
    record: rec.name,
    channel: sig.spec.description,
    fs: sig.fs,
    peaks: run.beats.map((b) => b.sample),
    beat_class: run.beats.map((b) => classOf.get(b.sample) ?? 'N'),
    rhythm: rhythmJson(run.rhythm, sig.fs),
    hr: windowedHr(run.beats.map((b) => b.timeS), endS).map((bpm, i) => ({ endS: (i + 1) * 10, bpm: r3(bpm) })),
    hrv: run.hrv.map((h) => ({
      endS: h.endS,
      hrBpm: r3(h.hrBpm),
      rmssdMs: r3(h.rmssdMs),
      sdnnMs: r3(h.sdnnMs),
      pnn50: r3(h.pnn50),
      lfMs2: r3(h.lfMs2),
      hfMs2: r3(h.hfMs2),
      lfHf: r3(h.lfHf),
      ectopicShare: r3(h.ectopicShare),
      quality: r3(h.quality),
    })),
    quality: run.quality.map((q) => ({ endS: q.endS, sqi: q.sqi, leadOff: q.leadOff, flat: q.flat, clipped: q.clipped, noisy: q.noisy })),
    rr: run.rr.map((r) => ({ timeS: r3(r.timeS), rrMs: r3(r.rrMs), label: r.label, correctedMs: r3(r.correctedMs) })),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}
