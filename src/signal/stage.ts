/**
 * The signal chain as the daemon builds it: one EcgChain per source, at the source's rate,
 * with a technician's passed calibration (gain, polarity, measured rate) applied and, for a
 * live sensor, mains notched out first (signal.powerline_hz).
 */
import type { CalibrationProfile } from '../calibration/profile.js';
import { EcgChain, type ChainOutput } from './chain.js';
import { PowerlineNotch } from './notch.js';
import type { SignalFeatures } from './types.js';

/** The signal chain as the daemon and the source feed drive it (EcgChain). */
export interface SignalChain {
  push(mv: Float64Array): ChainOutput;
  pushRr(rrMs: readonly number[], timeS: number, contact?: boolean): ChainOutput;
  features(): SignalFeatures;
}

export function openChain(fs: number | undefined, calibration: CalibrationProfile['apply'] | undefined, powerlineHz?: number): SignalChain {
  const rate = fs === undefined ? undefined : (calibration?.fs_hz ?? fs);
  const chain = new EcgChain({
    ...(rate === undefined ? {} : { fs: rate }),
    ...(calibration ? { scale: calibration.gain * (calibration.invert ? -1 : 1) } : {}),
  });
  // RR-only straps have no waveform; a rate at or under twice the mains frequency cannot carry it.
  if (rate === undefined || powerlineHz === undefined || rate <= 2 * powerlineHz) return chain;
  const notch = new PowerlineNotch(rate, powerlineHz);
  return {
    push: (mv) => chain.push(notch.process(Float64Array.from(mv))),
    pushRr: (rr, t, contact) => chain.pushRr(rr, t, contact),
    features: () => chain.features(),
  };
}
