/**
 * The strip a calibration shows while it measures: the chain's chunks go through the live
 * view's own downsampling (src/daemon/live-view.ts) into the watch command's strip model, and a
 * few braille rows with the beats marked come out for the progress display.
 *
 *   runCalibration onChunk(FeedOutput, fs) ─▶ LiveView (≤ 125 Hz chunks) ─▶ StripModel ─▶ renderStrip
 */
import type { FeedOutput } from '../../sources/feed.js';
import { LiveView } from '../../daemon/live-view.js';
import { StripModel, renderStrip } from './screen.js';

export interface CalibrationStrip {
  chunk(o: FeedOutput, fs: number | undefined): void;
  /** The strip, `rows` high, and its marks line, `cols` wide; empty before the first chunk. */
  lines(cols: number, rows: number): string[];
  readonly model: StripModel;
}

export function calibrationStrip(windowS = 5): CalibrationStrip {
  const model = new StripModel(windowS);
  let fs: number | undefined;
  const live = new LiveView({
    events: {
      wants: () => true,
      publish: (type, data) => {
        if (type === 'ecg') model.ecg(data as Parameters<StripModel['ecg']>[0]);
      },
    },
    fs: () => fs,
  });
  return {
    model,
    chunk: (o, rate) => {
      fs = rate;
      live.chunk(o);
    },
    lines: (cols, rows) => {
      if (model.values.length === 0) return [];
      const s = renderStrip(model, cols, rows);
      return [...s.rows, s.marks];
    },
  };
}
