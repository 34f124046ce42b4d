/**
 * The managers' wire format: MessagePack (`@msgpack/msgpack`), the same bytes on Deno, Bun
 * and Node, with extension types for what plain MessagePack does not carry.
 *
 * Travels as itself: `null`, booleans, numbers, strings, `Uint8Array`, arrays, plain objects,
 * `Date`, `bigint`, `Map`, `Set`, the other typed arrays, errors (as {@linkcode decodeError}
 * rebuilds them), manager proxies (as a reference to the same shared object), and instances of
 * classes registered with `registerClass` (by the class's module and name, and their state).
 * An array of 16 numbers or more travels packed, at the narrowest width that holds them all,
 * and arrives as an array again.
 * `undefined` inside arrays and objects arrives as `null`, as in JSON. Anything else
 * (functions, symbols, instances of other classes) fails with a `TypeError` that names the
 * value, before anything is sent.
 *
 * @module
 */
import { Decoder, Encoder, ExtensionCodec } from "@msgpack/msgpack";
import {
  decodeError,
  describe,
  encodeError,
  importClasses,
  unknownClass,
  type WireError,
} from "./reduction.ts";
import {
  blankInstance,
  classById,
  classOfPrototype,
  fillInstance,
  stateOf,
  unregisteredClass,
} from "./_classes.ts";

const BIGINT = 1;
const MAP = 2;
const SET = 3;
const TYPED = 4;
const ERROR = 5;
const REFERENCE = 6;
// Last: an array of numbers that no extension above took (see packNumbers).
const NUMBERS = 7;
// The codec tries extensions in the order of their types: first, so that an instance of a
// registered class is taken before the others (a Map subclass) and the refusal in REFERENCE.
const INSTANCE = 0;

/** How much one decoded message may hold: checked on its bytes before anything is decoded. */
export interface WireLimits {
  /** The deepest nesting of arrays, objects, Maps, Sets and errors. */
  maxDepth: number;
  /** The most elements of one array, Set or string's bytes, or entries of one object or Map. */
  maxLength: number;
  /**
   * The most memory, in bytes, the decoded value may take, as estimated from its bytes: 16 for
   * each value, 64 more for each container, strings and bytes their length (strings twice).
   */
  maxDecodedSize: number;
}

/** The limits of a manager's connections unless told otherwise. */
export const DEFAULT_WIRE_LIMITS: Readonly<WireLimits> = {
  // The encoder's own depth limit (@msgpack/msgpack's default): what one side can send, the
  // other accepts.
  maxDepth: 100,
  maxLength: 16 * 1024 * 1024,
  maxDecodedSize: 256 * 1024 * 1024,
};

/** A message over the limits of {@linkcode WireLimits}; one that is not MessagePack at all is a plain `RangeError`. */
export class WireLimitError extends RangeError {
  /**
   * Creates an error.
   *
   * @param message What was over which limit.
   */
  constructor(message: string) {
    super(message);
    this.name = "WireLimitError";
  }
}

const VALUE_COST = 16;
const CONTAINER_COST = 64;

/**
 * Walks a message's bytes, without decoding them, and throws if they are not one whole
 * MessagePack value within `limits`. The decoder allocates as it reads: a frame of 32 MB of
 * one-byte empty maps would become some 2.5 GB of objects, and a value nested 100,000 deep
 * could be stored but never sent again. Checked first, neither is ever built.
 *
 * @param bytes The message.
 * @param limits The limits.
 * @throws {WireLimitError} If it is over a limit.
 * @throws {RangeError} If it is truncated, holds a byte no value starts with, or has bytes
 *   after its end.
 */
export function checkWire(bytes: Uint8Array, limits: Readonly<WireLimits>): void {
  // One walker serves every message; a walk inside an extension's bytes, or one started
  // while another runs, gets its own.
  const walker = idleWalker ?? new Walker();
  idleWalker = undefined;
  let end: number;
  try {
    end = walker.walk(bytes, 0, bytes.length, 0, limits, { size: 0 });
  } finally {
    walker.release();
    idleWalker = walker;
  }
  if (end !== bytes.length) {
    throw new RangeError(
      `Cannot decode the message as ${
        bytes.length - end
      } bytes follow its value: it is not one MessagePack value`,
    );
  }
}

