/**
 * The contract every CueOutput passes (as test/sources/contract.ts is for EcgSource):
 * register it from a test file with a setup that gives an output on a working device, one on
 * a device that does not exist, a way to read back what reached the device, and a way to
 * break the device while it is open.
 */
import { describe, expect, it } from 'vitest';
import type { CueOutput } from '../../src/cues/types.js';
import { isMotobioError } from '../../src/util/errors.js';
import { waitFor } from '../sources/wait.js';

export interface OutputFixture {
  readonly output: CueOutput;
  /** An output of the same kind on a device that does not exist. */
  readonly missing: CueOutput;
  /** The PCM bytes that reached the device so far (complete once the output is closed). */
  captured(): Buffer;
  /** Makes the open device fail (the headset goes away, the player dies). */
  breakDevice(): void;
  /** Makes the open device stop taking frames without failing (a stalled link). */
  stallDevice(): void;
  cleanup(): Promise<void>;
}

function pattern(frames: number, seed: number): Buffer {
  const b = Buffer.alloc(frames * 2);
  for (let i = 0; i < frames; i++) b.writeInt16LE(((i * 37 + seed * 1009) % 60000) - 30000, i * 2);
  return b;
}

export function outputContract(name: string, setup: () => Promise<OutputFixture>): void {
  describe(`CueOutput contract: ${name}`, () => {
    it('starts closed with a name and a period, and opens', async () => {
      const f = await setup();
      try {
        expect(f.output.state()).toBe('closed');
        expect(f.output.name.length).toBeGreaterThan(0);
        expect(f.output.periodFrames).toBeGreaterThan(0);
        await f.output.open();
        expect(f.output.state()).toBe('open');
      } finally {
        await f.output.close();
        await f.cleanup();
      }
    });

    it('hands every frame to the device, whole and in order', async () => {
      const f = await setup();
      try {
        await f.output.open();
        const p = f.output.periodFrames;
        const parts = [pattern(p * 3, 1), pattern(p * 5, 2), pattern(p, 3)];
        for (const part of parts) await f.output.write(part);
        await f.output.close();
        expect(f.output.state()).toBe('closed');
        const want = Buffer.concat(parts);
        const got = f.captured();
        expect(got.subarray(0, want.length).equals(want)).toBe(true);
        // A device may play out silence when it drains at close (aplay pads the last period); never anything else.
        const tail = got.subarray(want.length);
        expect(tail.every((b) => b === 0)).toBe(true);
        expect(tail.length).toBeLessThanOrEqual(f.output.periodFrames * 2 * 4);
      } finally {
        await f.cleanup();
      }
    });

    it('refuses a device that does not exist, naming it, and stays usable for a retry', async () => {
      const f = await setup();
      try {
        const err = await f.missing.open().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isMotobioError(err, 'AUDIO_UNAVAILABLE')).toBe(true);
        expect(String((err as Error).message)).toContain(f.missing.name);
        expect(f.missing.state()).toBe('failed');
        expect(f.missing.lastError()).toBeTruthy();
        await expect(f.missing.write(pattern(f.missing.periodFrames, 4))).rejects.toThrow(/AUDIO|failed|unavailable/i);
        await expect(f.missing.open()).rejects.toThrow();
      } finally {
        await f.missing.close();
        await f.cleanup();
      }
    });

    it('reports a device failing while open once, then refuses writes until reopened', async () => {
      const f = await setup();
      const failures: string[] = [];
      f.output.onFailure((why) => failures.push(why));
      try {
        await f.output.open();
        await f.output.write(pattern(f.output.periodFrames, 5));
        f.breakDevice();
        await waitFor(() => failures.length > 0, 10_000, 'the failure report');
        expect(f.output.state()).toBe('failed');
        await expect(f.output.write(pattern(f.output.periodFrames, 6))).rejects.toThrow();
        expect(failures).toHaveLength(1);
        await f.output.close();
        await f.output.open();
        expect(f.output.state()).toBe('open');
      } finally {
        await f.output.close();
        await f.cleanup();
      }
    });

    it('reports a device that stops taking frames as failed instead of waiting forever', async () => {
      const f = await setup();
      const failures: string[] = [];
      f.output.onFailure((why) => failures.push(why));
      try {
        await f.output.open();
        f.stallDevice();
        // More than any pipe or device buffer holds: some write must find the device stuck.
        const big = pattern(f.output.periodFrames * 400, 8);
        let err: unknown;
        for (let i = 0; i < 10 && err === undefined; i++) {
          err = await f.output.write(big).then(
            () => undefined,
            (e: unknown) => e,
          );
        }
        expect(isMotobioError(err, 'AUDIO_UNAVAILABLE')).toBe(true);
        expect(failures).toHaveLength(1);
        expect(f.output.state()).toBe('failed');
        await f.output.close();
        await f.output.open();
        expect(f.output.state()).toBe('open');
      } finally {
        await f.output.close();
        await f.cleanup();
      }
    }, 30_000);

    it('closes twice, and when never opened', async () => {
      const f = await setup();
      try {
        await f.missing.close();
        await f.output.open();
        await Promise.all([f.output.close(), f.output.close()]);
        await f.output.close();
        expect(f.output.state()).toBe('closed');
        await expect(f.output.write(pattern(f.output.periodFrames, 7))).rejects.toThrow();
      } finally {
        await f.cleanup();
      }
    });
  });
}
