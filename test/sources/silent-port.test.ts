/**
 * A port that exists but sends nothing (an HC-05 bound while the board is off), over a real
 * pseudo-terminal that stays silent: `test bluetooth` and `calibrate ecg` give their verdict
 * and end with it, within --seconds plus 5 s, whatever the reconnect loop is doing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildForTest, killAll, spawnNode, tempDir } from '../daemon/helpers.js';
import { PtyPair } from '../helpers/pty.js';

let out: string;
let dir: { path: string; cleanup: () => void };
let pty: PtyPair;

beforeAll(async () => {
  out = buildForTest(['src/cli/commands/test-bluetooth.ts', 'src/cli/commands/calibrate-ecg.ts']);
  dir = tempDir('motobio-silent-');
  pty = new PtyPair(dir.path);
  await pty.plug();
}, 180_000);

afterAll(async () => {
  killAll();
  await pty.unplug();
  dir.cleanup();
  rmSync(out, { recursive: true, force: true });
});

async function timed(args: string[]): Promise<{ code: number | null; seconds: number; stdout: string; stderr: string }> {
  const t0 = performance.now();
  const p = spawnNode([join(out, 'src/cli/main.js'), ...args], { cwd: dir.path });
  const { code } = await p.exited;
  return { code, seconds: (performance.now() - t0) / 1000, stdout: p.stdout.join('\n'), stderr: p.stderr.join('\n') };
}

describe('a silent serial port', () => {
  it('test bluetooth --seconds 3 says FAIL and exits 1 within 8 s', async () => {
    const r = await timed(['test', 'bluetooth', '--device', pty.devicePath, '--seconds', '3']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL/);
    expect(r.seconds).toBeLessThan(3 + 5);
  });

  it('calibrate ecg --seconds 10 fails with the reason and exits 1 within 15 s', async () => {
    const r = await timed(['calibrate', 'ecg', '--device', pty.devicePath, '--seconds', '10', '--dir', join(dir.path, 'cal')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/no ECG samples/);
    expect(r.seconds).toBeLessThan(10 + 5);
  });
});
