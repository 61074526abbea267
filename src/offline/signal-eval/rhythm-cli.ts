/**
 * `motobio eval --rhythm [--beats ANN] RECORD|DIR...`: prints the rhythm report and checks or
 * raises its ratchet. Kept out of commands/eval.ts, which only hands over to it.
 */
import { checkRatchet, readRatchet, update, writeRatchet, type Census } from './ratchet.js';
import { evaluateRhythm, ratesOf, vClassOf, type RhythmRecordResult } from './rhythm-eval.js';
import { rhythmFigures } from './rhythm-figures.js';

export interface RhythmEvalOptions {
  channel: number;
  beats?: string;
  json: boolean;
  ratchet?: string;
  update: boolean;
}

const p1 = (v: number): string => v.toFixed(1).padStart(6);

function recordLine(r: RhythmRecordResult): string {
  const parts = [`${r.record.padEnd(8)} ${r.hours.toFixed(2).padStart(5)} h`];
  for (const t of ['AF', 'VT', 'VF'] as const) {
    const s = r.scores[t];
    if (s && s.refEpisodes > 0) {
      const q = ratesOf(s);
      parts.push(`${t} ref ${s.refEpisodes} det ${s.detEpisodes} epSe ${p1(q.episodeSe)} ep+P ${p1(q.episodePpv)} dSe ${p1(q.durationSe)} d+P ${p1(q.durationPpv)}`);
    } else if (r.detected[t] > 0) parts.push(`${t} false ${r.detected[t]}`);
  }
  if (r.detected.pause) parts.push(`pauses ${r.detected.pause}`);
  if (r.vClass) parts.push(`V tp ${r.vClass.tp} fn ${r.vClass.fn} fp ${r.vClass.fp}`);
  return parts.join('  ');
}

export function runRhythmEval(paths: readonly string[], o: RhythmEvalOptions): number {
  const print = (s: string): void => {
    if (!o.json) process.stdout.write(`${s}\n`);
  };
  const report = evaluateRhythm(paths, { beats: o.beats, channel: o.channel }, (r) => print(recordLine(r)));
  print('');
  for (const g of report.groups) {
    const s = g.score;
    const q = ratesOf(s);
    const d = [...s.delaysS].sort((a, b) => a - b);
    const delay = d.length ? `delay median ${d[d.length >> 1].toFixed(1)} s max ${d[d.length - 1].toFixed(1)} s` : '';
    const ref = s.refEpisodes > 0 ? `ref ${s.refEpisodes} (${s.refS.toFixed(0)} s) det ${s.detEpisodes} (${s.detS.toFixed(0)} s)  episode Se ${q.episodeSe.toFixed(2)} +P ${q.episodePpv.toFixed(2)}  duration Se ${q.durationSe.toFixed(2)} +P ${q.durationPpv.toFixed(2)}  >=10 s flagged ${s.longMatched}/${s.longRef}  ${delay}` : 'no reference episodes';
    print(`GROSS ${g.name.padEnd(9)} ${g.type}  ${ref}  false alarms ${g.falseAlarms} in ${g.hoursWithout.toFixed(1)} h (${g.falseAlarmsPerHour.toFixed(3)}/h)`);
  }
  const v = vClassOf(report.records);
  if (v) print(`GROSS ventricular beat class (AAMI V, non-paced records): tp ${v.counts.tp} fn ${v.counts.fn} fp ${v.counts.fp}  Se ${v.se.toFixed(2)} +P ${v.ppv.toFixed(2)}`);
  const figures = rhythmFigures(report);
  if (o.json) process.stdout.write(`${JSON.stringify({ ...report, figures }, null, 2)}\n`);
  else {
    print('\nfigure                                measured   target');
    for (const [k, f] of Object.entries(figures)) {
      const met = f.target === undefined ? '' : (f.better === 'higher' ? f.value >= f.target : f.value <= f.target) ? 'met' : 'NOT MET';
      print(`${k.padEnd(37)} ${f.value.toFixed(3).padStart(9)} ${f.target === undefined ? '' : `${f.better === 'higher' ? '>=' : '<='} ${f.target}`.padStart(9)}  ${met}`);
    }
  }
  if (!o.ratchet) return 0;
  const recorded = readRatchet(o.ratchet);
  // The records this run scored are pinned too: a missing one fails, like the beat ratchet.
  const census: Census = { scored: new Map(report.records.map((r) => [`${r.database}/${r.record}`, [{}]])), skipped: new Map() };
  if (o.update) {
    writeRatchet(o.ratchet, update(recorded, figures, census, o.ratchet));
    process.stderr.write(`eval: ratchet ${o.ratchet} updated\n`);
    return 0;
  }
  const check = checkRatchet(recorded, figures, census, o.ratchet);
  for (const i of check.improvements) process.stderr.write(`eval: better than recorded: ${i} (raise it with --update)\n`);
  if (check.failures.length > 0) {
    process.stderr.write(`eval: the rhythm ratchet in ${o.ratchet} fails:\n  ${check.failures.map((f) => f.message).join('\n  ')}\n`);
    return 1;
  }
  process.stderr.write(`eval: ratchet ${o.ratchet} holds (${Object.keys(recorded.figures).length} figures)\n`);
  return 0;
}