function truncated(): RangeError {
  return new RangeError("Cannot decode the message as it is truncated: it ends inside a value");
}

// Our extension types hold MessagePack themselves; the others (a Date) hold plain bytes.
function holdsMessagePack(type: number): boolean {
  return type >= INSTANCE && type <= REFERENCE;
}

let idleWalker: Walker | undefined;

/**
 * Walks the values of a message as one value, and says where it ends. Its state lives in its
 * fields, so that a walk allocates nothing: it runs for every frame a manager reads.
 */
class Walker {
  #bytes: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #end = 0;
  #depth0 = 0;
  #limits: Readonly<WireLimits> = DEFAULT_WIRE_LIMITS;
  #budget: { size: number } = { size: 0 };
  // Values still to read in each open container; bounded by maxDepth.
  readonly #open: number[] = [];
  #pending = 0;

  /** Drops the message it walked last. */
  release(): void {
    this.#bytes = EMPTY;
    this.#open.length = 0;
  }

  /** Walks the values in bytes[start, end) as one value; returns where it ends. */
  walk(
    bytes: Uint8Array,
    start: number,
    end: number,
    depth0: number,
    limits: Readonly<WireLimits>,
    budget: { size: number },
  ): number {
    this.#bytes = bytes;
    this.#pos = start;
    this.#end = end;
    this.#depth0 = depth0;
    this.#limits = limits;
    this.#budget = budget;
    this.#open.length = 0;
    this.#pending = 1;
    const open = this.#open;
    while (this.#pending > 0 || open.length > 0) {
      if (this.#pending === 0) {
        this.#pending = open.pop()!;
        continue;
      }
      this.#pending--;
      this.#need(1);
      const b = bytes[this.#pos++];
      this.#spend(VALUE_COST);
      if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue;
      if (b <= 0x8f) this.#container((b & 0x0f) * 2, "an object", b & 0x0f);
      else if (b <= 0x9f) this.#container(b & 0x0f, "an array", b & 0x0f);
      else if (b <= 0xbf) {
        this.#length(b & 0x1f, "a string");
        this.#skip(b & 0x1f);
      } else {
        switch (b) {
          case 0xc4:
          case 0xd9:
            this.#blob(this.#uint(1), b === 0xd9);
            break;
          case 0xc5:
          case 0xda:
            this.#blob(this.#uint(2), b === 0xda);
            break;
          case 0xc6:
          case 0xdb:
            this.#blob(this.#uint(4), b === 0xdb);
            break;
          case 0xc7:
            this.#ext(this.#uint(1));
            break;
          case 0xc8:
            this.#ext(this.#uint(2));
            break;
          case 0xc9:
            this.#ext(this.#uint(4));
            break;
          case 0xcc:
          case 0xd0:
            this.#skip(1);
            break;
          case 0xcd:
          case 0xd1:
            this.#skip(2);
            break;
          case 0xca:
          case 0xce:
          case 0xd2:
            this.#skip(4);
            break;
          case 0xcb:
          case 0xcf:
          case 0xd3:
            this.#skip(8);
            break;
          case 0xd4:
            this.#ext(1);
            break;
          case 0xd5:
            this.#ext(2);
            break;
          case 0xd6:
            this.#ext(4);
            break;
          case 0xd7:
            this.#ext(8);
            break;
          case 0xd8:
            this.#ext(16);
            break;
          case 0xdc: {
            const n = this.#uint(2);
            this.#container(n, "an array", n);
            break;
          }
          case 0xdd: {
            const n = this.#uint(4);
            this.#container(n, "an array", n);
            break;
          }
          case 0xde: {
            const n = this.#uint(2);
            this.#container(n * 2, "an object", n);
            break;
          }
          case 0xdf: {
            const n = this.#uint(4);
            this.#container(n * 2, "an object", n);
            break;
          }
          default:
            throw new RangeError(
              `Cannot decode the message as it holds the byte 0x${
                b.toString(16)
              }, which starts no MessagePack value`,
            );
        }
      }
    }
    return this.#pos;
  }

  #need(n: number): void {
    if (this.#pos + n > this.#end) throw truncated();
  }

  // Reads a big-endian unsigned integer of `n` bytes (1, 2 or 4).
  #uint(n: number): number {
    this.#need(n);
    const bytes = this.#bytes;
    let pos = this.#pos;
    let value = 0;
    for (let i = 0; i < n; i++) value = value * 256 + bytes[pos++];
    this.#pos = pos;
    return value;
  }

