/**
 * ONNX ModelProto / GraphProto / NodeProto / TensorProto / ValueInfoProto as plain objects,
 * with field numbers from onnx/onnx.proto3. Only what an MLP policy and its quantized form
 * use is typed; everything else rides along in `unknown` and is written back untouched.
 */
import { ProtoReader, ProtoWriter, type UnknownField, WIRE_LEN } from './protobuf.js';
import { MotobioError } from '../../util/errors.js';

export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  DOUBLE: 11,
} as const;

export const DATA_TYPE_NAMES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
};

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian element bytes; float_data/int32_data/int64_data are folded in here on decode. */
  rawData: Uint8Array;
  unknown?: UnknownField[];
}

export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: number[];
  unknown?: UnknownField[];
}

export interface NodeProto {
  inputs: string[];
  outputs: string[];
  name: string;
  opType: string;
  domain: string;
  attributes: AttributeProto[];
  unknown?: UnknownField[];
}

/** A dimension is a fixed size, a symbolic name (e.g. "batch") or unknown (null). */
export type Dim = number | string | null;

export interface ValueInfoProto {
  name: string;
  elemType: number;
  shape: Dim[] | null;
}

export interface GraphProto {
  name: string;
  nodes: NodeProto[];
  initializers: TensorProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  unknown?: UnknownField[];
}

export interface OpsetId {
  domain: string;
  version: number;
}

export interface ModelProto {
  irVersion: number;
  opsetImports: OpsetId[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph: GraphProto;
  metadata: Record<string, string>;
  unknown?: UnknownField[];
}

// ---------- encode ----------

function encodeTensor(w: ProtoWriter, t: TensorProto): void {
  if (t.dims.length > 0) w.packedInt64(1, t.dims);
  w.int64(2, t.dataType);
  if (t.name) w.string(8, t.name);
  w.bytes(9, t.rawData);
  w.unknown(t.unknown);
}

function encodeAttribute(w: ProtoWriter, a: AttributeProto): void {
  w.string(1, a.name);
  w.int64(20, a.type);
  if (a.f !== undefined) w.float(2, a.f);
  if (a.i !== undefined) w.int64(3, a.i);
  if (a.s !== undefined) w.bytes(4, a.s);
  if (a.t !== undefined) w.message(5, (m) => encodeTensor(m, a.t!));
  if (a.floats !== undefined) w.packedFloat(7, a.floats);
  if (a.ints !== undefined) w.packedInt64(8, a.ints);
  w.unknown(a.unknown);
}

function encodeNode(w: ProtoWriter, n: NodeProto): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes) w.message(5, (m) => encodeAttribute(m, a));
  if (n.domain) w.string(7, n.domain);
  w.unknown(n.unknown);
}

function encodeValueInfo(w: ProtoWriter, v: ValueInfoProto): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int64(1, v.elemType);
      if (v.shape !== null) {
        tensor.message(2, (shape) => {
          for (const d of v.shape!) {
            shape.message(1, (dim) => {
              if (typeof d === 'number') dim.int64(1, d);
              else if (typeof d === 'string') dim.string(2, d);
            });
          }
        });
      }
    }),
  );
}

function encodeGraph(w: ProtoWriter, g: GraphProto): void {
  for (const n of g.nodes) w.message(1, (m) => encodeNode(m, n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (m) => encodeTensor(m, t));
  for (const v of g.inputs) w.message(11, (m) => encodeValueInfo(m, v));
  for (const v of g.outputs) w.message(12, (m) => encodeValueInfo(m, v));
  for (const v of g.valueInfo) w.message(13, (m) => encodeValueInfo(m, v));
  w.unknown(g.unknown);
}

export function encodeModel(model: ModelProto): Uint8Array {
  const w = new ProtoWriter();
  w.int64(1, model.irVersion);
  if (model.producerName) w.string(2, model.producerName);
  if (model.producerVersion) w.string(3, model.producerVersion);
  if (model.domain) w.string(4, model.domain);
  if (model.modelVersion) w.int64(5, model.modelVersion);
  if (model.docString) w.string(6, model.docString);
  w.message(7, (m) => encodeGraph(m, model.graph));
  for (const o of model.opsetImports) {
    w.message(8, (m) => {
      if (o.domain) m.string(1, o.domain);
      m.int64(2, o.version);
    });
  }
  for (const [key, value] of Object.entries(model.metadata)) {
    w.message(14, (m) => {
      m.string(1, key);
      m.string(2, value);
    });
  }
  w.unknown(model.unknown);
  return w.finish();
}

// ---------- decode ----------

function decodeTensor(r: ProtoReader): TensorProto {
  const t: TensorProto = { name: '', dims: [], dataType: 0, rawData: new Uint8Array(0) };
  const floats: number[] = [];
  const ints: number[] = [];
  const int64s: number[] = [];
  const doubles: number[] = [];
  const unknown: UnknownField[] = [];
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1:
        r.int64s(wire, t.dims);
        break;
      case 2:
        t.dataType = r.varint();
        break;
      case 4:
        r.floats(wire, floats);
        break;
      case 5:
        r.int64s(wire, ints);
        break;
      case 7:
        r.int64s(wire, int64s);
        break;
      case 8:
        t.name = r.string();
        break;
      case 9:
        t.rawData = r.bytes().slice();
        break;
      case 10:
        r.doubles(wire, doubles);
        break;
      case 13:
      case 14:
        throw new MotobioError('MODEL_INVALID', `tensor ${t.name || '(unnamed)'} stores its data in an external file, which the unit does not support; export the model with all weights inside the .onnx`);
      default:
        unknown.push(r.skip(field, wire));
    }
  }
  if (t.rawData.length === 0) t.rawData = foldTypedData(t.dataType, floats, ints, int64s, doubles);
  if (unknown.length) t.unknown = unknown;
  return t;
}

