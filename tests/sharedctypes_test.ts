import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import type { Identity } from "../lib/_protocol.ts";
import { allocatePid, currentProcess } from "../lib/context.ts";
import { decodeShared, encodeShared } from "../lib/reduction.ts";
import * as sharedctypes from "../lib/sharedctypes.ts";
import type { ElementType, Typecode } from "../lib/sharedctypes.ts";
import { Lock, RLock } from "../lib/synchronize.ts";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import { Pool } from "../mod.ts";
import type { Request } from "./fixtures/shared_worker.ts";

const { RawArray, RawValue, Value } = sharedctypes;

/** For tests that run many iterations in workers (Bun's default limit is 5 s). */
const slow = { timeout: 60_000 };

/** Waits, without blocking this thread, until `done()` is true; throws after `ms`. */
async function until(done: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

const STORAGE = {
  b: Int8Array,
  B: Uint8Array,
  h: Int16Array,
  H: Uint16Array,
  i: Int32Array,
  I: Uint32Array,
  l: Int32Array,
  L: Uint32Array,
  q: BigInt64Array,
  Q: BigUint64Array,
  f: Float32Array,
  d: Float64Array,
} as const;

const TYPECODES = Object.keys(STORAGE) as Typecode[];

/** Per typecode: values it holds as they are, and values it wraps or rounds. */
const SAMPLES: {
  [T in Typecode]: { exact: ElementType<T>[]; stored: [ElementType<T>, ElementType<T>][] };
} = {
  b: {
    exact: [-128, 0, 127],
    stored: [[128, -128], [200, -56], [-129, 127], [1.9, 1], [-1.9, -1]],
  },
  B: { exact: [0, 255], stored: [[256, 0], [-1, 255], [300, 44], [NaN, 0]] },
  h: { exact: [-32768, 32767], stored: [[32768, -32768], [40000, -25536]] },
  H: { exact: [0, 65535], stored: [[65536, 0], [-1, 65535]] },
  i: { exact: [-(2 ** 31), 2 ** 31 - 1], stored: [[2 ** 31, -(2 ** 31)], [2.9, 2], [Infinity, 0]] },
  I: { exact: [0, 2 ** 32 - 1], stored: [[-1, 2 ** 32 - 1], [2 ** 32, 0]] },
  l: {
    exact: [-(2 ** 31), 2 ** 31 - 1],
    stored: [[2 ** 31, -(2 ** 31)], [-(2 ** 31) - 1, 2 ** 31 - 1]],
  },
  L: { exact: [0, 2 ** 32 - 1], stored: [[2 ** 32, 0], [-1, 2 ** 32 - 1]] },
  q: {
    exact: [-(2n ** 63n), 0n, 2n ** 63n - 1n],
    stored: [[2n ** 63n, -(2n ** 63n)], [2n ** 64n + 5n, 5n]],
  },
  Q: { exact: [0n, 2n ** 64n - 1n], stored: [[-1n, 2n ** 64n - 1n], [2n ** 64n, 0n]] },
  f: { exact: [1.5, -0.25, Infinity], stored: [[0.1, Math.fround(0.1)], [1e40, Infinity]] },
  d: { exact: [0.1, -1e300, 2 ** 53], stored: [[-0, -0]] },
};

/** What the typecode's typed array stores for `x`: the reference the samples agree with. */
function storedByTypedArray(typecode: Typecode, x: number | bigint): number | bigint {
  const a = new STORAGE[typecode](1);
  a[0] = x as never;
  return a[0];
}

const zero = (typecode: Typecode): number | bigint => typecode === "q" || typecode === "Q" ? 0n : 0;

/** A worker running tests/fixtures/shared_worker.ts, which answers requests. */
class SharedWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #next = 0;

  constructor() {
    // A pid of its own, as pool workers have: an RLock's owner is the thread's pid, and a
    // worker without one would pass for the main thread.
    const { pid, counter } = allocatePid();
    const me = currentProcess();
    const identity: Identity = {
      name: `SharedWorker-${pid}`,
      pid,
      parent: { name: me.name, pid: me.pid },
      pidCounter: counter,
      identity: [],
    };
    this.#worker = new Worker(new URL("./fixtures/shared_worker.ts", import.meta.url), {
      workerData: identity,
    });
    this.#worker.on("message", (m: { id: number; ok: boolean; result: unknown }) => {
      const pending = this.#pending.get(m.id)!;
      this.#pending.delete(m.id);
      if (m.ok) pending.resolve(decodeShared(m.result));
      else pending.reject(new Error(`worker: ${m.result}`));
    });
    this.#worker.on("error", (error) => {
      for (const pending of this.#pending.values()) pending.reject(error);
    });
  }

  /** Sends `request` as the pool sends task arguments; resolves with the worker's answer. */
  call(request: Request): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, request: encodeShared(request) });
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#worker.terminate();
  }
}