  #spend(n: number): void {
    const budget = this.#budget;
    budget.size += n;
    if (budget.size > this.#limits.maxDecodedSize) {
      throw new WireLimitError(
        `Cannot decode the message as it would take more than ${this.#limits.maxDecodedSize} bytes of memory: raise 'maxDecodedSize' if it is meant to`,
      );
    }
  }

  #length(n: number, what: string): void {
    if (n > this.#limits.maxLength) {
      throw new WireLimitError(
        `Cannot decode the message as it holds ${what} of length ${n} and the limit is ${this.#limits.maxLength}: raise 'maxLength' if it is meant to`,
      );
    }
  }

  #container(n: number, what: string, entries: number): void {
    this.#length(entries, what);
    this.#spend(CONTAINER_COST);
    // Each of its values takes a byte at least: a count past the end is a lie.
    if (this.#pos + n > this.#end) throw truncated();
    if (n === 0) return;
    const depth = this.#depth0 + this.#open.length + 1;
    if (depth > this.#limits.maxDepth) {
      throw new WireLimitError(
        `Cannot decode the message as it nests deeper than ${this.#limits.maxDepth} levels: raise 'maxDepth' if it is meant to`,
      );
    }
    this.#open.push(this.#pending);
    this.#pending = n;
  }

  // A string (`text`) or bytes value of `n` bytes.
  #blob(n: number, text: boolean): void {
    this.#length(n, text ? "a string" : "bytes");
    this.#spend(text ? 2 * n : n);
    this.#skip(n);
  }

  #skip(n: number): void {
    this.#need(n);
    this.#pos += n;
  }

  #ext(n: number): void {
    this.#need(1 + n);
    const type = (this.#bytes[this.#pos] << 24) >> 24;
    this.#pos += 1;
    if (type === NUMBERS) {
      const count = packedCount(this.#bytes, this.#pos, n);
      this.#length(count, "an array");
      this.#spend(CONTAINER_COST + VALUE_COST * count);
    } else if (holdsMessagePack(type)) {
      const depth = this.#depth0 + this.#open.length + 1;
      if (depth > this.#limits.maxDepth) {
        throw new WireLimitError(
          `Cannot decode the message as it nests deeper than ${this.#limits.maxDepth} levels: raise 'maxDepth' if it is meant to`,
        );
      }
      const pos = this.#pos;
      const inner = new Walker().walk(this.#bytes, pos, pos + n, depth, this.#limits, this.#budget);
      if (inner !== pos + n) throw truncated();
    }
    this.#spend(n);
    this.#pos += n;
  }
}

const EMPTY = new Uint8Array(0);

/** Arrays this long or longer travel packed, when they hold only numbers. */
const PACK_AT = 16;

/**
 * An array of numbers, packed: a width byte (1, 2 or 4 for integers that fit `Int8Array`,
 * `Int16Array` or `Int32Array`, 8 for any other numbers, as `Float64Array`), then the numbers
 * at that width, in the platform's byte order (little-endian on every runtime we support).
 * MessagePack spends a type byte and a branch of the encoder on each number; this writes and
 * reads them in one loop, and keeps `-0`, which MessagePack turns into `0`.
 */
function packNumbers(value: unknown): Uint8Array | null {
  if (!Array.isArray(value) || value.length < PACK_AT) return null;
  if (Object.getPrototypeOf(value) !== Array.prototype) return null;
  const n = value.length;
  let lo = 0;
  let hi = 0;
  let ints = true;
  for (let i = 0; i < n; i++) {
    const x = value[i];
    if (typeof x !== "number") return null;
    if (ints) {
      if ((x | 0) !== x || (x === 0 && 1 / x < 0)) ints = false;
      else if (x < lo) lo = x;
      else if (x > hi) hi = x;
    }
  }
  const width = !ints ? 8 : lo >= -0x80 && hi < 0x80 ? 1 : lo >= -0x8000 && hi < 0x8000 ? 2 : 4;
  // The numbers start `width` bytes in, where their array type can start; the width byte
  // just before them opens the extension's data.
  const buffer = new ArrayBuffer(width + n * width);
  const numbers = numbersAt(width, buffer, width, n);
  for (let i = 0; i < n; i++) numbers[i] = value[i];
  const data = new Uint8Array(buffer, width - 1);
  data[0] = width;
  return data;
}

/** `count` numbers of `width` bytes in `buffer` from `offset`, as their array type. */
function numbersAt(
  width: number,
  buffer: ArrayBuffer,
  offset: number,
  count: number,
): Float64Array | Int32Array | Int16Array | Int8Array {
  return width === 8
    ? new Float64Array(buffer, offset, count)
    : width === 4
    ? new Int32Array(buffer, offset, count)
    : width === 2
    ? new Int16Array(buffer, offset, count)
    : new Int8Array(buffer, offset, count);
}

/** How many numbers packed data of `n` bytes at `pos` holds; throws if it is not packed data. */
function packedCount(bytes: Uint8Array, pos: number, n: number): number {
  const width = n > 0 ? bytes[pos] : 0;
  if ((width !== 1 && width !== 2 && width !== 4 && width !== 8) || (n - 1) % width !== 0) {
    throw new RangeError(
      "Cannot decode the message as it holds a packed array of numbers whose width byte or length is wrong",
    );
  }
  return (n - 1) / width;
}

function unpackNumbers(data: Uint8Array): number[] {
  const count = packedCount(data, 0, data.length);
  const width = data[0];
  // A copy: the numbers may sit at an offset their array type cannot start at.
  const numbers = numbersAt(width, data.slice(1).buffer, 0, count);
  // Made at its length and filled: about three times as fast as growing it on Node.
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = numbers[i];
  return out;
}

/**
 * How an object that stands for another travels (a manager proxy): `toWire()` gives the
 * record, and the codec's owner turns the record back into an object on the other side.
 */
export interface WireReference {
  /** The record that stands for this object on the wire. */
  toWire(): unknown;
}

function isReference(value: object): value is WireReference {
  return typeof (value as { toWire?: unknown }).toWire === "function";
}

const TYPED_ARRAYS: Record<string, new (buffer: ArrayBuffer) => ArrayBufferView> = {
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

/** The record without its `undefined` fields, which MessagePack would turn into `null`. */
function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (typeof value !== "object" || value === null || !plainPrototype(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = withoutUndefined(v);
  return out;
}

function plainPrototype(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * An instance of a registered class that this thread does not know (its module is not
 * imported here): a manager's server keeps it as it is and sends it on unchanged, and a
 * client imports the module and rebuilds it ({@linkcode WireCodec.resolve}).
 */
class PendingInstance {
  readonly id: string;
  readonly state: unknown;
  constructor(id: string, state: unknown) {
    this.id = id;
    this.state = state;
  }
}

// ---- The common messages, by hand --------------------------------------------------------
//
// A call's request ([callId, id, method, args]) and its reply ([callId, kind, value]) are most
// often a short array of numbers and ASCII strings. @msgpack/msgpack asks each extension above
// about every array it encodes, and its decoder makes a DataView for every message; with the
// limits walked first (checkWire), encoding and decoding a request and its reply cost
// 1.1-1.6 µs, and 0.3 µs here (measured on all three runtimes). Such messages are written and
// read here instead: the same MessagePack bytes (what the encoder below writes for them), or
// `FAST_MISS` as soon as a value is anything else, which then takes the full path.

/** The deepest array of the fast path; the limits of a codec that uses it are at least this. */
const FAST_DEPTH = 4;
/** The most bytes of a message, or of one string in it, on the fast path. */
const FAST_BYTES = 1024;
const FAST_MISS = -1;

// Room for the longest value that starts within FAST_BYTES (a float: 9 bytes).
const fastOut = new Uint8Array(FAST_BYTES + 16);
const fastView = new DataView(fastOut.buffer);

// Writes `value` at `at` of the fast buffer; returns where it ends, or FAST_MISS.
function fastWrite(value: unknown, at: number, depth: number): number {
  if (at > FAST_BYTES) return FAST_MISS;
  const out = fastOut;
  switch (typeof value) {
    case "number":
      // As the encoder writes them: integers in the fewest bytes (-0 as 0), others as float 64.
      if (Number.isSafeInteger(value)) {
        if (value >= 0) {
          if (value < 0x80) {
            out[at] = value;
            return at + 1;
          }
          if (value < 0x100) {
            out[at] = 0xcc;
            out[at + 1] = value;
            return at + 2;
          }
          if (value < 0x10000) {
            out[at] = 0xcd;
            fastView.setUint16(at + 1, value);
            return at + 3;
          }
          if (value < 0x100000000) {
            out[at] = 0xce;
            fastView.setUint32(at + 1, value);
            return at + 5;
          }
          return FAST_MISS;
        }
        if (value >= -0x20) {
          out[at] = 0xe0 | (value + 0x20);
          return at + 1;
        }
        if (value >= -0x80) {
          out[at] = 0xd0;
          fastView.setInt8(at + 1, value);
          return at + 2;
        }
        if (value >= -0x8000) {
          out[at] = 0xd1;
          fastView.setInt16(at + 1, value);
          return at + 3;
        }
        if (value >= -0x80000000) {
          out[at] = 0xd2;
          fastView.setInt32(at + 1, value);
          return at + 5;
        }
        return FAST_MISS;
      }
      out[at] = 0xcb;
      fastView.setFloat64(at + 1, value);
      return at + 9;
    case "string": {
      const n = value.length;
      if (n > 0xff || at + n > FAST_BYTES) return FAST_MISS;
      let p = n < 32 ? at + 1 : at + 2;
      for (let i = 0; i < n; i++) {
        const c = value.charCodeAt(i);
        // Other characters: the encoder's UTF-8, lone surrogates included.
        if (c > 0x7f) return FAST_MISS;
        out[p++] = c;
      }
      if (n < 32) out[at] = 0xa0 | n;
      else {
        out[at] = 0xd9;
        out[at + 1] = n;
      }
      return p;
    }
    case "boolean":
      out[at] = value ? 0xc3 : 0xc2;
      return at + 1;
    case "undefined":
      out[at] = 0xc0;
      return at + 1;
    case "object": {
      if (value === null) {
        out[at] = 0xc0;
        return at + 1;
      }
      // Short plain arrays only: a longer one of numbers travels packed, and any other
      // object may be taken by an extension.
      if (!Array.isArray(value) || depth === FAST_DEPTH) return FAST_MISS;
      const n = value.length;
      if (n >= 16 || Object.getPrototypeOf(value) !== Array.prototype) return FAST_MISS;
      out[at] = 0x90 | n;
      let p = at + 1;
      for (let i = 0; i < n; i++) {
        p = fastWrite(value[i], p, depth + 1);
        if (p === FAST_MISS) return FAST_MISS;
      }
      return p;
    }
    default:
      return FAST_MISS;
  }
}

let fastIn: Uint8Array = EMPTY;
let fastAt = 0;
/** What {@linkcode fastDecode} returns for a message the fast path does not read. */
export const fastMiss: unique symbol = Symbol("fast miss");
// A float's 8 bytes, turned around: MessagePack is big-endian, the platforms we run on little.
const floatBytes = new Uint8Array(8);
const floatValue = new Float64Array(floatBytes.buffer);

// Reads the value at fastAt; fastMiss for anything fastWrite does not write (or more).
function fastRead(depth: number): unknown {
  const bytes = fastIn;
  const at = fastAt;
  if (at >= bytes.length) return fastMiss;
  const b = bytes[at];
  fastAt = at + 1;
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b >= 0xa0 && b <= 0xbf) return fastString(b & 0x1f);
  if (b >= 0x90 && b <= 0x9f) {
    if (depth === FAST_DEPTH) return fastMiss;
    const n = b & 0x0f;
    const array = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = fastRead(depth + 1);
      if (v === fastMiss) return fastMiss;
      array[i] = v;
    }
    return array;
  }
  const size = b === 0xcc || b === 0xd0 || b === 0xd9
    ? 1
    : b === 0xcd || b === 0xd1
    ? 2
    : b === 0xce || b === 0xd2
    ? 4
    : b === 0xcb
    ? 8
    : 0;
  if (at + 1 + size > bytes.length) return fastMiss;
  fastAt = at + 1 + size;
  const x = at + 1;
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xcc:
      return bytes[x];
    case 0xcd:
      return (bytes[x] << 8) | bytes[x + 1];
    case 0xce:
      return ((bytes[x] << 24) >>> 0) + ((bytes[x + 1] << 16) | (bytes[x + 2] << 8) | bytes[x + 3]);
    case 0xd0:
      return (bytes[x] << 24) >> 24;
    case 0xd1:
      return (((bytes[x] << 8) | bytes[x + 1]) << 16) >> 16;
    case 0xd2:
      return (bytes[x] << 24) | (bytes[x + 1] << 16) | (bytes[x + 2] << 8) | bytes[x + 3];
    case 0xcb:
      for (let i = 0; i < 8; i++) floatBytes[7 - i] = bytes[x + i];
      return floatValue[0];
    case 0xd9:
      return fastString(bytes[x]);
    default:
      return fastMiss;
  }
}

function fastString(n: number): string | typeof fastMiss {
  const bytes = fastIn;
  const start = fastAt;
  const end = start + n;
  if (end > bytes.length) return fastMiss;
  let s = "";
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c > 0x7f) return fastMiss;
    s += String.fromCharCode(c);
  }
  fastAt = end;
  return s;
}

