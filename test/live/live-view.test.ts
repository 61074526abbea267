/**
 * The live view end to end, on the real daemon (dist/, embedded defaults: it replays the bundled
 * drive05 excerpt in real time) with its health server on a free loopback port:
 *
 * - the page at /live in headless Chromium (Debian's, through playwright-core): the beats it
 *   says it drew are the chain's own (`motobio detect` on the same recording), none missing, and
 *   the screenshot has the marker colour exactly in the pixel columns those beats map to, and
 *   nowhere else in the marker band; heart rate and RMSSD over the ride are plotted.
 * - `motobio watch` in a real tmux pane of 80x24: braille strip, a plausible heart rate, a beat
 *   mark under each R peak and none between them; it reconnects when the daemon restarts, and q
 *   ends it with status 0 on the main screen with the cursor back.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { PNG } from 'pngjs';
import { REPO, freePort, getText, killAll, spawnNode, tempDir, waitFor, type Proc } from '../daemon/helpers.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');
const RECORDING = join(REPO, 'src', 'sources', 'recordings', 'drive05-ecg-5min');
const CHROMIUM = '/usr/bin/chromium';
const MARK = [0xff, 0x00, 0x40];

/** What the test reads of the strip canvas inside the page (the project has no DOM types). */
interface CanvasLike {
  readonly dataset: Record<string, string | undefined>;
  readonly width: number;
  readonly height: number;
}

let dir: ReturnType<typeof tempDir>;
let port: number;
let base: string;
let daemon: Proc;
/** The chain's own beats on the recording, source sample indices. */
let chainBeats: number[];

