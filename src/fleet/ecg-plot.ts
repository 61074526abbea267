/**
 * A stored ECG strip as a PNG a person can look at: rows of 10 s, a light grid every second,
 * the trace, and a red tick at each beat the unit's own signal chain finds in it (so the plot
 * shows what the unit would have seen). No-sample stretches (lead-off, a lost chunk) stay blank.
 */
import { PNG } from 'pngjs';
import { runChain } from '../offline/signal-eval/run-record.js';
import type { Strip } from './ecg-export.js';

const ROW_S = 10;
const ROW_W = 1000;
const ROW_H = 140;
const MARGIN = 10;

export interface Plot {
  readonly png: Buffer;
  readonly beats: number;
  readonly width: number;
  readonly height: number;
}

export function plotStrip(strip: Strip): Plot {
  const { fs, counts, lsbUv } = strip;
  const mv = Float64Array.from(counts, (c) => (c === -32768 ? NaN : (c * lsbUv) / 1000));
  // The chain wants a continuous signal: blanks become baseline for detection only.
  const beats = runChain(Float64Array.from(mv, (v) => (Number.isNaN(v) ? 0 : v)), fs).beats.filter((b) => Number.isFinite(b.timeS));
  const rows = Math.max(1, Math.ceil(counts.length / (fs * ROW_S)));
  const width = ROW_W + 2 * MARGIN;
  const height = rows * ROW_H + 2 * MARGIN;
  const png = new PNG({ width, height });
  png.data.fill(255);
  const put = (x: number, y: number, r: number, g: number, b: number) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const i = (y * width + x) * 4;
    png.data[i] = r;
    png.data[i + 1] = g;
    png.data[i + 2] = b;
    png.data[i + 3] = 255;
  };
  const perPx = (fs * ROW_S) / ROW_W;
  // 2 mV over a row's height, centred on the row's median.
  const pxPerMv = ROW_H / 3;
  for (let row = 0; row < rows; row++) {
    const top = MARGIN + row * ROW_H;
    for (let s = 0; s <= ROW_S; s++) for (let y = top; y < top + ROW_H; y++) put(MARGIN + Math.round((s * ROW_W) / ROW_S), y, 225, 225, 235);
    const from = Math.round(row * fs * ROW_S);
    const seg = Array.from(mv.subarray(from, Math.min(mv.length, from + fs * ROW_S))).filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
    const mid = seg.length ? seg[Math.floor(seg.length / 2)] : 0;
    const yOf = (v: number) => Math.round(top + ROW_H / 2 - (v - mid) * pxPerMv);
    let prevY: number | undefined;
    for (let x = 0; x < ROW_W; x++) {
      const a = from + Math.floor(x * perPx);
      const b = Math.min(mv.length, from + Math.floor((x + 1) * perPx));
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = a; i < b; i++) {
        if (Number.isNaN(mv[i])) continue;
        lo = Math.min(lo, mv[i]);
        hi = Math.max(hi, mv[i]);
      }
      if (lo === Infinity) {
        prevY = undefined;
        continue;
      }
      let y0 = yOf(hi);
      let y1 = yOf(lo);
      // Join the previous column's midpoint, so steep QRS edges stay one connected line.
      if (prevY !== undefined) {
        y0 = Math.min(y0, prevY);
        y1 = Math.max(y1, prevY);
      }
      for (let y = Math.max(top, y0); y <= Math.min(top + ROW_H - 1, y1); y++) put(MARGIN + x, y, 20, 20, 40);
      prevY = yOf((lo + hi) / 2);
    }
  }
  for (const bt of beats) {
    const sample = bt.timeS * fs;
    const row = Math.floor(sample / (fs * ROW_S));
    const x = MARGIN + Math.round((sample - row * fs * ROW_S) / perPx);
    const top = MARGIN + row * ROW_H;
    for (let y = top; y < top + 12; y++) for (const dx of [0, 1]) put(x + dx, y, 220, 30, 30);
  }
  return { png: PNG.sync.write(png), beats: beats.length, width, height };
}
