/**
 * The signal chain as the daemon builds it: one EcgChain per source, at the source's rate,
 * with a technician's passed calibration (gain, polarity, measured rate) applied.
 */
import type { CalibrationProfile } from '../calibration/profile.js';
import { EcgChain } from './chain.js';

export function openChain(fs: number | undefined, calibration: CalibrationProfile['apply'] | undefined): EcgChain {
  return new EcgChain({
    ...(fs === undefined ? {} : { fs: calibration?.fs_hz ?? fs }),
    ...(calibration ? { scale: calibration.gain * (calibration.invert ? -1 : 1) } : {}),
  });
}
