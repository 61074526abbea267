/**
 * The signal chain as the daemon builds it: one EcgChain per source, at the source's rate,
 * with a technician's passed calibration (gain, polarity, measured rate) applied.
 */
import type { CalibrationProfile } from '../calibration/profile.js';
import { EcgChain, type ChainOutput } from './chain.js';
import type { SignalFeatures } from './types.js';

/** The signal chain as the daemon and the source feed drive it (EcgChain). */
export interface SignalChain {
  push(mv: Float64Array): ChainOutput;
  pushRr(rrMs: readonly number[], timeS: number, contact?: boolean): ChainOutput;
  features(): SignalFeatures;
}

export function openChain(fs: number | undefined, calibration: CalibrationProfile['apply'] | undefined): EcgChain {
  return new EcgChain({
    ...(fs === undefined ? {} : { fs: calibration?.fs_hz ?? fs }),
    ...(calibration ? { scale: calibration.gain * (calibration.invert ? -1 : 1) } : {}),
  });
}
