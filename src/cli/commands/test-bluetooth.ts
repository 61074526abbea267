/**
 * `motobio test bluetooth --device NAME|ADDRESS|PATH [--seconds N]`: the technician's check of
 * a sensor. Connects, reads for N seconds through the real signal chain, prints rate, quality,
 * heart rate and PASS/FAIL with the reason; exit 1 on FAIL.
 *
 * runBluetoothTest() does the work and takes its transports (noble, serial) as factories, so
 * tests drive it against the simulated strap or a pty with no module mocks; run() is the thin
 * CLI wrapper.
 */
import { performance } from 'node:perf_hooks';
import { numberOption, parseCommandArgs } from '../args.js';
import { MotobioError, errorMessage } from '../../util/errors.js';
import type { BleMode } from '../../sources/ble/ble-source.js';
import type { NobleFactory } from '../../sources/ble/noble.js';
import type { SerialTransportFactory } from '../../sources/serial/transport.js';
import type { AdcScaleOptions } from '../../sources/serial/adc.js';
import type { SourceStatus } from '../../sources/types.js';
import { cliLang, messages, render, type Catalogue, type Lang } from '../../i18n/index.js';

export const summary = 'connect to an ECG sensor, read it for a while, and report PASS/FAIL with the reason';

export interface BluetoothTestOptions {
  readonly device: string;
  readonly seconds?: number;
  readonly mode?: BleMode;
  readonly baud?: number;
  readonly fs?: number;
  readonly adc?: AdcScaleOptions;
  readonly noble?: NobleFactory;
  readonly serialOpen?: SerialTransportFactory;
  /** Where to look for /dev/rfcomm* when an HC-05 is named (tests point it elsewhere). */
  readonly devDir?: string;
  readonly signal?: AbortSignal;
}

export interface BluetoothTestReport {
  readonly pass: boolean;
  /** The verdict in English; reasonCode and reasonParams say it without words (src/i18n: test.reason.* / test.pass.*). */
  readonly reason: string;
  readonly reasonCode: string;
  readonly reasonParams: Readonly<Record<string, string | number>>;
  readonly device: string;
  readonly transport: 'ble' | 'serial' | 'replay';
  readonly kind?: 'raw' | 'rr';
  readonly streaming?: 'ecg' | 'hr';
  readonly seconds: number;
  readonly samples: number;
  readonly rrValues: number;
  readonly beats: number;
  readonly hrBpm: number | null;
  readonly quality: number | null;
  readonly leadOffShare: number;
  readonly status?: SourceStatus;
  readonly notes: string[];
}

export const DEFAULT_TEST_SECONDS = 15;
const RATE_TOLERANCE = 0.1;
const MAX_BAD_SHARE = 0.05;
const MAX_LEAD_OFF_SHARE = 0.5;
const MIN_BEATS = 3;
const HR_RANGE: [number, number] = [30, 220];

