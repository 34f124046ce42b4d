/**
 * Shared memory (CPython's `multiprocessing.sharedctypes`): {@linkcode Value},
 * {@linkcode RawValue}, {@linkcode Array} and {@linkcode RawArray} hold numbers in a
 * `SharedArrayBuffer`, so that every worker they are passed to reads and writes the same
 * memory. Typecodes are those of Python's `array` module:
 *
 * | typecode | C type | storage | holds |
 * |---|---|---|---|
 * | `b` / `B` | `signed char` / `unsigned char` | `Int8Array` / `Uint8Array` | `number` |
 * | `h` / `H` | `short` / `unsigned short` | `Int16Array` / `Uint16Array` | `number` |
 * | `i` / `I` | `int` / `unsigned int` | `Int32Array` / `Uint32Array` | `number` |
 * | `l` / `L` | `long` / `unsigned long` | `Int32Array` / `Uint32Array` | `number` |
 * | `q` / `Q` | `long long` / `unsigned long long` | `BigInt64Array` / `BigUint64Array` | `bigint` |
 * | `f` / `d` | `float` / `double` | `Float32Array` / `Float64Array` | `number` |
 *
 * C's `long` is taken as 32 bits (as on Windows), so that `l` and `L` hold a `number` like
 * every other integer typecode; use `q` or `Q` for 64 bits. Stored values wrap and round as
 * their typed array does (`Value("b", 200).value` is `-56`), as C's do in Python.
 *
 * `Value()` and `Array()` come with a lock, an {@linkcode RLock} unless you pass your own,
 * which {@linkcode SynchronizedValue.getLock} returns. Each single read or write of `.value`
 * or of an element is one access to shared memory and needs no lock, but `v.value += 1` is a
 * read and then a write, and two workers doing it at once lose updates: hold the lock around
 * it. `RawValue()` and `RawArray()` (and `{ lock: false }`) come without a lock.
 *
 * @example Usage
 * ```ts
 * import * as mp from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const counter = mp.Value("i", 0);
 * const data = mp.Array("d", [1.5, 2.5]);
 * await using pool = new mp.Pool(2);
 * await pool.starmap(
 *   async (v: typeof counter, a: typeof data, i: number) => {
 *     a[i] *= 2; // each task writes its own element: no lock needed
 *     const lock = v.getLock();
 *     await lock.acquire();
 *     try {
 *       v.value += 1; // a read and a write: only safe under the lock
 *     } finally {
 *       lock.release();
 *     }
 *   },
 *   [[counter, data, 0], [counter, data, 1]],
 * );
 * assert.equal(counter.value, 2);
 * assert.deepEqual([...data], [3, 5]);
 * ```
 *
 * @module
 */
import { describe, reduce, registerShared, sharedObjectCreated } from "./reduction.ts";
import { type AcquireOptions, RLock } from "./synchronize.ts";

// ---- Typecodes ------------------------------------------------------------------------------

/**
 * A typecode of Python's `array` module: what a shared value or array holds. `q` and `Q` hold
 * `bigint`, the others `number`.
 */
export type Typecode = "b" | "B" | "h" | "H" | "i" | "I" | "l" | "L" | "q" | "Q" | "f" | "d";

/** The typecodes whose values are `bigint`s: 64-bit integers. */
export type BigIntTypecode = "q" | "Q";

/**
 * What a shared value or array element of typecode `T` holds: `bigint` for `q` and `Q`,
 * `number` for the others.
 *
 * @typeParam T The typecode.
 */
export type ElementType<T extends Typecode> = T extends BigIntTypecode ? bigint : number;

/** The typed array that stores each typecode, over a `SharedArrayBuffer`. */
export interface SharedTypedArrays {
  /** `signed char`. */
  b: Int8Array<SharedArrayBuffer>;
  /** `unsigned char`. */
  B: Uint8Array<SharedArrayBuffer>;
  /** `short`. */
  h: Int16Array<SharedArrayBuffer>;
  /** `unsigned short`. */
  H: Uint16Array<SharedArrayBuffer>;
  /** `int`. */
  i: Int32Array<SharedArrayBuffer>;
  /** `unsigned int`. */
  I: Uint32Array<SharedArrayBuffer>;
  /** `long`, taken as 32 bits. */
  l: Int32Array<SharedArrayBuffer>;
  /** `unsigned long`, taken as 32 bits. */
  L: Uint32Array<SharedArrayBuffer>;
  /** `long long`. */
  q: BigInt64Array<SharedArrayBuffer>;
  /** `unsigned long long`. */
  Q: BigUint64Array<SharedArrayBuffer>;
  /** `float`. */
  f: Float32Array<SharedArrayBuffer>;
  /** `double`. */
  d: Float64Array<SharedArrayBuffer>;
}

