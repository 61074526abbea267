import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kindOf, listSerialPorts } from '../../src/sources/serial/ports.js';

describe('listSerialPorts', () => {
  it('never throws, and lists ECG-capable device names from the device directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'motobio-dev-'));
    try {
      for (const n of ['rfcomm0', 'ttyUSB1', 'ttyACM0', 'serial0', 'tty5', 'null']) writeFileSync(join(dir, n), '');
      const { ports, note } = await listSerialPorts(dir);
      const mine = ports.filter((p) => p.path.startsWith(dir)).map((p) => [p.path.slice(dir.length + 1), p.kind]);
      expect(mine).toEqual([
        ['rfcomm0', 'bluetooth-serial'],
        ['serial0', 'uart'],
        ['ttyACM0', 'usb-serial'],
        ['ttyUSB1', 'usb-serial'],
      ]);
      // Without udevadm the listing still works and says why details are missing.
      if (note !== undefined) expect(note).toMatch(/udev/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the kind of a port', () => {
    expect(kindOf('/dev/rfcomm3')).toBe('bluetooth-serial');
    expect(kindOf('/dev/ttyUSB0')).toBe('usb-serial');
    expect(kindOf('/dev/serial0')).toBe('uart');
  });
});
