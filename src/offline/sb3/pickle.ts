/**
 * A restricted reader of Python pickles (protocols 0-5, the opcodes PyTorch, NumPy and
 * cloudpickle write for data). In Python a pickle is a program: GLOBAL names any callable
 * and REDUCE calls it. Here a GLOBAL is looked up in the caller's allow-list and refused
 * otherwise, and "calling" it runs the caller's own pure-data handler, never Python semantics.
 *
 *   bytes ─▶ opcode loop (stack, marks, memo) ─▶ GLOBAL ─▶ allow-list? ─ no ─▶ MotobioError naming it
 *                                                    │ yes
 *                     REDUCE / NEWOBJ / BUILD ─▶ handler (builds a plain value) ─▶ ... STOP ─▶ value
 *
 * Bounded: every opcode consumes input, so work is linear in the input; the stack, the mark
 * depth and the memo are capped; nothing recurses; unknown opcodes are refused.
 */
import { MotobioError } from '../../util/errors.js';

/** A Python tuple (kept apart from lists so handlers can tell them apart). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** A Python dict; `attrs` holds what a BUILD set on it (OrderedDict's `_metadata`). */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
  attrs: unknown = undefined;
  get(key: string): unknown {
    return this.map.get(key);
  }
}

/** A reference to an allowed global, as GLOBAL / STACK_GLOBAL pushed it. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly handler: GlobalHandler,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance made by NEWOBJ of an allowed class: its attributes, as BUILD set them. */
export class PyObject {
  readonly attrs = new Map<string, unknown>();
  constructor(
    readonly cls: string,
    readonly args: unknown[],
  ) {}
  get(name: string): unknown {
    return this.attrs.get(name);
  }
}

/** What an allowed global may do. A global without `call` can be referenced but not called. */
export interface GlobalHandler {
  /** REDUCE: the global called with positional arguments. */
  readonly call?: (args: unknown[], where: string) => unknown;
  /** NEWOBJ / NEWOBJ_EX: cls.__new__(cls, *args). Default: a PyObject. */
  readonly construct?: (args: unknown[], where: string) => unknown;
}

/** An object a BUILD may update (NumPy arrays and dtypes rebuilt by handlers). */
export interface Buildable {
  setState(state: unknown, where: string): void;
}

function isBuildable(v: unknown): v is Buildable {
  return typeof v === 'object' && v !== null && typeof (v as Partial<Buildable>).setState === 'function';
}

export interface PickleOptions {
  /** Names the input in error messages (e.g. "policy.pth:archive/data.pkl"). */
  readonly what: string;
  /** Allowed globals by "module.name" (or a lookup function). Everything else is refused. */
  readonly globals: ReadonlyMap<string, GlobalHandler> | ((qualified: string) => GlobalHandler | undefined);
  /** BINPERSID / PERSID handler; without one a persistent id is refused. */
  readonly persistentLoad?: (pid: unknown, where: string) => unknown;
  readonly maxStack?: number;
  readonly maxMemo?: number;
  readonly maxMarks?: number;
}

const MARK = Symbol('mark');

const OPCODE_NAMES: Record<number, string> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

export function refuse(what: string, msg: string): never {
  throw new MotobioError('MODEL_INVALID', `${what}: ${msg}`);
}