/**
 * The typed array over a `SharedArrayBuffer` that {@linkcode RawArray} returns for typecode
 * `T`, for example `Int32Array<SharedArrayBuffer>` for `"i"`.
 *
 * @typeParam T The typecode.
 */
export type SharedTypedArray<T extends Typecode> = SharedTypedArrays[T];

type AnyTypedArray =
  | Int8Array<SharedArrayBuffer>
  | Uint8Array<SharedArrayBuffer>
  | Int16Array<SharedArrayBuffer>
  | Uint16Array<SharedArrayBuffer>
  | Int32Array<SharedArrayBuffer>
  | Uint32Array<SharedArrayBuffer>
  | BigInt64Array<SharedArrayBuffer>
  | BigUint64Array<SharedArrayBuffer>
  | Float32Array<SharedArrayBuffer>
  | Float64Array<SharedArrayBuffer>;

type TypedArrayConstructor = new (
  buffer: SharedArrayBuffer,
  byteOffset?: number,
  length?: number,
) => AnyTypedArray;

interface Storage {
  readonly ctor: TypedArrayConstructor & { readonly BYTES_PER_ELEMENT: number };
  /** What its elements are: `typeof` of a value it stores. */
  readonly type: "number" | "bigint";
  // Atomics work on integer arrays only: JavaScript has no atomic float access.
  readonly atomic: boolean;
}

const STORAGE: Readonly<Record<Typecode, Storage>> = {
  b: { ctor: Int8Array, type: "number", atomic: true },
  B: { ctor: Uint8Array, type: "number", atomic: true },
  h: { ctor: Int16Array, type: "number", atomic: true },
  H: { ctor: Uint16Array, type: "number", atomic: true },
  i: { ctor: Int32Array, type: "number", atomic: true },
  I: { ctor: Uint32Array, type: "number", atomic: true },
  l: { ctor: Int32Array, type: "number", atomic: true },
  L: { ctor: Uint32Array, type: "number", atomic: true },
  q: { ctor: BigInt64Array, type: "bigint", atomic: true },
  Q: { ctor: BigUint64Array, type: "bigint", atomic: true },
  f: { ctor: Float32Array, type: "number", atomic: false },
  d: { ctor: Float64Array, type: "number", atomic: false },
};

const TYPECODES = Object.keys(STORAGE).join(" ");

/** Whether `value` is of the type that `storage` holds. */
function holds(storage: Storage, value: unknown): boolean {
  return storage.type === "bigint" ? typeof value === "bigint" : typeof value === "number";
}

/**
 * The typed array class of a typecode; a `TypeError` naming the typecodes for another.
 *
 * @internal For the manager's `Array()`, which holds a plain typed array of a typecode.
 */
export function typedArrayOf(typecode: unknown, what: string): TypedArrayConstructor {
  return storageOf(typecode, what).ctor;
}

function storageOf(typecode: unknown, what: string): Storage {
  if (typeof typecode !== "string" || !Object.hasOwn(STORAGE, typecode)) {
    throw new TypeError(
      `Cannot create ${what} as 'typecode' must be one of ${TYPECODES}: received ${
        describe(typecode)
      }`,
    );
  }
  return STORAGE[typecode as Typecode];
}

// ---- Locks ----------------------------------------------------------------------------------

/**
 * A lock that can guard a shared value or array: a {@linkcode Lock}, an {@linkcode RLock}, or
 * another lock of this library with the same `acquire()` and `release()`. To travel with the
 * value to other workers it must be shareable, as this library's locks are.
 */
export interface LockLike {
  /** Acquires the lock; resolves to `true` once it is held. */
  acquire(options?: AcquireOptions): Promise<boolean>;
  /** Releases the lock. */
  release(): void;
}

/**
 * Options for {@linkcode Value} and {@linkcode Array}.
 *
 * @typeParam L The type of a lock passed as `lock`.
 */
export interface SynchronizedOptions<L extends LockLike = LockLike> {
  /**
   * `true` for a new {@linkcode RLock}, a lock to guard the object with (several values may
   * share one lock), or `false` for no lock: then the result is what {@linkcode RawValue} or
   * {@linkcode RawArray} returns.
   *
   * @default {true}
   */
  lock?: boolean | L;
}

