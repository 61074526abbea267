/**
 * Works out which protocol a sensor speaks by running both parsers over the same bytes until
 * one is convincing: two CRC-valid binary frames (text never contains the A5 5A sync word), or
 * eight good text lines with no binary frame. Frames decoded while deciding are kept and
 * handed over, so detection loses nothing. Once on text, a shadow binary parser keeps
 * watching (cheap: it only scans for A5 5A) so a firmware switched to binary is picked up; once
 * on binary, a kilobyte of bytes with no good frame starts detection again.
 */
import { BinaryParser } from './binary-protocol.js';
import { TextParser } from './text-protocol.js';
import { newCounters, type FrameParser, type ParsedFrame, type ParserCounters, type SerialProtocol } from './parser.js';

export const DETECT_BINARY_FRAMES = 2;
export const DETECT_TEXT_LINES = 8;
/** Bytes dropped with no good frame, after which the protocol is detected again. */
export const REDETECT_AFTER_BYTES = 1024;
/** Frames held while undecided; beyond this the oldest are given up (and counted). */
const MAX_HELD = 512;

export function createParser(protocol: SerialProtocol, maxCount: number): FrameParser {
  return protocol === 'binary' ? new BinaryParser(maxCount) : new TextParser(maxCount);
}

export class AutoParser implements FrameParser {
  private text: TextParser;
  private binary: BinaryParser;
  private heldText: ParsedFrame[] = [];
  private heldBinary: ParsedFrame[] = [];
  private chosen: SerialProtocol | undefined;
  private droppedMark = 0;
  /** Totals from parsers already retired by a re-detection. */
  private readonly retired: ParserCounters = newCounters();

  constructor(private readonly maxCount: number) {
    this.text = new TextParser(maxCount);
    this.binary = new BinaryParser(maxCount);
  }

  get protocol(): SerialProtocol | undefined {
    return this.chosen;
  }

  /** While undecided, the text parser's view: it accounts for every byte. */
  get counters(): Readonly<ParserCounters> {
    const live = this.chosen === 'binary' ? this.binary.counters : this.text.counters;
    return {
      bytesIn: this.retired.bytesIn + live.bytesIn,
      framesGood: this.retired.framesGood + live.framesGood,
      framesBad: this.retired.framesBad + live.framesBad,
      bytesDropped: this.retired.bytesDropped + live.bytesDropped,
    };
  }

  push(bytes: Uint8Array): ParsedFrame[] {
    if (this.chosen === 'binary') {
      const out = this.binary.push(bytes);
      if (out.length > 0) this.droppedMark = this.binary.counters.bytesDropped;
      else if (this.binary.counters.bytesDropped - this.droppedMark >= REDETECT_AFTER_BYTES) this.redetect();
      return out;
    }
    if (this.chosen === 'text') {
      const out = this.text.push(bytes);
      const shadow = this.binary.push(bytes);
      if (this.binary.counters.framesGood >= DETECT_BINARY_FRAMES) {
        this.retireText();
        return this.choose('binary', shadow);
      }
      if (this.binary.counters.framesGood > 0) hold(this.heldBinary, shadow);
      return out;
    }
    const t = this.text.push(bytes);
    const b = this.binary.push(bytes);
    if (this.binary.counters.framesGood >= DETECT_BINARY_FRAMES) return this.choose('binary', b);
    if (this.text.counters.framesGood >= DETECT_TEXT_LINES && this.binary.counters.framesGood === 0) return this.choose('text', t);
    hold(this.heldText, t);
    hold(this.heldBinary, b);
    return [];
  }

  private choose(protocol: SerialProtocol, latest: ParsedFrame[]): ParsedFrame[] {
    this.chosen = protocol;
    const out = protocol === 'binary' ? this.heldBinary : this.heldText;
    for (const f of latest) out.push(f);
    this.heldBinary = [];
    this.heldText = [];
    this.droppedMark = this.binary.counters.bytesDropped;
    if (protocol === 'text') this.binary = new BinaryParser(this.maxCount);
    return out;
  }

  /** Switching text -> binary: the text parser's totals stay in the counters. */
  private retireText(): void {
    // Both saw the bytes since text was chosen: the text parser accounts for those, the binary
    // parser for everything after the switch.
    const t = this.text.counters;
    const b = this.binary.counters;
    this.retired.bytesIn += t.bytesIn - b.bytesIn;
    this.retired.framesGood += t.framesGood;
    this.retired.framesBad += t.framesBad;
    this.retired.bytesDropped += t.bytesDropped - b.bytesDropped;
    this.text = new TextParser(this.maxCount);
  }

  private redetect(): void {
    Object.assign(this.retired, this.counters);
    this.chosen = undefined;
    this.text = new TextParser(this.maxCount);
    this.binary = new BinaryParser(this.maxCount);
  }
}

function hold(into: ParsedFrame[], frames: ParsedFrame[]): void {
  for (const f of frames) into.push(f);
  if (into.length > MAX_HELD) into.splice(0, into.length - MAX_HELD);
}
