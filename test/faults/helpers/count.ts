/**
 * Independent counting for the fault cases: what a run must produce, worked out from the signal
 * time and the configuration, and what an MQTT subscriber that is not the unit received.
 *
 *   replay (signal s, chunk s) + config (decision period) ──expectedRecords──▶ expected by type
 *   unit ──MQTT──▶ broker ──▶ Receiver (src/uplink/receiver.ts) ──Tally──▶ received by type, dups
 *
 * How the daemon produces records (src/daemon/pipeline.ts, daemon.ts): the first sample chunk
 * starts the period clock, so a features record is taken each time the data passes
 * chunk + k * period (k = 1, 2, ...); every features record gets exactly one decision; the clock
 * component writes one anchor at start (and one per jump or synchronisation); each alarm raised
 * or cleared is a status record; safety records come from the rules.
 */
import type { ReceivedRecord, Receiver } from '../../../src/uplink/receiver.js';

export interface Expected {
  readonly total: number;
  readonly byType: Readonly<Record<string, number>>;
  /** How it was derived, for the report's "expected from" column. */
  readonly rule: string;
}

export interface ExpectOptions {
  /** Seconds of signal the replay delivers (loop off). */
  readonly signalS: number;
  readonly periodS: number;
  /** Seconds in one replay chunk (the replay source sends fs / 10 samples: 0.1 s). */
  readonly chunkS?: number;
  /** Records beside features and decisions: { clock: 1, status: 1, safety: 1 }, with why. */
  readonly extra?: Readonly<Record<string, { n: number; why: string }>>;
}

/** Decision periods a finite replay passes: the data must reach chunk + k * period. */
export function periodsIn(signalS: number, periodS: number, chunkS = 0.1): number {
  // Half a chunk of slack: the boundary test is on float data times; a boundary that falls on
  // the last chunk's end counts (chunk end >= boundary).
  return Math.max(0, Math.floor((signalS - chunkS + 1e-6) / periodS));
}

export function expectedRecords(o: ExpectOptions): Expected {
  const chunkS = o.chunkS ?? 0.1;
  const periods = periodsIn(o.signalS, o.periodS, chunkS);
  const byType: Record<string, number> = { features: periods, decision: periods };
  const extras: string[] = [];
  for (const [type, { n, why }] of Object.entries(o.extra ?? {})) {
    byType[type] = (byType[type] ?? 0) + n;
    extras.push(`${n} ${type} (${why})`);
  }
  const total = Object.values(byType).reduce((a, b) => a + b, 0);
  const rule = `${o.signalS} s of signal, decision period ${o.periodS} s, first chunk ${chunkS} s: ${periods} periods = ${periods} features + ${periods} decisions${extras.length ? ` + ${extras.join(' + ')}` : ''}`;
  return { total, byType, rule };
}

/** What an independent receiver got from one device: distinct records by type, duplicates, announced evictions. */
export class Tally {
  readonly byType: Record<string, number> = {};
  readonly seqs: number[] = [];
  readonly records: ReceivedRecord[] = [];

  constructor(
    private readonly rx: Receiver,
    private readonly device: string,
  ) {
    rx.on('record', (r) => {
      if (r.device !== device) return;
      this.byType[r.type] = (this.byType[r.type] ?? 0) + 1;
      this.seqs.push(r.seq);
      this.records.push(r);
    });
  }

  get received(): number {
    return this.rx.stats().devices[this.device]?.received ?? 0;
  }

  get duplicates(): number {
    return this.rx.stats().devices[this.device]?.duplicates ?? 0;
  }

  /** Missing seqs the unit announced as evicted (eviction notices in its batches). */
  get evicted(): number {
    return this.rx.stats().devices[this.device]?.evicted ?? 0;
  }

  /** Missing seqs nobody announced. */
  get missing(): number {
    const r = this.rx.stats().devices[this.device];
    return r ? r.lost : 0;
  }
}

/**
 * Health records (src/report/health-record.ts) a finite replay produces: one each time the data
 * passes first chunk + k * report.health_period_s (default 60 s), the decision period's rule.
 * (The wall-clock fallback only runs while a live source stalls; an ended replay sends none.)
 */
export function healthRecordsIn(signalS: number, healthPeriodS = 60, chunkS = 0.1): number {
  return periodsIn(signalS, healthPeriodS, chunkS);
}

export interface StripCountOptions {
  /** Data time (the safety record's `endS`) of each alert, s. */
  readonly alertsS: readonly number[];
  readonly signalS: number;
  readonly fs: number;
  readonly beforeS?: number;
  readonly afterS?: number;
  /** The hourly strip's length (0: none); riding assumed all along (no GPS configured). */
  readonly hourlyS?: number;
  readonly chunkS?: number;
}

/**
 * `ecg` records the strips make (src/report/ecg-strips.ts), worked out from the alerts' data
 * times: each alert asks for [t - before, t + after); an alert that comes while the last strip is
 * still open (t before its end) extends it, otherwise a new strip starts, never before what was
 * sent; the hourly strip asks for [h - hourly, h) at each full hour. A strip is cut into chunks
 * of chunkS from its start; the end of the stream cuts the open one short.
 */
export function ecgStripRecords(o: StripCountOptions): { records: number; samples: number } {
  const { fs } = o;
  const before = Math.round((o.beforeS ?? 30) * fs);
  const after = Math.round((o.afterS ?? 30) * fs);
  const hourly = Math.round((o.hourlyS ?? 10) * fs);
  const chunk = Math.round((o.chunkS ?? 10) * fs);
  const endOfStream = Math.round(o.signalS * fs);
  const asks: { at: number; from: number; to: number }[] = o.alertsS.map((t) => {
    const at = Math.round(t * fs);
    return { at, from: at - before, to: at + after };
  });
  if (hourly > 0) for (let h = 3600 * fs; h <= endOfStream; h += 3600 * fs) asks.push({ at: h, from: h - hourly, to: h });
  asks.sort((a, b) => a.at - b.at);
  const strips: [number, number][] = [];
  let sentUntil = 0;
  for (const a of asks) {
    const open = strips.at(-1);
    if (open && a.at < open[1] && a.from <= open[1]) {
      open[1] = Math.max(open[1], a.to);
      continue;
    }
    if (open) sentUntil = Math.max(sentUntil, open[1]);
    const from = Math.max(a.from, sentUntil, 0);
    if (from < a.to) strips.push([from, a.to]);
  }
  let records = 0;
  let samples = 0;
  for (const [from, to] of strips) {
    const len = Math.min(to, endOfStream) - from;
    if (len <= 0) continue;
    records += Math.ceil(len / chunk);
    samples += len;
  }
  return { records, samples };
}
