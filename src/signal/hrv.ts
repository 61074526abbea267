/**
 * HRV over a window of corrected RR intervals. Time domain needs >= 60 s, frequency domain
 * >= 120 s (Task Force of the ESC and NASPE, 1996: LF 0.04-0.15 Hz, HF 0.15-0.4 Hz). A metric
 * is null, not guessed, when its window is too short or too dirty.
 */
import type { HrvWindow, RrInterval } from './types.js';

export const TIME_DOMAIN_MIN_S = 60;
export const FREQ_DOMAIN_MIN_S = 120;
/** Above this share of corrected intervals the window is too dirty for HRV. */
export const MAX_ARTEFACT_SHARE = 0.2;
/** Below this mean signal quality the window is too dirty for HRV. */
export const MIN_QUALITY = 0.5;
const RESAMPLE_HZ = 4;

export function computeHrv(intervals: readonly RrInterval[], endS: number, windowS: number, quality: number): HrvWindow {
  const inWin = intervals.filter((r) => r.timeS > endS - windowS && r.timeS <= endS);
  const n = inWin.length;
  const artefacts = inWin.filter((r) => r.label !== 'normal').length;
  const ectopicShare = n ? artefacts / n : 0;
  const span = n ? inWin[n - 1].timeS - inWin[0].timeS + inWin[0].correctedMs / 1000 : 0;
  const nn = inWin.map((r) => r.correctedMs);
  const hr10 = recentHr(inWin, endS, 10);
  const clean = ectopicShare <= MAX_ARTEFACT_SHARE && quality >= MIN_QUALITY;
  const timeOk = clean && n >= 20 && span >= TIME_DOMAIN_MIN_S * 0.9 && windowS >= TIME_DOMAIN_MIN_S;
  const freqOk = clean && n >= 40 && span >= FREQ_DOMAIN_MIN_S * 0.9 && windowS >= FREQ_DOMAIN_MIN_S;

  let rmssd: number | null = null;
  let sdnn: number | null = null;
  let pnn50: number | null = null;
  if (timeOk) {
    let sq = 0;
    let over50 = 0;
    for (let i = 1; i < n; i++) {
      const d = nn[i] - nn[i - 1];
      sq += d * d;
      if (Math.abs(d) > 50) over50++;
    }
    rmssd = Math.sqrt(sq / (n - 1));
    pnn50 = over50 / (n - 1);
    const mean = nn.reduce((a, b) => a + b, 0) / n;
    sdnn = Math.sqrt(nn.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  }
  let lf: number | null = null;
  let hf: number | null = null;
  if (freqOk) {
    const p = bandPowers(inWin.map((r) => r.timeS), nn);
    lf = p.lf;
    hf = p.hf;
  }
  return {
    endS,
    windowS,
    hrBpm: hr10,
    rmssdMs: rmssd,
    sdnnMs: sdnn,
    pnn50,
    lfMs2: lf,
    hfMs2: hf,
    lfHf: lf !== null && hf !== null && hf > 0 ? lf / hf : null,
    ectopicShare,
    quality,
  };
}

/** Heart rate from the corrected intervals of the last `seconds`, null when there are fewer than 3. */
export function recentHr(intervals: readonly RrInterval[], endS: number, seconds: number): number | null {
  let sum = 0;
  let count = 0;
  for (let i = intervals.length - 1; i >= 0; i--) {
    const r = intervals[i];
    if (r.timeS <= endS - seconds) break;
    if (r.timeS > endS) continue;
    sum += r.correctedMs;
    count++;
  }
  return count >= 3 ? (60_000 * count) / sum : null;
}

/** LF and HF power (ms^2) of an unevenly sampled NN series: 4 Hz linear resampling, detrend, Hann, periodogram. */
export function bandPowers(timesS: readonly number[], nnMs: readonly number[]): { lf: number; hf: number } {
  const t0 = timesS[0];
  const t1 = timesS[timesS.length - 1];
  const n = Math.floor((t1 - t0) * RESAMPLE_HZ) + 1;
  const x = new Float64Array(n);
  let j = 0;
  for (let i = 0; i < n; i++) {
    const t = t0 + i / RESAMPLE_HZ;
    while (j < timesS.length - 2 && timesS[j + 1] < t) j++;
    const ta = timesS[j];
    const tb = timesS[j + 1] ?? ta;
    const a = nnMs[j];
    const b = nnMs[j + 1] ?? a;
    x[i] = tb > ta ? a + ((b - a) * (t - ta)) / (tb - ta) : a;
  }
  detrend(x);
  let wss = 0;
  const hann = hannWindow(n);
  for (let i = 0; i < n; i++) {
    const w = hann[i];
    x[i] = x[i] * w;
    wss += w * w;
  }
  let size = 1;
  while (size < n) size <<= 1;
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  re.set(x);
  fft(re, im);
  // One-sided PSD in ms^2/Hz, scaled so that its integral equals the windowed variance.
  const df = RESAMPLE_HZ / size;
  let lf = 0;
  let hf = 0;
  for (let k = 1; k < size / 2; k++) {
    const f = k * df;
    const p = (2 * (re[k] * re[k] + im[k] * im[k])) / (RESAMPLE_HZ * wss);
    if (f >= 0.04 && f < 0.15) lf += p * df;
    else if (f >= 0.15 && f < 0.4) hf += p * df;
  }
  return { lf, hf };
}

// The daemon asks for LF/HF every few seconds over windows of nearly the same length (a 120-s
// window resampled at 4 Hz holds 440-481 points), so the few lengths in use keep their windows.
const hannCache = new Map<number, Float64Array>();
const HANN_CACHE_SIZE = 64;

function hannWindow(n: number): Float64Array {
  let w = hannCache.get(n);
  if (!w) {
    w = new Float64Array(n);
    for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    if (hannCache.size >= HANN_CACHE_SIZE) hannCache.delete(hannCache.keys().next().value as number);
    hannCache.set(n, w);
  }
  return w;
}

function detrend(x: Float64Array): void {
  const n = x.length;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sx += i;
    sy += x[i];
    sxx += i * i;
    sxy += i * x[i];
  }
  const den = n * sxx - sx * sx;
  const slope = den === 0 ? 0 : (n * sxy - sx * sy) / den;
  const icept = (sy - slope * sx) / n;
  for (let i = 0; i < n; i++) x[i] = x[i] - (icept + slope * i);
}

