/**
 * The `context` settings (ride context), as a TypeBox fragment composed into the
 * configuration schema: one source for the type, the defaults and the validation.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { MotobioError } from '../util/errors.js';
import { GPSD_DEFAULT_PORT } from './gpsd.js';
import type { RideTrackerConfig } from './ride-tracker.js';

export const ContextSettingsSchema = Type.Object(
  {
    source: Type.Union([Type.Literal('assumed'), Type.Literal('gpsd')], {
      default: 'assumed',
      description: 'gpsd: speed and fix from the local gpsd; assumed: no GPS, the bike counts as ridden while the daemon runs (said in status and every decision record)',
    }),
    gpsd: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1', minLength: 1, description: "gpsd's host; keep it local (loopback)" }),
        port: Type.Integer({ default: GPSD_DEFAULT_PORT, minimum: 1, maximum: 65535 }),
      },
      { default: {} },
    ),
    start_speed_mps: Type.Number({ default: 3, exclusiveMinimum: 0, description: 'at or above this ground speed the bike is moving, m/s' }),
    stop_speed_mps: Type.Number({ default: 1, exclusiveMinimum: 0, description: 'below this it stands still, m/s; must be below start_speed_mps' }),
    start_dwell_s: Type.Number({ default: 5, minimum: 0, description: 'moving this long starts or resumes riding, s' }),
    halt_dwell_s: Type.Number({ default: 3, minimum: 0, description: 'standing this long is a halt (red light: the ride goes on), s' }),
    real_stop_s: Type.Number({ default: 300, exclusiveMinimum: 0, description: 'a halt this long is a real stop: the ride ends and break time starts over, s' }),
    stale_after_s: Type.Number({ default: 5, exclusiveMinimum: 0, description: 'no fix this long and the context is stale, s' }),
    position_precision_deg: Type.Number({ default: 0.01, exclusiveMinimum: 0, maximum: 1, description: 'positions in records are snapped to this grid, degrees (0.01 is about 1.1 km)' }),
    record_position: Type.Boolean({ default: true, description: 'false: no position in status or records at all' }),
  },
  { default: {}, additionalProperties: false },
);

export type ContextSettings = Static<typeof ContextSettingsSchema>;

/** Defaults filled in and checked; a bad value names its setting and what to do. */
export function parseContextSettings(raw: unknown = {}, path = 'context'): ContextSettings {
  const v = Value.Default(ContextSettingsSchema, structuredClone(raw ?? {}));
  const errors = [...Value.Errors(ContextSettingsSchema, v)];
  if (errors.length > 0) {
    const e = errors[0];
    throw new MotobioError('CONFIG_INVALID', `${path}${e.path.replaceAll('/', '.')}: ${e.message}; fix it in the configuration (docs/config.md)`);
  }
  const s = v as ContextSettings;
  if (!(s.stop_speed_mps < s.start_speed_mps)) {
    throw new MotobioError('CONFIG_INVALID', `${path}.stop_speed_mps (${s.stop_speed_mps}) must be below ${path}.start_speed_mps (${s.start_speed_mps}), or riding and halted would flap`);
  }
  return s;
}

export const DEFAULT_CONTEXT_SETTINGS: ContextSettings = parseContextSettings({});

export function trackerConfig(s: ContextSettings): RideTrackerConfig {
  return {
    startSpeedMps: s.start_speed_mps,
    stopSpeedMps: s.stop_speed_mps,
    startDwellS: s.start_dwell_s,
    haltDwellS: s.halt_dwell_s,
    realStopS: s.real_stop_s,
    staleAfterS: s.stale_after_s,
    positionPrecisionDeg: s.position_precision_deg,
    recordPosition: s.record_position,
  };
}
