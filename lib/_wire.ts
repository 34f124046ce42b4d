/**
 * The managers' wire format: MessagePack (`@msgpack/msgpack`), the same bytes on Deno, Bun
 * and Node, with extension types for what plain MessagePack does not carry.
 *
 * Travels as itself: `null`, booleans, numbers, strings, `Uint8Array`, arrays, plain objects,
 * `Date`, `bigint`, `Map`, `Set`, the other typed arrays, errors (as {@linkcode decodeError}
 * rebuilds them), and manager proxies (as a reference to the same shared object). `undefined`
 * inside arrays and objects arrives as `null`, as in JSON. Anything else (functions, symbols,
 * class instances) fails with a `TypeError` that names the value, before anything is sent.
 *
 * @module
 */
import { Decoder, Encoder, ExtensionCodec } from "@msgpack/msgpack";
import { decodeError, describe, encodeError, type WireError } from "./reduction.ts";

const BIGINT = 1;
const MAP = 2;
const SET = 3;
const TYPED = 4;
const ERROR = 5;
const REFERENCE = 6;

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

/** Encodes and decodes values for one side of a manager connection. */
export class WireCodec {
  readonly #codec = new ExtensionCodec();
  // One of each per codec: making them per call (what encode() and decode() do) cost about
  // a tenth of a manager call. Both are reentrant, as the extensions below need.
  readonly #encoder = new Encoder({ extensionCodec: this.#codec });
  readonly #decoder = new Decoder({ extensionCodec: this.#codec });

  /**
   * Creates a codec.
   *
   * @param revive Turns a reference record back into its object on this side.
   * @param referenceOf The record an object of this side travels as, if it stands for a
   *   shared object without being a {@linkcode WireReference} (a manager's object that arrived
   *   as a proxy travels back as one); `undefined` for any other object.
   */
  constructor(
    revive: (record: unknown) => unknown,
    referenceOf: (value: object) => unknown = () => undefined,
  ) {
    const codec = this.#codec;
    const inner = (value: unknown) => this.#encoder.encode(value);
    const outer = (bytes: Uint8Array) => this.#decoder.decode(bytes);
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
          throw new TypeError(
            `Cannot send ${
              describe(v)
            } to a manager as only data travels there: null, booleans, numbers, bigints, strings, dates, arrays, plain objects, Maps, Sets, typed arrays, errors and proxies`,
          );
        }
        return null;
      },
      decode: (data) => revive(outer(data)),
    });
  }

  /**
   * Encodes a value.
   *
   * @param value The value to send.
   * @returns Its bytes.
   * @throws {TypeError} If the value, or something in it, cannot travel.
   */
  encode(value: unknown): Uint8Array {
    return this.#encoder.encode(value);
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
    return this.#encoder.encodeSharedRef(value);
  }

  /**
   * Decodes a value.
   *
   * @param bytes What {@linkcode WireCodec.encode} produced on the other side.
   * @returns The value.
   */
  decode(bytes: Uint8Array): unknown {
    // A plain Uint8Array view: binary values are views of the input, and a Buffer's would be
    // Buffers, which compare unequal to the Uint8Array that was sent.
    const plain = bytes.constructor === Uint8Array
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return this.#decoder.decode(plain);
  }
}