function lockOf(options: unknown, what: string): LockLike | undefined {
  if (options === undefined) return new RLock();
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot create ${what} as 'options' must be an object: received ${describe(options)}`,
    );
  }
  const lock = (options as SynchronizedOptions).lock;
  if (lock === undefined || lock === true) return new RLock();
  if (lock === false) return undefined;
  if (
    typeof lock !== "object" || lock === null || typeof lock.acquire !== "function" ||
    typeof lock.release !== "function"
  ) {
    throw new TypeError(
      `Cannot create ${what} as 'lock' must be a boolean or a lock such as Lock or RLock: received ${
        describe(lock)
      }`,
    );
  }
  return lock;
}

// ---- Values ---------------------------------------------------------------------------------

/**
 * A single number or bigint in shared memory, without a lock: what {@linkcode RawValue}
 * returns. Pass it to workers (as a pool task's or a `Process`'s argument) and they all read
 * and write the same memory.
 *
 * @typeParam T The typecode.
 */
export interface SharedValue<T extends Typecode> {
  /**
   * The value. Each read and each write is one access to shared memory: an `Atomics` one for
   * the integer typecodes, so that a reader never sees half of a write, and a plain one for
   * `f` and `d` (JavaScript has no atomic float access; the 64-bit CPUs these runtimes run on
   * load and store an aligned float in one piece). But `v.value += 1` is a read and then a
   * write, and another worker's write can come between them: hold the lock around it.
   *
   * @throws {TypeError} On a write of a value of the wrong type (a `number` to `q` or `Q`, a
   * `bigint` or a string to the others).
   */
  value: ElementType<T>;
  /** The typecode it was created with. */
  readonly typecode: T;
}

/**
 * A shared value with a lock: what {@linkcode Value} returns.
 *
 * @typeParam T The typecode.
 * @typeParam L The type of its lock: {@linkcode RLock} unless another lock was given.
 */
export interface SynchronizedValue<T extends Typecode, L extends LockLike = RLock>
  extends SharedValue<T> {
  /**
   * Returns the lock that guards this value (Python's `get_lock()`): hold it around a read
   * that is followed by a write, such as `v.value += 1`.
   *
   * @returns The lock.
   */
  getLock(): L;
  /**
   * Returns the value without its lock, over the same memory (Python's `get_obj()`).
   *
   * @returns The raw value.
   */
  getObj(): SharedValue<T>;
}

const RAW_VALUE = "sharedctypes.RawValue";
const SYNCHRONIZED_VALUE = "sharedctypes.Value";
const SYNCHRONIZED_ARRAY = "sharedctypes.Array";

interface ValueState {
  typecode: Typecode;
  buffer: SharedArrayBuffer;
  byteOffset: number;
  lock?: LockLike;
}

const inspect = Symbol.for("nodejs.util.inspect.custom");

class RawValueObject<T extends Typecode> implements SharedValue<T> {
  readonly #typecode: T;
  // Typed as one array type for brevity: the code below is the same for every storage.
  readonly #view: Int32Array<SharedArrayBuffer>;
  readonly #bigint: boolean;
  readonly #atomic: boolean;

  constructor(typecode: T, storage: Storage, buffer: SharedArrayBuffer, byteOffset: number) {
    this.#typecode = typecode;
    this.#view = new storage.ctor(buffer, byteOffset, 1) as Int32Array<SharedArrayBuffer>;
    this.#bigint = storage.type === "bigint";
    this.#atomic = storage.atomic;
    sharedObjectCreated();
  }

  get typecode(): T {
    return this.#typecode;
  }

  get value(): ElementType<T> {
    // Atomics.load, not a plain read: a loop that polls `.value` must see other workers'
    // writes, and a 64-bit integer must not be read half-written.
    return (this.#atomic ? Atomics.load(this.#view, 0) : this.#view[0]) as ElementType<T>;
  }

  set value(value: ElementType<T>) {
    if (this.#bigint ? typeof value !== "bigint" : typeof value !== "number") {
      throw new TypeError(
        `Cannot set 'value' as it must be a ${
          this.#bigint ? "bigint" : "number"
        } for typecode "${this.#typecode}": received ${describe(value)}`,
      );
    }
    if (this.#atomic) Atomics.store(this.#view, 0, value as number);
    else this.#view[0] = value as number;
  }

  /** The state it travels as, for {@linkcode SynchronizedValueObject} to extend. */
  protected state(): ValueState {
    return {
      typecode: this.#typecode,
      buffer: this.#view.buffer,
      byteOffset: this.#view.byteOffset,
    };
  }

  [reduce](): { kind: string; state: unknown } {
    return { kind: RAW_VALUE, state: this.state() };
  }

  toString(): string {
    return `RawValue("${this.#typecode}", ${describe(this.value)})`;
  }

  [inspect](): string {
    return this.toString();
  }
}

class SynchronizedValueObject<T extends Typecode, L extends LockLike> extends RawValueObject<T>
  implements SynchronizedValue<T, L> {
  readonly #lock: L;

  constructor(
    typecode: T,
    storage: Storage,
    buffer: SharedArrayBuffer,
    byteOffset: number,
    lock: L,
  ) {
    super(typecode, storage, buffer, byteOffset);
    this.#lock = lock;
  }

  getLock(): L {
    return this.#lock;
  }

  getObj(): SharedValue<T> {
    const { typecode, buffer, byteOffset } = this.state();
    return new RawValueObject(typecode as T, STORAGE[typecode], buffer, byteOffset);
  }

  override [reduce](): { kind: string; state: unknown } {
    return { kind: SYNCHRONIZED_VALUE, state: { ...this.state(), lock: this.#lock } };
  }

  override toString(): string {
    return `Value("${this.typecode}", ${describe(this.value)})`;
  }
}

function createValue<T extends Typecode>(
  typecode: T,
  init: unknown,
  lock: LockLike | undefined,
): RawValueObject<T> {
  const storage = storageOf(typecode, "shared value");
  if (init === undefined) init = storage.type === "bigint" ? 0n : 0;
  else if (!holds(storage, init)) {
    throw new TypeError(
      `Cannot create shared value as 'init' must be a ${storage.type} for typecode "${typecode}": received ${
        describe(init)
      }`,
    );
  }
  const buffer = new SharedArrayBuffer(storage.ctor.BYTES_PER_ELEMENT);
  new storage.ctor(buffer)[0] = init as number;
  return lock === undefined
    ? new RawValueObject(typecode, storage, buffer, 0)
    : new SynchronizedValueObject(typecode, storage, buffer, 0, lock);
}

/**
 * Creates a number in shared memory, guarded by a lock (Python's `multiprocessing.Value`).
 * Pass it to pool tasks and processes: they all read and write the same memory.
 *
 * Reading or writing `.value` is one access to shared memory, but `v.value += 1` is a read
 * and then a write: when several workers update the value, hold its lock
 * ({@linkcode SynchronizedValue.getLock}) around the update, or updates are lost.
 *
 * @typeParam T The typecode.
 * @param typecode One of `b B h H i I l L q Q f d` (see the module's table).
 * @param init The initial value: a `bigint` for `q` and `Q`, a `number` otherwise.
 * @param options `lock`: `true` (the default) for a new {@linkcode RLock}.
 * @returns The shared value, with `.value` and `getLock()`.
 * @throws {TypeError} If `typecode` is not one of the above, or `init` is of the wrong type.
 *
 * @example Usage
 * ```ts
 * import { Pool, Value } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const total = Value("i", 0);
 * await using pool = new Pool(2);
 * await pool.map(async ([v, n]: [typeof total, number]) => {
 *   await v.getLock().acquire();
 *   v.value += n; // a read and then a write: hold the lock
 *   v.getLock().release();
 * }, [[total, 1], [total, 3]]);
 * assert.equal(total.value, 4);
 * assert.equal(Value("q", 2n ** 40n).value, 1099511627776n);
 * ```
 */
export function Value<T extends Typecode>(
  typecode: T,
  init?: ElementType<T>,
  options?: { lock?: true },
): SynchronizedValue<T>;
/**
 * Creates a number in shared memory, guarded by the lock you give (Python's
 * `Value(typecode, init, lock=lock)`): several values can share one lock.
 *
 * @typeParam T The typecode.
 * @typeParam L The type of the lock.
 * @param typecode One of `b B h H i I l L q Q f d`.
 * @param init The initial value (`0` or `0n` when `undefined`).
 * @param options `lock`: the lock that guards the value.
 * @returns The shared value, whose `getLock()` returns `options.lock`.
 * @throws {TypeError} If `typecode` is unknown, `init` is of the wrong type, or `lock` is
 * not a lock.
 *
 * @example Usage
 * ```ts
 * import { Lock, Value } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const lock = new Lock();
 * const [a, b] = [Value("i", 1, { lock }), Value("d", 0.5, { lock })];
 * assert.equal(a.getLock(), b.getLock());
 * ```
 */
export function Value<T extends Typecode, L extends LockLike>(
  typecode: T,
  init: ElementType<T> | undefined,
  options: { lock: L },
): SynchronizedValue<T, L>;
/**
 * Creates a number in shared memory without a lock (Python's `Value(typecode, init,
 * lock=False)`): the same as {@linkcode RawValue}.
 *
 * @typeParam T The typecode.
 * @param typecode One of `b B h H i I l L q Q f d`.
 * @param init The initial value (`0` or `0n` when `undefined`).
 * @param options `lock: false`.
 * @returns The shared value, without `getLock()`.
 * @throws {TypeError} If `typecode` is unknown or `init` is of the wrong type.
 *
 * @example Usage
 * ```ts
 * import { Value } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const v = Value("H", 65535, { lock: false });
 * v.value += 1; // wraps, as C's unsigned short does
 * assert.equal(v.value, 0);
 * assert.ok(!("getLock" in v));
 * ```
 */
export function Value<T extends Typecode>(
  typecode: T,
  init: ElementType<T> | undefined,
  options: { lock: false },
): SharedValue<T>;
/**
 * Creates a number in shared memory, with or without a lock as `options.lock` says.
 *
 * @typeParam T The typecode.
 * @param typecode One of `b B h H i I l L q Q f d`.
 * @param init The initial value (`0` or `0n` when `undefined`).
 * @param options `lock`: `true`, `false` or a lock.
 * @returns The shared value; it has `getLock()` unless `lock` is `false`.
 * @throws {TypeError} If `typecode` is unknown, `init` is of the wrong type, or `lock` is
 * neither a boolean nor a lock.
 *
 * @example Usage
 * ```ts
 * import { type SynchronizedOptions, Value } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const options: SynchronizedOptions = { lock: Math.random() < 2 };
 * assert.equal(Value("f", 0.1, options).value, Math.fround(0.1));
 * ```
 */
export function Value<T extends Typecode>(
  typecode: T,
  init?: ElementType<T>,
  options?: SynchronizedOptions,
): SynchronizedValue<T, LockLike> | SharedValue<T>;
export function Value<T extends Typecode>(
  typecode: T,
  init?: ElementType<T>,
  options?: SynchronizedOptions,
): SynchronizedValue<T, LockLike> | SharedValue<T> {
  return createValue(typecode, init, lockOf(options, "shared value"));
}

/**
 * Creates a number in shared memory without a lock (Python's
 * `multiprocessing.RawValue`). Each read and write of `.value` is one access to shared
 * memory; guard read-then-write updates with a lock of your own.
 *
 * @typeParam T The typecode.
 * @param typecode One of `b B h H i I l L q Q f d` (see the module's table).
 * @param init The initial value: a `bigint` for `q` and `Q`, a `number` otherwise.
 * @returns The shared value, with `.value` and no `getLock()`.
 * @throws {TypeError} If `typecode` is not one of the above, or `init` is of the wrong type.
 *
 * @example Usage
 * ```ts
 * import { Pool, RawValue } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const flag = RawValue("b", 0);
 * await using pool = new Pool(1);
 * await pool.apply((f: typeof flag) => {
 *   f.value = 1;
 * }, [flag]);
 * assert.equal(flag.value, 1);
 * ```
 */
export function RawValue<T extends Typecode>(typecode: T, init?: ElementType<T>): SharedValue<T> {
  return createValue(typecode, init, undefined);
}

registerShared(RAW_VALUE, (state) => {
  const { typecode, buffer, byteOffset } = state as ValueState;
  return new RawValueObject(typecode, STORAGE[typecode], buffer, byteOffset);
});

registerShared(SYNCHRONIZED_VALUE, (state) => {
  const { typecode, buffer, byteOffset, lock } = state as ValueState;
  return new SynchronizedValueObject(typecode, STORAGE[typecode], buffer, byteOffset, lock!);
});

// ---- Arrays ---------------------------------------------------------------------------------

/**
 * A shared array with a lock: what {@linkcode Array} returns. It is a real typed array over a
 * `SharedArrayBuffer` (an `Int32Array` for `"i"`), of a subclass that adds `getLock()`: index
 * it, iterate it, pass it to `Atomics` and to any API that takes a typed array, at the full
 * speed of a typed array.
 *
 * Being a typed array, it has typed-array semantics where Python's array would raise an
 * `IndexError`: reading out of range gives `undefined` and writing out of range does nothing.
 * Methods that make a new array (`slice()`, `map()`, `filter()`, `subarray()`) return plain
 * typed arrays without the lock; `subarray()` still shares the memory.
 *
 * @typeParam T The typecode.
 * @typeParam L The type of its lock: {@linkcode RLock} unless another lock was given.
 */
export type SynchronizedArray<T extends Typecode, L extends LockLike = RLock> =
  & SharedTypedArray<T>
  & SynchronizedArrayMethods<T, L>;

/**
 * What a {@linkcode SynchronizedArray} adds to its typed array.
 *
 * @typeParam T The typecode.
 * @typeParam L The type of its lock.
 */
export interface SynchronizedArrayMethods<T extends Typecode, L extends LockLike> {
  /** The typecode it was created with. */
  readonly typecode: T;
  /**
   * Returns the lock that guards this array (Python's `get_lock()`): hold it around updates
   * that read and then write, such as `a[0] += 1`, or that span several elements.
   *
   * @returns The lock.
   */
  getLock(): L;
  /**
   * Returns a plain typed array over the same memory, without the lock (Python's
   * `get_obj()`).
   *
   * @returns The raw typed array.
   */
  getObj(): SharedTypedArray<T>;
}

interface ArrayState {
  typecode: Typecode;
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
  lock: LockLike;
}

type SynchronizedArrayConstructor = new (
  typecode: Typecode,
  buffer: SharedArrayBuffer,
  byteOffset: number,
  length: number,
  lock: LockLike,
) => SynchronizedArray<Typecode, LockLike>;

/**
 * Makes the subclass of one typed array that {@linkcode Array} returns. A subclass rather than
 * a Proxy: element access stays native (a Proxy's traps made it about 500 times slower), and
 * `Atomics` accepts it.
 */
function synchronizedArrayClass(Base: TypedArrayConstructor): SynchronizedArrayConstructor {
  // deno-lint-ignore no-explicit-any
  const TypedArray = Base as new (...args: any[]) => any;
  const cls = class extends TypedArray {
    #typecode: Typecode;
    #lock: LockLike;

    constructor(
      typecode: Typecode,
      buffer: SharedArrayBuffer,
      byteOffset: number,
      length: number,
      lock: LockLike,
    ) {
      super(buffer, byteOffset, length);
      this.#typecode = typecode;
      this.#lock = lock;
      sharedObjectCreated();
    }

    // `slice()`, `map()`, `subarray()`… make plain typed arrays: they call the species
    // constructor with a length, which this constructor does not take.
    static get [Symbol.species](): TypedArrayConstructor {
      return Base;
    }

    get typecode(): Typecode {
      return this.#typecode;
    }

    getLock(): LockLike {
      return this.#lock;
    }

    getObj(): AnyTypedArray {
      return new Base(this.buffer, this.byteOffset, this.length);
    }

    [reduce](): { kind: string; state: ArrayState } {
      return {
        kind: SYNCHRONIZED_ARRAY,
        state: {
          typecode: this.#typecode,
          buffer: this.buffer,
          byteOffset: this.byteOffset,
          length: this.length,
          lock: this.#lock,
        },
      };
    }
  };
  Object.defineProperty(cls, "name", { value: `Synchronized${Base.name}` });
  return cls as unknown as SynchronizedArrayConstructor;
}

const synchronizedClasses = new Map<TypedArrayConstructor, SynchronizedArrayConstructor>(
  [...new Set(Object.values(STORAGE).map((s) => s.ctor))].map((ctor) => [
    ctor,
    synchronizedArrayClass(ctor),
  ]),
);

/** Allocates and fills the memory of a new shared array. */
function createBuffer(
  typecode: Typecode,
  storage: Storage,
  sizeOrInit: unknown,
): { buffer: SharedArrayBuffer; length: number } {
  const bytes = storage.ctor.BYTES_PER_ELEMENT;
  if (typeof sizeOrInit === "number") {
    if (!Number.isSafeInteger(sizeOrInit) || sizeOrInit < 0) {
      throw new RangeError(
        `Cannot create shared array as 'sizeOrInit' must be a non-negative integer or an iterable: received ${sizeOrInit}`,
      );
    }
    return { buffer: new SharedArrayBuffer(sizeOrInit * bytes), length: sizeOrInit };
  }
  if (
    sizeOrInit === null || sizeOrInit === undefined ||
    typeof (sizeOrInit as Partial<Iterable<unknown>>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(
      `Cannot create shared array as 'sizeOrInit' must be a length or an iterable of initial values: received ${
        describe(sizeOrInit)
      }`,
    );
  }
  const items = Array.from(sizeOrInit as Iterable<unknown>);
  for (let i = 0; i < items.length; i++) {
    if (!holds(storage, items[i])) {
      throw new TypeError(
        `Cannot create shared array as its items must be ${storage.type}s for typecode "${typecode}": received ${
          describe(items[i])
        } at index ${i}`,
      );
    }
  }
  const buffer = new SharedArrayBuffer(items.length * bytes);
  (new storage.ctor(buffer) as Int32Array).set(items as number[]);
  return { buffer, length: items.length };
}

/**
 * Creates an array of numbers in shared memory, guarded by a lock (Python's
 * `multiprocessing.Array`). Pass it to pool tasks and processes: they all read and write the
 * same memory.
 *
 * It is a typed array over a `SharedArrayBuffer` (an `Int32Array` for `"i"`; see
 * {@linkcode SynchronizedArray}) with `getLock()` added: `a[i]`, `a.length`, `for…of`,
 * `Atomics.add(a, i, 1)` all work as on any typed array, at the same speed. Out-of-range
 * indices follow typed arrays, not Python: a read gives `undefined`, a write does nothing.
 *
 * @typeParam T The typecode.
 * @param typecode One of `b B h H i I l L q Q f d` (see the module's table).
 * @param sizeOrInit The length of a zero-filled array, or the initial values (`bigint`s for
 * `q` and `Q`, `number`s otherwise).
 * @param options `lock`: `true` (the default) for a new {@linkcode RLock}.
 * @returns The shared array, with `getLock()`.
 * @throws {TypeError} If `typecode` is not one of the above, `sizeOrInit` is neither a number
 * nor an iterable, or an initial value is of the wrong type.
 * @throws {RangeError} If `sizeOrInit` is a negative or fractional length.
 *
 * @example Usage
 * ```ts
 * import * as mp from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const squares = mp.Array("i", 4);
 * await using pool = new mp.Pool(2);
 * await pool.map(([a, i]: [typeof squares, number]) => {
 *   a[i] = i * i; // each task writes its own element
 * }, [[squares, 0], [squares, 1], [squares, 2], [squares, 3]]);
 * assert.deepEqual([...squares], [0, 1, 4, 9]);
 * assert.ok(squares instanceof Int32Array);
 * ```
 */
function sharedArray<T extends Typecode>(
  typecode: T,
  sizeOrInit: number | Iterable<ElementType<T>>,
  options?: { lock?: true },
): SynchronizedArray<T>;
/**
 * Creates an array of numbers in shared memory, guarded by the lock you give (Python's
 * `Array(typecode, sizeOrInit, lock=lock)`).
 *
 * @typeParam T The typecode.
 * @typeParam L The type of the lock.
 * @param typecode One of `b B h H i I l L q Q f d`.
 * @param sizeOrInit The length of a zero-filled array, or the initial values.
 * @param options `lock`: the lock that guards the array.
 * @returns The shared array, whose `getLock()` returns `options.lock`.
 * @throws {TypeError} If `typecode` is unknown, `sizeOrInit` is neither a number nor an
 * iterable, an initial value is of the wrong type, or `lock` is not a lock.
 * @throws {RangeError} If `sizeOrInit` is a negative or fractional length.
 *
 * @example Usage
 * ```ts
 * import * as mp from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const lock = new mp.Lock();
 * const a = mp.Array("B", [1, 2, 3], { lock });
 * assert.equal(a.getLock(), lock);
 * ```
 */
function sharedArray<T extends Typecode, L extends LockLike>(
  typecode: T,
  sizeOrInit: number | Iterable<ElementType<T>>,
  options: { lock: L },
): SynchronizedArray<T, L>;
/**
 * Creates an array of numbers in shared memory without a lock (Python's `Array(typecode,
 * sizeOrInit, lock=False)`): the same as {@linkcode RawArray}.
 *
 * @typeParam T The typecode.
 * @param typecode One of `b B h H i I l L q Q f d`.
 * @param sizeOrInit The length of a zero-filled array, or the initial values.
 * @param options `lock: false`.
 * @returns A typed array over a `SharedArrayBuffer`.
 * @throws {TypeError} If `typecode` is unknown, `sizeOrInit` is neither a number nor an
 * iterable, or an initial value is of the wrong type.
 * @throws {RangeError} If `sizeOrInit` is a negative or fractional length.
 *
 * @example Usage
 * ```ts
 * import * as mp from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const a = mp.Array("q", [1n, 2n], { lock: false });
 * assert.ok(a instanceof BigInt64Array);
 * assert.ok(!("getLock" in a));
 * ```
 */
function sharedArray<T extends Typecode>(
  typecode: T,
  sizeOrInit: number | Iterable<ElementType<T>>,
  options: { lock: false },
): SharedTypedArray<T>;
/**
 * Creates an array of numbers in shared memory, with or without a lock as `options.lock`
 * says.
 *
 * @typeParam T The typecode.
 * @param typecode One of `b B h H i I l L q Q f d`.
 * @param sizeOrInit The length of a zero-filled array, or the initial values.
 * @param options `lock`: `true`, `false` or a lock.
 * @returns The shared array; it has `getLock()` unless `lock` is `false`.
 * @throws {TypeError} If `typecode` is unknown, `sizeOrInit` is neither a number nor an
 * iterable, an initial value is of the wrong type, or `lock` is neither a boolean nor a lock.
 * @throws {RangeError} If `sizeOrInit` is a negative or fractional length.
 *
 * @example Usage
 * ```ts
 * import * as mp from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const options: mp.SynchronizedOptions = { lock: Math.random() < 2 };
 * assert.equal(mp.Array("d", 3, options).length, 3);
 * ```
 */
function sharedArray<T extends Typecode>(
  typecode: T,
  sizeOrInit: number | Iterable<ElementType<T>>,
  options?: SynchronizedOptions,
): SynchronizedArray<T, LockLike> | SharedTypedArray<T>;
function sharedArray<T extends Typecode>(
  typecode: T,
  sizeOrInit: number | Iterable<ElementType<T>>,
  options?: SynchronizedOptions,
): SynchronizedArray<T, LockLike> | SharedTypedArray<T> {
  const storage = storageOf(typecode, "shared array");
  const lock = lockOf(options, "shared array");
  const { buffer, length } = createBuffer(typecode, storage, sizeOrInit);
  if (lock === undefined) return new storage.ctor(buffer) as SharedTypedArray<T>;
  const Synchronized = synchronizedClasses.get(storage.ctor)!;
  return new Synchronized(typecode, buffer, 0, length, lock) as SynchronizedArray<T, LockLike>;
}

// Exported under another name so that, in this module, `Array` stays the global one.
export { sharedArray as Array };

/**
 * Creates an array of numbers in shared memory without a lock (Python's
 * `multiprocessing.RawArray`): a plain typed array over a `SharedArrayBuffer`, such as an
 * `Int32Array` for `"i"`. It travels to workers by structured clone as any typed array does,
 * and keeps sharing its memory there. Out-of-range indices follow typed arrays, not Python: a
 * read gives `undefined`, a write does nothing.
 *
 * @typeParam T The typecode.
 * @param typecode One of `b B h H i I l L q Q f d` (see the module's table).
 * @param sizeOrInit The length of a zero-filled array, or the initial values (`bigint`s for
 * `q` and `Q`, `number`s otherwise).
 * @returns A typed array over a `SharedArrayBuffer`.
 * @throws {TypeError} If `typecode` is not one of the above, `sizeOrInit` is neither a number
 * nor an iterable, or an initial value is of the wrong type.
 * @throws {RangeError} If `sizeOrInit` is a negative or fractional length.
 *
 * @example Usage
 * ```ts
 * import { Pool, RawArray } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const hits = RawArray("I", 2);
 * await using pool = new Pool(2);
 * await pool.map((h: typeof hits) => {
 *   Atomics.add(h, 0, 1); // a read-modify-write in one step: no lock needed
 * }, [hits, hits, hits]);
 * assert.equal(hits[0], 3);
 * assert.ok(hits.buffer instanceof SharedArrayBuffer);
 * ```
 */
export function RawArray<T extends Typecode>(
  typecode: T,
  sizeOrInit: number | Iterable<ElementType<T>>,
): SharedTypedArray<T> {
  const storage = storageOf(typecode, "shared array");
  return new storage.ctor(createBuffer(typecode, storage, sizeOrInit).buffer) as SharedTypedArray<
    T
  >;
}

registerShared(SYNCHRONIZED_ARRAY, (state) => {
  const { typecode, buffer, byteOffset, length, lock } = state as ArrayState;
  const Synchronized = synchronizedClasses.get(STORAGE[typecode].ctor)!;
  return new Synchronized(typecode, buffer, byteOffset, length, lock);
});
