/**
 * Measured sample rate: samples counted on the sensor's own timeline (sequence numbers, so
 * lost samples still count) over monotonic arrival time, across a sliding window. Bluetooth
 * serial delivers in bursts, so the window must span many bursts to be meaningful.
 */
export const RATE_WINDOW_MS = 10_000;
/** Below this span the estimate is mostly burst jitter; report nothing. */
export const RATE_MIN_SPAN_MS = 2_000;

export class RateEstimator {
  private readonly points: { sample: number; atMs: number }[] = [];
  /** Index of the oldest point still in the window: shift() on every chunk is quadratic at replay speeds (10k chunks/s). */
  private head = 0;

  constructor(private readonly windowMs = RATE_WINDOW_MS) {}

  /** `sampleEnd` is the stream index just past the last sample received at `atMs`. */
  add(sampleEnd: number, atMs: number): void {
    this.points.push({ sample: sampleEnd, atMs });
    const cutoff = atMs - this.windowMs;
    while (this.points.length - this.head > 2 && this.points[this.head + 1].atMs <= cutoff) this.head++;
    if (this.head > 1024 && this.head * 2 > this.points.length) {
      this.points.splice(0, this.head);
      this.head = 0;
    }
  }

  reset(): void {
    this.points.length = 0;
    this.head = 0;
  }

  rateHz(): number | undefined {
    const first = this.points[this.head];
    const last = this.points[this.points.length - 1];
    if (first === undefined || last === undefined) return undefined;
    const spanMs = last.atMs - first.atMs;
    if (spanMs < RATE_MIN_SPAN_MS) return undefined;
    return ((last.sample - first.sample) * 1000) / spanMs;
  }
}