type Target = Extract<Request, { op: "get" }>["target"];
const target = (x: unknown): Target => x as Target;

/**
 * Two workers each add 1 to `v.value` `times` times, starting together; resolves when both
 * are done.
 */
async function addFromTwoWorkers(
  workers: SharedWorker[],
  v: sharedctypes.SynchronizedValue<"i">,
  times: number,
  locked: boolean,
): Promise<void> {
  // [0]: the start signal; [1]: how many workers wait for it.
  const gate = new Int32Array(new SharedArrayBuffer(8));
  const runs = workers.map((w) => w.call({ op: "add", target: target(v), times, locked, gate }));
  while (Atomics.load(gate, 1) < workers.length) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  await Promise.all(runs);
}

describe("Value", () => {
  test("Value() holds every typecode's values as they are", () => {
    for (const typecode of TYPECODES) {
      for (const x of SAMPLES[typecode].exact) {
        assert.equal(Value(typecode, x).value, x, `Value("${typecode}", ${x})`);
        const v = Value(typecode);
        v.value = x;
        assert.equal(v.value, x, `Value("${typecode}").value = ${x}`);
      }
    }
  });

  test("Value() wraps and rounds as the typecode's typed array does", () => {
    for (const typecode of TYPECODES) {
      for (const [x, expected] of SAMPLES[typecode].stored) {
        assert.equal(storedByTypedArray(typecode, x), expected, `typed array for "${typecode}"`);
        assert.equal(Value(typecode, x).value, expected, `Value("${typecode}", ${x})`);
        const v = Value(typecode);
        v.value = x;
        assert.equal(v.value, expected, `Value("${typecode}").value = ${x}`);
      }
    }
  });

  test("Value() starts at 0, or 0n for q and Q", () => {
    for (const typecode of TYPECODES) assert.equal(Value(typecode).value, zero(typecode));
    assert.equal(Value("i", undefined, { lock: false }).value, 0);
  });

  test("Value() types .value as bigint for q and Q and as number otherwise", () => {
    const big: bigint = Value("q", 2n ** 62n).value + Value("Q", 1n).value;
    const num: number = Value("d", 1.5).value + Value("i", 1).value;
    assert.equal(big, 2n ** 62n + 1n);
    assert.equal(num, 2.5);
  });

  test("Value() rejects an unknown typecode with a TypeError", () => {
    assert.throws(() => Value("x" as Typecode), {
      name: "TypeError",
      message:
        `Cannot create shared value as 'typecode' must be one of b B h H i I l L q Q f d: received "x"`,
    });
    for (const typecode of ["c", "u", "", "int", 105, undefined]) {
      assert.throws(() => Value(typecode as Typecode), TypeError);
    }
    // Not an own key of the table, either.
    assert.throws(() => Value("toString" as Typecode), TypeError);
  });

  test("Value() rejects an init of the wrong type with a TypeError", () => {
    // @ts-expect-error: q holds bigints
    assert.throws(() => Value("q", 1), {
      name: "TypeError",
      message: `Cannot create shared value as 'init' must be a bigint for typecode "q": received 1`,
    });
    // @ts-expect-error: i holds numbers
    assert.throws(() => Value("i", 1n), /must be a number for typecode "i": received 1n/);
    // @ts-expect-error: no strings
    assert.throws(() => Value("d", "1.5"), TypeError);
    // @ts-expect-error: no booleans
    assert.throws(() => Value("B", true), TypeError);
  });

  test("Value.value rejects a write of the wrong type with a TypeError", () => {
    const q = Value("Q", 5n);
    // @ts-expect-error: Q holds bigints
    assert.throws(() => (q.value = 1), {
      name: "TypeError",
      message: `Cannot set 'value' as it must be a bigint for typecode "Q": received 1`,
    });
    const f = RawValue("f", 1);
    // @ts-expect-error: f holds numbers
    assert.throws(() => (f.value = "2"), TypeError);
    assert.equal(q.value, 5n);
    assert.equal(f.value, 1);
  });

  test("Value() has getLock() returning a new RLock by default", async () => {
    const v = Value("i", 0);
    const lock = v.getLock();
    assert.ok(lock instanceof RLock);
    assert.equal(v.getLock(), lock, "the same lock each time");
    assert.notEqual(Value("i", 0).getLock(), lock, "one lock per value");
    assert.equal(Value("d", 0, { lock: true }).getLock() instanceof RLock, true);
    // Recursive, as Python's default lock is.
    assert.equal(await lock.acquire(), true);
    assert.equal(await lock.acquire({ block: false }), true);
    lock.release();
    lock.release();
  });

  test("Value() uses the lock it is given", () => {
    const lock = new Lock();
    const a = Value("i", 1, { lock });
    const b = Value("q", 2n, { lock });
    const typed: Lock = a.getLock(); // typed as the lock given
    assert.equal(typed, lock);
    assert.equal(b.getLock(), lock);
    const rlock = new RLock();
    assert.equal(Value("d", 0, { lock: rlock }).getLock(), rlock);
  });

  test("Value() with lock: false has no getLock()", () => {
    const v = Value("i", 3, { lock: false });
    assert.equal("getLock" in v, false);
    assert.equal("getObj" in v, false);
    assert.equal(v.value, 3);
    assert.equal(v.typecode, "i");
  });

  test("Value() rejects a lock that is neither a boolean nor a lock with a TypeError", () => {
    for (const lock of [1, "yes", null, {}, { acquire() {} }]) {
      assert.throws(
        () => Value("i", 0, { lock } as unknown as sharedctypes.SynchronizedOptions),
        /Cannot create shared value as 'lock' must be a boolean or a lock/,
      );
    }
    assert.throws(
      () => Value("i", 0, 5 as unknown as sharedctypes.SynchronizedOptions),
      /'options' must be an object: received 5/,
    );
  });

  test("Value().getObj() is the value without its lock, over the same memory", () => {
    const v = Value("h", 7);
    const raw = v.getObj();
    assert.equal("getLock" in raw, false);
    raw.value = 8;
    assert.equal(v.value, 8);
  });

  test("Value() prints as its call", () => {
    assert.equal(String(Value("q", 5n)), `Value("q", 5n)`);
    assert.equal(String(RawValue("d", 0.5)), `RawValue("d", 0.5)`);
  });
});

