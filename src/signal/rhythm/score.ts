/**
 * Rhythm episodes scored against a WFDB record's rhythm annotations, ANSI/AAMI EC57 style, the
 * same rules as ../shared/tools/rhythm.py (the independent cross-check): a reference rhythm lasts
 * from its annotation to the next one; an episode matches when it overlaps one at all; duration
 * Se and +P are the overlapping seconds over the reference and detected seconds.
 */
import { RHYTHM_CODE, type Annotation } from '../../sources/wfdb/annotations.js';
import type { RhythmType } from './types.js';

/** Which reference rhythm labels each detected type is scored against (AF includes flutter, as rhythm.py does). */
export const REFERENCE_LABELS: Record<'AF' | 'VT' | 'VF', ReadonlySet<string>> = {
  AF: new Set(['(AFIB', '(AFL']),
  VT: new Set(['(VT']),
  VF: new Set(['(VFL', '(VF']),
};

export interface Span {
  readonly startS: number;
  readonly endS: number;
}

export interface DetectedSpan extends Span {
  readonly detectedS?: number;
}

/** Reference episodes of the labels in `labels`, seconds, from rhythm annotations at `fs`. */
export function referenceEpisodes(anns: readonly Annotation[], fs: number, totalS: number, labels: ReadonlySet<string>): Span[] {
  const out: Span[] = [];
  let cur: { t: number; label: string } | undefined;
  const changes = anns.filter((a) => a.code === RHYTHM_CODE).map((a) => ({ t: a.sample / fs, label: a.aux.replace(/\0/g, '').trim() }));
  for (const c of [...changes, { t: totalS, label: '(END' }]) {
    if (cur && c.label !== cur.label) {
      if (labels.has(cur.label)) out.push({ startS: cur.t, endS: c.t });
      cur = undefined;
    }
    if (!cur && c.label !== '(END') cur = c;
  }
  return out;
}

export interface EpisodeScore {
  refEpisodes: number;
  refS: number;
  detEpisodes: number;
  detS: number;
  matchedRef: number;
  matchedDet: number;
  overlapS: number;
  /** Per matched reference episode: first report of an overlapping detection minus the reference onset, s. */
  delaysS: number[];
  /** Reference episodes of at least `longS` seconds, and how many of them were matched. */
  longRef: number;
  longMatched: number;
}

const overlap = (a: Span, b: Span): number => Math.max(0, Math.min(a.endS, b.endS) - Math.max(a.startS, b.startS));

export function scoreEpisodes(ref: readonly Span[], det: readonly DetectedSpan[], longS = 10): EpisodeScore {
  let overlapS = 0;
  const delaysS: number[] = [];
  let matchedRef = 0;
  let longRef = 0;
  let longMatched = 0;
  for (const r of ref) {
    const hits = det.filter((d) => overlap(r, d) > 0);
    for (const d of hits) overlapS += overlap(r, d);
    const long = r.endS - r.startS >= longS;
    if (long) longRef++;
    if (hits.length === 0) continue;
    matchedRef++;
    if (long) longMatched++;
    const first = Math.min(...hits.map((d) => d.detectedS ?? d.startS));
    delaysS.push(Math.max(0, first - r.startS));
  }
  const matchedDet = det.filter((d) => ref.some((r) => overlap(r, d) > 0)).length;
  return {
    refEpisodes: ref.length,
    refS: ref.reduce((a, r) => a + r.endS - r.startS, 0),
    detEpisodes: det.length,
    detS: det.reduce((a, d) => a + d.endS - d.startS, 0),
    matchedRef,
    matchedDet,
    overlapS,
    delaysS,
    longRef,
    longMatched,
  };
}

export function addScores(list: readonly EpisodeScore[]): EpisodeScore {
  const z: EpisodeScore = { refEpisodes: 0, refS: 0, detEpisodes: 0, detS: 0, matchedRef: 0, matchedDet: 0, overlapS: 0, delaysS: [], longRef: 0, longMatched: 0 };
  for (const s of list) {
    z.refEpisodes += s.refEpisodes;
    z.refS += s.refS;
    z.detEpisodes += s.detEpisodes;
    z.detS += s.detS;
    z.matchedRef += s.matchedRef;
    z.matchedDet += s.matchedDet;
    z.overlapS += s.overlapS;
    z.delaysS.push(...s.delaysS);
    z.longRef += s.longRef;
    z.longMatched += s.longMatched;
  }
  return z;
}

export interface Rates {
  episodeSe: number;
  episodePpv: number;
  durationSe: number;
  durationPpv: number;
}

const pct = (a: number, b: number): number => (b > 0 ? (100 * a) / b : 100);

export function ratesOf(s: EpisodeScore): Rates {
  return { episodeSe: pct(s.matchedRef, s.refEpisodes), episodePpv: pct(s.matchedDet, s.detEpisodes), durationSe: pct(s.overlapS, s.refS), durationPpv: pct(s.overlapS, s.detS) };
}

export type ScoredType = Exclude<RhythmType, 'pause'>;
