/**
 * WFDB header (.hea) parser. Grammar from PhysioNet's header(5) man page:
 *   record line:  name[/nseg] nsig [fs[/counterfs[(base)]] [nsamp [time [date]]]]
 *   signal line:  file format[xspf][:skew][+offset] [gain[(baseline)][/units] [adcres [adczero [initval [checksum [blocksize [desc]]]]]]]
 * Lines may end in CRLF; '#' starts a comment.
 */
import { MotobioError } from '../../util/errors.js';

export type WfdbFormat = 16 | 212;

export interface WfdbSignalSpec {
  readonly file: string;
  readonly format: WfdbFormat;
  /** Samples of this signal in each frame (multi-rate records such as drivedb's `16x32`). */
  readonly samplesPerFrame: number;
  readonly byteOffset: number;
  /** ADC units per physical unit; 0 in the file means the WFDB default of 200. */
  readonly gain: number;
  readonly baseline: number;
  readonly units: string;
  readonly adcResolution: number;
  readonly adcZero: number;
  readonly description: string;
}

export interface WfdbHeader {
  readonly name: string;
  /** Frame rate in Hz; a signal's own rate is frameRate * samplesPerFrame. */
  readonly frameRate: number;
  /** Frames in the record, or undefined when the header leaves it out. */
  readonly frames: number | undefined;
  readonly signals: readonly WfdbSignalSpec[];
  readonly comments: readonly string[];
}

const DEFAULT_GAIN = 200;
const DEFAULT_FRAME_RATE = 250;

export function parseHeader(text: string, source: string): WfdbHeader {
  const lines: string[] = [];
  const comments: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      comments.push(line.slice(1).trim());
      continue;
    }
    lines.push(line);
  }
  const recordLine = lines[0];
  if (recordLine === undefined) throw invalid(source, 'it has no record line');
  const rf = recordLine.split(/\s+/);
  const name = (rf[0] ?? '').split('/')[0] ?? '';
  if (rf[0]?.includes('/')) throw invalid(source, 'multi-segment records are not supported; convert it to a single segment first');
  const nsig = Number(rf[1]);
  // 0 signals is a valid header: an annotation-only record (afdb's reference beats and rhythms).
  if (!Number.isInteger(nsig) || nsig < 0) throw invalid(source, `the record line gives "${rf[1] ?? ''}" signals, expected a whole number`);
  const frameRate = rf[2] === undefined ? DEFAULT_FRAME_RATE : Number(rf[2].split('/')[0]);
  if (!Number.isFinite(frameRate) || frameRate <= 0) throw invalid(source, `the sampling frequency "${rf[2] ?? ''}" is not a positive number`);
  const frames = rf[3] === undefined ? undefined : Number(rf[3]);
  if (frames !== undefined && (!Number.isInteger(frames) || frames < 0)) throw invalid(source, `the sample count "${rf[3] ?? ''}" is not a whole number`);
  if (lines.length - 1 < nsig) throw invalid(source, `the record line announces ${nsig} signals but only ${lines.length - 1} signal lines follow`);

  const signals: WfdbSignalSpec[] = [];
  for (let i = 1; i <= nsig; i++) signals.push(parseSignalLine(lines[i] ?? '', source, i));
  return { name, frameRate, frames: frames === 0 ? undefined : frames, signals, comments };
}

function parseSignalLine(line: string, source: string, index: number): WfdbSignalSpec {
  const f = line.split(/\s+/);
  const file = f[0] ?? '';
  const fm = /^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$/.exec(f[1] ?? '');
  if (!fm) throw invalid(source, `signal ${index} has format "${f[1] ?? ''}", which is not a WFDB format field`);
  const format = Number(fm[1]);
  if (format !== 16 && format !== 212) throw invalid(source, `signal ${index} uses WFDB format ${format}; only formats 16 and 212 are supported`);
  if (fm[3] !== undefined && Number(fm[3]) !== 0) throw invalid(source, `signal ${index} has a skew, which is not supported`);
  const samplesPerFrame = fm[2] === undefined ? 1 : Number(fm[2]);
  if (samplesPerFrame < 1) throw invalid(source, `signal ${index} has ${samplesPerFrame} samples per frame`);
  const byteOffset = fm[4] === undefined ? 0 : Number(fm[4]);

  let gain = DEFAULT_GAIN;
  let baseline: number | undefined;
  let units = 'mV';
  if (f[2] !== undefined) {
    const gm = /^([-+0-9.eE]+)(?:\(([-+0-9]+)\))?(?:\/(\S+))?$/.exec(f[2]);
    if (!gm) throw invalid(source, `signal ${index} has gain "${f[2]}", which is not a number`);
    const g = Number(gm[1]);
    if (!Number.isFinite(g)) throw invalid(source, `signal ${index} has gain "${f[2]}", which is not a number`);
    gain = g === 0 ? DEFAULT_GAIN : g;
    if (gm[2] !== undefined) baseline = Number(gm[2]);
    if (gm[3] !== undefined) units = gm[3];
  }
  const adcResolution = f[3] === undefined ? (format === 212 ? 12 : 16) : Number(f[3]);
  const adcZero = f[4] === undefined ? 0 : Number(f[4]);
  const description = f.slice(8).join(' ');
  return {
    file,
    format,
    samplesPerFrame,
    byteOffset,
    gain,
    baseline: baseline ?? adcZero,
    units,
    adcResolution,
    adcZero,
    description,
  };
}

function invalid(source: string, problem: string): MotobioError {
  return new MotobioError('RECORD_INVALID', `${source}: ${problem}`);
}
