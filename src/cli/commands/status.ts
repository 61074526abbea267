/**
 * `motobio status [--json] [--config FILE] [--url URL]`: asks the running daemon's health
 * endpoint and prints what a technician needs, or the raw JSON for scripts.
 * Exit status: 0 running, 1 answering but not running (starting or stopping), 3 not running
 * (nothing answers: the LSB "program is not running" code), 64 usage error (EX_USAGE).
 */
import type { DaemonStatus } from '../../daemon/health.js';
import { errorMessage } from '../../util/errors.js';
import { parseCommandArgs, urlOption } from '../args.js';
import { formatCueLine } from '../../cues/status-line.js';
import { alarmText, cliLang, messages, type Lang } from '../../i18n/index.js';
import { formatCalibrationLine } from '../../calibration/status-line.js';

export const summary = "show the running daemon's state (--json for scripts)";

export const EXIT_NOT_RUNNING = 3;

const HELP = `usage: motobio status [--json] [--config FILE] [--url URL]

Asks the daemon's loopback health endpoint (health.host and health.port from the
configuration, or --url http://127.0.0.1:7411) and prints its state.
Exit status: 0 running, 1 starting or stopping, 3 not running, 64 usage error.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'status',
    argv,
    { json: { type: 'boolean' }, config: { type: 'string', short: 'c' }, url: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    false,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  // A mistyped --url is the technician's mistake to fix, not a daemon that is down.
  let base = values.url === undefined ? undefined : urlOption('status', 'url', values.url, 'http://127.0.0.1:7411').href.replace(/\/$/, '');
  if (base === undefined) {
    const { configInForce } = await import('../../config/in-force.js');
    const { DEFAULT_HEALTH_PORT } = await import('../../config/schema.js');
    try {
      const { health } = configInForce(values.config !== undefined ? { file: values.config } : {}).config;
      base = `http://${health.host.includes(':') ? `[${health.host}]` : health.host}:${health.port}`;
    } catch (e) {
      base = `http://127.0.0.1:${DEFAULT_HEALTH_PORT}`;
      process.stderr.write(`motobio status: cannot use the configuration (${errorMessage(e).split('\n')[0]}); asking ${base}\n`);
    }
  }
  let status: DaemonStatus;
  try {
    const res = await fetch(new URL('/status', base), { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    status = (await res.json()) as DaemonStatus;
  } catch (e) {
    const why = errorMessage((e as { cause?: unknown }).cause ?? e);
    if (values.json) process.stdout.write(`${JSON.stringify({ running: false, url: base, error: why })}\n`);
    else process.stderr.write(`${messages(cliLang())['status.notRunning']({ url: base, why })}\n`);
    return EXIT_NOT_RUNNING;
  }
  if (values.json) process.stdout.write(`${JSON.stringify(status)}\n`);
  else process.stdout.write(formatStatus(status, cliLang()));
  return status.state === 'running' ? 0 : 1;
}

function duration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return m > 0 ? `${m}m ${Math.floor(s % 60)}s` : `${Math.floor(s)}s`;
}