async function startDaemon(): Promise<Proc> {
  // The embedded defaults (no file), only the health port moved off the default.
  const p = spawnNode([MAIN, 'run'], { cwd: dir.path, env: { MOTOBIO_HEALTH__PORT: String(port), LANG: 'C.UTF-8' } });
  await waitFor(
    'the daemon to answer /healthz 200',
    async () => {
      if (p.child.exitCode !== null) throw new Error(`the daemon exited ${p.child.exitCode}: ${p.stderr.join('\n')}`);
      return (await getText(`${base}/healthz`)).status === 200;
    },
    60_000,
    100,
  );
  return p;
}

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first (the test runs the real daemon from dist/)`);
  dir = tempDir('motobio-live-');
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  chainBeats = (JSON.parse(execFileSync(process.execPath, [MAIN, 'detect', RECORDING, '--format', 'json'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { peaks: number[] }).peaks;
  expect(chainBeats.length).toBeGreaterThan(200);
  daemon = await startDaemon();
}, 90_000);

afterAll(async () => {
  daemon?.kill('SIGTERM');
  await daemon?.exited;
  killAll();
  dir?.cleanup();
});

/** The chain's beat nearest `s`. */
function nearest(s: number): number {
  let best = chainBeats[0];
  for (const b of chainBeats) if (Math.abs(b - s) < Math.abs(best - s)) best = b;
  return best;
}

describe('live page (GET /live) in headless Chromium', () => {
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it('draws the beats where the chain found them, and heart rate and HRV over the ride', async () => {
    expect(existsSync(CHROMIUM), 'Debian chromium is needed (apt-get install chromium)').toBe(true);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    const page = await browser.newPage({ viewport: { width: 1000, height: 640 }, deviceScaleFactor: 1 });
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(e.message));
    page.on('requestfailed', (r) => failures.push(`${r.url()}: ${r.failure()?.errorText}`));
    await page.goto(`${base}/live`);
    const strip = page.locator('#strip');
    // At about 67 bpm an 8-s strip holds 7 or 8 beats once it is full (it holds what came since the page opened).
    await waitFor(
      'the page to fill its strip and draw 6 beats',
      async () =>
        strip.evaluate((e: unknown) => {
          const el = e as CanvasLike;
          return Number(el.dataset['startSample']) <= Number(el.dataset['x0Sample']) && (el.dataset['beats'] ?? '').split(',').filter(Boolean).length >= 6;
        }),
      40_000,
      200,
    );
    await waitFor('a heart-rate reading', async () => /^\d+$/.test((await page.textContent('#hr')) ?? ''), 10_000, 100);
    await page.click('#pause');
    expect(await page.getAttribute('body', 'data-paused')).toBe('true');
    // A frame may have been under way when the click landed: let it finish, then read what stays.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
    const a = await strip.evaluate((e: unknown) => {
      const el = e as CanvasLike;
      return { dataset: { ...el.dataset }, width: el.width, height: el.height };
    });
    const drawn = (a.dataset['beats'] ?? '').split(',').map(Number);
    const x0 = Number(a.dataset['x0Sample']);
    const spp = Number(a.dataset['samplesPerPx']);
    expect(Number(a.dataset['fs'])).toBe(496);
    expect(spp).toBeCloseTo((8 * 496) / a.width, 6);

    // The beats it drew are the chain's own, and none of the chain's is missing between the first and last drawn.
    for (const b of drawn) expect(Math.abs(nearest(b) - b), `drawn beat ${b}`).toBeLessThanOrEqual(1);
    const expected = chainBeats.filter((b) => b >= x0 && b <= drawn[drawn.length - 1]);
    expect(drawn).toEqual(expected);

    // The screenshot: marker colour in the band above the trace exactly at the columns the beats map to.
    const box = (await strip.boundingBox())!;
    expect([box.x, box.y].map((v) => v % 1), 'the strip on whole pixels').toEqual([0, 0]);
    const png = PNG.sync.read(await page.screenshot({ clip: box }));
    expect([png.width, png.height]).toEqual([a.width, a.height]);
    const isMark = (x: number, y: number) => {
      const i = (y * png.width + x) * 4;
      return MARK.every((c, k) => Math.abs(png.data[i + k] - c) <= 12);
    };
    const want = new Set<number>();
    for (const b of drawn) {
      const x = Math.round((b - x0) / spp);
      for (const dx of [-1, 0, 1]) if (x + dx >= 0 && x + dx < png.width) want.add(x + dx);
    }
    const got = new Set<number>();
    for (let x = 0; x < png.width; x++) if (isMark(x, 8)) got.add(x);
    expect([...got].sort((p, q) => p - q)).toEqual([...want].sort((p, q) => p - q));
    // Between two beats there is trace but no marker: a page that painted the band red would fail above.
    for (let i = 1; i < drawn.length; i++) expect(isMark(Math.round(((drawn[i - 1] + drawn[i]) / 2 - x0) / spp), 8)).toBe(false);
    // And the trace is drawn (its green is in the picture), not only the markers.
    let green = 0;
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i + 1] > 150 && png.data[i] < 120 && png.data[i + 2] < 170) green++;
    expect(green).toBeGreaterThan(500);

    // Heart rate and HRV over the ride: the trend the daemon keeps, plotted.
    const hr = Number(await page.textContent('#hr'));
    expect(hr).toBeGreaterThanOrEqual(45);
    expect(hr).toBeLessThanOrEqual(120);
    await waitFor('a trend point', async () => Number((await page.getAttribute('#trend', 'data-points')) ?? 0) >= 1, 20_000, 200);
    const trend = JSON.parse((await getText(`${base}/live/trend`)).body) as { points: { hrBpm: number | null; endS: number }[] };
    expect(trend.points.length).toBeGreaterThanOrEqual(1);
    expect(trend.points.some((p) => p.hrBpm !== null && p.hrBpm > 45 && p.hrBpm < 120)).toBe(true);
    const tpng = PNG.sync.read(await page.locator('#trend').screenshot());
    let orange = 0;
    for (let i = 0; i < tpng.data.length; i += 4) if (tpng.data[i] > 220 && Math.abs(tpng.data[i + 1] - 0xaa) < 30 && tpng.data[i + 2] < 60) orange++;
    expect(orange, 'the heart-rate line in the trend plot').toBeGreaterThan(5);
    expect(failures).toEqual([]);
  }, 90_000);
});

describe('motobio watch in tmux (80x24)', () => {
  const socket = `motobio-watch-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8', env: { ...process.env, LANG: 'C.UTF-8' } });
  const capture = () => tmux('capture-pane', '-p', '-t', 'watch');
  afterAll(() => {
    try {
      // kill-server leaves its socket file behind.
      const path = tmux('display-message', '-p', '#{socket_path}').trim();
      tmux('kill-server');
      rmSync(path, { force: true });
    } catch {
      // Already gone.
    }
  });

  /** The screen once it shows a heart rate and at least `marks` beat marks. */
  async function liveScreen(marks: number): Promise<string[]> {
    return waitFor(
      `watch to show a heart rate and ${marks} beat marks`,
      () => {
        const lines = capture().split('\n');
        const n = (lines[21] ?? '').split('▲').length - 1;
        // The strip has filled the width (it starts empty at each connection).
        const full = [0, 1, 78, 79].every((c) => lines.slice(3, 21).some((row) => /[\u2801-\u28ff]/.test([...row][c] ?? ' ')));
        return /HR +\d+ bpm/.test(lines[1] ?? '') && / · live$/.test(lines[0].trimEnd()) && n >= marks && full ? lines : undefined;
      },
      40_000,
      250,
    );
  }

  it('shows the strip, the beats under their R peaks and a plausible heart rate; reconnects; q restores the terminal', async () => {
    tmux('new-session', '-d', '-s', 'watch', '-x', '80', '-y', '24', `${process.execPath} ${MAIN} watch --url ${base}; echo WATCH_EXIT=$?; sleep 600`);
    let lines = await liveScreen(3);
    expect(lines.length).toBeGreaterThanOrEqual(24);
    const hr = Number(/HR +(\d+) bpm/.exec(lines[1])![1]);
    expect(hr).toBeGreaterThanOrEqual(45);
    expect(hr).toBeLessThanOrEqual(120);
    expect(lines[1]).toContain('source 496 Hz');
    expect(lines[1]).toContain('electrodes on');
    // 24 rows: title, readings, blank, 18 strip rows, marks, axis, keys.
    const strip = lines.slice(3, 21);
    const braille = strip.join('').match(/[\u2801-\u28ff]/g) ?? [];
    expect(braille.length).toBeGreaterThan(120);
    const markCols = [...lines[21]].flatMap((c, i) => (c === '▲' ? [i] : []));
    // An R peak is the trace's highest point: each mark has trace in the top strip rows right above it
    // (within a column), and halfway between two marks the top rows are empty.
    const topAt = (col: number) => strip.slice(0, 4).some((row) => [col - 1, col, col + 1].some((c) => /[\u2801-\u28ff]/.test([...row][c] ?? ' ')));
    for (const c of markCols) expect(topAt(c), `trace above the mark in column ${c}\n${lines.join('\n')}`).toBe(true);
    for (let i = 1; i < markCols.length; i++) expect(topAt(Math.round((markCols[i - 1] + markCols[i]) / 2)), `nothing tall between marks\n${lines.join('\n')}`).toBe(false);
    // Marks sit one RR apart at this rate: 5 s over 80 columns, 45-120 bpm is 8 to 22 columns.
    for (let i = 1; i < markCols.length; i++) {
      expect(markCols[i] - markCols[i - 1]).toBeGreaterThanOrEqual(7);
      expect(markCols[i] - markCols[i - 1]).toBeLessThanOrEqual(23);
    }

    // The daemon restarts (systemd would): watch says it lost it, then shows it live again.
    daemon.kill('SIGTERM');
    await daemon.exited;
    await waitFor('watch to say it is reconnecting', () => capture().split('\n')[0].includes('reconnecting'), 15_000, 100);
    daemon = await startDaemon();
    lines = await liveScreen(2);
    expect(lines[1]).toMatch(/HR +\d+ bpm/);

    tmux('send-keys', '-t', 'watch', 'q');
    await waitFor('watch to end', () => capture().includes('WATCH_EXIT='), 10_000, 100);
    const after = capture();
    expect(after).toContain('WATCH_EXIT=0');
    // Back on the main screen with the cursor shown: nothing of the strip is left.
    expect(after).not.toMatch(/[\u2801-\u28ff]/);
    expect(tmux('display-message', '-p', '-t', 'watch', '#{alternate_on} #{cursor_flag}').trim()).toBe('0 1');
  }, 120_000);
});