// Whether a fast read or write runs: a getter of an array's element that encodes or decodes
// (as unlikely as it is) takes the full path, which is reentrant.
let fastBusy = false;

/**
 * The value of `bytes` if it is a message the fast path writes, whole; `fastMiss` otherwise
 * (the full path then reads it, and says what is wrong with it, if anything). Exported for
 * the tests.
 */
export function fastDecode(bytes: Uint8Array): unknown {
  // Arrays only: a message is one, and a bare value is left to the full path.
  if (fastBusy || bytes.length > FAST_BYTES || !(bytes[0] >= 0x90 && bytes[0] <= 0x9f)) {
    return fastMiss;
  }
  fastBusy = true;
  fastIn = bytes;
  fastAt = 0;
  const value = fastRead(1);
  const whole = fastAt === bytes.length;
  fastIn = EMPTY;
  fastBusy = false;
  return whole ? value : fastMiss;
}

/**
 * The bytes of `value` if the fast path writes it (valid until its next write); else
 * `undefined`. Exported for the tests.
 */
export function fastEncode(value: unknown): Uint8Array | undefined {
  if (fastBusy) return undefined;
  fastBusy = true;
  const end = fastWrite(value, 0, 1);
  fastBusy = false;
  return end === FAST_MISS ? undefined : fastOut.subarray(0, end);
}

