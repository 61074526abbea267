/**
 * The ECG source as the daemon opens it from the configuration: a replay of a WFDB record,
 * a serial front end or a BLE strap. Each transport is loaded only when configured, so a
 * unit without Bluetooth never loads noble.
 */
import { join } from 'node:path';
import type { StageContext } from '../core/context.js';
import { MotobioError } from '../util/errors.js';
import type { EcgSource } from './types.js';

export async function openSource(ctx: StageContext): Promise<EcgSource> {
  const s = ctx.config.source;
  if (s.kind === 'replay') {
    const base = s.path;
    const record = s.record ? join(base, s.record) : base.replace(/\.hea$/, '');
    const { ReplaySource } = await import('./replay.js');
    return new ReplaySource({ record, channel: s.channel, speed: s.speed, loop: s.loop });
  }
  const { createSource, parseDevice } = await import('./factory.js');
  // The schema requires source.device for serial and ble.
  const device = s.device ?? '';
  if (s.kind === 'serial') return createSource({ transport: 'serial', path: device }, { baud: s.baud, channel: s.channel });
  const target = parseDevice(device);
  if (target.transport !== 'ble') {
    throw new MotobioError('CONFIG_INVALID', `source.device "${device}" is not a BLE name or address; for a serial port set source.kind: serial`);
  }
  return createSource(target, { channel: s.channel });
}
