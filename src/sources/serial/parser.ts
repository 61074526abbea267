/**
 * What every serial parser produces. Parsers are pure: bytes in, frames out, counters of what
 * was dropped; no I/O and no clocks, so they can be fuzzed with arbitrary bytes.
 */
export type SerialProtocol = 'text' | 'binary';

export interface ParsedFrame {
  /** ADC counts, each within [0, maxCount]; NaN marks a lead-off sample slot. */
  readonly values: readonly number[];
  readonly leadOff: boolean;
  /** Sensor's sample counter of the first value, modulo 2^16 (binary protocol). */
  readonly seq?: number;
  /** Sensor's millisecond clock, modulo 2^32 (text protocol `millis,value`). */
  readonly deviceMs?: number;
}

export interface ParserCounters {
  bytesIn: number;
  framesGood: number;
  /** Lines or frames rejected: bad syntax, bad CRC, out-of-range values. */
  framesBad: number;
  /** Bytes that ended up in no good frame. */
  bytesDropped: number;
}

export interface FrameParser {
  readonly counters: Readonly<ParserCounters>;
  push(bytes: Uint8Array): ParsedFrame[];
}

export function newCounters(): ParserCounters {
  return { bytesIn: 0, framesGood: 0, framesBad: 0, bytesDropped: 0 };
}