/** Encodes and decodes values for one side of a manager connection. */
export class WireCodec {
  readonly #codec = new ExtensionCodec();
  // One of each per codec: making them per call (what encode() and decode() do) cost about
  // a tenth of a manager call. Both are reentrant, as the extensions below need.
  readonly #encoder: Encoder;
  readonly #decoder = new Decoder({ extensionCodec: this.#codec });
  readonly #limits: Readonly<WireLimits>;
  // Whether the limits leave room for every message of the fast path.
  readonly #fast: boolean;
  // Instances of classes this thread does not know, in the value last decoded.
  #pending = 0;

  /**
   * Creates a codec.
   *
   * @param revive Turns a reference record back into its object on this side.
   * @param referenceOf The record an object of this side travels as, if it stands for a
   *   shared object without being a {@linkcode WireReference} (a manager's object that arrived
   *   as a proxy travels back as one); `undefined` for any other object.
   * @param limits What a message this side decodes may hold.
   */
  constructor(
    revive: (record: unknown) => unknown,
    referenceOf: (value: object) => unknown = () => undefined,
    limits: Readonly<WireLimits> = DEFAULT_WIRE_LIMITS,
  ) {
    this.#limits = limits;
    this.#fast = limits.maxDepth >= FAST_DEPTH && limits.maxLength >= 0xff &&
      limits.maxDecodedSize >= FAST_BYTES * (VALUE_COST + CONTAINER_COST);
    this.#encoder = new Encoder({ extensionCodec: this.#codec, maxDepth: limits.maxDepth });
    const codec = this.#codec;
    const inner = (value: unknown) => this.#encoder.encode(value);
    const outer = (bytes: Uint8Array) => this.#decoder.decode(bytes);
    codec.register({
      type: INSTANCE,
      encode: (v) => {
        if (typeof v !== "object" || v === null) return null;
        const entry = classOfPrototype(Object.getPrototypeOf(v));
        if (entry !== undefined && !(v instanceof Error)) {
          return inner([entry.id, stateOf(entry, v)]);
        }
        return v instanceof PendingInstance ? inner([v.id, v.state]) : null;
      },
      decode: (data) => {
        const [id, state] = outer(data) as [string, unknown];
        const entry = classById(id);
        if (entry !== undefined) return fillInstance(entry, blankInstance(entry), state);
        this.#pending++;
        return new PendingInstance(id, state);
      },
    });
    codec.register({
      type: BIGINT,
      encode: (v) => typeof v === "bigint" ? inner(v.toString()) : null,
      decode: (data) => BigInt(outer(data) as string),
    });
    codec.register({
      type: MAP,
      encode: (v) => v instanceof Map ? inner([...v]) : null,
      decode: (data) => new Map(outer(data) as [unknown, unknown][]),
    });
    codec.register({
      type: SET,
      encode: (v) => v instanceof Set ? inner([...v]) : null,
      decode: (data) => new Set(outer(data) as unknown[]),
    });
    codec.register({
      type: TYPED,
      encode: (v) => {
        if (!ArrayBuffer.isView(v) || v instanceof Uint8Array || v instanceof DataView) return null;
        const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
        return inner([v.constructor.name, bytes]);
      },
      decode: (data) => {
        const [kind, bytes] = outer(data) as [string, Uint8Array];
        const C = Object.hasOwn(TYPED_ARRAYS, kind) ? TYPED_ARRAYS[kind] : undefined;
        if (C === undefined) throw new TypeError(`Cannot decode a typed array of kind ${kind}`);
        // A copy of exactly these bytes: they may sit at an offset the array type cannot start
        // at, inside a larger buffer.
        return new C(new Uint8Array(bytes).buffer);
      },
    });
    codec.register({
      type: ERROR,
      encode: (v) => v instanceof Error ? inner(withoutUndefined(encodeError(v))) : null,
      decode: (data) => decodeError(outer(data) as WireError),
    });
    codec.register({
      type: REFERENCE,
      encode: (v) => {
        if (typeof v === "object" && v !== null) {
          if (isReference(v)) return inner(v.toWire());
          const record = referenceOf(v);
          if (record !== undefined) return inner(record);
        }
        // The last extension sees every value the others did not take: refuse what
        // MessagePack would silently turn into something else.
        if (
          typeof v === "function" || typeof v === "symbol" ||
          (typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) &&
            !(v instanceof Date) && !plainPrototype(v))
        ) {
          const unregistered = typeof v === "object" && unregisteredClass(v) !== undefined;
          throw new TypeError(
            `Cannot send ${
              describe(v)
            } to a manager as only data travels there: null, booleans, numbers, bigints, strings, dates, arrays, plain objects, Maps, Sets, typed arrays, errors, proxies and instances of classes registered with registerClass()${
              unregistered
                ? `. Register the class in the module that defines it, with registerClass(${
                  (v as object).constructor.name
                }, import.meta.url)`
                : ""
            }`,
          );
        }
        return null;
      },
      decode: (data) => revive(outer(data)),
    });
    codec.register({ type: NUMBERS, encode: packNumbers, decode: unpackNumbers });
  }

  /**
   * Encodes a value.
   *
   * @param value The value to send.
   * @returns Its bytes.
   * @throws {TypeError} If the value, or something in it, cannot travel.
   */
  encode(value: unknown): Uint8Array {
    const fast = this.#fast ? fastEncode(value) : undefined;
    if (fast !== undefined) return fast.slice();
    try {
      return this.#encoder.encode(value);
    } catch (error) {
      throw this.#tooDeep(error);
    }
  }

  // @msgpack/msgpack says "Too deep objects in depth 101", as a plain Error.
  #tooDeep(error: unknown): unknown {
    if (!(error instanceof Error) || !error.message.startsWith("Too deep objects")) return error;
    return new WireLimitError(
      `Cannot send the value as it nests deeper than ${this.#limits.maxDepth} levels: a manager refuses deeper values (its option 'maxDepth')`,
    );
  }

  /**
   * Encodes a value into the encoder's own buffer: the bytes are valid until the next call,
   * for a caller that copies them at once (a socket write).
   *
   * @param value The value to send.
   * @returns A view of its bytes.
   * @throws {TypeError} If the value, or something in it, cannot travel.
   */
  encodeView(value: unknown): Uint8Array {
    const fast = this.#fast ? fastEncode(value) : undefined;
    if (fast !== undefined) return fast;
    try {
      return this.#encoder.encodeSharedRef(value);
    } catch (error) {
      throw this.#tooDeep(error);
    }
  }

  /**
   * Decodes a value.
   *
   * @param bytes What {@linkcode WireCodec.encode} produced on the other side.
   * @param lent Whether `bytes` are good only until the caller returns (a buffer reused):
   *   the values then keep no view of them.
   * @returns The value.
   * @throws {WireLimitError} If the bytes are over this codec's limits.
   * @throws {RangeError} If they are not one MessagePack value.
   */
  decode(bytes: Uint8Array, lent = false): unknown {
    this.#pending = 0;
    if (this.#fast) {
      const value = fastDecode(bytes);
      if (value !== fastMiss) return value;
    }
    checkWire(bytes, this.#limits);
    // A plain Uint8Array view: binary values are views of the input, and a Buffer's would be
    // Buffers, which compare unequal to the Uint8Array that was sent. Lent bytes are copied
    // first, as the values would keep views of them (the fast path above makes none).
    const plain = lent
      ? bytes.slice()
      : bytes.constructor === Uint8Array
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return this.#decoder.decode(plain);
  }

  /**
   * Whether the value last decoded holds instances of registered classes this thread does
   * not know yet: {@linkcode WireCodec.resolve} imports their modules and rebuilds them.
   */
  get unresolved(): boolean {
    return this.#pending > 0;
  }

  /**
   * Imports the modules of the classes this thread does not know in a decoded value, and
   * returns the value with those instances rebuilt (in place where it can).
   *
   * @param value What {@linkcode WireCodec.decode} returned.
   * @returns The value, its instances rebuilt.
   * @throws {TypeError} If a class's module cannot be imported, or does not register it.
   */
  async resolve(value: unknown): Promise<unknown> {
    const ids = new Set<string>();
    collectPending(value, ids, new Set());
    await importClasses(ids);
    return rebuildPending(value, new Set());
  }
}