export async function runBluetoothTest(o: BluetoothTestOptions): Promise<BluetoothTestReport> {
  const seconds = o.seconds ?? DEFAULT_TEST_SECONDS;
  if (!(seconds > 0 && seconds <= 3600)) throw new MotobioError('USAGE', `test bluetooth: --seconds must be between 1 and 3600, got ${seconds}`);
  const { parseDevice, isClassicSerialModule, createSource } = await import('../../sources/factory.js');
  const notes: string[] = [];
  let target = parseDevice(o.device);
  const base = { device: o.device, seconds, samples: 0, rrValues: 0, beats: 0, hrBpm: null, quality: null, leadOffShare: 0, notes };
  if (target.transport === 'ble' && 'name' in target && isClassicSerialModule(target.name)) {
    // The old checklist's "--device HC-05": a Bluetooth Classic module, reached through rfcomm.
    const { listSerialPorts } = await import('../../sources/serial/ports.js');
    const rfcomm = (await listSerialPorts(o.devDir)).ports.filter((p) => p.kind === 'bluetooth-serial');
    if (rfcomm.length !== 1) {
      const v: Verdict = { code: 'reason.hc05Unbound', params: { name: target.name, ...(rfcomm.length > 0 ? { ports: rfcomm.map((p) => p.path).join(', ') } : {}) } };
      return { ...base, transport: 'serial', pass: false, ...verdictFields(v) };
    }
    notes.push(messages('en')['test.note.hc05']({ name: target.name, path: rfcomm[0].path }));
    target = { transport: 'serial', path: rfcomm[0].path };
  }

  const source = await createSource(target, {
    ...(o.baud !== undefined ? { baud: o.baud } : {}),
    ...(o.fs !== undefined ? { fs: o.fs } : {}),
    ...(o.adc !== undefined ? { adc: o.adc } : {}),
    ...(o.mode !== undefined ? { mode: o.mode } : {}),
    ...(o.noble !== undefined ? { noble: o.noble } : {}),
    ...(o.serialOpen !== undefined ? { serialOpen: o.serialOpen } : {}),
  });
  const { EcgChain } = await import('../../signal/chain.js');
  const { SourceFeed } = await import('../../sources/feed.js');

  let samples = 0;
  let leadOffSamples = 0;
  let beats = 0;
  let rrNotifications = 0;
  let rrNonZero = 0;
  let contactFalse = 0;
  let contactReports = 0;
  const t0 = performance.now();
  // The daemon's own loop (src/sources/feed.ts): one chain, on the data's timeline.
  const feed = new SourceFeed(
    source,
    (fs) => new EcgChain(fs === undefined ? {} : { fs }),
    (o) => {
      if (o.mv) {
        samples += o.mv.length;
        for (const v of o.mv) if (Number.isNaN(v)) leadOffSamples++;
        beats += o.out.beats.length;
      }
      if (o.rr) {
        rrNotifications++;
        rrNonZero += o.rr.rrMs.filter((r) => r > 0).length;
        if (o.rr.contact !== undefined) {
          contactReports++;
          if (!o.rr.contact) contactFalse++;
        }
        beats += o.out.rr.length;
      }
    },
  );
  feed.attach();
  // Zero RR values are filtered by the source; count them from the raw notifications too.
  let zeroRrSeen = 0;
  source.on('rr', (c) => {
    if (c.rrMs.length === 0 && (c.sensorHrBpm ?? 0) === 0) zeroRrSeen++;
  });

  const ac = new AbortController();
  o.signal?.addEventListener('abort', () => ac.abort(), { once: true });
  await source.start(ac.signal);
  const deadline = t0 + seconds * 1000;
  while (performance.now() < deadline && !ac.signal.aborted) {
    if (source.status().state === 'failed') break;
    await new Promise((r) => setTimeout(r, Math.min(200, Math.max(1, deadline - performance.now()))));
  }
  const status = source.status();
  const streaming = 'streaming' in source ? (source as { streaming?: 'ecg' | 'hr' }).streaming : undefined;
  await source.stop();

  feed.detach();
  const chain = feed.chain ?? new EcgChain({});
  const features = chain.features();
  const report = {
    ...base,
    transport: target.transport,
    kind: source.kind,
    ...(streaming !== undefined ? { streaming } : {}),
    samples,
    rrValues: rrNonZero,
    beats,
    hrBpm: features.hrBpm,
    quality: samples > 0 || rrNonZero > 0 ? chain.meanQuality(seconds) : null,
    leadOffShare: samples > 0 ? leadOffSamples / samples : rrNotifications > 0 ? contactFalse / rrNotifications : 0,
    status,
  };
  const verdict = judge({ ...report, rrNotifications, contactFalse, contactReports, zeroRrSeen });
  return { ...report, pass: verdict === undefined, ...verdictFields(verdict ?? passReason(report)) };
}

interface Evidence extends Omit<BluetoothTestReport, 'pass' | 'reason' | 'reasonCode' | 'reasonParams'> {
  rrNotifications: number;
  contactFalse: number;
  contactReports: number;
  zeroRrSeen: number;
}

/** A verdict without words: its catalogue key (test.<code>) and figures. */
export interface Verdict {
  readonly code: string;
  readonly params: Readonly<Record<string, string | number>>;
}

/** The verdict's text in a language; lastError (a source's own English message) is quoted as it is. */
export function verdictText(v: Verdict, m: Catalogue): string {
  const p = { ...v.params };
  const err = p['lastError'];
  const why = typeof err === 'string' ? m['test.lastProblem']({ error: err }) : '';
  if (v.code === 'reason.hc05Unbound') {
    const ports = typeof p['ports'] === 'string' ? m['test.reason.hc05Ports']({ ports: p['ports'] }) : m['test.reason.hc05NoPort'];
    return m['test.reason.hc05Unbound']({ name: String(p['name']), ports });
  }
  return render(m, `test.${v.code}`, { ...p, why, hr: p['hr'] === 'n/a' ? m['word.na'] : String(p['hr'] ?? '') });
}