describe("RawValue", () => {
  test("RawValue() holds every typecode's values and wraps as its typed array does", () => {
    for (const typecode of TYPECODES) {
      assert.equal(RawValue(typecode).value, zero(typecode));
      for (const x of SAMPLES[typecode].exact) assert.equal(RawValue(typecode, x).value, x);
      for (const [x, expected] of SAMPLES[typecode].stored) {
        const v = RawValue(typecode);
        v.value = x;
        assert.equal(v.value, expected, `RawValue("${typecode}").value = ${x}`);
      }
    }
  });

  test("RawValue() has no getLock()", () => {
    const v = RawValue("d", 1.5);
    assert.equal("getLock" in v, false);
    assert.equal(v.typecode, "d");
  });

  test("RawValue() rejects an unknown typecode or an init of the wrong type", () => {
    assert.throws(() => RawValue("z" as Typecode), /'typecode' must be one of .*: received "z"/);
    // @ts-expect-error: Q holds bigints
    assert.throws(() => RawValue("Q", 0), TypeError);
  });
});

describe("Array", () => {
  test("Array() is a typed array of the typecode's storage over shared memory", () => {
    for (const typecode of TYPECODES) {
      const a = sharedctypes.Array(typecode, 3);
      const Storage = STORAGE[typecode];
      assert.ok(a instanceof Storage, `Array("${typecode}") is a ${Storage.name}`);
      assert.ok(a.buffer instanceof SharedArrayBuffer);
      assert.equal(a.constructor.name, `Synchronized${Storage.name}`);
      assert.equal(a.typecode, typecode);
      assert.equal(a.length, 3);
      assert.deepEqual([...a], [zero(typecode), zero(typecode), zero(typecode)]);
    }
  });

  test("Array() takes its initial values from an array, a Set or a generator", () => {
    assert.deepEqual([...sharedctypes.Array("i", [1, 2, 3])], [1, 2, 3]);
    assert.deepEqual([...sharedctypes.Array("q", new Set([1n, 2n]))], [1n, 2n]);
    function* gen(): Generator<number> {
      yield 0.5;
      yield 1.5;
    }
    assert.deepEqual([...sharedctypes.Array("d", gen())], [0.5, 1.5]);
    assert.equal(sharedctypes.Array("b", []).length, 0);
    assert.equal(sharedctypes.Array("b", 0).length, 0);
  });

  test("Array() elements wrap and round as the typecode's typed array does", () => {
    for (const typecode of TYPECODES) {
      const { exact, stored } = SAMPLES[typecode];
      assert.deepEqual([...sharedctypes.Array(typecode, exact)], exact);
      const a = sharedctypes.Array(typecode, stored.map(([x]) => x));
      assert.deepEqual([...a], stored.map(([, expected]) => expected), `Array("${typecode}")`);
      a[0] = stored[0][0];
      assert.equal(a[0], stored[0][1]);
    }
  });

  test("Array() supports indexing, length, iteration, typed-array methods and Atomics", () => {
    const a = sharedctypes.Array("i", 5);
    for (let i = 0; i < a.length; i++) a[i] = i * i;
    assert.deepEqual([...a], [0, 1, 4, 9, 16]);
    assert.deepEqual(Array.from(a.entries()).at(-1), [4, 16]);
    assert.equal(a.reduce((s, x) => s + x, 0), 30);
    assert.equal(Atomics.add(a, 1, 10), 1);
    assert.equal(a[1], 11);
    a.fill(7, 3);
    assert.deepEqual([...a], [0, 11, 4, 7, 7]);
  });

  test("Array() follows typed arrays out of range: reads give undefined, writes do nothing", () => {
    const a = sharedctypes.Array("i", [1, 2]);
    assert.equal(a[2], undefined);
    a[2] = 5;
    a[-1] = 5;
    assert.equal(a.length, 2);
    assert.deepEqual([...a], [1, 2]);
    assert.equal(Object.hasOwn(a, 2), false);
  });

  test("Array().slice(), map() and subarray() return plain typed arrays", () => {
    const a = sharedctypes.Array("d", [1, 2, 3]);
    const sliced = a.slice(1);
    assert.equal(sliced.constructor, Float64Array);
    assert.deepEqual([...sliced], [2, 3]);
    assert.equal(a.map((x) => x * 2).constructor, Float64Array);
    const sub = a.subarray(1);
    assert.equal(sub.constructor, Float64Array);
    sub[0] = 20;
    assert.equal(a[1], 20, "subarray() shares the memory");
  });

  test("Array() has getLock() returning a new RLock by default", () => {
    const a = sharedctypes.Array("i", 2);
    assert.ok(a.getLock() instanceof RLock);
    assert.equal(a.getLock(), a.getLock());
    assert.notEqual(sharedctypes.Array("i", 2).getLock(), a.getLock());
  });

  test("Array() uses the lock it is given", () => {
    const lock = new Lock();
    const a = sharedctypes.Array("B", [1], { lock });
    const v = Value("i", 0, { lock });
    assert.equal(a.getLock(), lock);
    assert.equal(v.getLock(), a.getLock());
  });

  test("Array() with lock: false is a plain typed array without getLock()", () => {
    const a = sharedctypes.Array("f", [0.5], { lock: false });
    assert.equal(a.constructor, Float32Array);
    assert.equal("getLock" in a, false);
    assert.ok(a.buffer instanceof SharedArrayBuffer);
  });

  test("Array().getObj() is a plain typed array over the same memory", () => {
    const a = sharedctypes.Array("H", [1, 2]);
    const raw = a.getObj();
    assert.equal(raw.constructor, Uint16Array);
    assert.equal(raw.buffer, a.buffer);
    raw[1] = 9;
    assert.equal(a[1], 9);
  });

  test("Array() rejects an unknown typecode with a TypeError", () => {
    assert.throws(() => sharedctypes.Array("x" as Typecode, 1), {
      name: "TypeError",
      message:
        `Cannot create shared array as 'typecode' must be one of b B h H i I l L q Q f d: received "x"`,
    });
  });

  test("Array() rejects a negative or fractional length with a RangeError", () => {
    assert.throws(() => sharedctypes.Array("i", -1), {
      name: "RangeError",
      message:
        "Cannot create shared array as 'sizeOrInit' must be a non-negative integer or an iterable: received -1",
    });
    assert.throws(() => sharedctypes.Array("i", 2.5), RangeError);
    assert.throws(() => sharedctypes.Array("i", NaN), RangeError);
  });

  test("Array() rejects initial values of the wrong type, or no iterable, with a TypeError", () => {
    // @ts-expect-error: i holds numbers
    assert.throws(() => sharedctypes.Array("i", [1, 2n]), {
      name: "TypeError",
      message:
        `Cannot create shared array as its items must be numbers for typecode "i": received 2n at index 1`,
    });
    // @ts-expect-error: q holds bigints
    assert.throws(() => sharedctypes.Array("q", [1]), /items must be bigints/);
    // @ts-expect-error: a string's items are strings
    assert.throws(() => sharedctypes.Array("i", "123"), /received "1" at index 0/);
    // @ts-expect-error: not iterable
    assert.throws(() => sharedctypes.Array("i", {}), /must be a length or an iterable/);
    // @ts-expect-error: not a length
    assert.throws(() => sharedctypes.Array("i", 2n), TypeError);
  });
});

