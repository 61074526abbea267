/**
 * Bluetooth Heart Rate Service (0x180D), Heart Rate Measurement characteristic (0x2A37):
 *
 *   flags (u8) | HR (u8, or u16 LE if bit 0) | energy expended (u16 LE, if bit 3) | RR (u16 LE, 1/1024 s)*  (if bit 4)
 *
 * flags bit 1-2: sensor contact (bit 2 = feature supported, bit 1 = contact detected).
 */
export const HRS_SERVICE = '180d';
export const HRS_MEASUREMENT = '2a37';
export const BATTERY_SERVICE = '180f';
export const BATTERY_LEVEL = '2a19';

export interface HeartRateMeasurement {
  readonly hrBpm: number;
  /** undefined when the strap does not support contact detection. */
  readonly contact: boolean | undefined;
  readonly energyKj?: number;
  /** RR intervals in ms (converted from 1/1024 s), oldest first. */
  readonly rrMs: number[];
}

/** Parses one notification; undefined when it is too short for what its flags promise. */
export function parseHeartRateMeasurement(data: Uint8Array): HeartRateMeasurement | undefined {
  if (data.length < 2) return undefined;
  const flags = data[0];
  const hr16 = (flags & 0x01) !== 0;
  const contactSupported = (flags & 0x04) !== 0;
  const energy = (flags & 0x08) !== 0;
  const rr = (flags & 0x10) !== 0;
  let at = 1;
  if (data.length < at + (hr16 ? 2 : 1)) return undefined;
  const hrBpm = hr16 ? data[at] | (data[at + 1] << 8) : data[at];
  at += hr16 ? 2 : 1;
  let energyKj: number | undefined;
  if (energy) {
    if (data.length < at + 2) return undefined;
    energyKj = data[at] | (data[at + 1] << 8);
    at += 2;
  }
  const rrMs: number[] = [];
  if (rr) {
    // An odd trailing byte is a truncated RR value; ignore it rather than the whole packet.
    for (; at + 1 < data.length; at += 2) rrMs.push(((data[at] | (data[at + 1] << 8)) * 1000) / 1024);
  }
  return {
    hrBpm,
    contact: contactSupported ? (flags & 0x02) !== 0 : undefined,
    ...(energyKj !== undefined ? { energyKj } : {}),
    rrMs,
  };
}

export interface HeartRateInput {
  readonly hrBpm: number;
  readonly hr16?: boolean;
  /** undefined: contact detection not supported. */
  readonly contact?: boolean;
  readonly energyKj?: number;
  /** RR in 1/1024 s units. */
  readonly rr1024?: readonly number[];
}

/** Encoder for the simulated strap and tests: every flag combination a strap may send. */
export function encodeHeartRateMeasurement(m: HeartRateInput): Buffer {
  const bytes: number[] = [0];
  let flags = 0;
  if (m.hr16) {
    flags |= 0x01;
    bytes.push(m.hrBpm & 0xff, (m.hrBpm >> 8) & 0xff);
  } else bytes.push(m.hrBpm & 0xff);
  if (m.contact !== undefined) flags |= 0x04 | (m.contact ? 0x02 : 0);
  if (m.energyKj !== undefined) {
    flags |= 0x08;
    bytes.push(m.energyKj & 0xff, (m.energyKj >> 8) & 0xff);
  }
  if (m.rr1024 !== undefined) {
    flags |= 0x10;
    for (const r of m.rr1024) bytes.push(r & 0xff, (r >> 8) & 0xff);
  }
  bytes[0] = flags;
  return Buffer.from(bytes);
}
