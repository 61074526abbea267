/**
 * The `report` settings: what the unit tells the fleet about itself beside the data (the
 * periodic health record, docs/telemetry.md) and the raw ECG strips it keeps around safety
 * alerts. A TypeBox fragment composed into the configuration schema (src/config/schema.ts).
 *
 *   report:
 *     health_period_s: 60     # one health record per minute of signal
 *     strip_before_s: 30      # raw ECG before each safety alert
 *     strip_after_s: 30       # and after it
 *     hourly_strip_s: 10      # one strip this long per hour of riding (0: none)
 */
import { Type, type Static } from '@sinclair/typebox';

export const DEFAULT_REPORT = { health_period_s: 60, strip_before_s: 30, strip_after_s: 30, hourly_strip_s: 10 } as const;

export const ReportSettingsSchema = Type.Object(
  {
    health_period_s: Type.Number({
      minimum: 5,
      maximum: 3600,
      default: DEFAULT_REPORT.health_period_s,
      description:
        'How often a health record (`status`, kind `health`: outbox, disk, links and bytes, CPU, memory, temperatures, strap battery, decision latency p95, signal quality) is sent, in seconds of signal like the decision period; on the wall clock while no data arrives.',
    }),
    strip_before_s: Type.Number({ minimum: 0, maximum: 120, default: DEFAULT_REPORT.strip_before_s, description: 'Raw ECG kept from this long before each safety alert (sources with samples only), s.' }),
    strip_after_s: Type.Number({ minimum: 0, maximum: 120, default: DEFAULT_REPORT.strip_after_s, description: 'Raw ECG kept until this long after each safety alert; an alert inside an open strip extends it, s.' }),
    hourly_strip_s: Type.Number({ minimum: 0, maximum: 60, default: DEFAULT_REPORT.hourly_strip_s, description: 'A raw ECG strip this long at each full hour of riding (0: none), s.' }),
  },
  { additionalProperties: false, default: {} },
);

export type ReportSettings = Static<typeof ReportSettingsSchema>;
