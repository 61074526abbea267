/**
 * The `cues:` line of `motobio status`, from the status the cue stage publishes
 * (components.cues): output state, language, broken prompts and the last cue.
 */
import type { ComponentStatus } from '../core/telemetry-sink.js';

export function formatCueLine(c: ComponentStatus | undefined): string {
  if (!c) return 'cues:      no status yet';
  const d = c.detail ?? {};
  const output = typeof d['output'] === 'string' ? d['output'] : '?';
  const lang = typeof d['language'] === 'string' ? d['language'] : '?';
  const head =
    c.state === 'off'
      ? 'prompts OFF (no audio output configured: rider.audio.output)'
      : c.state === 'failed'
        ? `${output} UNAVAILABLE${c.lastError ? ` (${c.lastError})` : ''}, retrying`
        : `${output} ${c.state}`;
  const parts = [head, lang];
  const broken = Array.isArray(d['promptProblems']) ? (d['promptProblems'] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
  if (broken.length > 0) parts.push(`as tones: ${broken.join(', ')}`);
  const last = d['last'] as { kind?: unknown; name?: unknown; state?: unknown; reason?: unknown; decisionSeq?: unknown } | null | undefined;
  if (last && typeof last.name === 'string') parts.push(`last: ${String(last.kind)} ${last.name} ${String(last.state)}${typeof last.reason === 'string' ? ` (${last.reason})` : ''}, decision #${String(last.decisionSeq)}`);
  return `cues:      ${parts.join(', ')}`;
}
