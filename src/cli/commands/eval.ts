import { parseCommandArgs } from '../args.js';
import { MotobioError } from '../../util/errors.js';
import { readFileSync } from 'node:fs';
import { errorMessage } from '../../util/errors.js';
import { evaluate, type Counts, type EvalReport, type HrOnlyResult, type RecordResult, type SkippedRecord } from '../../offline/signal-eval/evaluate.js';
import { noiseFromPair, type NoiseSource } from '../../offline/signal-eval/noise-stress.js';
import { censusOf, checkRatchet, figuresOf, readRatchet, update, writeRatchet, type Figures } from '../../offline/signal-eval/ratchet.js';
import { recordBase } from '../../sources/wfdb/record.js';
import { runRhythmEval } from '../../offline/signal-eval/rhythm-cli.js';

export const summary = 'beat-by-beat accuracy against WFDB reference annotations (EC57 style)';

const USAGE = `usage: motobio eval RECORD|DIR... [--channel N] [--json] [--ratchet FILE [--update]]
                   [--noise NOISY:CLEAN [--snr DB,DB,...]]
       motobio eval --from REPORT.json --ratchet FILE
       motobio eval --rhythm [--beats ANNOTATOR] RECORD|DIR... [--json] [--ratchet FILE [--update]]

Streams each record through the signal chain and compares the beats with the .atr reference
(150 ms window), per record and gross, whole record and after the first 5 minutes; paced
records are reported apart. Records with an HR channel and no annotations (drivedb) are scored
on 10-s heart rate. A record found in a folder that cannot be scored is reported as skipped.

--ratchet FILE fails (exit 1) when a record pinned there is missing, skipped or shows other
reference beat counts, when a record is scored that is not pinned, when a figure is missing, or
when one is worse than its floor: its best there minus a few beats, and never below its target
in code (src/offline/signal-eval/targets.ts). With --update it raises the bests and pins new records
instead (never lowering either). --from REPORT.json checks a saved \`eval --json\` instead of
evaluating.

--noise NOISY:CLEAN stresses every annotated record with the noise in NOISY (an nstdb record,
named for its SNR) minus CLEAN (its source), e.g. nstdb/118e_6:mitdb/118 for electrode motion,
at each --snr (default 12,6,0), scaled to the record's QRS amplitude as nstdb is. Records are
reported as NAME@SNRdB; CLEAN itself (that would be nstdb again) and unannotated records are
left out. On mitdb the nstdb targets apply (mitdb@6dB.ppv >= 95, ...).

--rhythm scores rhythm episodes instead of beats: EC57 episode and duration Se / +P for AF, VT
and VF against the .atr rhythm annotations, false alarms per hour on records without the rhythm,
detection delays, and the ventricular beat class (AAMI V) Se / +P. --beats ANNOTATOR (e.g. qrs)
feeds the beat times of that annotation file to the chain as an RR stream, as a BLE strap's
would be; records without signals (afdb) need it, records without that file are skipped.
`;

const pct = (v: number): string => v.toFixed(2).padStart(6);

function line(r: RecordResult): string {
  const c = r.whole;
  const l = r.after5min;
  return `${r.record.padEnd(8)} ${String(c.ref).padStart(6)} ${String(c.fn).padStart(5)} ${String(c.fp).padStart(5)} ${pct(c.se)} ${pct(c.ppv)}   ${pct(l.se)} ${pct(l.ppv)}  ${r.offsetMeanMs.toFixed(1).padStart(6)} ${r.offsetSdMs.toFixed(1).padStart(5)}  ${r.hrMaeBpm === null ? '    -' : r.hrMaeBpm.toFixed(2).padStart(5)}`;
}

