/**
 * The protobuf wire format, just enough of it for ONNX files: varints (int64 fields may be
 * negative and then take ten bytes), fixed32 floats and length-delimited fields. Fields a
 * decoder does not know are kept as raw bytes so a model survives decode -> encode unchanged.
 */
import { MotobioError } from '../../util/errors.js';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** A field the typed decoder did not use, re-emitted verbatim by the encoder. */
export interface UnknownField {
  readonly field: number;
  readonly wire: number;
  /** The field's payload bytes (for varints: the encoded varint). */
  readonly bytes: Uint8Array;
}

export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private buf = new Uint8Array(256);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private rawVarint(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    this.ensure(10);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  private rawUint(value: number): void {
    if (value >= 0 && value < 0x80000000) {
      this.ensure(5);
      let v = value;
      while (v >= 0x80) {
        this.buf[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.pos++] = v;
    } else {
      this.rawVarint(BigInt(value));
    }
  }

  private tag(field: number, wire: number): void {
    this.rawUint((field << 3) | wire);
  }

  bytesRaw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  int64(field: number, value: number | bigint): void {
    this.tag(field, WIRE_VARINT);
    if (typeof value === 'bigint') this.rawVarint(value);
    else this.rawUint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset).setFloat32(this.pos, value, true);
    this.pos += 4;
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.rawUint(value.length);
    this.bytesRaw(value);
  }

  string(field: number, value: string): void {
    this.bytes(field, Buffer.from(value, 'utf8'));
  }

  message(field: number, encode: (w: ProtoWriter) => void): void {
    const inner = new ProtoWriter();
    encode(inner);
    this.bytes(field, inner.finish());
  }

  packedInt64(field: number, values: readonly (number | bigint)[]): void {
    const inner = new ProtoWriter();
    for (const v of values) {
      if (typeof v === 'bigint') inner.rawVarint(v);
      else inner.rawUint(v);
    }
    this.bytes(field, inner.finish());
  }

  packedFloat(field: number, values: ArrayLike<number>): void {
    const f = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) f[i] = values[i];
    this.bytes(field, new Uint8Array(f.buffer));
  }

  unknown(fields: readonly UnknownField[] | undefined): void {
    for (const u of fields ?? []) {
      this.tag(u.field, u.wire);
      if (u.wire === WIRE_LEN) this.rawUint(u.bytes.length);
      this.bytesRaw(u.bytes);
    }
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export class ProtoReader {
  private pos = 0;
  private readonly view: DataView;
  private readonly buf: Uint8Array;

  constructor(
    buf: Uint8Array,
    private readonly what: string,
  ) {
    // A Buffer's slice() is a view, not a copy; a plain Uint8Array makes every slice() below a real copy.
    this.buf = Object.getPrototypeOf(buf) === Uint8Array.prototype ? buf : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  done(): boolean {
    return this.pos >= this.buf.length;
  }

  private fail(why: string): never {
    throw new MotobioError('MODEL_INVALID', `${this.what}: not a valid ONNX protobuf (${why} at byte ${this.pos}); the file is corrupt or not an .onnx model, re-export or re-copy it`);
  }

  /** Varint as a JS number; int64 values are sign-corrected (two's complement over 64 bits). */
  varint(): number {
    let result = 0;
    let shift = 0;
    const start = this.pos;
    for (;;) {
      if (this.pos >= this.buf.length) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      if (shift < 28) result |= (b & 0x7f) << shift;
      else return this.bigVarint(start);
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  }

  private bigVarint(start: number): number {
    this.pos = start;
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        const signed = BigInt.asIntN(64, v);
        if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER)) this.fail('integer too large');
        return Number(signed);
      }
      shift += 7n;
    }
    return this.fail('varint longer than 10 bytes');
  }

  tag(): { field: number; wire: number } {
    const t = this.varint();
    const field = t >>> 3;
    if (field === 0) this.fail('field number 0');
    return { field, wire: t & 7 };
  }

  float(): number {
    if (this.pos + 4 > this.buf.length) this.fail('truncated float');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (n < 0 || this.pos + n > this.buf.length) this.fail(`length ${n} runs past the end`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return Buffer.from(this.bytes()).toString('utf8');
  }

  sub(what: string): ProtoReader {
    return new ProtoReader(this.bytes(), `${this.what} > ${what}`);
  }

  /** Repeated int64: accepts both packed and one-per-tag encodings. */
  int64s(wire: number, into: number[]): void {
    if (wire === WIRE_LEN) {
      const r = new ProtoReader(this.bytes(), this.what);
      while (!r.done()) into.push(r.varint());
    } else if (wire === WIRE_VARINT) {
      into.push(this.varint());
    } else {
      this.fail(`wire type ${wire} for an integer list`);
    }
  }

  floats(wire: number, into: number[]): void {
    if (wire === WIRE_LEN) {
      const b = this.bytes();
      if (b.length % 4 !== 0) this.fail('packed float list not a multiple of 4 bytes');
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < b.length; i += 4) into.push(dv.getFloat32(i, true));
    } else if (wire === WIRE_FIXED32) {
      into.push(this.float());
    } else {
      this.fail(`wire type ${wire} for a float list`);
    }
  }

  doubles(wire: number, into: number[]): void {
    if (wire === WIRE_LEN) {
      const b = this.bytes();
      if (b.length % 8 !== 0) this.fail('packed double list not a multiple of 8 bytes');
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < b.length; i += 8) into.push(dv.getFloat64(i, true));
    } else if (wire === WIRE_FIXED64) {
      const b = this.raw(8);
      into.push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true));
    } else {
      this.fail(`wire type ${wire} for a double list`);
    }
  }

  private raw(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) this.fail('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Reads a field the caller does not handle and returns it for re-encoding. */
  skip(field: number, wire: number): UnknownField {
    const start = this.pos;
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return { field, wire, bytes: this.buf.slice(start, this.pos) };
      case WIRE_FIXED64:
        return { field, wire, bytes: this.raw(8).slice() };
      case WIRE_LEN:
        return { field, wire, bytes: this.bytes().slice() };
      case WIRE_FIXED32:
        return { field, wire, bytes: this.raw(4).slice() };
      default:
        return this.fail(`unsupported wire type ${wire}`);
    }
  }
}
