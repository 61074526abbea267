/**
 * `motobio watch [--url URL] [--config FILE] [--seconds N]`: the live view in a terminal (80x24
 * over SSH is enough): the ECG strip with the beats the chain found, heart rate, quality,
 * lead-off and the source's rate, while a technician places the electrodes.
 *
 *   GET URL/events?types=ecg,heart ─▶ StripModel ─▶ renderScreen ─▶ alternate screen (redrawn ≤ 10 times a second)
 *        └─ ends or fails: "reconnecting", the strip cleared, tried again every second
 *   keys (raw mode): q, Ctrl-C, Ctrl-D quit · space pauses the drawing
 *
 * The terminal is given back as it was (main screen, cursor, cooked mode) however it ends:
 * a key, SIGINT/SIGTERM/SIGHUP (the SSH session closing), or an error.
 */
import { errorMessage, MotobioError } from '../../util/errors.js';
import { numberOption, parseCommandArgs } from '../args.js';
import type { EcgStripChunk } from '../../cues/event-stream.js';

export const summary = 'live ECG strip with beats, heart rate, quality and lead-off in the terminal';

const HELP = `usage: motobio watch [--url URL] [--config FILE] [--seconds N]

Shows the running daemon's live view: the ECG strip with the detected beats marked (${'▲'}),
heart rate, signal quality, lead-off, the source's sample rate and RMSSD, updating live.
It asks the daemon's loopback health endpoint (health.host and health.port from the
configuration in force, or --url http://127.0.0.1:7411) and reconnects when the daemon
restarts. The same view is in a browser at URL/live.
  --seconds N  strip length, 2 ... 30 s (default 5)
Keys: q or Ctrl-C quits, space pauses. Needs a UTF-8 terminal (the strip is braille).
`;

const REDRAW_MS = 100;
const RETRY_MS = 1000;

async function baseUrl(url: string | undefined, config: string | undefined): Promise<URL> {
  if (url !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(url);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      throw new MotobioError('USAGE', `watch: --url must be the daemon's health address such as http://127.0.0.1:7411, got "${url}"`);
    }
    return u;
  }
  const { configInForce } = await import('../../config/in-force.js');
  const { DEFAULT_HEALTH_PORT } = await import('../../config/schema.js');
  try {
    const { health } = configInForce(config !== undefined ? { file: config } : {}).config;
    return new URL(`http://${health.host.includes(':') ? `[${health.host}]` : health.host}:${health.port}`);
  } catch (e) {
    const fallback = new URL(`http://127.0.0.1:${DEFAULT_HEALTH_PORT}`);
    process.stderr.write(`motobio watch: cannot use the configuration (${errorMessage(e).split('\n')[0]}); asking ${fallback.origin}\n`);
    return fallback;
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'watch',
    argv,
    { url: { type: 'string' }, config: { type: 'string', short: 'c' }, seconds: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    false,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const seconds = numberOption('watch', 'seconds', values.seconds, 5);
  if (!(seconds >= 2 && seconds <= 30)) throw new MotobioError('USAGE', `watch: --seconds must be between 2 and 30, got ${values.seconds}`);
  const base = await baseUrl(values.url, values.config);
  const { StripModel, renderScreen, LEAD_OFF_TEXT } = await import('../watch/screen.js');
  const { readEvents } = await import('../watch/sse-client.js');

  const model = new StripModel(seconds);
  const out = process.stdout;
  const input = process.stdin;
  const colour = out.isTTY && process.env['NO_COLOR'] === undefined;
  let connection = 'connecting…';
  let paused = false;
  let dirty = true;
  const stop = new AbortController();
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const quit = (code: number) => {
    stop.abort();
    resolveDone(code);
  };

  const draw = () => {
    if (!dirty) return;
    dirty = false;
    const screen = renderScreen(model, { cols: out.columns || 80, rows: out.rows || 24, url: base.origin, connection, paused });
    const lines = screen.lines.map((l, i) => {
      if (!colour) return l;
      if (i >= screen.stripTop && i < screen.stripTop + screen.stripRows) return `\x1b[32m${l}\x1b[0m`;
      if (i === screen.stripTop + screen.stripRows) return `\x1b[31;1m${l}\x1b[0m`;
      if (i === 1 && model.leadOff) return l.replace(LEAD_OFF_TEXT, `\x1b[7;33m${LEAD_OFF_TEXT}\x1b[0m`);
      return l;
    });
    // Home, each line cleared to its end, nothing below: no flicker and no scrolling.
    out.write(`\x1b[H${lines.join('\x1b[K\r\n')}\x1b[K\x1b[J`);
  };

  const restore = () => {
    if (input.isTTY) input.setRawMode(false);
    input.pause();
    out.write('\x1b[0m\x1b[?25h\x1b[?1049l');
  };

  const onKey = (buf: Buffer) => {
    for (const ch of buf.toString('utf8')) {
      if (ch === 'q' || ch === 'Q' || ch === '\x03' || ch === '\x04') return quit(0);
      if (ch === ' ') {
        paused = !paused;
        dirty = true;
      }
    }
  };
  const onSignal = () => quit(0);
  const onResize = () => {
    dirty = true;
  };

  out.write('\x1b[?1049h\x1b[?25l\x1b[2J');
  if (input.isTTY) input.setRawMode(true);
  input.on('data', onKey);
  input.resume();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  out.on('resize', onResize);
  const timer = setInterval(draw, REDRAW_MS);

  const url = new URL('/events?types=ecg,heart', base);
  const loop = async () => {
    while (!stop.signal.aborted) {
      try {
        await readEvents(
          url,
          (e) => {
            if (paused) return;
            if (e.type === 'ecg') model.ecg(e.data as EcgStripChunk);
            else if (e.type === 'heart') model.rmssdMs = (e.data as { rmssdMs?: number | null }).rmssdMs ?? null;
            dirty = true;
          },
          stop.signal,
          () => {
            connection = 'live';
            dirty = true;
          },
        );
        connection = 'reconnecting: the daemon closed the stream';
      } catch (e) {
        if (stop.signal.aborted) break;
        const why = errorMessage((e as { cause?: unknown }).cause ?? e);
        // A daemon from before the live view answers 400 to "ecg".
        connection = /HTTP 400/.test(why) ? 'this daemon has no live view (update motobio)' : `reconnecting: ${why}`;
      }
      model.clear();
      dirty = true;
      await new Promise<void>((r) => {
        const t = setTimeout(r, RETRY_MS);
        stop.signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
      });
    }
  };
  const looping = loop();
  try {
    return await done;
  } finally {
    clearInterval(timer);
    input.off('data', onKey);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    out.off('resize', onResize);
    restore();
    await looping.catch(() => undefined);
  }
}
