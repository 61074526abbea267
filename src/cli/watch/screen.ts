/**
 * What `motobio watch` shows, with no terminal I/O: the strip it has been sent and a screen of
 * plain lines drawn from it (the command adds colour and cursor moves).
 *
 *   ecg event ─▶ StripModel (last few seconds on the source's sample timeline, beats) ─┐
 *   heart event (RMSSD) ─────────────────────────────────────────────────────────────────┴─▶ renderScreen(cols, rows)
 *
 *   motobio watch · http://127.0.0.1:7411 · live
 *   HR  72 bpm   quality 0.95   electrodes on   source 496 Hz   RMSSD 38 ms
 *   ⠀⠀⠀⢠⡀⠀⠀⠀⠀⠀⠀⢀⡄⠀ …  the trace in braille (2x4 dots a character), auto-scaled
 *      ▲           ▲      beats, in the column of their R peak
 *   -5 s ──────────── now
 *
 * The strip is drawn in braille because 80x24 gives 160x72 dots: enough for a QRS, over any
 * SSH session with a UTF-8 locale.
 */
import type { EcgStripChunk } from '../../cues/event-stream.js';

/** Braille dot bits by [row][column] inside a 2x4 character cell (U+2800 + bits). */
const DOTS: readonly (readonly [number, number])[] = [
  [0x01, 0x08],
  [0x02, 0x10],
  [0x04, 0x20],
  [0x40, 0x80],
];
export const BEAT_MARK = '▲';
export const LEAD_OFF_TEXT = 'LEAD OFF: check the electrodes';
/** Lines around the strip: title, readings, blank, beat marks, time axis, keys. */
const CHROME_ROWS = 6;

export class StripModel {
  fs: number | null = null;
  factor = 1;
  /** Source sample index of values[0]. */
  start = 0;
  values: (number | null)[] = [];
  beats: number[] = [];
  hrBpm: number | null = null;
  quality: number | null = null;
  leadOff = false;
  rmssdMs: number | null = null;

  constructor(readonly windowS: number) {}

  get end(): number {
    return this.start + this.values.length * this.factor;
  }

  clear(): void {
    this.fs = null;
    this.values = [];
    this.beats = [];
    this.hrBpm = null;
    this.quality = null;
    this.leadOff = false;
    this.rmssdMs = null;
  }

  ecg(c: EcgStripChunk): void {
    const factor = Math.max(1, Math.round(c.fs / c.rateHz));
    // Another rate, or data that does not follow on (the daemon restarted, a gap): start over.
    if (c.fs !== this.fs || factor !== this.factor || c.start !== this.end) {
      this.fs = c.fs;
      this.factor = factor;
      this.start = c.start;
      this.values = [];
      this.beats = [];
    }
    this.values.push(...c.values);
    this.beats.push(...c.beats);
    const keep = Math.ceil((this.windowS * c.fs) / factor) + 8;
    if (this.values.length > keep) {
      const cut = this.values.length - keep;
      this.values.splice(0, cut);
      this.start += cut * factor;
    }
    this.beats = this.beats.filter((b) => b >= this.start);
    this.hrBpm = c.hrBpm;
    this.quality = c.quality;
    this.leadOff = c.leadOff;
  }
}

export interface ScreenOptions {
  cols: number;
  rows: number;
  url: string;
  /** "live", "connecting…", "reconnecting: why". */
  connection: string;
  paused: boolean;
}

export interface Screen {
  readonly lines: string[];
  /** Index in `lines` of the first strip row, and how many there are. */
  readonly stripTop: number;
  readonly stripRows: number;
  /** The beats drawn (source sample indices) and the character column of each. */
  readonly beats: readonly { sample: number; col: number }[];
}

const fit = (s: string, cols: number): string => (s.length > cols ? s.slice(0, cols) : s.padEnd(cols));

