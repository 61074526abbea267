/**
 * The one loop from a source to the signal chain, shared by the daemon's pipeline, a
 * technician's calibration and `motobio test bluetooth`:
 *
 *   EcgSource ──samples──▶ ChunkAligner (lost samples as NaN) ──▶ chain.push(mv)  ─┐
 *             └──rr──────▶ data time += Σ rr ─────────────────▶ chain.pushRr(rr) ─┴─▶ onOutput
 *
 * One time base: the data's own timeline. Samples count on the sensor's sample index, RR on
 * the sum of the intervals, never on arrival times, so a replay at any speed and a live strap
 * give the same beat times and the same decision points.
 */
import type { ChainOutput } from '../signal/chain.js';
import type { SignalChain } from '../signal/stage.js';
import { ChunkAligner } from './timeline.js';
import type { EcgSource, RrChunk, SampleChunk } from './types.js';

export interface FeedOutput {
  readonly kind: 'samples' | 'rr';
  readonly out: ChainOutput;
  /** Where the data stands on its own timeline after this chunk, s. */
  readonly dataTimeS: number;
  readonly receivedAtMs: number;
  /** Samples: what went into the chain (NaN for lost ones). */
  readonly mv?: Float64Array;
  /** RR: the chunk as the source sent it (contact, sensor heart rate). */
  readonly rr?: RrChunk;
}

export class SourceFeed<C extends SignalChain = SignalChain> {
  private chainOf: C | undefined;
  private readonly aligner = new ChunkAligner();
  private rrTimeS = 0;
  private detachFn: (() => void) | undefined;

  constructor(
    private readonly source: EcgSource,
    /** Called once, on the first chunk, with the source's sample rate (undefined for RR-only). */
    private readonly makeChain: (fs: number | undefined) => C | undefined,
    private readonly onOutput: (o: FeedOutput) => void,
  ) {}

  /** The chain, once the first chunk made it. */
  get chain(): C | undefined {
    return this.chainOf;
  }

  attach(guard: (what: string, fn: () => void) => void = (_w, fn) => fn()): void {
    if (this.detachFn) return;
    const onSamples = (c: SampleChunk) => guard('samples', () => this.onSamples(c));
    const onRr = (c: RrChunk) => guard('rr', () => this.onRr(c));
    this.source.on('samples', onSamples);
    this.source.on('rr', onRr);
    this.detachFn = () => {
      this.source.off('samples', onSamples);
      this.source.off('rr', onRr);
    };
  }

  detach(): void {
    this.detachFn?.();
    this.detachFn = undefined;
  }

  private chainFor(): C | undefined {
    // A sensor that sends both (Polar H10) gets one chain with its sample rate.
    this.chainOf ??= this.makeChain(this.source.fs);
    return this.chainOf;
  }

  private onSamples(c: SampleChunk): void {
    const fs = this.source.fs;
    const chain = this.chainFor();
    if (!chain || !fs) return;
    const mv = this.aligner.push(c);
    if (mv.length === 0) return;
    this.onOutput({ kind: 'samples', out: chain.push(mv), dataTimeS: (c.start + c.mv.length) / fs, receivedAtMs: c.receivedAtMs, mv });
  }

  private onRr(c: RrChunk): void {
    const chain = this.chainFor();
    if (!chain) return;
    for (const rr of c.rrMs) this.rrTimeS += rr / 1000;
    this.onOutput({ kind: 'rr', out: chain.pushRr(c.rrMs, this.rrTimeS, c.contact), dataTimeS: this.rrTimeS, receivedAtMs: c.receivedAtMs, rr: c });
  }
}
