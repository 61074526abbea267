/**
 * Quiet periods: local wall-clock windows in which coaching prompts are muted. A wall clock
 * that is not synchronised (a unit without RTC boots in 1970) cannot say what time it is, so
 * no period applies then: a rider is coached rather than silenced by a wrong clock.
 */
import type { QuietPeriod } from './settings.js';

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

/** True when `at` (local time) falls in one of the periods; `to` earlier than `from` runs past midnight. */
export function inQuietPeriod(periods: readonly QuietPeriod[], at: Date): boolean {
  const now = at.getHours() * 60 + at.getMinutes();
  return periods.some((p) => {
    const from = minutes(p.from);
    const to = minutes(p.to);
    if (from === to) return false;
    return from < to ? now >= from && now < to : now >= from || now < to;
  });
}