describe("RawArray", () => {
  test("RawArray() is a plain typed array of the typecode's storage over shared memory", () => {
    for (const typecode of TYPECODES) {
      const a = RawArray(typecode, SAMPLES[typecode].exact);
      assert.equal(a.constructor, STORAGE[typecode]);
      assert.ok(a.buffer instanceof SharedArrayBuffer);
      assert.deepEqual([...a], SAMPLES[typecode].exact);
      assert.equal("getLock" in a, false);
    }
    assert.deepEqual([...RawArray("I", 3)], [0, 0, 0]);
  });

  test("RawArray() rejects what Array() rejects", () => {
    assert.throws(() => RawArray("x" as Typecode, 1), /'typecode' must be one of/);
    assert.throws(() => RawArray("i", -2), RangeError);
    // @ts-expect-error: Q holds bigints
    assert.throws(() => RawArray("Q", [1]), TypeError);
  });
});

describe("sharedctypes across workers", () => {
  test("Value() writes in a worker are seen here, and ours there, for every typecode", async () => {
    await using worker = new SharedWorker();
    for (const typecode of TYPECODES) {
      const [x, y] = SAMPLES[typecode].exact;
      const v = Value(typecode);
      await worker.call({ op: "set", target: target(v), value: x });
      assert.equal(v.value, x, `"${typecode}" written in the worker`);
      v.value = y;
      assert.equal(await worker.call({ op: "get", target: target(v) }), y);
    }
  });

  test("Value() arrives in a worker as itself, with its lock or without", async () => {
    await using worker = new SharedWorker();
    assert.deepEqual(await worker.call({ op: "describe", target: target(Value("q", 1n)) }), {
      className: "SynchronizedValueObject",
      typecode: "q",
      hasGetLock: true,
      lockClass: "RLock",
    });
    const lock = new Lock();
    const withLock = await worker.call({ op: "describe", target: target(Value("i", 0, { lock })) });
    assert.equal((withLock as { lockClass: string }).lockClass, "Lock");
    const raw = await worker.call({ op: "describe", target: target(RawValue("f", 1)) });
    assert.equal((raw as { hasGetLock: boolean }).hasGetLock, false);
    const unlocked = Value("f", 1, { lock: false });
    assert.equal(
      (await worker.call({ op: "describe", target: target(unlocked) }) as { hasGetLock: boolean })
        .hasGetLock,
      false,
    );
  });

  test("Value() sent back from a worker is revived over the same memory", async () => {
    await using worker = new SharedWorker();
    const v = Value("i", 1);
    const back = await worker.call({ op: "echo", target: v }) as typeof v;
    assert.notEqual(back, v);
    back.value = 42;
    assert.equal(v.value, 42);
    assert.equal(back.getLock() instanceof RLock, true);
  });

  test("Value().getLock() is the same lock in a worker", async () => {
    await using worker = new SharedWorker();
    const v = Value("i", 0);
    await v.getLock().acquire();
    assert.equal(await worker.call({ op: "tryAcquire", target: target(v) }), false);
    v.getLock().release();
    assert.equal(await worker.call({ op: "tryAcquire", target: target(v) }), true);
    // Two values given one lock share it there too.
    const lock = new Lock();
    const [a, b] = [Value("i", 0, { lock }), Value("d", 0, { lock })];
    await a.getLock().acquire();
    assert.equal(await worker.call({ op: "tryAcquire", target: target(b) }), false);
    lock.release();
    assert.equal(await worker.call({ op: "tryAcquire", target: target(b) }), true);
  });

  test("RawValue() writes in a worker are seen here", async () => {
    await using worker = new SharedWorker();
    const v = RawValue("Q", 1n);
    await worker.call({ op: "set", target: target(v), value: 2n ** 64n - 1n });
    assert.equal(v.value, 2n ** 64n - 1n);
  });

  test("Array() element writes in a worker are seen here, for every typecode", async () => {
    await using worker = new SharedWorker();
    for (const typecode of TYPECODES) {
      const { exact } = SAMPLES[typecode];
      const a = sharedctypes.Array(typecode, exact.length);
      for (let i = 0; i < exact.length; i++) {
        await worker.call({ op: "setItem", target: target(a), index: i, value: exact[i] });
      }
      assert.deepEqual([...a], exact, `Array("${typecode}")`);
      a[0] = exact.at(-1)!;
      assert.deepEqual(await worker.call({ op: "items", target: target(a) }), [
        exact.at(-1),
        ...exact.slice(1),
      ]);
    }
  });

  test("Array() arrives in a worker as itself, with its lock", async () => {
    await using worker = new SharedWorker();
    const a = sharedctypes.Array("d", [1, 2]);
    assert.deepEqual(await worker.call({ op: "describe", target: target(a) }), {
      className: "SynchronizedFloat64Array",
      typecode: "d",
      hasGetLock: true,
      lockClass: "RLock",
    });
    await a.getLock().acquire();
    assert.equal(await worker.call({ op: "tryAcquire", target: target(a) }), false);
    a.getLock().release();
  });

  test("RawArray() travels by structured clone and still shares its memory", async () => {
    await using worker = new SharedWorker();
    const a = RawArray("i", [0, 0, 0]);
    await worker.call({ op: "setItem", target: target(a), index: 2, value: 7 });
    assert.deepEqual([...a], [0, 0, 7]);
    assert.deepEqual(
      await worker.call({ op: "describe", target: target(a) }),
      { className: "Int32Array", typecode: undefined, hasGetLock: false, lockClass: undefined },
    );
  });

  test("Value() loses updates when two workers add without its lock", slow, async () => {
    // The seed's race: `v.value += 1` is a read and then a write, and the other worker's
    // writes land between them. A million additions each take long enough for the two loops
    // to overlap even on a busy machine; should the scheduler still run them one after the
    // other, the test tries again.
    await using a = new SharedWorker();
    await using b = new SharedWorker();
    const finals: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const v = Value("i", 0);
      await addFromTwoWorkers([a, b], v, 1_000_000, false);
      finals.push(v.value);
      if (v.value < 2_000_000) break;
    }
    const last = finals.at(-1)!;
    assert.ok(last > 0 && last < 2_000_000, `expected lost updates, got ${finals} of 2000000`);
  });

  test("Value() loses no update when two workers add under getLock()", slow, async () => {
    await using a = new SharedWorker();
    await using b = new SharedWorker();
    const v = Value("i", 0);
    await addFromTwoWorkers([a, b], v, 200_000, true);
    assert.equal(v.value, 400_000);
  });
});