export function renderScreen(m: StripModel, o: ScreenOptions): Screen {
  const cols = Math.max(20, o.cols);
  const stripRows = Math.max(2, o.rows - CHROME_ROWS);
  const lines: string[] = [];
  lines.push(fit(`motobio watch · ${o.url} · ${o.paused ? 'PAUSED' : o.connection}`, cols));
  const hr = m.hrBpm === null ? '--' : String(Math.round(m.hrBpm)).padStart(3);
  const parts = [
    `HR ${hr} bpm`,
    `quality ${m.quality === null ? '--' : m.quality.toFixed(2)}`,
    m.fs === null ? 'electrodes ?' : m.leadOff ? LEAD_OFF_TEXT : 'electrodes on',
    `source ${m.fs === null ? '--' : String(Math.round(m.fs * 10) / 10)} Hz`,
    `RMSSD ${m.rmssdMs === null ? '--' : Math.round(m.rmssdMs)} ms`,
  ];
  lines.push(fit(parts.join('   '), cols));
  lines.push(fit('', cols));
  const { rows, beats } = drawStrip(m, cols, stripRows);
  if (m.fs === null || m.values.length === 0) {
    const say = o.connection === 'live' ? 'waiting for ECG from the daemon…' : `no live data: ${o.connection}`;
    const mid = Math.floor(stripRows / 2);
    rows[mid] = fit(' '.repeat(Math.max(0, Math.floor((cols - say.length) / 2))) + say, cols);
  }
  const stripTop = lines.length;
  lines.push(...rows);
  const marks = Array.from({ length: cols }, () => ' ');
  for (const b of beats) marks[b.col] = BEAT_MARK;
  lines.push(marks.join(''));
  const left = `-${m.windowS} s`;
  const right = 'now';
  lines.push(`${left} ${'─'.repeat(Math.max(0, cols - left.length - right.length - 2))} ${right}`);
  lines.push(fit(`q quit · space ${o.paused ? 'resume' : 'pause'} · beats ${BEAT_MARK} where the chain found them`, cols));
  return { lines, stripTop, stripRows, beats };
}

/** The strip alone, `rows` high, and its line of beat marks (a calibration's progress). */
export function renderStrip(m: StripModel, cols: number, rows: number): { rows: string[]; marks: string; beats: number } {
  const d = drawStrip(m, cols, rows);
  const marks = Array.from({ length: cols }, () => ' ');
  for (const b of d.beats) marks[b.col] = BEAT_MARK;
  return { rows: d.rows, marks: marks.join(''), beats: d.beats.length };
}

function drawStrip(m: StripModel, cols: number, stripRows: number): { rows: string[]; beats: { sample: number; col: number }[] } {
  const dotsX = cols * 2;
  const dotsY = stripRows * 4;
  const cells = new Uint8Array(cols * stripRows);
  const beats: { sample: number; col: number }[] = [];
  const fs = m.fs;
  if (fs !== null && m.values.length > 0) {
    const n = m.windowS * fs;
    const end = m.end;
    const x0 = end - n;
    const colMin = new Float64Array(dotsX).fill(Infinity);
    const colMax = new Float64Array(dotsX).fill(-Infinity);
    const colLast = new Float64Array(dotsX).fill(NaN);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < m.values.length; i++) {
      const v = m.values[i];
      const s = m.start + i * m.factor + (m.factor - 1) / 2;
      if (v === null || s < x0) continue;
      const dx = Math.min(dotsX - 1, Math.floor(((s - x0) / n) * dotsX));
      colMin[dx] = Math.min(colMin[dx], v);
      colMax[dx] = Math.max(colMax[dx], v);
      colLast[dx] = v;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    if (hi - lo < 0.05) {
      const mid = (hi + lo) / 2;
      lo = mid - 0.025;
      hi = mid + 0.025;
    }
    const dy = (v: number) => Math.round(((hi - v) / (hi - lo)) * (dotsY - 1));
    const set = (x: number, y: number) => {
      cells[(y >> 2) * cols + (x >> 1)] |= DOTS[y & 3][x & 1];
    };
    let prev = NaN;
    for (let x = 0; x < dotsX; x++) {
      if (!(colMax[x] >= colMin[x])) {
        prev = NaN;
        continue;
      }
      // Join to the previous column so a steep QRS is one stroke, not scattered dots.
      let top = dy(colMax[x]);
      let bottom = dy(colMin[x]);
      if (!Number.isNaN(prev)) {
        top = Math.min(top, dy(prev));
        bottom = Math.max(bottom, dy(prev));
      }
      for (let y = top; y <= bottom; y++) set(x, y);
      prev = colLast[x];
    }
    for (const b of m.beats) {
      if (b < x0 || b >= end) continue;
      beats.push({ sample: b, col: Math.min(cols - 1, Math.floor(((b - x0) / n) * dotsX) >> 1) });
    }
  }
  const rows: string[] = [];
  for (let r = 0; r < stripRows; r++) {
    let line = '';
    for (let c = 0; c < cols; c++) {
      const bits = cells[r * cols + c];
      line += bits === 0 ? ' ' : String.fromCharCode(0x2800 + bits);
    }
    rows.push(line);
  }
  return { rows, beats };
}
