/**
 * Beat classifier: normal (N), ventricular (V) or supraventricular (S), per rider, from the
 * beat's own ECG around its R peak, against an adaptive template of the rider's normal beat.
 *
 *   raw ECG ─▶ ring (input timeline) ─┐
 *   Beat (sample) ─▶ wait for +POST_S ┴▶ segment − baseline ─▶ width, template correlation, amplitude
 *                                                      RR / recent RR (prematurity) ─┴▶ N | V | S
 *
 * Rules (general, not fitted per record): a ventricular beat starts in the ventricle, so its
 * complex is wide and shaped unlike the rider's normal one; a supraventricular premature beat
 * has the normal complex but comes early. The template is the medoid of the first beats (so a
 * record that opens with ectopy does not learn an ectopic template) and then follows beats
 * classified normal. Constants (correlation and width limits) tuned on mitdb DS1 (the records
 * in ../shared/data), see the README's rhythm section.
 */
import type { Beat } from '../types.js';
import type { BeatClass } from './types.js';

const PRE_S = 0.1;
const POST_S = 0.14;
/** Beats whose medoid seeds the template. */
const SEED_BEATS = 12;
/** Template update weight for a beat classified normal. */
const TEMPLATE_RATE = 0.05;
/** Correlation with the template under this, or a width over WIDE x the template's, marks a ventricular shape. */
const CORR_V = 0.75;
const CORR_SOFT = 0.9;
const WIDE = 1.45;
/** RR under PREMATURE x the recent RR median is premature. */
const PREMATURE = 0.85;
const RR_BEATS = 9;
/** An interval after the beat over POST_PAUSE x the recent RR is a compensatory pause. */
const POST_PAUSE = 1.1;
/** A shape this unlike the template is ventricular whatever its timing. */
const CORR_STRONG = 0.3;
/** Width ratio under which a complex is narrower than the template (not ventricular). */
const NARROW = 0.7;
/** 100 bpm: the interval under which ventricular beats in a row are a run. */
const RUN_RR_MS = 600;
/** On-time narrow beats in a row that replace a template learnt on wide beats. */
const RESEED_BEATS = 6;

export interface ClassifiedBeat {
  readonly sample: number;
  readonly timeS: number;
  readonly cls: BeatClass;
  /** Correlation with the normal template (1 = same shape). */
  readonly corr: number;
  /** QRS width over the template's. */
  readonly widthRatio: number;
}

export class BeatClassifier {
  private readonly fs: number;
  private readonly pre: number;
  private readonly post: number;
  private readonly ring: Float64Array;
  private n = 0;
  private readonly pending: Beat[] = [];
  private template: Float64Array | undefined;
  private templateWidth = 0;
  private readonly seeds: Float64Array[] = [];
  private readonly rrRing = new Float64Array(RR_BEATS);
  private rrN = 0;
  private rrW = 0;
  private lastTimeS: number | undefined;
  private readonly seg: Float64Array;
  private held: { sample: number; timeS: number; corr: number; widthRatio: number; premature: boolean; rr: number | undefined; ref: number | undefined; seg: Float64Array } | undefined;
  /** The rider's other normal shape (see decideHeld). */
  private alt: Float64Array | undefined;
  private prevV = false;
  private narrowRun = 0;

  constructor(fs: number) {
    this.fs = fs;
    this.pre = Math.round(PRE_S * fs);
    this.post = Math.round(POST_S * fs);
    this.ring = new Float64Array(Math.ceil(8 * fs));
    this.seg = new Float64Array(this.pre + this.post + 1);
  }

  /** The raw samples the detector saw (lead-off already held), in order. */
  pushSamples(x: ArrayLike<number>): void {
    const ring = this.ring;
    const len = ring.length;
    let w = this.n % len;
    for (let i = 0; i < x.length; i++) {
      ring[w] = x[i];
      w = w + 1 === len ? 0 : w + 1;
    }
    this.n += x.length;
  }

  /** Queues a detected beat; `take` returns it classified once its complex is in. */
  addBeat(b: Beat): void {
    this.pending.push(b);
  }

