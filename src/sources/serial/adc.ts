/**
 * ADC counts to millivolts at the electrodes. An AD8232 front end (SparkFun/clone boards)
 * amplifies by about 1100 and centres its output at half the supply, which the MCU's ADC
 * (10-bit on an Uno/Nano, 12-bit on an ESP32/STM32) samples against its reference.
 */
import { MotobioError } from '../../util/errors.js';

export interface AdcScaleOptions {
  /** ADC resolution in bits (10 on AVR Arduinos, 12 on ESP32/STM32). */
  readonly bits?: number;
  /** ADC reference voltage, V (3.3 on most boards, 5.0 on an Uno). */
  readonly vrefV?: number;
  /** Total front-end gain, V/V (1100 on AD8232 reference boards). */
  readonly gain?: number;
  /** ADC count that means 0 mV; default mid-scale, where the AD8232 centres its output. */
  readonly zero?: number;
}

export const DEFAULT_ADC: Required<Omit<AdcScaleOptions, 'zero'>> = { bits: 10, vrefV: 3.3, gain: 1100 };

export class AdcScale {
  readonly bits: number;
  readonly maxCount: number;
  readonly zero: number;
  /** mV at the electrodes per ADC count. */
  readonly mvPerCount: number;

  constructor(options: AdcScaleOptions = {}) {
    const bits = options.bits ?? DEFAULT_ADC.bits;
    const vrefV = options.vrefV ?? DEFAULT_ADC.vrefV;
    const gain = options.gain ?? DEFAULT_ADC.gain;
    if (!Number.isInteger(bits) || bits < 8 || bits > 16) throw new MotobioError('CONFIG_INVALID', `adc.bits must be a whole number from 8 to 16 (10 for an Uno, 12 for an ESP32), got ${bits}`);
    if (!(vrefV > 0)) throw new MotobioError('CONFIG_INVALID', `adc.vrefV must be a positive voltage (3.3 or 5.0), got ${vrefV}`);
    if (!(gain > 0)) throw new MotobioError('CONFIG_INVALID', `adc.gain must be the positive front-end gain (1100 for an AD8232 board), got ${gain}`);
    this.bits = bits;
    this.maxCount = 2 ** bits - 1;
    this.zero = options.zero ?? this.maxCount / 2;
    if (!(this.zero >= 0 && this.zero <= this.maxCount)) throw new MotobioError('CONFIG_INVALID', `adc.zero must lie between 0 and ${this.maxCount}, got ${this.zero}`);
    this.mvPerCount = ((vrefV / this.maxCount) * 1000) / gain;
  }

  toMv(count: number): number {
    return (count - this.zero) * this.mvPerCount;
  }

  /** Inverse, rounded and clamped to the ADC range (what a real ADC would report). */
  toCount(mv: number): number {
    return Math.min(this.maxCount, Math.max(0, Math.round(mv / this.mvPerCount + this.zero)));
  }

  /** Largest |mV| the front end can report before it clips. */
  get rangeMv(): number {
    return Math.max(this.zero, this.maxCount - this.zero) * this.mvPerCount;
  }
}
