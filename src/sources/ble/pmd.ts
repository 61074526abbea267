/**
 * Polar Measurement Data (PMD) service, ECG stream of the Polar H10 (Polar BLE SDK,
 * "Polar Measurement Data Specification"):
 *
 *   control point FB005C81 (write + indicate):
 *     start ECG: 02 00 | 00 01 82 00 (setting 0 = sample rate, 1 value, 130 Hz) | 01 01 0E 00 (setting 1 = resolution, 14 bit)
 *     response:  F0 | op | type | status (0 = success) ...
 *   data FB005C82 (notify):
 *     type 00 (ECG) | timestamp u64 LE, ns, of the last sample | frame type 00 | samples: i24 LE µV ...
 */
export const PMD_SERVICE = 'fb005c8002e7f3871cad8acd2d8df0c8';
export const PMD_CONTROL = 'fb005c8102e7f3871cad8acd2d8df0c8';
export const PMD_DATA = 'fb005c8202e7f3871cad8acd2d8df0c8';
export const POLAR_ECG_FS = 130;
export const PMD_TYPE_ECG = 0x00;
const OP_START = 0x02;
const OP_STOP = 0x03;
const RESPONSE = 0xf0;
/** Largest plausible ECG at the skin, µV; a frame with more is corrupt and dropped whole. */
export const POLAR_MAX_ABS_UV = 50_000;
const I24_MAX = 2 ** 23 - 1;

export function startEcgCommand(fsHz = POLAR_ECG_FS, resolutionBits = 14): Buffer {
  return Buffer.from([OP_START, PMD_TYPE_ECG, 0x00, 0x01, fsHz & 0xff, fsHz >> 8, 0x01, 0x01, resolutionBits & 0xff, resolutionBits >> 8]);
}

export function stopEcgCommand(): Buffer {
  return Buffer.from([OP_STOP, PMD_TYPE_ECG]);
}

export const PMD_ERRORS = [
  'success',
  'invalid op code',
  'invalid measurement type',
  'not supported',
  'invalid length',
  'invalid parameter',
  'already in state',
  'invalid resolution',
  'invalid sample rate',
  'invalid range',
  'invalid MTU',
  'invalid number of channels',
  'invalid state',
  'device in charger',
];

export interface ControlResponse {
  readonly op: number;
  readonly type: number;
  readonly status: number;
  readonly ok: boolean;
  readonly message: string;
}

export function parseControlResponse(data: Uint8Array): ControlResponse | undefined {
  if (data.length < 4 || data[0] !== RESPONSE) return undefined;
  const status = data[3];
  // "already in state" after a reconnect means the stream is running: fine.
  return { op: data[1], type: data[2], status, ok: status === 0 || status === 6, message: PMD_ERRORS[status] ?? `error ${status}` };
}

export interface EcgFrame {
  /** Sensor time of the last sample, ns. */
  readonly timestampNs: bigint;
  readonly uv: Int32Array;
}

/** Parses one data notification; undefined for other measurement types or a malformed frame. */
export function parseEcgFrame(data: Uint8Array): EcgFrame | undefined {
  if (data.length < 10 || data[0] !== PMD_TYPE_ECG || data[9] !== 0x00) return undefined;
  const body = data.length - 10;
  if (body === 0 || body % 3 !== 0) return undefined;
  let ts = 0n;
  for (let i = 8; i >= 1; i--) ts = (ts << 8n) | BigInt(data[i]);
  const uv = new Int32Array(body / 3);
  for (let k = 0, at = 10; k < uv.length; k++, at += 3) {
    const v = data[at] | (data[at + 1] << 8) | (data[at + 2] << 16);
    uv[k] = v & 0x800000 ? v - 0x1000000 : v;
    if (Math.abs(uv[k]) > POLAR_MAX_ABS_UV) return undefined;
  }
  return { timestampNs: ts, uv };
}

/** Encoder for the simulated strap. */
export function encodeEcgFrame(timestampNs: bigint, uv: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(10 + 3 * uv.length);
  out[0] = PMD_TYPE_ECG;
  out.writeBigUInt64LE(timestampNs, 1);
  out[9] = 0x00;
  for (let k = 0; k < uv.length; k++) out.writeIntLE(Math.max(-I24_MAX - 1, Math.min(I24_MAX, Math.round(uv[k]))), 10 + 3 * k, 3);
  return out;
}

export function encodeControlResponse(op: number, type: number, status: number): Buffer {
  return Buffer.from([RESPONSE, op, type, status, 0x00]);
}