  /** Beats whose whole complex has arrived, classified, in order. `all` at end of stream. */
  take(all = false): ClassifiedBeat[] {
    const out: ClassifiedBeat[] = [];
    while (this.pending.length > 0 && (all || this.pending[0].sample + this.post < this.n)) {
      const b = this.pending.shift()!;
      this.classify(b, out);
    }
    if (all && this.held) out.push(this.decideHeld(undefined));
    return out;
  }

  /**
   * A beat shaped unlike the template is ventricular when it also behaves like one: early, or
   * followed by a (compensatory) pause, or inside a run of them. A different shape that arrives
   * on time with a normal interval after it is the rider's other normal (rate-dependent bundle
   * branch block, a change of electrode position), and it does not count as ventricular.
   */
  private decideHeld(nextRr: number | undefined): ClassifiedBeat {
    const h = this.held!;
    this.held = undefined;
    const ref = h.ref;
    const late = nextRr !== undefined && ref !== undefined && nextRr > POST_PAUSE * ref;
    const veryOdd = h.corr < CORR_STRONG && h.widthRatio > WIDE;
    // After a ventricular beat, an odd shape at a tachycardic interval continues the run.
    const inRun = this.prevV && h.rr !== undefined && h.rr < RUN_RR_MS;
    const v = h.premature || late || inRun || veryOdd || ref === undefined;
    const cls: BeatClass = v ? 'V' : 'N';
    this.prevV = v;
    if (h.rr !== undefined) this.pushRr(h.rr);
    // An on-time odd shape with a normal interval after it is the rider's other normal shape.
    if (!v) this.alt = h.seg;
    return { sample: h.sample, timeS: h.timeS, cls, corr: h.corr, widthRatio: h.widthRatio };
  }

  private classify(b: Beat, out: ClassifiedBeat[]): void {
    const rr = this.lastTimeS === undefined ? undefined : (b.timeS - this.lastTimeS) * 1000;
    this.lastTimeS = b.timeS;
    if (this.held) out.push(this.decideHeld(rr));
    const c = this.shape(b, rr);
    if (c) {
      this.prevV = false;
      out.push(c);
    }
  }

  /** Classifies a beat from its shape and timing; undefined when it is held for the next interval. */
  private shape(b: Beat, rr: number | undefined): ClassifiedBeat | undefined {
    const ref = this.rrN >= 3 ? medianOf(this.rrRing, this.rrN) : undefined;
    if (!this.extract(b.sample)) return { sample: b.sample, timeS: b.timeS, cls: 'N', corr: 1, widthRatio: 1 };
    const seg = this.seg;
    const width = qrsWidth(seg, this.pre);
    if (!this.template) {
      this.seeds.push(Float64Array.from(seg));
      if (rr !== undefined) this.pushRr(rr);
      if (this.seeds.length >= SEED_BEATS) this.seedTemplate();
      return { sample: b.sample, timeS: b.timeS, cls: 'N', corr: 1, widthRatio: 1 };
    }
    const corr = correlation(seg, this.template);
    const widthRatio = this.templateWidth > 0 ? width / this.templateWidth : 1;
    const premature = rr !== undefined && ref !== undefined && rr < PREMATURE * ref;
    // A complex clearly narrower than the template is not ventricular: the template is off
    // (it learnt a wide beat); a run of such on-time beats replaces it.
    if (widthRatio < NARROW && !premature) {
      if (++this.narrowRun >= RESEED_BEATS) {
        this.template = Float64Array.from(seg);
        this.templateWidth = width;
        this.narrowRun = 0;
      }
      if (rr !== undefined) this.pushRr(rr);
      return { sample: b.sample, timeS: b.timeS, cls: 'N', corr: Math.round(corr * 1000) / 1000, widthRatio: Math.round(widthRatio * 1000) / 1000 };
    }
    this.narrowRun = 0;
    if (corr < CORR_V || widthRatio > WIDE || (corr < CORR_SOFT && premature && widthRatio > 1.15)) {
      if (!premature && this.alt && correlation(seg, this.alt) > CORR_SOFT) {
        if (rr !== undefined) this.pushRr(rr);
        return { sample: b.sample, timeS: b.timeS, cls: 'N', corr: Math.round(corr * 1000) / 1000, widthRatio: Math.round(widthRatio * 1000) / 1000 };
      }
      this.held = { sample: b.sample, timeS: b.timeS, corr: Math.round(corr * 1000) / 1000, widthRatio: Math.round(widthRatio * 1000) / 1000, premature, rr, ref, seg: Float64Array.from(seg) };
      return undefined;
    }
    let cls: BeatClass = 'N';
    if (premature && corr >= CORR_SOFT) cls = 'S';
    if (cls === 'N') {
      const t = this.template;
      for (let k = 0; k < t.length; k++) t[k] += TEMPLATE_RATE * (seg[k] - t[k]);
      this.templateWidth += TEMPLATE_RATE * (width - this.templateWidth);
    }
    // Every interval sets the rate a beat is premature against: one that held out the odd-shaped beats went stale when a second normal shape took over (mitdb 207).
    if (rr !== undefined) this.pushRr(rr);
    return { sample: b.sample, timeS: b.timeS, cls, corr: Math.round(corr * 1000) / 1000, widthRatio: Math.round(widthRatio * 1000) / 1000 };
  }