function collectPending(value: unknown, ids: Set<string>, seen: Set<object>): void {
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  seen.add(value);
  if (value instanceof PendingInstance) {
    ids.add(value.id);
    collectPending(value.state, ids, seen);
  } else if (value instanceof Map) {
    for (const [k, v] of value) (collectPending(k, ids, seen), collectPending(v, ids, seen));
  } else if (Array.isArray(value) || value instanceof Set) {
    for (const v of value) collectPending(v, ids, seen);
  } else if (plainPrototype(value) || classOfPrototype(Object.getPrototypeOf(value))) {
    for (const v of Object.values(value)) collectPending(v, ids, seen);
  }
}

function rebuildPending(value: unknown, seen: Set<object>): unknown {
  if (typeof value !== "object" || value === null || seen.has(value)) return value;
  seen.add(value);
  if (value instanceof PendingInstance) {
    const entry = classById(value.id);
    if (entry === undefined) throw unknownClass(value.id);
    return fillInstance(entry, blankInstance(entry), rebuildPending(value.state, seen));
  }
  if (value instanceof Map) {
    const entries = [...value].map(([k, v]) => [rebuildPending(k, seen), rebuildPending(v, seen)]);
    value.clear();
    for (const [k, v] of entries) value.set(k, v);
  } else if (value instanceof Set) {
    const items = [...value].map((v) => rebuildPending(v, seen));
    value.clear();
    for (const v of items) value.add(v);
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = rebuildPending(value[i], seen);
  } else if (plainPrototype(value) || classOfPrototype(Object.getPrototypeOf(value))) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = rebuildPending(record[key], seen);
  }
  return value;
}