/** In-place radix-2 FFT; length must be a power of two. */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const tr = re[i];
      re[i] = re[j];
      re[j] = tr;
      const ti = im[i];
      im[i] = im[j];
      im[j] = ti;
    }
  }
  const tw = twiddles(n);
  // Stage `len` reads its len/2 twiddles from offset len/2 - 1 of the table.
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    const base = half - 1;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < half; k++) {
        const cr = tw.re[base + k];
        const ci = tw.im[base + k];
        const a = i + k;
        const b = a + half;
        const ar = re[a];
        const ai = im[a];
        const br = re[b] * cr - im[b] * ci;
        const bi = re[b] * ci + im[b] * cr;
        re[a] = ar + br;
        im[a] = ai + bi;
        re[b] = ar - br;
        im[b] = ai - bi;
      }
    }
  }
}

// The daemon takes an FFT of the same size every few seconds: its twiddle factors are kept.
let twiddleCache: { n: number; re: Float64Array; im: Float64Array } | undefined;

/** Every stage's twiddle factors, by the same rotation recurrence an in-loop FFT would step through. */
function twiddles(n: number): { re: Float64Array; im: Float64Array } {
  if (twiddleCache?.n !== n) {
    const re = new Float64Array(Math.max(1, n - 1));
    const im = new Float64Array(Math.max(1, n - 1));
    for (let len = 2; len <= n; len <<= 1) {
      const ang = (-2 * Math.PI) / len;
      const wr = Math.cos(ang);
      const wi = Math.sin(ang);
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len >> 1; k++) {
        re[(len >> 1) - 1 + k] = cr;
        im[(len >> 1) - 1 + k] = ci;
        const t = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = t;
      }
    }
    twiddleCache = { n, re, im };
  }
  return twiddleCache;
}
