/**
 * The context every stage is opened with: one object, so nothing reaches for a global
 * (settings, logger, clock, telemetry) and tests build any stage from their own parts.
 * It sits below every stage: a stage imports this, never src/daemon/.
 */
import type { Logger } from '../util/log.js';
import type { MotobioConfig } from '../config/schema.js';
import type { Clock } from './clock.js';
import type { TelemetrySink } from './telemetry-sink.js';

export interface StageContext {
  /** The configuration in force, its paths already absolute (src/config/load.ts). */
  readonly config: MotobioConfig;
  readonly configFile: string | undefined;
  /** Where relative paths of a configuration pushed later resolve (the daemon's working directory). */
  readonly cwd: string;
  readonly log: Logger;
  readonly clock: Clock;
  readonly telemetry: TelemetrySink;
}
