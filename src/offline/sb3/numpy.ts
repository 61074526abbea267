/**
 * NumPy values as pickles and as text: the allow-list handlers that rebuild `ndarray`,
 * `dtype` and scalars from a pickle into plain typed arrays, and the reader of the NumPy
 * text (`"[-1. -1.  inf]"`) SB3 writes for a Box space's bounds in its `data` JSON.
 */
import { MotobioError } from '../../util/errors.js';
import { PyTuple, refuse, type Buildable, type GlobalHandler } from './pickle.js';

const KINDS: Record<string, { bytes: number; read: (v: DataView, o: number, le: boolean) => number }> = {
  f2: { bytes: 2, read: (v, o, le) => halfToFloat(v.getUint16(o, le)) },
  f4: { bytes: 4, read: (v, o, le) => v.getFloat32(o, le) },
  f8: { bytes: 8, read: (v, o, le) => v.getFloat64(o, le) },
  i1: { bytes: 1, read: (v, o) => v.getInt8(o) },
  i2: { bytes: 2, read: (v, o, le) => v.getInt16(o, le) },
  i4: { bytes: 4, read: (v, o, le) => v.getInt32(o, le) },
  i8: { bytes: 8, read: (v, o, le) => Number(v.getBigInt64(o, le)) },
  u1: { bytes: 1, read: (v, o) => v.getUint8(o) },
  u2: { bytes: 2, read: (v, o, le) => v.getUint16(o, le) },
  u4: { bytes: 4, read: (v, o, le) => v.getUint32(o, le) },
  u8: { bytes: 8, read: (v, o, le) => Number(v.getBigUint64(o, le)) },
  b1: { bytes: 1, read: (v, o) => (v.getUint8(o) ? 1 : 0) },
};

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export class NpDtype implements Buildable {
  byteOrder = '=';
  constructor(readonly kind: string) {}
  setState(state: unknown): void {
    if (state instanceof PyTuple && typeof state.items[1] === 'string') this.byteOrder = state.items[1];
  }
  get littleEndian(): boolean {
    return this.byteOrder !== '>';
  }
}

export class NpArray implements Buildable {
  shape: number[] = [];
  dtype: NpDtype | null = null;
  /** Values in C order, as doubles (every dtype we accept fits). */
  data: Float64Array = new Float64Array(0);
  setState(state: unknown, where: string): void {
    if (!(state instanceof PyTuple) || state.items.length < 5) refuse(where, 'an ndarray state that is not (version, shape, dtype, fortran, data)');
    const [, shape, dtype, fortran, raw] = state.items;
    if (!(shape instanceof PyTuple) || !shape.items.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) refuse(where, 'an ndarray shape that is not a tuple of sizes');
    if (!(dtype instanceof NpDtype)) refuse(where, 'an ndarray whose dtype is not a numpy.dtype');
    if (!(raw instanceof Uint8Array)) refuse(where, `an ndarray of dtype ${dtype.kind} stored as Python objects; only numeric arrays are read`);
    const dims = shape.items as number[];
    const count = dims.reduce((a, b) => a * b, 1);
    const kind = KINDS[dtype.kind];
    if (!kind) refuse(where, `an ndarray of dtype "${dtype.kind}"; only float, int and bool arrays are read`);
    if (raw.length !== count * kind.bytes) refuse(where, `an ndarray of shape [${dims.join(', ')}] ${dtype.kind} needs ${count * kind.bytes} bytes but has ${raw.length}; the file is truncated or corrupt`);
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = kind.read(v, i * kind.bytes, dtype.littleEndian);
    this.shape = dims;
    this.dtype = dtype;
    this.data = fortran === true && dims.length > 1 ? fortranToC(out, dims) : out;
  }
}