function foldTypedData(dataType: number, floats: number[], ints: number[], int64s: number[], doubles: number[]): Uint8Array {
  switch (dataType) {
    case DataType.FLOAT:
      return new Uint8Array(Float32Array.from(floats).buffer);
    case DataType.DOUBLE:
      return new Uint8Array(Float64Array.from(doubles).buffer);
    case DataType.INT32:
      return new Uint8Array(Int32Array.from(ints).buffer);
    case DataType.INT8:
      return new Uint8Array(Int8Array.from(ints).buffer);
    case DataType.UINT8:
      return Uint8Array.from(ints);
    case DataType.INT64:
      return new Uint8Array(BigInt64Array.from(int64s.map((v) => BigInt(v))).buffer);
    default:
      return new Uint8Array(0);
  }
}

function decodeAttribute(r: ProtoReader): AttributeProto {
  const a: AttributeProto = { name: '', type: 0 };
  const unknown: UnknownField[] = [];
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1:
        a.name = r.string();
        break;
      case 20:
        a.type = r.varint();
        break;
      case 2:
        a.f = r.float();
        break;
      case 3:
        a.i = r.varint();
        break;
      case 4:
        a.s = r.bytes().slice();
        break;
      case 5:
        a.t = decodeTensor(r.sub('tensor attribute'));
        break;
      case 7:
        r.floats(wire, (a.floats ??= []));
        break;
      case 8:
        r.int64s(wire, (a.ints ??= []));
        break;
      default:
        unknown.push(r.skip(field, wire));
    }
  }
  if (unknown.length) a.unknown = unknown;
  return a;
}

function decodeNode(r: ProtoReader): NodeProto {
  const n: NodeProto = { inputs: [], outputs: [], name: '', opType: '', domain: '', attributes: [] };
  const unknown: UnknownField[] = [];
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1:
        n.inputs.push(r.string());
        break;
      case 2:
        n.outputs.push(r.string());
        break;
      case 3:
        n.name = r.string();
        break;
      case 4:
        n.opType = r.string();
        break;
      case 5:
        n.attributes.push(decodeAttribute(r.sub('attribute')));
        break;
      case 7:
        n.domain = r.string();
        break;
      default:
        unknown.push(r.skip(field, wire));
    }
  }
  if (unknown.length) n.unknown = unknown;
  return n;
}

function decodeValueInfo(r: ProtoReader): ValueInfoProto {
  const v: ValueInfoProto = { name: '', elemType: 0, shape: null };
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1) v.name = r.string();
    else if (field === 2 && wire === WIRE_LEN) {
      const type = r.sub('type');
      while (!type.done()) {
        const t = type.tag();
        if (t.field !== 1 || t.wire !== WIRE_LEN) {
          type.skip(t.field, t.wire);
          continue;
        }
        const tensor = type.sub('tensor type');
        while (!tensor.done()) {
          const tt = tensor.tag();
          if (tt.field === 1) v.elemType = tensor.varint();
          else if (tt.field === 2 && tt.wire === WIRE_LEN) {
            v.shape = [];
            const shape = tensor.sub('shape');
            while (!shape.done()) {
              const s = shape.tag();
              if (s.field !== 1 || s.wire !== WIRE_LEN) {
                shape.skip(s.field, s.wire);
                continue;
              }
              const dim = shape.sub('dim');
              let d: Dim = null;
              while (!dim.done()) {
                const dt = dim.tag();
                if (dt.field === 1) d = dim.varint();
                else if (dt.field === 2) d = dim.string();
                else dim.skip(dt.field, dt.wire);
              }
              v.shape.push(d);
            }
          } else tensor.skip(tt.field, tt.wire);
        }
      }
    } else r.skip(field, wire);
  }
  return v;
}

