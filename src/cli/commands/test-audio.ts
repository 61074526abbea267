/**
 * `motobio test audio`: for a technician at the bike. Loads every prompt of a language (the
 * technician's files, the rendered voice, or the tone a broken file falls back to), says which
 * is which and what is wrong with each broken one, then plays them one after the other on the
 * headset's ALSA PCM, so the set can be checked by ear at riding volume.
 */
import { parseCommandArgs, numberOption } from '../args.js';
import { MotobioError } from '../../util/errors.js';
import { silentLogger } from '../../util/log.js';

export const summary = 'list the rider prompts (voice, file or tone) and play them on the headset';

const USAGE = `usage: motobio test audio [--device PCM] [--language es|en] [--prompts-dir DIR]
                         [--cache-dir DIR] [--volume 0..1] [--only NAME,...] [--no-play] [--json]

Loads the prompts as the daemon does (rider.audio.prompts_dir files, else espeak-ng rendered
into --cache-dir), lists each with where it comes from and its length, names every file that
is not usable, and plays them in turn on the ALSA PCM --device (default "default"; "aplay -L"
lists them). Exit status 0 when every prompt is a voice and the device played them, 1 otherwise.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('test audio', argv, {
    device: { type: 'string' },
    language: { type: 'string' },
    'prompts-dir': { type: 'string' },
    'cache-dir': { type: 'string' },
    volume: { type: 'string' },
    only: { type: 'string' },
    'no-play': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { cueSettings } = await import('../../cues/settings.js');
  const { PromptLibrary } = await import('../../cues/prompts.js');
  const { AlsaOutput } = await import('../../cues/output-alsa.js');
  const { CuePlayer } = await import('../../cues/player.js');
  const settings = cueSettings({
    ...(values.language !== undefined ? { language: values.language as 'es' } : {}),
    audio: {
      output: 'alsa',
      ...(values.device !== undefined ? { device: values.device } : {}),
      ...(values['prompts-dir'] !== undefined ? { prompts_dir: values['prompts-dir'] } : {}),
      ...(values['cache-dir'] !== undefined ? { cache_dir: values['cache-dir'] } : {}),
      volume: numberOption('test audio', 'volume', values.volume, 0.8),
    },
  });
  const a = settings.audio;
  const lib = await PromptLibrary.load({ language: settings.language, promptsDir: a.prompts_dir, cacheDir: a.cache_dir, volume: a.volume, log: silentLogger });
  const only = values.only?.split(',').filter((s) => s !== '');
  const prompts = lib.list().filter((p) => !only || only.includes(p.name));
  if (only) for (const n of only) if (!prompts.some((p) => p.name === n)) throw new MotobioError('USAGE', `test audio: no prompt named "${n}"; names: ${lib.list().map((p) => p.name).join(', ')}`);
  const rows = prompts.map((p) => ({ name: p.name, kind: p.kind, source: p.source, seconds: Math.round((p.pcm.length / 22050) * 100) / 100, file: p.file ?? null, played: false, error: null as string | null }));
  let deviceError: string | null = null;
  if (!values['no-play']) {
    const out = new AlsaOutput({ device: a.device, periodFrames: a.period_frames, log: silentLogger });
    try {
      await out.open();
      const player = new CuePlayer(out, { leadMs: a.lead_ms, monoMs: () => performance.now() });
      for (const [i, p] of prompts.entries()) {
        if (!values.json) process.stdout.write(`  playing ${p.name} ...\n`);
        const r = await player.play(p.pcm, new AbortController().signal);
        rows[i].played = r.completed;
        if (r.failed) {
          rows[i].error = r.failed;
          deviceError = r.failed;
          break;
        }
        await new Promise((res) => setTimeout(res, 400));
      }
    } catch (e) {
      deviceError = e instanceof Error ? e.message : String(e);
    } finally {
      await out.close();
    }
  }
  const problems = lib.problems.map((p) => ({ ...p }));
  const ok = problems.length === 0 && deviceError === null && (values['no-play'] || rows.every((r) => r.played));
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ok, language: settings.language, device: values['no-play'] ? null : a.device, deviceError, prompts: rows, problems })}\n`);
  } else {
    process.stdout.write(`prompts (${settings.language}):\n`);
    for (const r of rows) process.stdout.write(`  ${r.name.padEnd(18)} ${r.kind.padEnd(9)} ${r.source.padEnd(9)} ${r.seconds.toFixed(2)} s${r.file ? `  ${r.file}` : ''}\n`);
    for (const p of problems) process.stdout.write(`problem: ${p.name}${p.file ? ` (${p.file})` : ''}: ${p.error}\n`);
    if (deviceError) process.stdout.write(`device ${a.device}: ${deviceError}\n`);
    process.stdout.write(ok ? 'ok\n' : 'FAILED\n');
  }
  return ok ? 0 : 1;
}