function fortranToC(f: Float64Array, dims: number[]): Float64Array {
  const out = new Float64Array(f.length);
  const n = dims.length;
  const idx = new Array<number>(n).fill(0);
  for (let i = 0; i < f.length; i++) {
    // i walks C order; compute the Fortran offset of the same index.
    let off = 0;
    let mul = 1;
    for (let d = 0; d < n; d++) {
      off += idx[d] * mul;
      mul *= dims[d];
    }
    out[i] = f[off];
    for (let d = n - 1; d >= 0; d--) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

function dtypeKind(s: unknown, where: string): string {
  if (typeof s !== 'string') refuse(where, 'a numpy dtype without a type string');
  const k = s.replace(/^[<>=|]/, '');
  const alias: Record<string, string> = { float32: 'f4', float64: 'f8', float16: 'f2', int64: 'i8', int32: 'i4', bool: 'b1', '?': 'b1', b: 'i1', B: 'u1' };
  return alias[k] ?? k;
}

/** Allow-list entries that rebuild NumPy arrays, dtypes and scalars as data (NumPy 1.x and 2.x names). */
export function numpyGlobals(): [string, GlobalHandler][] {
  const reconstruct: GlobalHandler = {
    call: (args, where) => {
      const sub = args[0];
      if (!(sub && typeof sub === 'object' && 'qualified' in sub && (sub as { qualified: string }).qualified.endsWith('.ndarray'))) {
        refuse(where, 'an array reconstruction of a subclass other than numpy.ndarray');
      }
      return new NpArray();
    },
  };
  const dtype: GlobalHandler = { call: (args, where) => new NpDtype(dtypeKind(args[0], where)) };
  const scalar: GlobalHandler = {
    call: (args, where) => {
      const [dt, raw] = args;
      if (!(dt instanceof NpDtype) || !(raw instanceof Uint8Array)) refuse(where, 'a numpy scalar that is not (dtype, bytes)');
      const kind = KINDS[dt.kind];
      if (!kind || raw.length !== kind.bytes) refuse(where, `a numpy scalar of dtype "${dt.kind}" with ${raw.length} bytes`);
      return kind.read(new DataView(raw.buffer, raw.byteOffset, raw.byteLength), 0, dt.littleEndian);
    },
  };
  const out: [string, GlobalHandler][] = [];
  for (const core of ['numpy.core.multiarray', 'numpy._core.multiarray']) {
    out.push([`${core}._reconstruct`, reconstruct], [`${core}.scalar`, scalar]);
  }
  out.push(['numpy.ndarray', {}], ['numpy.dtype', dtype]);
  return out;
}

/**
 * NumPy's text form of a 1-D array, as `str(array)` prints it: `[-1. -1.]`, `[-inf 0.]`,
 * possibly across lines. Refuses the summarised form (`...`) NumPy uses for long arrays.
 */
export function parseNumpyText(text: string, what: string, expected?: number): number[] {
  const t = text.trim();
  if (t.includes('...')) throw new MotobioError('MODEL_INVALID', `${what}: the bounds are summarised ("${t.slice(0, 60)}..."), so their values are not in the file; re-save the model with a newer SB3 or pass smaller spaces`);
  const inner = t.replace(/^\[/, '').replace(/\]$/, '').trim();
  if (inner.includes('[')) throw new MotobioError('MODEL_INVALID', `${what}: bounds "${t.slice(0, 60)}" are not a flat array; only 1-D Box spaces are supported`);
  const parts = inner === '' ? [] : inner.split(/[\s,]+/);
  const values = parts.map((p) => {
    const v = p === 'inf' ? Infinity : p === '-inf' ? -Infinity : Number(p);
    if (p === 'nan' || Number.isNaN(v)) throw new MotobioError('MODEL_INVALID', `${what}: "${p}" in "${t.slice(0, 60)}" is not a number`);
    return v;
  });
  if (expected !== undefined && values.length === 1 && expected > 1) return new Array<number>(expected).fill(values[0]);
  if (expected !== undefined && values.length !== expected) throw new MotobioError('MODEL_INVALID', `${what}: ${values.length} values, the space has ${expected}`);
  return values;
}