function decodeGraph(r: ProtoReader): GraphProto {
  const g: GraphProto = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] };
  const unknown: UnknownField[] = [];
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1:
        g.nodes.push(decodeNode(r.sub(`node ${g.nodes.length}`)));
        break;
      case 2:
        g.name = r.string();
        break;
      case 5:
        g.initializers.push(decodeTensor(r.sub(`initializer ${g.initializers.length}`)));
        break;
      case 11:
        g.inputs.push(decodeValueInfo(r.sub('input')));
        break;
      case 12:
        g.outputs.push(decodeValueInfo(r.sub('output')));
        break;
      case 13:
        g.valueInfo.push(decodeValueInfo(r.sub('value_info')));
        break;
      default:
        unknown.push(r.skip(field, wire));
    }
  }
  if (unknown.length) g.unknown = unknown;
  return g;
}

/** Decodes an .onnx file. `what` names it in error messages (usually the path). */
export function decodeModel(bytes: Uint8Array, what: string): ModelProto {
  const r = new ProtoReader(bytes, what);
  const m: ModelProto = {
    irVersion: 0,
    opsetImports: [],
    producerName: '',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    graph: { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] },
    metadata: {},
  };
  let sawGraph = false;
  const unknown: UnknownField[] = [];
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1:
        m.irVersion = r.varint();
        break;
      case 2:
        m.producerName = r.string();
        break;
      case 3:
        m.producerVersion = r.string();
        break;
      case 4:
        m.domain = r.string();
        break;
      case 5:
        m.modelVersion = r.varint();
        break;
      case 6:
        m.docString = r.string();
        break;
      case 7:
        m.graph = decodeGraph(r.sub('graph'));
        sawGraph = true;
        break;
      case 8: {
        const o = r.sub('opset_import');
        const id: OpsetId = { domain: '', version: 0 };
        while (!o.done()) {
          const t = o.tag();
          if (t.field === 1) id.domain = o.string();
          else if (t.field === 2) id.version = o.varint();
          else o.skip(t.field, t.wire);
        }
        m.opsetImports.push(id);
        break;
      }
      case 14: {
        const e = r.sub('metadata_props');
        let key = '';
        let value = '';
        while (!e.done()) {
          const t = e.tag();
          if (t.field === 1) key = e.string();
          else if (t.field === 2) value = e.string();
          else e.skip(t.field, t.wire);
        }
        m.metadata[key] = value;
        break;
      }
      default:
        unknown.push(r.skip(field, wire));
    }
  }
  if (!sawGraph || m.irVersion === 0) {
    throw new MotobioError('MODEL_INVALID', `${what}: not an ONNX model (no ${sawGraph ? 'ir_version' : 'graph'} field); the file is corrupt or of another kind, re-export or re-copy it`);
  }
  if (unknown.length) m.unknown = unknown;
  return m;
}

/** Default-domain opset version of a model (0 when it imports none). */
export function defaultOpset(model: ModelProto): number {
  return model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
}

export function tensorFloats(t: TensorProto): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new MotobioError('MODEL_INVALID', `tensor ${t.name} is ${DATA_TYPE_NAMES[t.dataType] ?? t.dataType}, expected float32`);
  const copy = new Uint8Array(t.rawData);
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}

export function floatTensor(name: string, dims: number[], data: ArrayLike<number>): TensorProto {
  const f = Float32Array.from(data);
  return { name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(f.buffer) };
}

export function int8Tensor(name: string, dims: number[], data: Int8Array): TensorProto {
  return { name, dims, dataType: DataType.INT8, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

export function node(opType: string, inputs: string[], outputs: string[], name: string, attributes: AttributeProto[] = []): NodeProto {
  return { opType, inputs, outputs, name, domain: '', attributes };
}

export function intAttr(name: string, i: number): AttributeProto {
  return { name, type: AttrType.INT, i };
}

export function floatAttr(name: string, f: number): AttributeProto {
  return { name, type: AttrType.FLOAT, f };
}