describe("sharedctypes with Pool", () => {
  test("Pool.apply() task's write to a Value is seen by the caller", async () => {
    await using pool = new Pool(1);
    const value = Value("i", 0);
    await pool.apply((v: typeof value) => {
      v.value = 7;
    }, [value]);
    assert.equal(value.value, 7);
  });

  test("Pool.map() tasks add to a Value under getLock() without losing updates", slow, async () => {
    await using pool = new Pool(2);
    const v = Value("i", 0);
    const task = async ([v, num]: [sharedctypes.SynchronizedValue<"i">, number]) => {
      const lock = v.getLock();
      for (let i = 0; i < 10_000; i++) {
        await lock.acquire();
        v.value += num;
        lock.release();
      }
    };
    await pool.map(task, [[v, 1], [v, 3]]);
    assert.equal(v.value, 40_000);
  });

  test("Pool.map() tasks write the elements of an Array and a RawArray", async () => {
    await using pool = new Pool(2);
    const squares = sharedctypes.Array("d", 8);
    const hits = RawArray("I", 1);
    await pool.map(
      ([a, h, i]: [typeof squares, typeof hits, number]) => {
        a[i] = i * i;
        Atomics.add(h, 0, 1);
      },
      Array.from(
        { length: 8 },
        (_, i) => [squares, hits, i] as [typeof squares, typeof hits, number],
      ),
    );
    assert.deepEqual([...squares], [0, 1, 4, 9, 16, 25, 36, 49]);
    assert.equal(hits[0], 8);
  });

  test("Pool initializer receives a Value in initargs, shared by every task", async () => {
    const calls = Value("i", 0);
    await using pool = new Pool({
      processes: 2,
      initializer: (c: typeof calls) => {
        (globalThis as { calls?: typeof calls }).calls = c;
      },
      initargs: [calls],
    });
    await pool.map(async () => {
      const c = (globalThis as { calls?: typeof calls }).calls!;
      await c.getLock().withLock(() => {
        c.value += 1;
      });
    }, Array.from({ length: 20 }));
    assert.equal(calls.value, 20);
  });

  test("Pool.apply() returns a Value made in a worker, still shared with it", async () => {
    await using pool = new Pool(1);
    const url = new URL("../lib/sharedctypes.ts", import.meta.url).href;
    const made = await pool.apply(async (url: string) => {
      const { Value } = await import(url) as typeof sharedctypes;
      return Value("q", 41n);
    }, [url]) as sharedctypes.SynchronizedValue<"q">;
    assert.equal(made.value, 41n);
    assert.ok(made.getLock() instanceof RLock);
    made.value += 1n;
    assert.equal(await pool.apply((v: typeof made) => v.value, [made]), 42n);
  });
});

