import { hostname, userInfo } from 'node:os';
import { numberOption, parseCommandArgs } from '../args.js';
import { MotobioError } from '../../util/errors.js';
import { cliLang, messages } from '../../i18n/index.js';
import type { CalibrationResult } from '../../calibration/session.js';

export const summary = 'guided calibration of an ECG sensor; writes calibration/<sensor-id>.json';

const USAGE = `usage: motobio calibrate ecg --device PATH|NAME|ADDRESS [--seconds 60] [--technician NAME]
       [--unit ID] [--sensor-id ID] [--firmware VERSION] [--reference-hr BPM]
       [--dir DIR] [--config FILE] [--baud N] [--fs HZ] [--json]

Connects to the sensor, checks its sample rate, lead-off, baseline and noise floor, QRS
amplitude and polarity, then shows live heart rate and quality for --seconds; ends with PASS or
FAIL and the reasons. Every attempt is kept in DIR/<sensor-id>/history/; only a PASS becomes the
profile the daemon applies (DIR/<sensor-id>.json), so a failed attempt leaves the last good one in
force. DIR is the daemon's calibration_dir from the configuration in force unless --dir says otherwise.
Exit 0 on PASS, 1 on FAIL.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'calibrate ecg',
    argv,
    {
      device: { type: 'string' },
      seconds: { type: 'string' },
      technician: { type: 'string' },
      unit: { type: 'string' },
      'sensor-id': { type: 'string' },
      firmware: { type: 'string' },
      'reference-hr': { type: 'string' },
      dir: { type: 'string' },
      config: { type: 'string', short: 'c' },
      baud: { type: 'string' },
      fs: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.device) throw new MotobioError('USAGE', `calibrate ecg: --device is required\n${USAGE}`);
  const cmd = 'calibrate ecg';
  const { runCalibration } = await import('../../calibration/session.js');
  // Where the daemon reads profiles from: calibration_dir of the configuration in force.
  const dir = values.dir ?? (await import('../../config/in-force.js')).configInForce(values.config !== undefined ? { file: values.config } : {}).config.calibration_dir;
  // The strip as it runs, for a person at a terminal (not in --json, not into a file or pipe).
  const strip = !values.json && process.stdout.isTTY ? (await import('../watch/calibration-strip.js')).calibrationStrip() : undefined;
  let shown = 0;
  const r = await runCalibration({
    device: values.device,
    seconds: numberOption(cmd, 'seconds', values.seconds, 60),
    technician: values.technician ?? userInfo().username,
    unit: values.unit ?? hostname().replace(/[^A-Za-z0-9._-]/g, '-'),
    dir,
    ...(values['sensor-id'] !== undefined ? { sensorId: values['sensor-id'] } : {}),
    ...(values.firmware !== undefined ? { firmware: values.firmware } : {}),
    ...(values['reference-hr'] !== undefined ? { referenceHrBpm: numberOption(cmd, 'reference-hr', values['reference-hr'], 0) } : {}),
    ...(values.baud !== undefined ? { baud: numberOption(cmd, 'baud', values.baud, 115200) } : {}),
    ...(values.fs !== undefined ? { fs: numberOption(cmd, 'fs', values.fs, 250) } : {}),
    ...(strip ? { onChunk: (o, fs) => strip.chunk(o, fs) } : {}),
    onProgress: (p) => {
      if (values.json) return;
      const t = messages(cliLang());
      const text = p.step === 'connect' ? t['cal.progress.connect']({ device: values.device ?? '' }) : p.step === 'analyse' ? t['cal.progress.analyse'] : p.message;
      const line = `[${p.elapsedS.toFixed(0).padStart(3)} s] ${text}\n`;
      // On a terminal the strip and the latest reading are redrawn in place each second.
      const block = strip && p.step === 'measure' ? strip.lines(Math.min(process.stdout.columns || 80, 100), 6) : [];
      if (block.length === 0) {
        shown = 0;
        process.stdout.write(line);
        return;
      }
      process.stdout.write(`${shown > 0 ? `\x1b[${shown}A\r\x1b[J` : ''}${block.join('\n')}\n${line}`);
      shown = block.length + 1;
    },
  });
  const p = r.profile;
  if (values.json) process.stdout.write(`${JSON.stringify({ ...p, file: r.file ?? null })}\n`);
  else {
    const m = p.measured;
    const t = messages(cliLang());
    const rows: [string, string][] = [
      [t['cal.row.sensor'], `${p.sensor_id} (${p.sensor.device})`],
      [t['cal.row.rate'], t['cal.rate']({ measured: m.fs_measured_hz, nominal: m.fs_nominal_hz })],
      [t['cal.row.leadOff'], m.lead_off ? t['cal.leadOff.seen'] : t['cal.leadOff.never']],
      [t['cal.row.baseline'], t['cal.baseline']({ mv: m.baseline_mv, uv: m.noise_floor_uv_rms })],
      [t['cal.row.qrs'], t['cal.qrs']({ mv: m.amplitude_mv, normal: m.polarity === 1 })],
      [t['cal.row.hr'], t['cal.hr']({ hr: m.hr_bpm === null ? '-' : `${m.hr_bpm} bpm`, reference: m.hr_reference_bpm != null ? String(m.hr_reference_bpm) : null, quality: m.quality })],
      // The reasons are the profile's own (English, kept in the audit trail as written).
      [t['cal.row.result'], `${p.result === 'pass' ? t['word.pass'] : t['word.fail']}${p.reasons.length ? `: ${p.reasons.join('; ')}` : ''}`],
    ];
    const width = Math.max(14, ...rows.map(([k]) => k.length + 2));
    process.stdout.write(['', ...rows.map(([k, v]) => `${k.padEnd(width)}${v}`), ...profileLines(r), '', ''].join('\n'));
  }
  return p.result === 'pass' ? 0 : 1;
}

/** Where the attempt went and which profile the daemon applies now. */
function profileLines(r: CalibrationResult): string[] {
  const rec = r.recorded;
  if (!rec) return [];
  if (rec.applied) return [`profile       ${rec.inForceFile ?? ''} (in force; the daemon reads it at start: systemctl restart motobio)`, `history       ${rec.historyFile}`];
  return [
    rec.inForce
      ? `profile       NOT changed: the last passing calibration (${rec.inForce.time}) stays in force, ${rec.inForceFile ?? ''}`
      : 'profile       none in force: the sensor stays uncalibrated until a calibration passes',
    `history       this failed attempt is recorded in ${rec.historyFile}`,
  ];
}