function verdictFields(v: Verdict): { reason: string; reasonCode: string; reasonParams: Verdict['params'] } {
  return { reason: verdictText(v, messages('en')), reasonCode: v.code, reasonParams: v.params };
}

/** The first thing that is wrong, in the order a technician should fix them; undefined = pass. */
function judge(e: Evidence): Verdict | undefined {
  const st = e.status!;
  const v = (code: string, params: Record<string, string | number> = {}): Verdict => ({ code: `reason.${code}`, params });
  const last: Record<string, string> = st.lastError ? { lastError: st.lastError } : {};
  if (st.state === 'failed') return v('failed', { error: st.lastError ?? 'unknown error' });
  if (e.samples === 0 && e.rrNotifications === 0) {
    if (st.framesGood === 0 && st.framesBad > 0) return v('badFrames', { bad: st.framesBad, seconds: e.seconds });
    return e.kind === 'rr' || e.streaming === 'hr' ? v('noHr', { seconds: e.seconds, ...last }) : v('noSamples', { seconds: e.seconds, ...last });
  }
  if (e.rrNotifications > 0) {
    if (e.contactReports > 0 && e.contactFalse / e.rrNotifications > MAX_LEAD_OFF_SHARE) return v('noContact', { off: e.contactFalse, total: e.rrNotifications });
    if (e.rrValues === 0) return v('zeroRr', { total: e.rrNotifications, hr: e.zeroRrSeen > 0 ? '0' : 'reported' });
    if (e.rrValues < MIN_BEATS) return v('fewRr', { n: e.rrValues, seconds: e.seconds });
  } else {
    const fs = st.nominalFs;
    if (e.leadOffShare > MAX_LEAD_OFF_SHARE) return v('leadOff', { pct: (e.leadOffShare * 100).toFixed(0) });
    const total = st.framesGood + st.framesBad;
    if (total > 0 && st.framesBad / total > MAX_BAD_SHARE) return v('corrupt', { pct: ((st.framesBad / total) * 100).toFixed(1), bad: st.framesBad, total });
    if (fs !== undefined && st.measuredFs !== undefined && Math.abs(st.measuredFs / fs - 1) > RATE_TOLERANCE) return v('rate', { measured: st.measuredFs.toFixed(1), nominal: fs });
    if (e.beats < MIN_BEATS) return v('noBeats', { beats: e.beats, quality: e.quality?.toFixed(2) ?? 'n/a' });
  }
  if (e.hrBpm !== null && (e.hrBpm < HR_RANGE[0] || e.hrBpm > HR_RANGE[1])) return v('implausibleHr', { bpm: e.hrBpm.toFixed(0) });
  return undefined;
}

function passReason(r: Omit<BluetoothTestReport, 'pass' | 'reason' | 'reasonCode' | 'reasonParams' | 'notes'>): Verdict {
  const hr = r.hrBpm === null ? 'n/a' : `${r.hrBpm.toFixed(0)} bpm`;
  return r.kind === 'raw' && r.samples > 0 ? { code: 'pass.ecg', params: { beats: r.beats, hr } } : { code: 'pass.rr', params: { n: r.rrValues, hr } };
}