/** Runs a pickle with the given allow-list and returns the value STOP leaves. */
export function unpickle(bytes: Uint8Array, options: PickleOptions): unknown {
  const what = options.what;
  const maxStack = options.maxStack ?? 1_000_000;
  const maxMemo = options.maxMemo ?? 1_000_000;
  const maxMarks = options.maxMarks ?? 10_000;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const here = (op: number, at: number) => `${what} at byte ${at} (opcode 0x${op.toString(16).padStart(2, '0')})`;

  const need = (n: number, at: number): void => {
    if (n < 0 || pos + n > bytes.length) refuse(what, `truncated: needs ${n} more byte(s) at byte ${at}, the pickle has ${bytes.length - pos}; the file is cut short or corrupt, re-copy it`);
  };
  const u8 = (at: number) => {
    need(1, at);
    return bytes[pos++];
  };
  const u16 = (at: number) => {
    need(2, at);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (at: number) => {
    need(4, at);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (at: number) => {
    need(8, at);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) refuse(what, `a length of ${v} at byte ${at} is larger than the whole pickle; the file is corrupt`);
    return Number(v);
  };
  const take = (n: number, at: number) => {
    need(n, at);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = (at: number) => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) refuse(what, `truncated: a text argument at byte ${at} has no end of line`);
    const s = Buffer.from(bytes.subarray(pos, end)).toString('latin1');
    pos = end + 1;
    return s;
  };
  const utf8 = (b: Uint8Array) => new TextDecoder('utf-8', { fatal: false }).decode(b);
  const push = (v: unknown) => {
    if (stack.length >= maxStack) refuse(what, `more than ${maxStack} values on the stack; refused as a memory bomb`);
    stack.push(v);
  };
  const pop = (at: number, op: number): unknown => {
    if (stack.length === 0) refuse(what, `stack underflow at ${here(op, at)}; the pickle is corrupt`);
    const v = stack.pop();
    if (v === MARK) refuse(what, `a mark where a value was expected at ${here(op, at)}; the pickle is corrupt`);
    return v;
  };
  const top = (at: number, op: number): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) refuse(what, `stack underflow at ${here(op, at)}; the pickle is corrupt`);
    return stack[stack.length - 1];
  };
  const popMark = (at: number, op: number): unknown[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) refuse(what, `no mark to pop at ${here(op, at)}; the pickle is corrupt`);
    stack = prev;
    return items;
  };
  const memoPut = (i: number, at: number, op: number) => {
    if (memo.size >= maxMemo && !memo.has(i)) refuse(what, `more than ${maxMemo} memo entries; refused as a memory bomb`);
    memo.set(i, top(at, op));
  };
  const memoGet = (i: number, at: number, op: number) => {
    if (!memo.has(i)) refuse(what, `memo entry ${i} read before it was written at ${here(op, at)}; the pickle is corrupt`);
    push(memo.get(i));
  };
  const global = (module: string, name: string, at: number, op: number): PyGlobal => {
    const key = `${module}.${name}`;
    const g = options.globals;
    const handler = typeof g === 'function' ? g(key) : g.get(key);
    if (!handler) {
      const allowed = typeof g === 'function' ? '' : ` (${[...g.keys()].join(', ')})`;
      refuse(what, `refers to the Python global "${key}" (${here(op, at)}), which is not on the allow-list of data types this reader rebuilds${allowed}; a pickle can run code through globals, so the file is refused. If it is a genuine checkpoint, report the global`);
    }
    return new PyGlobal(module, name, handler);
  };
  const setItems = (target: unknown, items: unknown[], at: number, op: number) => {
    if (!(target instanceof PyDict)) refuse(what, `SETITEM on a ${typeName(target)} at ${here(op, at)}; only dicts are supported`);
    if (items.length % 2 !== 0) refuse(what, `odd number of items for SETITEMS at ${here(op, at)}`);
    // Keys: strings and numbers by value; anything else (tuples) by identity, enough for our files.
    for (let i = 0; i < items.length; i += 2) target.map.set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[], at: number, op: number) => {
    if (!Array.isArray(target)) refuse(what, `APPEND on a ${typeName(target)} at ${here(op, at)}; only lists are supported`);
    if (target.length + items.length > maxStack) refuse(what, `a list of more than ${maxStack} items; refused as a memory bomb`);
    for (const x of items) target.push(x);
  };

  for (;;) {
    const at = pos;
    if (pos >= bytes.length) refuse(what, `truncated: ended at byte ${pos} without a STOP opcode; the file is cut short, re-copy it`);
    const op = bytes[pos++];
    switch (op) {
      case 0x80: // PROTO
        if (u8(at) > 5) refuse(what, `pickle protocol ${bytes[pos - 1]} is newer than 5`);
        break;
      case 0x95: // FRAME
        u64(at);
        break;
      case 0x2e: // STOP
        if (marks.length) refuse(what, `STOP inside an open mark at byte ${at}; the pickle is corrupt`);
        return pop(at, op);
      case 0x28: // MARK
        if (marks.length >= maxMarks) refuse(what, `more than ${maxMarks} nested marks; refused`);
        marks.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length === 0) popMark(at, op);
        else stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark(at, op);
        break;
      case 0x32: // DUP
        push(top(at, op));
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x4a: // BININT
        need(4, at);
        push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b:
        push(u8(at));
        break;
      case 0x4d:
        push(u16(at));
        break;
      case 0x8a: // LONG1
      case 0x8b: {
        const n = op === 0x8a ? u8(at) : u32(at);
        if (n > 16) refuse(what, `an integer of ${n} bytes at byte ${at}; only up to 128-bit integers are read`);
        push(littleSigned(take(n, at)));
        break;
      }
      case 0x49: {
        // INT (protocol 0): "I01\n"/"I00\n" are booleans.
        const s = line(at);
        push(s === '01' ? true : s === '00' ? false : parseIntText(s, what, at));
        break;
      }
      case 0x4c: // LONG text
        push(parseIntText(line(at).replace(/L$/, ''), what, at));
        break;
      case 0x46: {
        const v = Number(line(at));
        push(v);
        break;
      }
      case 0x47: // BINFLOAT, big-endian
        need(8, at);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58:
        push(utf8(take(u32(at), at)));
        break;
      case 0x8c:
        push(utf8(take(u8(at), at)));
        break;
      case 0x8d:
        push(utf8(take(u64(at), at)));
        break;
      case 0x54: // BINSTRING: a Python 2 str
        push(Buffer.from(take(u32(at), at)).toString('latin1'));
        break;
      case 0x55:
        push(Buffer.from(take(u8(at), at)).toString('latin1'));
        break;
      case 0x56: // UNICODE text (raw-unicode-escape; ASCII suffices for names)
        push(line(at));
        break;
      case 0x42:
        push(take(u32(at), at).slice());
        break;
      case 0x43:
        push(take(u8(at), at).slice());
        break;
      case 0x8e:
      case 0x96:
        push(take(u64(at), at).slice());
        break;
      case 0x29:
        push(new PyTuple([]));
        break;
      case 0x74:
        push(new PyTuple(popMark(at, op)));
        break;
      case 0x85: {
        const a = pop(at, op);
        push(new PyTuple([a]));
        break;
      }
      case 0x86: {
        const b = pop(at, op);
        const a = pop(at, op);
        push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        const c = pop(at, op);
        const b = pop(at, op);
        const a = pop(at, op);
        push(new PyTuple([a, b, c]));
        break;
      }
      case 0x5d:
        push([]);
        break;
      case 0x6c:
        push(popMark(at, op));
        break;
      case 0x61: {
        const v = pop(at, op);
        appendItems(top(at, op), [v], at, op);
        break;
      }
      case 0x65: {
        const items = popMark(at, op);
        appendItems(top(at, op), items, at, op);
        break;
      }
      case 0x7d:
        push(new PyDict());
        break;
      case 0x64: {
        const d = new PyDict();
        setItems(d, popMark(at, op), at, op);
        push(d);
        break;
      }
      case 0x73: {
        const v = pop(at, op);
        const k = pop(at, op);
        setItems(top(at, op), [k, v], at, op);
        break;
      }
      case 0x75: {
        const items = popMark(at, op);
        setItems(top(at, op), items, at, op);
        break;
      }
      case 0x8f: // EMPTY_SET (as a list: order does not matter to us)
        push([]);
        break;
      case 0x90: {
        const items = popMark(at, op);
        appendItems(top(at, op), items, at, op);
        break;
      }
      case 0x91:
        push(popMark(at, op));
        break;
      case 0x63: {
        const module = line(at);
        const name = line(at);
        push(global(module, name, at, op));
        break;
      }
      case 0x93: {
        const name = pop(at, op);
        const module = pop(at, op);
        if (typeof module !== 'string' || typeof name !== 'string') refuse(what, `STACK_GLOBAL with non-string names at byte ${at}`);
        push(global(module, name, at, op));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop(at, op);
        const fn = pop(at, op);
        if (!(fn instanceof PyGlobal)) refuse(what, `REDUCE calls a ${typeName(fn)}, not an allowed global, at ${here(op, at)}; refused`);
        if (!fn.handler.call) refuse(what, `the pickle calls "${fn.qualified}" (${here(op, at)}), which may be referred to but not called; refused`);
        if (!(args instanceof PyTuple)) refuse(what, `REDUCE arguments for ${fn.qualified} are not a tuple at ${here(op, at)}`);
        push(fn.handler.call(args.items, `${what}: ${fn.qualified}`));
        break;
      }
      case 0x81:
      case 0x92: {
        // NEWOBJ / NEWOBJ_EX
        if (op === 0x92) pop(at, op); // kwargs: none of our classes take any
        const args = pop(at, op);
        const cls = pop(at, op);
        if (!(cls instanceof PyGlobal)) refuse(what, `NEWOBJ on a ${typeName(cls)}, not an allowed class, at ${here(op, at)}`);
        const items = args instanceof PyTuple ? args.items : [];
        push(cls.handler.construct ? cls.handler.construct(items, `${what}: ${cls.qualified}`) : new PyObject(cls.qualified, items));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop(at, op);
        const target = top(at, op);
        build(target, state, `${what}: BUILD at byte ${at}`);
        break;
      }
      case 0x71:
        memoPut(u8(at), at, op);
        break;
      case 0x72:
        memoPut(u32(at), at, op);
        break;
      case 0x70:
        memoPut(parseIntText(line(at), what, at), at, op);
        break;
      case 0x94:
        memoPut(memo.size, at, op);
        break;
      case 0x68:
        memoGet(u8(at), at, op);
        break;
      case 0x6a:
        memoGet(u32(at), at, op);
        break;
      case 0x67:
        memoGet(parseIntText(line(at), what, at), at, op);
        break;
      case 0x51:
      case 0x50: {
        const pid = op === 0x51 ? pop(at, op) : line(at);
        if (!options.persistentLoad) refuse(what, `a persistent id at byte ${at}, which this kind of file does not use; refused`);
        push(options.persistentLoad(pid, `${what} at byte ${at}`));
        break;
      }
      default:
        refuse(what, `opcode 0x${op.toString(16).padStart(2, '0')}${OPCODE_NAMES[op] ? ` (${OPCODE_NAMES[op]})` : ''} at byte ${at} is not one this reader supports (it reads the opcodes PyTorch and NumPy write for data); refused`);
    }
  }
}

