/** The ride-context source the settings ask for. */
import type { Logger } from '../util/log.js';
import { AssumedRideSource } from './assumed.js';
import { GpsdRideSource } from './gpsd.js';
import { trackerConfig, type ContextSettings } from './settings.js';
import type { RideContextSource } from './types.js';

export function createRideContextSource(settings: ContextSettings, options: { logger?: Logger; now?: () => number } = {}): RideContextSource {
  if (settings.source === 'gpsd') {
    return new GpsdRideSource({
      host: settings.gpsd.host,
      port: settings.gpsd.port,
      tracker: trackerConfig(settings),
      ...(options.logger ? { logger: options.logger.child({ mod: 'context' }) } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
  }
  return new AssumedRideSource(options.now ? { now: options.now } : {});
}