function kb(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} kB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function formatStatus(s: DaemonStatus, lang: Lang = 'en'): string {
  const lines: string[] = [];
  lines.push(`motobio ${s.version} on ${s.device}: ${s.state}, up ${duration(s.uptimeS)} (pid ${s.pid})`);
  const clock =
    s.clock.sync === 'synchronized'
      ? 'synchronised'
      : s.clock.sync === 'unsynchronized'
        ? 'NOT synchronised: records are marked so the server can repair their time'
        : 'synchronisation unknown (no timesyncd); records carry monotonic time and boot id';
  lines.push(`clock:     ${clock}`);
  const src = s.components['source'];
  if (src) {
    const d = src.detail ?? {};
    const parts = [typeof d['id'] === 'string' ? d['id'] : s.config.source, src.state];
    if (typeof d['measuredFs'] === 'number') parts.push(`${d['measuredFs'].toFixed(1)} Hz`);
    if (typeof d['batteryPct'] === 'number') parts.push(`battery ${d['batteryPct']}%`);
    if (d['leadOff'] === true) parts.push('LEAD OFF');
    lines.push(`source:    ${parts.join(', ')}${src.lastError ? ` (last error: ${src.lastError})` : ''}`);
  } else {
    lines.push(`source:    ${s.config.source} (no status yet)`);
  }
  const q = s.quality.sqi === null ? 'no signal yet' : `quality ${s.quality.sqi.toFixed(2)}${s.quality.leadOff ? ', electrodes OFF' : ''}`;
  lines.push(`signal:    ${q}, ${s.counters.beats} beats`);
  lines.push(`decisions: ${s.counters.decisions} coaching, ${s.counters.safetyTriggers} safety triggers`);
  lines.push(
    `store:     ${s.outbox.records === null ? 'not open' : `${s.outbox.records} records (${kb(s.outbox.bytes ?? 0)}) waiting for the server`}`,
  );
  const links = Object.entries(s.links);
  const up = s.components['uplink'];
  if (links.length > 0) lines.push(`uplink:    ${links.map(([n, l]) => `${n} ${l.state}${l.active ? ' (active)' : ''}`).join(', ')}`);
  else if (up) lines.push(`uplink:    ${up.state}${typeof up.detail?.['reason'] === 'string' ? ` (${up.detail['reason']})` : ''}`);
  else lines.push(`uplink:    ${s.config.links.length === 0 ? 'none configured' : 'no status yet'}`);
  if (s.calibration) lines.push(formatCalibrationLine(s.calibration));
  if (s.components['cues']) lines.push(formatCueLine(s.components['cues']));
  const ride = s.components['ride']?.detail as RideDetail | undefined;
  if (ride) lines.push(...rideLines(ride));
  const last = s.lastErrors[s.lastErrors.length - 1];
  lines.push(...alarmLines(s, lang));
  lines.push(`errors:    ${s.counters.errors}${last ? ` (last: ${last.module} ${last.code}${last.message ? `: ${last.message}` : ''} at ${last.at})` : ''}`);
  return `${lines.join('\n')}\n`;
}

interface RideDetail {
  context?: { phase?: string; source?: string; assumed?: boolean; stale?: boolean; minutesRiding?: number };
  rider?: { riderId?: string; baseline?: { restingHrBpm?: number | null; rmssdMs?: number | null; rides?: number; source?: string } } | null;
}

/** The ride context (and where it comes from) and the rider's baseline, a line each. */
function rideLines(d: RideDetail): string[] {
  const c = d.context ?? {};
  const from = c.assumed ? 'assumed: no GPS fix, riding is the assumption' : `from ${c.source ?? 'gps'}${c.stale ? ', STALE (no recent fix)' : ''}`;
  const lines = [`ride:      ${c.phase ?? 'unknown'} (${from}), ${Math.round(c.minutesRiding ?? 0)} min riding since the last stop`];
  const r = d.rider;
  if (r) {
    const b = r.baseline ?? {};
    const hr = typeof b.restingHrBpm === 'number' ? `resting HR ${Math.round(b.restingHrBpm)} bpm` : 'resting HR not learned yet';
    const rmssd = typeof b.rmssdMs === 'number' ? `, RMSSD ${Math.round(b.rmssdMs)} ms` : '';
    lines.push(`rider:     ${r.riderId ?? 'default'}: ${hr}${rmssd} (${b.rides ?? 0} rides, ${b.source ?? 'none'})`);
  }
  return lines;
}

/** Raised alarms, each with what to do, in the technician's language (the daemon's own message stays in --json). */
function alarmLines(s: DaemonStatus, lang: Lang): string[] {
  const alarms = s.alarms ?? [];
  if (alarms.length === 0) return [];
  const m = messages(lang);
  const label = `${m['status.row.alarms']}:`.padEnd(11);
  return alarms.map((a, i) => `${i === 0 ? label : ' '.repeat(11)}${a.code}: ${alarmText(a.code, lang, a.message)}`);
}