function build(target: unknown, state: unknown, where: string): void {
  if (isBuildable(target)) {
    target.setState(state, where);
    return;
  }
  if (target instanceof PyObject) {
    // state is a dict, or (dict, slots) when the class has __slots__.
    const parts = state instanceof PyTuple ? state.items : [state];
    for (const part of parts) {
      if (part instanceof PyDict) for (const [k, v] of part.map) if (typeof k === 'string') target.attrs.set(k, v);
    }
    return;
  }
  if (target instanceof PyDict) {
    target.attrs = state;
    return;
  }
  refuse(where, `sets state on a ${typeName(target)}; refused`);
}

function littleSigned(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseIntText(s: string, what: string, at: number): number {
  if (!/^-?\d+$/.test(s.trim())) refuse(what, `"${s.slice(0, 40)}" at byte ${at} is not an integer`);
  return Number(s.trim());
}

export function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PyObject) return v.cls;
  if (v instanceof PyGlobal) return `global ${v.qualified}`;
  if (Array.isArray(v)) return 'list';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v;
}

/** A global that is only referred to (a storage type, a class passed as an argument). */
export const REFERENCE_ONLY: GlobalHandler = {};

/** A class whose instances are kept as inert attribute bags (gym spaces, RNG state). */
export const INERT_CLASS: GlobalHandler = { call: (args) => new PyObject('inert', args) };
