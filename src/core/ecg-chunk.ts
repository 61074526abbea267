/** A run of raw ECG samples as the store keeps it (encoded by src/store/ecg-codec.ts); on the ground floor because records carry it. */
export interface EcgChunk {
  /** Index of the first sample on the source's timeline. */
  readonly startSample: number;
  readonly fs: number;
  /** Quantisation step in microvolts (1 µV keeps ±32 mV, far above any chest ECG). */
  readonly lsbUv: number;
  /** Samples in millivolts; NaN marks lead-off. */
  readonly mv: Float64Array;
}