function grossLine(name: string, c: Counts, l: Counts, sd: number): string {
  return `${`GROSS ${name}`.padEnd(20)} ref ${c.ref}  fn ${c.fn}  fp ${c.fp}  Se ${c.se.toFixed(3)}  +P ${c.ppv.toFixed(3)}  (after 5 min: Se ${l.se.toFixed(3)} +P ${l.ppv.toFixed(3)})  timing SD ${sd.toFixed(2)} ms`;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('eval', argv, {
    channel: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
    ratchet: { type: 'string' },
    update: { type: 'boolean', default: false },
    noise: { type: 'string' },
    snr: { type: 'string', default: '12,6,0' },
    from: { type: 'string' },
    rhythm: { type: 'boolean', default: false },
    beats: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.from !== undefined) {
    if (positionals.length > 0 || !values.ratchet || values.update) throw new MotobioError('USAGE', `eval: --from REPORT.json takes --ratchet FILE and nothing else (no records, no --update)\n${USAGE}`);
    return ratchetSaved(values.from, values.ratchet);
  }
  if (positionals.length === 0) throw new MotobioError('USAGE', `eval: name at least one record or directory\n${USAGE}`);
  const channel = Number(values.channel);
  if (!Number.isInteger(channel) || channel < 0) throw new MotobioError('USAGE', `eval: --channel must be a whole number >= 0, got "${values.channel}"`);
  if (values.beats !== undefined && !values.rhythm) throw new MotobioError('USAGE', 'eval: --beats scores rhythm from an RR stream; use it with --rhythm');
  if (values.beats !== undefined && !/^[A-Za-z0-9_]+$/.test(values.beats)) throw new MotobioError('USAGE', `eval: --beats takes an annotator name such as qrs or atr, got "${values.beats}"`);
  if (values.rhythm) {
    if (values.noise !== undefined) throw new MotobioError('USAGE', 'eval: --rhythm and --noise do not combine; nstdb records carry their own noise');
    return runRhythmEval(positionals, { channel, beats: values.beats, json: values.json, ratchet: values.ratchet, update: values.update });
  }

  let noise: NoiseSource | undefined;
  let snrsDb: number[] = [];
  if (values.noise !== undefined) {
    const parts = values.noise.split(':');
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw new MotobioError('USAGE', `eval: --noise takes NOISY:CLEAN (e.g. ../shared/data/nstdb/118e_6:../shared/data/mitdb/118), got "${values.noise}"`);
    snrsDb = values.snr.split(',').map((v) => Number(v.trim()));
    if (snrsDb.some((v) => !Number.isFinite(v)) || snrsDb.length === 0) throw new MotobioError('USAGE', `eval: --snr takes dB values separated by commas (e.g. 12,6,0), got "${values.snr}"`);
    noise = noiseFromPair(recordBase(parts[0]), recordBase(parts[1]), channel);
  }

  const print = (s: string): void => {
    if (!values.json) process.stdout.write(`${s}\n`);
  };
  print('record      ref    fn    fp     Se     +P   Se>5min +P>5min  off_ms sd_ms  hr_mae');
  const report = evaluate(positionals, channel, (r: RecordResult | HrOnlyResult) => {
    if ('whole' in r) print(line(r) + (r.paced ? '  (paced)' : ''));
    else print(`${r.record.padEnd(8)} 10-s heart rate vs the record's HR channel: mean abs diff ${r.hrMaeBpm.toFixed(2)} bpm over ${r.windows} windows`);
  }, { noise, snrsDb }, (sk: SkippedRecord) => process.stderr.write(`eval: skipped ${sk.database}/${sk.record}: ${sk.reason}\n`));
  for (const g of report.groups) print(grossLine(g.name, g.whole, g.after5min, g.timingSdMs));
  const figures = figuresOf(report);
  if (values.json) process.stdout.write(`${JSON.stringify({ ...report, figures }, (k, v: unknown) => (k === 'centredOffsetsMs' ? undefined : v), 2)}\n`);
  else {
    print('\nfigure                         measured   target');
    for (const [k, f] of Object.entries(figures)) {
      const met = f.target === undefined ? '' : (f.better === 'higher' ? f.value >= f.target : f.value <= f.target) ? 'met' : 'NOT MET';
      print(`${k.padEnd(30)} ${f.value.toFixed(3).padStart(9)} ${f.target === undefined ? '' : `${f.better === 'higher' ? '>=' : '<='} ${f.target}`.padStart(9)}  ${met}`);
    }
  }

  if (values.ratchet) return ratchet(values.ratchet, report, figures, values.update);
  return 0;
}

/** A saved `eval --json` (its figures as saved: a doctored figure is checked as it reads). */
function ratchetSaved(from: string, file: string): number {
  let saved: EvalReport & { figures?: Figures };
  try {
    saved = JSON.parse(readFileSync(from, 'utf8')) as EvalReport & { figures?: Figures };
  } catch (e) {
    throw new MotobioError('USAGE', `eval --from ${from}: cannot read it (${errorMessage(e)}); give the output of eval --json`);
  }
  if (!Array.isArray(saved.records) || !Array.isArray(saved.hrOnly) || !saved.figures) throw new MotobioError('USAGE', `eval --from ${from}: not the output of eval --json (records, hrOnly and figures expected)`);
  return ratchet(file, saved, saved.figures, false);
}

function ratchet(file: string, report: Pick<EvalReport, 'records' | 'hrOnly' | 'skipped'>, figures: Figures, raise: boolean): number {
  const recorded = readRatchet(file);
  const census = censusOf(report);
  if (raise) {
    writeRatchet(file, update(recorded, figures, census, file));
    process.stderr.write(`eval: ratchet ${file} updated\n`);
    return 0;
  }
  const check = checkRatchet(recorded, figures, census, file);
  for (const i of check.improvements) process.stderr.write(`eval: better than recorded: ${i} (raise it with --update)\n`);
  if (check.failures.length > 0) {
    process.stderr.write(`eval: the accuracy ratchet in ${file} fails:\n  ${check.failures.map((f) => f.message).join('\n  ')}\n`);
    return 1;
  }
  const pinned = Object.values(recorded.records).reduce((n, r) => n + Object.keys(r).length, 0);
  process.stderr.write(`eval: ratchet ${file} holds (${pinned} records, ${Object.keys(recorded.figures).length} figures)\n`);
  return 0;
}
