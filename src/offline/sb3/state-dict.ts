/**
 * A PyTorch state dict (`torch.save(module.state_dict())`, the zip format of torch >= 1.6) as
 * named float32 tensors, without PyTorch.
 *
 *   policy.pth (zip) ─▶ <prefix>/data.pkl ─▶ restricted unpickle ─▶ OrderedDict{name: _rebuild_tensor_v2(storage pid, offset, size, stride)}
 *                     ─▶ <prefix>/data/<key> (raw little-endian storages) ─┘ each storage checked for length, then strided copy
 */
import { MotobioError } from '../../util/errors.js';
import { halfToFloat } from './numpy.js';
import { PyDict, PyGlobal, PyTuple, REFERENCE_ONLY, refuse, unpickle, type GlobalHandler } from './pickle.js';
import { readZip } from './zip.js';

export interface Tensor {
  readonly shape: readonly number[];
  /** C-order values as float32 (double and half storages are converted). */
  readonly data: Float32Array;
  readonly dtype: string;
}

interface Storage {
  readonly key: string;
  readonly dtype: string;
  readonly itemBytes: number;
  readonly bytes: Uint8Array;
  readonly littleEndian: boolean;
}

const STORAGE_TYPES: Record<string, { dtype: string; bytes: number }> = {
  FloatStorage: { dtype: 'float32', bytes: 4 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};

function readElement(s: Storage, v: DataView, i: number): number {
  const o = i * s.itemBytes;
  const le = s.littleEndian;
  switch (s.dtype) {
    case 'float32':
      return v.getFloat32(o, le);
    case 'float64':
      return v.getFloat64(o, le);
    case 'float16':
      return halfToFloat(v.getUint16(o, le));
    case 'bfloat16': {
      const b = new DataView(new ArrayBuffer(4));
      b.setUint16(0, v.getUint16(o, le), false);
      return b.getFloat32(0, false);
    }
    case 'int64':
      return Number(v.getBigInt64(o, le));
    case 'int32':
      return v.getInt32(o, le);
    default:
      return v.getUint8(o);
  }
}

function rebuildTensor(args: unknown[], where: string): Tensor {
  const [storage, offset, size, stride] = args;
  if (!storage || typeof storage !== 'object' || !('key' in storage)) refuse(where, 'a tensor whose storage is not a persistent storage record');
  const s = storage as Storage;
  if (typeof offset !== 'number' || !(size instanceof PyTuple) || !(stride instanceof PyTuple)) refuse(where, 'a tensor without (offset, size, stride)');
  const shape = size.items as number[];
  const strides = stride.items as number[];
  if (!shape.every((d) => Number.isInteger(d) && d >= 0) || strides.length !== shape.length || !strides.every((d) => Number.isInteger(d) && d >= 0)) {
    refuse(where, `a tensor with a bad shape [${shape.join(', ')}] or stride [${strides.join(', ')}]`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const available = Math.floor(s.bytes.length / s.itemBytes);
  let last = offset;
  for (let d = 0; d < shape.length; d++) if (shape[d] > 0) last += (shape[d] - 1) * strides[d];
  if (count > 0 && last >= available) {
    refuse(where, `storage ${s.key} holds ${available} ${s.dtype} values (${s.bytes.length} bytes) but the tensor [${shape.join(', ')}] at offset ${offset} needs ${last + 1}; the storage is truncated, re-copy the checkpoint`);
  }
  const v = new DataView(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength);
  const data = new Float32Array(count);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    let off = offset;
    for (let d = 0; d < shape.length; d++) off += idx[d] * strides[d];
    data[i] = readElement(s, v, off);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { shape, data, dtype: s.dtype };
}

export function torchGlobals(): Map<string, GlobalHandler> {
  const g = new Map<string, GlobalHandler>();
  g.set('collections.OrderedDict', { call: () => new PyDict() });
  g.set('torch._utils._rebuild_tensor_v2', { call: (args, where) => rebuildTensor(args, where) });
  // nn.Parameter wrapper: the data is all we need.
  g.set('torch._utils._rebuild_parameter', { call: (args) => args[0] });
  g.set('torch._utils._rebuild_parameter_with_state', { call: (args) => args[0] });
  g.set('torch._tensor._rebuild_from_type_v2', {
    call: (args, where) => {
      const [fn, , inner] = args;
      if (!(fn instanceof PyGlobal) || !fn.handler.call || !(inner instanceof PyTuple)) refuse(where, 'a tensor subclass rebuild without an allowed function');
      return fn.handler.call(inner.items, where);
    },
  });
  for (const t of ['torch.Tensor', 'torch.nn.parameter.Parameter']) g.set(t, REFERENCE_ONLY);
  for (const name of Object.keys(STORAGE_TYPES)) g.set(`torch.${name}`, REFERENCE_ONLY);
  return g;
}

/** Reads the state dict of a torch.save() zip. `what` names the file in messages. */
export function readStateDict(bytes: Uint8Array, what: string): Map<string, Tensor> {
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] === 0x02) {
    throw new MotobioError('MODEL_INVALID', `${what}: saved in PyTorch's legacy (pre-1.6, non-zip) format; load and re-save the checkpoint with torch >= 1.6`);
  }
  const files = readZip(bytes, what, (n) => /(^|\/)data\.pkl$/.test(n) || /(^|\/)byteorder$/.test(n) || /\/data\/[^/]+$/.test(n));
  const pkls = [...files.keys()].filter((n) => /(^|\/)data\.pkl$/.test(n));
  if (pkls.length !== 1) throw new MotobioError('MODEL_INVALID', `${what}: expected one data.pkl in the PyTorch archive, found ${pkls.length}; this is not a torch.save() file`);
  const prefix = pkls[0].slice(0, -'data.pkl'.length);
  const order = files.get(`${prefix}byteorder`);
  const littleEndian = order === undefined || new TextDecoder().decode(order).trim() !== 'big';
  const globals = torchGlobals();
  const value = unpickle(files.get(pkls[0])!, {
    what: `${what}:${pkls[0]}`,
    globals,
    persistentLoad: (pid, where) => {
      if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length < 5) refuse(where, 'a persistent id that is not a tensor storage');
      const [, type, key, , numel] = pid.items;
      if (!(type instanceof PyGlobal) || typeof key !== 'string' || typeof numel !== 'number') refuse(where, 'a storage id without (type, key, numel)');
      const st = STORAGE_TYPES[type.name];
      if (!st) refuse(where, `storage type ${type.qualified} is not supported (float, double, half, bfloat16, int, long, bool are)`);
      const data = files.get(`${prefix}data/${key}`);
      if (!data) refuse(where, `storage ${key} is named in data.pkl but missing from the archive; the checkpoint is incomplete`);
      if (data.length < numel * st.bytes) refuse(where, `storage ${key} has ${data.length} bytes but ${numel} ${st.dtype} values need ${numel * st.bytes}; the storage is truncated, re-copy the checkpoint`);
      return { key, dtype: st.dtype, itemBytes: st.bytes, bytes: data, littleEndian } satisfies Storage;
    },
  });
  if (!(value instanceof PyDict)) throw new MotobioError('MODEL_INVALID', `${what}: the pickle holds a ${value === null ? 'None' : typeof value}, not a state dict; save policy.state_dict()`);
  const out = new Map<string, Tensor>();
  for (const [k, v] of value.map) {
    if (typeof k !== 'string') throw new MotobioError('MODEL_INVALID', `${what}: a state-dict key that is not a string`);
    if (!v || typeof v !== 'object' || !('data' in v) || !('shape' in v)) throw new MotobioError('MODEL_INVALID', `${what}: state-dict entry "${k}" is not a tensor`);
    out.set(k, v as Tensor);
  }
  return out;
}
