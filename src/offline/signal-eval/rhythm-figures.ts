/**
 * The figures `eval --rhythm` reports and holds in its own ratchet file (accuracy-rhythm.json,
 * accuracy-rhythm-rr.json), in the main ratchet's format and through its API (ratchet.ts), with
 * the targets of issue 21.
 */
import type { Figure, Figures } from './ratchet.js';
import { ratesOf, vClassOf, type RhythmReport } from './rhythm-eval.js';

const TARGETS: Record<string, number> = {
  'afdb-rr.AF.episodeSe': 97,
  'afdb-rr.AF.episodePpv': 95,
  'afdb-rr.AF.durationSe': 97,
  'afdb-rr.AF.durationPpv': 97,
  'mitdb.AF.durationSe': 95,
  'mitdb.AF.durationPpv': 95,
  'mitdb.AF.falseAlarms': 0,
  'nstdb.AF.falseAlarms': 0,
  'drivedb.AF.falseAlarms': 0,
  'mitdb.VT.episodeSe': 90,
  'mitdb.VT.long10sSe': 100,
  'mitdb.VF.long10sSe': 100,
  'mitdb.V.se': 95,
  'mitdb.V.ppv': 95,
};

const round = (v: number): number => Math.round(v * 1000) / 1000;

export function rhythmFigures(report: RhythmReport): Figures {
  const f: Figures = {};
  const put = (key: string, value: number, better: Figure['better']): void => {
    const target = TARGETS[key];
    f[key] = target === undefined ? { value: round(value), better } : { value: round(value), better, target };
  };
  for (const g of report.groups) {
    const p = `${g.name}.${g.type}`;
    if (g.score.refEpisodes > 0) {
      const r = ratesOf(g.score);
      put(`${p}.episodeSe`, r.episodeSe, 'higher');
      put(`${p}.episodePpv`, r.episodePpv, 'higher');
      put(`${p}.durationSe`, r.durationSe, 'higher');
      put(`${p}.durationPpv`, r.durationPpv, 'higher');
      if (g.score.longRef > 0) put(`${p}.long10sSe`, (100 * g.score.longMatched) / g.score.longRef, 'higher');
      const d = [...g.score.delaysS].sort((a, b) => a - b);
      if (d.length) {
        put(`${p}.delayMedianS`, d[d.length >> 1], 'lower');
        put(`${p}.delayMaxS`, d[d.length - 1], 'lower');
      }
    }
    if (g.hoursWithout > 0) {
      put(`${p}.falseAlarms`, g.falseAlarms, 'lower');
      put(`${p}.falseAlarmsPerHour`, g.falseAlarmsPerHour, 'lower');
    }
  }
  const byDb = new Map<string, typeof report.records>();
  for (const r of report.records) byDb.set(r.database, [...(byDb.get(r.database) ?? []), r]);
  for (const [db, list] of byDb) {
    const v = vClassOf(list);
    if (!v) continue;
    put(`${db}.V.se`, v.se, 'higher');
    put(`${db}.V.ppv`, v.ppv, 'higher');
  }
  return f;
}