  private pushRr(rr: number): void {
    this.rrRing[this.rrW] = rr;
    this.rrW = (this.rrW + 1) % RR_BEATS;
    if (this.rrN < RR_BEATS) this.rrN++;
  }

  /** The medoid of the seed beats: the one most like the others. */
  private seedTemplate(): void {
    let best = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < this.seeds.length; i++) {
      let s = 0;
      for (let j = 0; j < this.seeds.length; j++) if (i !== j) s += correlation(this.seeds[i], this.seeds[j]);
      if (s > bestScore) {
        bestScore = s;
        best = i;
      }
    }
    this.template = Float64Array.from(this.seeds[best]);
    this.templateWidth = qrsWidth(this.template, this.pre);
    this.seeds.length = 0;
  }

  /** Copies the beat's segment out of the ring, minus a straight baseline through its ends. */
  private extract(sample: number): boolean {
    const from = sample - this.pre;
    const to = sample + this.post;
    if (from < 0 || from <= this.n - this.ring.length || to >= this.n) return false;
    const len = this.ring.length;
    const seg = this.seg;
    for (let k = 0; k < seg.length; k++) seg[k] = this.ring[(from + k) % len];
    const e = Math.max(1, Math.round(0.01 * this.fs));
    let a = 0;
    let z = 0;
    for (let k = 0; k < e; k++) {
      a += seg[k];
      z += seg[seg.length - 1 - k];
    }
    a /= e;
    z /= e;
    const last = seg.length - 1;
    for (let k = 0; k < seg.length; k++) seg[k] -= a + ((z - a) * k) / last;
    return true;
  }
}

/**
 * QRS width: the span holding the middle 80 % of the complex's absolute slope around the peak
 * (samples). Slope energy is what makes a complex wide or narrow, whatever its polarity.
 */
function qrsWidth(seg: Float64Array, peak: number): number {
  const lo = Math.max(1, peak - Math.round(seg.length * 0.35));
  const hi = Math.min(seg.length - 1, peak + Math.round(seg.length * 0.35));
  let total = 0;
  for (let k = lo; k < hi; k++) total += Math.abs(seg[k] - seg[k - 1]);
  if (total <= 0) return 0;
  let acc = 0;
  let a = lo;
  let b = hi;
  for (let k = lo; k < hi; k++) {
    acc += Math.abs(seg[k] - seg[k - 1]);
    if (acc >= 0.1 * total) {
      a = k;
      break;
    }
  }
  acc = 0;
  for (let k = hi - 1; k >= lo; k--) {
    acc += Math.abs(seg[k] - seg[k - 1]);
    if (acc >= 0.1 * total) {
      b = k;
      break;
    }
  }
  return Math.max(1, b - a);
}

function correlation(a: Float64Array, b: Float64Array): number {
  let ma = 0;
  let mb = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i] - ma;
    const y = b[i] - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

function medianOf(a: Float64Array, n: number): number {
  const s = Array.from(a.subarray(0, n)).sort((x, y) => x - y);
  return n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