export function formatReport(r: BluetoothTestReport, lang: Lang = 'en'): string {
  const m = messages(lang);
  const st = r.status;
  const lines: string[] = [];
  const labels = ['device', 'note', 'rate', 'frames', 'data', 'hr', 'quality', 'leadOff', 'battery', 'rssi', 'result'] as const;
  const width = Math.max(12, ...labels.map((k) => m[`test.row.${k}`].length + 2));
  const row = (k: (typeof labels)[number], v: string): void => void lines.push(`${m[`test.row.${k}`].padEnd(width)}${v}`);
  row('device', `${r.device} (${r.transport}${r.streaming ? `, ${r.streaming}` : r.kind ? `, ${r.kind}` : ''})`);
  for (const n of r.notes) row('note', n);
  if (st) {
    if (st.nominalFs !== undefined) row('rate', m['test.rate']({ measured: st.measuredFs !== undefined ? st.measuredFs.toFixed(1) : null, nominal: st.nominalFs }));
    row('frames', m['test.frames']({ good: st.framesGood, bad: st.framesBad, gaps: st.gaps }));
  }
  row('data', r.kind === 'raw' ? m['test.samples']({ n: r.samples }) : m['test.rrValues']({ n: r.rrValues }));
  row('hr', r.hrBpm === null ? m['word.na'] : m['test.hr']({ bpm: r.hrBpm.toFixed(0), beats: r.beats }));
  row('quality', r.quality === null ? m['word.na'] : r.quality.toFixed(2));
  row('leadOff', `${(r.leadOffShare * 100).toFixed(0)} %`);
  if (st?.batteryPct !== undefined) row('battery', `${st.batteryPct} %`);
  if (st?.rssiDbm !== undefined) row('rssi', `${st.rssiDbm} dBm`);
  const reason = lang === 'en' ? r.reason : verdictText({ code: r.reasonCode, params: r.reasonParams }, m);
  row('result', `${r.pass ? m['word.pass'] : m['word.fail']}: ${reason}`);
  return lines.join('\n') + '\n';
}

const USAGE = `usage: motobio test bluetooth --device NAME|ADDRESS|PATH [--seconds N] [--mode auto|hr|ecg] [--baud B] [--fs HZ]
                             [--adc-bits 10|12] [--adc-vref V] [--adc-gain G] [--json]
  --device   a BLE strap by name ("Polar H10") or address (C0:FF:EE:00:00:01), or a serial port (/dev/rfcomm0)
  --seconds  how long to read (default ${DEFAULT_TEST_SECONDS})
  --mode     BLE: ecg = Polar raw ECG, hr = Heart Rate Service RR, auto = ECG when offered
  serial:    --baud (default 115200), --fs firmware sample rate (default 250), --adc-* ADC scaling
             (defaults: 10 bits, 3.3 V, gain 1100 for an AD8232 board; see docs/serial-protocol.md)
exit status 0 on PASS, 1 on FAIL, 64 on a usage error
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'test bluetooth',
    argv,
    {
      device: { type: 'string' },
      seconds: { type: 'string' },
      mode: { type: 'string' },
      baud: { type: 'string' },
      fs: { type: 'string' },
      'adc-bits': { type: 'string' },
      'adc-vref': { type: 'string' },
      'adc-gain': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.device === undefined) throw new MotobioError('USAGE', 'test bluetooth: --device is required (a BLE name or address, or a serial path); run "motobio test bluetooth --help"');
  const mode = values.mode ?? 'auto';
  if (mode !== 'auto' && mode !== 'hr' && mode !== 'ecg') throw new MotobioError('USAGE', `test bluetooth: --mode must be auto, hr or ecg, got "${mode}"`);
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once('SIGINT', onSignal);
  try {
    const report = await runBluetoothTest({
      device: values.device,
      seconds: numberOption('test bluetooth', 'seconds', values.seconds, DEFAULT_TEST_SECONDS),
      mode,
      ...(values.baud !== undefined ? { baud: numberOption('test bluetooth', 'baud', values.baud, 115200) } : {}),
      ...(values.fs !== undefined ? { fs: numberOption('test bluetooth', 'fs', values.fs, 250) } : {}),
      adc: {
        ...(values['adc-bits'] !== undefined ? { bits: numberOption('test bluetooth', 'adc-bits', values['adc-bits'], 10) } : {}),
        ...(values['adc-vref'] !== undefined ? { vrefV: numberOption('test bluetooth', 'adc-vref', values['adc-vref'], 3.3) } : {}),
        ...(values['adc-gain'] !== undefined ? { gain: numberOption('test bluetooth', 'adc-gain', values['adc-gain'], 1100) } : {}),
      },
      signal: ac.signal,
    });
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, cliLang()));
    return report.pass ? 0 : 1;
  } catch (e) {
    if (e instanceof MotobioError) throw e;
    throw new MotobioError('SOURCE_UNAVAILABLE', `test bluetooth: ${errorMessage(e)}`, { cause: e });
  } finally {
    process.off('SIGINT', onSignal);
  }
}