describe("sharedctypes with Pool and Process (mod.ts)", () => {
  test(
    "Pool.apply() task and caller see each other's RawValue writes while it runs",
    slow,
    async () => {
      await using pool = new Pool(1);
      const rv = RawValue("d", 0);
      const seen = pool.apply(async (v: typeof rv) => {
        v.value = 1.5;
        // Waits for the caller's write: it must reach this worker while the task still runs.
        const deadline = Date.now() + 10_000;
        while (v.value === 1.5 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        return v.value;
      }, [rv]);
      await until(() => rv.value === 1.5, "the task's write is seen here");
      rv.value = -2.25;
      assert.equal(await seen, -2.25);
      assert.equal(rv.value, -2.25);
    },
  );

  test(
    "Process target writes a RawValue, RawArray and Value nested in its args",
    slow,
    async () => {
      const shared = { rv: RawValue("q", 1n), ra: RawArray("i", 3), v: [Value("i", 10)] };
      const p = new mp.Process({
        target: async ({ rv, ra, v: [value] }: typeof shared) => {
          rv.value = -(2n ** 40n);
          ra[1] = 7;
          Atomics.add(ra, 2, 5);
          const lock = value.getLock();
          await lock.acquire();
          value.value += 32;
          lock.release();
        },
        args: [shared],
      });
      p.start();
      await p.join();
      assert.equal(p.exitcode, 0);
      assert.equal(shared.rv.value, -(2n ** 40n));
      assert.deepEqual([...shared.ra], [0, 7, 5]);
      assert.equal(shared.v[0].value, 42);
    },
  );

  test(
    "Value and Array writes in one pool worker are seen by another after an Event",
    slow,
    async () => {
      await using pool = new Pool(2);
      const v = mp.Value("i", 0);
      const a = mp.Array("d", 3);
      const ready = new mp.Event();
      const written = new mp.Event();
      type Args = [typeof v, typeof a, mp.Event, mp.Event];
      const args: Args = [v, a, ready, written];
      const writer = pool.apply(async (v, a, ready, written) => {
        // Writes only once the reader waits: the reader cannot have read before.
        if (!await ready.wait(10_000)) throw new Error("the reader never got ready");
        v.value = 42;
        a[2] = 0.5;
        written.set();
        return (await import("node:worker_threads")).threadId;
      }, args);
      const reader = pool.apply(async (v, a, ready, written) => {
        const before = [v.value, a[2]];
        ready.set();
        if (!await written.wait(10_000)) throw new Error("the writer never wrote");
        const after = [v.value, a[2]];
        return { before, after, thread: (await import("node:worker_threads")).threadId };
      }, args);
      const [writerThread, report] = await Promise.all([writer, reader]);
      assert.deepEqual(report.before, [0, 0]);
      assert.deepEqual(report.after, [42, 0.5]);
      assert.notEqual(writerThread, report.thread, "the two tasks ran in two workers");
    },
  );

  /** Adds 1 to `v` `times` times once both tasks are at `start`, under its lock or not. */
  const add = async (
    v: mp.SynchronizedValue<"i">,
    times: number,
    start: mp.Barrier,
    locked: boolean,
  ) => {
    await start.wait(10_000);
    if (!locked) {
      // No await between the read and the write: only the other worker comes between them.
      for (let i = 0; i < times; i++) v.value += 1;
      return;
    }
    const lock = v.getLock();
    for (let i = 0; i < times; i++) {
      await lock.acquire();
      v.value += 1;
      lock.release();
    }
  };

  test("Value loses updates when two Pool tasks add without its lock", slow, async () => {
    // The seed's race through the library: as in "Value() loses updates when two workers add
    // without its lock", the test tries again should the two loops not overlap.
    await using pool = new Pool(2);
    const times = 1_000_000;
    const finals: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const v = mp.Value("i", 0);
      const start = new mp.Barrier(2);
      await Promise.all([
        pool.apply(add, [v, times, start, false]),
        pool.apply(add, [v, times, start, false]),
      ]);
      finals.push(v.value);
      if (v.value < 2 * times) break;
    }
    const last = finals.at(-1)!;
    assert.ok(last > 0 && last < 2 * times, `expected lost updates, got ${finals} of 2000000`);
  });

  test("Value loses no update when two Pool tasks add under getLock()", slow, async () => {
    await using pool = new Pool(2);
    const times = 100_000;
    const v = mp.Value("i", 0);
    const start = new mp.Barrier(2);
    await Promise.all([
      pool.apply(add, [v, times, start, true]),
      pool.apply(add, [v, times, start, true]),
    ]);
    assert.equal(v.value, 2 * times);
  });
});

describe("sharedctypes with dummy.Process and dummy.Pool", () => {
  const make = () => ({
    v: dummy.Value("i", 0),
    rv: dummy.RawValue("d", 0),
    a: dummy.Array("q", 2),
    ra: dummy.RawArray("B", 2),
  });
  type Shared = ReturnType<typeof make>;
  const write = (s: Shared, n: number) => {
    s.v.value = n;
    s.rv.value = n + 0.5;
    s.a[1] = BigInt(n);
    s.ra[0] = n;
  };
  const read = (s: Shared) => [s.v.value, s.rv.value, s.a[1], s.ra[0]];

  test("dummy.Process and dummy.Pool tasks write Value, RawValue, Array and RawArray", async () => {
    const byProcess = make();
    const p = new dummy.Process({ target: write, args: [byProcess, 3] });
    p.start();
    await p.join();
    assert.equal(p.exitcode, 0);
    assert.deepEqual(read(byProcess), [3, 3.5, 3n, 3]);

    await using pool = new dummy.Pool(2);
    const byPool = make();
    await pool.apply(write, [byPool, 5]);
    assert.deepEqual(read(byPool), [5, 5.5, 5n, 5]);
    // And the caller's writes are seen by the next task.
    write(byPool, 6);
    assert.deepEqual(await pool.apply(read, [byPool]), [6, 6.5, 6n, 6]);
  });

  test("dummy tasks get getLock() on Value and Array, none with lock: false or raw", async () => {
    const objects = {
      value: dummy.Value("i", 0),
      array: dummy.Array("i", 1),
      unlockedValue: dummy.Value("i", 0, { lock: false }),
      unlockedArray: dummy.Array("i", 1, { lock: false }),
      rawValue: dummy.RawValue("i", 0),
      rawArray: dummy.RawArray("i", 1),
    };
    const hasGetLock = (o: typeof objects) =>
      Object.fromEntries(Object.entries(o).map(([k, x]) => [k, "getLock" in x]));
    const expected = {
      value: true,
      array: true,
      unlockedValue: false,
      unlockedArray: false,
      rawValue: false,
      rawArray: false,
    };
    await using pool = new dummy.Pool(1);
    assert.deepEqual(await pool.apply(hasGetLock, [objects]), expected);
    let inProcess: unknown;
    const p = new dummy.Process({
      target: async (o: typeof objects) => {
        inProcess = hasGetLock(o);
        // The lock works there: an RLock held by this process.
        assert.equal(await o.value.getLock().acquire({ block: false }), true);
        o.value.getLock().release();
        assert.equal(await o.array.getLock().acquire({ block: false }), true);
        o.array.getLock().release();
      },
      args: [objects],
    });
    p.start();
    await p.join();
    assert.equal(p.exitcode, 0);
    assert.deepEqual(inProcess, expected);
  });

  /** Two dummy.Process each add 1 to `v` `times` times, awaiting a macrotask between read and write. */
  async function addInTwoDummyProcesses(
    v: mp.SynchronizedValue<"i">,
    times: number,
    locked: boolean,
  ): Promise<void> {
    const target = async () => {
      const lock = v.getLock();
      for (let i = 0; i < times; i++) {
        if (locked) await lock.acquire();
        try {
          const x = v.value;
          await new Promise((resolve) => setTimeout(resolve, 0));
          v.value = x + 1;
        } finally {
          if (locked) lock.release();
        }
      }
    };
    const processes = [new dummy.Process({ target }), new dummy.Process({ target })];
    for (const p of processes) p.start();
    for (const p of processes) await p.join();
    assert.deepEqual(processes.map((p) => p.exitcode), [0, 0]);
  }

  test("Value loses updates when two dummy.Process read, await and write without its lock", async () => {
    const v = dummy.Value("i", 0);
    await addInTwoDummyProcesses(v, 20, false);
    assert.ok(v.value >= 20 && v.value < 40, `expected lost updates, got ${v.value} of 40`);
  });

  test("Value loses no update when two dummy.Process read, await and write under getLock()", async () => {
    const v = dummy.Value("i", 0);
    await addInTwoDummyProcesses(v, 20, true);
    assert.equal(v.value, 40);
  });
});
