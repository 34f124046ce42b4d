/**
 * Proxies (CPython's `BaseProxy` and the proxy types of `multiprocessing.managers`): objects
 * in any worker, or in another program, that stand for a manager's objects and call their
 * methods. Internal: users import them from `lib/managers.ts`.
 *
 * @module
 */
import { setTimeout as timer } from "node:timers";
import {
  describe,
  functionDef,
  reduce,
  sharedObjectCreated,
  type TaskFunction,
} from "./reduction.ts";
import type { AcquireOptions } from "./synchronize.ts";
import { type Channel, type Reference, setProxyMaker } from "./_manager_channel.ts";

/** Proxy classes by typeid, as `register()` named them, for the proxies a server sends. */
export const proxyTypesByTypeid = new Map<string, ProxyType>();

// ---- Proxies ------------------------------------------------------------------------------------

const channels = new WeakMap<BaseProxy, Channel>();
const references = new WeakMap<BaseProxy, Reference>();

// Each proxy holds one reference to its object in the server (taken when the server sent it,
// or when it arrived from another thread), given back once the proxy is garbage.
const collected = new FinalizationRegistry<{ channel: Channel; id: string }>(
  ({ channel, id }) => channel.refs.decref(id),
);

// A proxy sent to a worker is kept alive here for a while (10 to 20 s): the worker takes its
// reference on arrival, which must reach the server before this thread's proxy, if dropped
// at once, gives back its own (CPython leaves this race open).
const TRANSIT_MS = 10_000;
let inTransit: object[] = [];
let leaving: object[] = [];
let transitTimer = false;

function holdInTransit(proxy: object): void {
  inTransit.push(proxy);
  if (transitTimer) return;
  transitTimer = true;
  const rotate = () => {
    leaving = inTransit;
    inTransit = [];
    transitTimer = leaving.length > 0;
    if (transitTimer) timer(rotate, TRANSIT_MS).unref();
  };
  timer(rotate, TRANSIT_MS).unref();
}

/** A proxy class: what {@linkcode BaseManager.register}'s `proxytype` names. */
export type ProxyType = new (token: ProxyToken) => BaseProxy;

/** What a proxy is made from: passed to proxy constructors by the library. */
export interface ProxyToken {
  /** The typeid the object was created as. */
  readonly typeid: string;
  /** The object's id in its manager. */
  readonly id: string;
  /** The methods proxies may call. */
  readonly exposed: readonly string[];
}

let channelForNext: Channel | undefined;

/**
 * The base of every proxy (CPython's `BaseProxy`): stands for an object held by a manager;
 * its methods call the object's methods there and return promises of their results. Pass
 * proxies to `Process` targets and pool tasks as arguments; they reach the same object.
 *
 * Subclass it to give a registered type a typed proxy, each method calling
 * {@linkcode BaseProxy.callMethod}.
 *
 * @example Usage
 * ```ts
 * import { BaseManager, BaseProxy } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * class Counter {
 *   n = 0;
 *   add(k: number): number {
 *     return this.n += k;
 *   }
 * }
 * class CounterProxy extends BaseProxy {
 *   add(k: number): Promise<number> {
 *     return this.callMethod("add", [k]) as Promise<number>;
 *   }
 * }
 * class Counters extends BaseManager {}
 * Counters.register("Counter", () => new Counter(), { proxytype: CounterProxy });
 * await using manager = new Counters();
 * await manager.getServer().listen();
 * await manager.connect();
 * const counter = await manager.create<CounterProxy>("Counter");
 * assert.equal(await counter.add(2), 2);
 * assert.equal(await counter.add(3), 5);
 * ```
 */
export class BaseProxy {
  /**
   * Creates a proxy; the library calls this with the object's token.
   *
   * @param token The object's typeid, id and exposed methods.
   */
  constructor(token: ProxyToken) {
    const channel = channelForNext;
    channelForNext = undefined;
    if (channel === undefined) {
      throw new TypeError(
        "Cannot create a proxy directly: a manager's methods create objects and return their proxies",
      );
    }
    channels.set(this, channel);
    references.set(this, { t: token.typeid, i: token.id, e: [...token.exposed] });
    collected.register(this, { channel, id: token.id });
    sharedObjectCreated();
  }

  /**
   * The typeid the object was created as.
   *
   * @returns The typeid.
   */
  get typeid(): string {
    return references.get(this)!.t;
  }

  /**
   * Calls `method` of the object in the manager.
   *
   * @param method The method's name, one of the exposed.
   * @param args Its arguments: data (see the module doc) or proxies.
   * @returns What the method returned (awaited in the manager), or a proxy.
   * @throws {RemoteError} If the object does not expose `method`.
   * @throws {TypeError} If an argument cannot travel.
   */
  callMethod(method: string, args: unknown[] = []): Promise<unknown> {
    // Optional arguments left out arrive left out: MessagePack would turn undefined into null.
    let n = args.length;
    while (n > 0 && args[n - 1] === undefined) n--;
    try {
      return channels.get(this)!.call(
        references.get(this)!.i,
        method,
        n === args.length ? args : args.slice(0, n),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A copy of the object's value, where the type offers one (`copy()`).
   *
   * @returns A plain copy.
   */
  copy(): Promise<unknown> {
    return this.callMethod("copy");
  }

  /**
   * How the proxy travels to a manager: as a reference to its object.
   *
   * @returns The reference record.
   */
  toWire(): unknown {
    const reference = references.get(this)!;
    return channels.get(this)!.wire?.(reference) ?? reference;
  }

  /**
   * How the proxy travels to workers: its manager's address and key, and its reference.
   *
   * @returns The kind `"Proxy"` and the state.
   * @throws {TypeError} For a proxy of a `dummy.ts` manager, which lives on one thread.
   */
  [reduce](): { kind: string; state: unknown } {
    const route = channels.get(this)!.route;
    if (route === undefined) {
      throw new TypeError(
        "Cannot send a proxy of a dummy.ts manager to a worker: its objects live on this thread; use the Manager of mod.ts",
      );
    }
    holdInTransit(this);
    return {
      kind: "Proxy",
      state: { route, reference: references.get(this), proxytype: this.constructor.name },
    };
  }

  /**
   * A short description, as Python's proxy repr.
   *
   * @returns `<TypeProxy object, typeid 'dict' at id>`.
   */
  toString(): string {
    const r = references.get(this)!;
    return `<${this.constructor.name} object, typeid '${r.t}' at ${r.i}>`;
  }
}

export const proxyTypes = new Map<string, ProxyType>();

export function makeProxy(
  channel: Channel,
  reference: Reference,
  proxytype?: ProxyType,
): BaseProxy {
  const P = proxytype ?? proxyTypesByTypeid.get(reference.t) ?? BUILTIN_PROXIES[reference.t] ??
    AutoProxy;
  channelForNext = channel;
  try {
    return new P({ typeid: reference.t, id: reference.i, exposed: reference.e });
  } finally {
    channelForNext = undefined;
  }
}

/** A property of a proxy's target, its methods bound to it: they use its private state. */
function own(target: BaseProxy, prop: string | symbol): unknown {
  const value = Reflect.get(target, prop, target);
  return typeof value === "function" ? value.bind(target) : value;
}

/**
 * A proxy of any object (CPython's `AutoProxy`): each exposed method is a method of the
 * proxy, which returns a promise.
 *
 * @example Usage
 * ```ts
 * import { BaseManager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const shared: number[] = [];
 * class Remote extends BaseManager {}
 * Remote.register("getList", () => shared);
 * await using manager = new Remote();
 * await manager.getServer().listen();
 * await manager.connect();
 * // deno-lint-ignore no-explicit-any
 * const list = await manager.create<any>("getList");
 * await list.push(1, 2);
 * assert.deepEqual(await list.slice(), [1, 2]);
 * ```
 */
export class AutoProxy extends BaseProxy {
  /**
   * Creates a proxy whose exposed methods are its own.
   *
   * @param token The object's typeid, id and exposed methods.
   */
  constructor(token: ProxyToken) {
    super(token);
    const exposed = new Set(token.exposed);
    // deno-lint-ignore no-this-alias
    const self = this;
    return new Proxy(this, {
      get(target, prop) {
        if (typeof prop === "string" && exposed.has(prop) && !(prop in BaseProxy.prototype)) {
          return (...args: unknown[]) => self.callMethod(prop, args);
        }
        return own(target, prop);
      },
    });
  }
}

/**
 * The proxy of a manager's `Namespace()`: attributes read with `get(name)` (or `await ns.name`)
 * and written with `set(name, value)` (or `ns.name = value`, sent at once, in order).
 *
 * As in Python, an attribute whose name starts with `_` is the proxy's own: it stays on this
 * proxy object, is never sent to the manager, and other holders of the namespace do not see it.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const ns = await manager.Namespace();
 * await ns.set("a", 1);
 * assert.equal(await ns.get("a"), 1);
 * ns._note = "mine"; // stays on this proxy
 * assert.equal(ns._note, "mine");
 * assert.deepEqual(await ns.copy(), { a: 1 });
 * ```
 */
export class NamespaceProxy extends BaseProxy {
  #failed: unknown;
  // The attributes whose names start with `_`: the proxy's own, as in Python.
  readonly #own = new Map<string, unknown>();

  /**
   * Creates the proxy; `ns.name` reads and `ns.name = value` writes an attribute.
   *
   * @param token The object's typeid, id and exposed methods.
   */
  constructor(token: ProxyToken) {
    super(token);
    return new Proxy(this, {
      get(target, prop) {
        if (typeof prop === "symbol" || prop in target || prop === "then") return own(target, prop);
        if (prop.startsWith("_")) return target.#own.get(prop);
        return target.get(prop);
      },
      set(target, prop, value) {
        if (typeof prop === "symbol" || prop in target) return false;
        if (prop.startsWith("_")) {
          target.#own.set(prop, value);
          return true;
        }
        // A value that cannot travel throws here, from the assignment itself.
        channels.get(target)!.check(value);
        target.set(prop, value).catch((error) => (target.#failed ??= error));
        return true;
      },
      deleteProperty(target, prop) {
        if (typeof prop === "string" && prop.startsWith("_")) {
          target.#own.delete(prop);
          return true;
        }
        return Reflect.deleteProperty(target, prop);
      },
    });
  }

  /**
   * Reads an attribute.
   *
   * @param name The attribute.
   * @returns Its value.
   * @throws {RangeError} If the namespace has no attribute of that name.
   */
  get(name: string): Promise<unknown> {
    if (typeof name === "string" && name.startsWith("_")) {
      if (this.#own.has(name)) return Promise.resolve(this.#own.get(name));
      return Promise.reject(
        new RangeError(
          `Cannot read attribute ${
            JSON.stringify(name)
          } as the proxy has none of that name: an attribute whose name starts with '_' is the proxy's own, as in Python, so set it on this proxy first`,
        ),
      );
    }
    return this.#check() ?? this.callMethod("getattr", [name]);
  }

  /**
   * Writes an attribute.
   *
   * @param name The attribute.
   * @param value Its new value.
   * @returns A promise that resolves once written.
   */
  set(name: string, value: unknown): Promise<void> {
    if (typeof name === "string" && name.startsWith("_")) {
      this.#own.set(name, value);
      return Promise.resolve();
    }
    return (this.#check() ?? this.callMethod("setattr", [name, value])) as Promise<void>;
  }

  /**
   * Deletes an attribute.
   *
   * @param name The attribute.
   * @returns A promise that resolves once deleted.
   * @throws {RangeError} If the namespace has no attribute of that name.
   */
  delete(name: string): Promise<void> {
    if (typeof name === "string" && name.startsWith("_")) {
      if (this.#own.delete(name)) return Promise.resolve();
      return Promise.reject(
        new RangeError(
          `Cannot delete attribute ${JSON.stringify(name)} as the proxy has none of that name`,
        ),
      );
    }
    return (this.#check() ?? this.callMethod("delattr", [name])) as Promise<void>;
  }

  /**
   * Whether the namespace has an attribute.
   *
   * @param name The attribute.
   * @returns `true` if it has.
   */
  has(name: string): Promise<boolean> {
    if (typeof name === "string" && name.startsWith("_")) {
      return Promise.resolve(this.#own.has(name));
    }
    return (this.#check() ?? this.callMethod("has", [name])) as Promise<boolean>;
  }

  /**
   * A plain object with every attribute.
   *
   * @returns The attributes.
   */
  override copy(): Promise<Record<string, unknown>> {
    return (this.#check() ?? this.callMethod("copy")) as Promise<Record<string, unknown>>;
  }

  /** An assignment `ns.name = value` that failed fails the next call, as it could not then. */
  #check(): Promise<never> | undefined {
    if (this.#failed === undefined) return undefined;
    const error = this.#failed;
    this.#failed = undefined;
    return Promise.reject(error);
  }
}

/**
 * The proxy of a manager's `dict()` (Python's `DictProxy`): a `Map` held by the manager.
 *
 * @typeParam K The keys' type.
 * @typeParam V The values' type.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const d = await manager.dict<string, number>({ count: 100 });
 * await d.set("count", (await d.get("count"))! - 1);
 * assert.equal(await d.get("count"), 99);
 * assert.deepEqual(await d.keys(), ["count"]);
 * for await (const key of d) assert.equal(key, "count");
 * ```
 *
 * @example Proxies inside a dict, and nested reads
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import type { DictProxy } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const supplies = await manager.dict({ water: 10 });
 * const d = await manager.dict<string, DictProxy<string, number>>({ supplies });
 * // A proxy stored in a container comes back as a proxy of the same object...
 * const again = await d.getItem("supplies");
 * await again.set("water", 7);
 * assert.equal(await supplies.get("water"), 7);
 * // ...and getIn() reads through it in one expression: Python's d["supplies"]["water"].
 * assert.equal(await d.getIn(["supplies", "water"]), 7);
 * ```
 */
export class DictProxy<K = unknown, V = unknown> extends BaseProxy {
  /**
   * Iterates over the keys, as Python's `for key in d`: a snapshot taken in one call when
   * the iteration starts.
   *
   * @returns An async iterator of the keys.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<K, void, undefined> {
    yield* await this.keys();
  }

  /**
   * Reads a value nested in this dict, as Python's `d[k1][k2]...`: each key of `path` reads
   * one level, through proxies stored in containers (one call each) and through plain
   * arrays, objects and `Map`s (read here).
   *
   * @typeParam R The value's type.
   * @param path The keys (and indices) from this dict down to the value.
   * @returns The value.
   * @throws {RangeError} If a key or index on the way is missing.
   * @throws {TypeError} If a value on the way has no keys to read.
   */
  getIn<R = unknown>(path: readonly unknown[]): Promise<R> {
    return readPath(this, path) as Promise<R>;
  }

  /**
   * Reads a key's value.
   *
   * @param key The key.
   * @param fallback What to return if the key is missing.
   * @returns The value, or `fallback`.
   */
  get(key: K, fallback?: V): Promise<V | undefined> {
    return this.callMethod("get", [key, fallback]) as Promise<V | undefined>;
  }

  /**
   * Reads a key's value, as Python's `d[key]`.
   *
   * @param key The key.
   * @returns The value.
   * @throws {RangeError} If the key is missing (Python's `KeyError`).
   */
  getItem(key: K): Promise<V> {
    return this.callMethod("getItem", [key]) as Promise<V>;
  }

  /**
   * Writes a key's value, as Python's `d[key] = value`.
   *
   * @param key The key.
   * @param value The value.
   * @returns A promise that resolves once written.
   */
  set(key: K, value: V): Promise<void> {
    return this.callMethod("set", [key, value]) as Promise<void>;
  }

  /**
   * Deletes a key, as Python's `del d[key]`.
   *
   * @param key The key.
   * @returns A promise that resolves once deleted.
   * @throws {RangeError} If the key is missing.
   */
  delete(key: K): Promise<void> {
    return this.callMethod("delete", [key]) as Promise<void>;
  }

  /**
   * Whether the dict has a key.
   *
   * @param key The key.
   * @returns `true` if it has.
   */
  has(key: K): Promise<boolean> {
    return this.callMethod("has", [key]) as Promise<boolean>;
  }

  /**
   * The keys.
   *
   * @returns The keys, in insertion order.
   */
  keys(): Promise<K[]> {
    return this.callMethod("keys") as Promise<K[]>;
  }

  /**
   * The values.
   *
   * @returns The values, in insertion order.
   */
  values(): Promise<V[]> {
    return this.callMethod("values") as Promise<V[]>;
  }

  /**
   * The entries.
   *
   * @returns `[key, value]` pairs, in insertion order.
   */
  items(): Promise<[K, V][]> {
    return this.callMethod("items") as Promise<[K, V][]>;
  }

  /**
   * Removes a key and returns its value.
   *
   * @param key The key.
   * @param fallback What to return if the key is missing.
   * @returns The value, or `fallback`.
   * @throws {RangeError} If the key is missing and there is no fallback.
   */
  pop(key: K, ...fallback: [V?]): Promise<V> {
    return this.callMethod("pop", [key, ...fallback]) as Promise<V>;
  }

  /**
   * Removes the last entry and returns it.
   *
   * @returns `[key, value]`.
   * @throws {RangeError} If the dict is empty.
   */
  popitem(): Promise<[K, V]> {
    return this.callMethod("popitem") as Promise<[K, V]>;
  }

  /**
   * Returns a key's value, first setting it to `fallback` if it is missing.
   *
   * @param key The key.
   * @param fallback The value to set if it is missing.
   * @returns The value.
   */
  setdefault(key: K, fallback: V): Promise<V> {
    return this.callMethod("setdefault", [key, fallback]) as Promise<V>;
  }

  /**
   * Writes several entries.
   *
   * @param entries A `Map`, `[key, value]` pairs, or a plain object.
   * @returns A promise that resolves once written.
   */
  update(entries: Map<K, V> | [K, V][] | Record<string, V>): Promise<void> {
    return this.callMethod("update", [entries]) as Promise<void>;
  }

  /**
   * Removes every entry.
   *
   * @returns A promise that resolves once cleared.
   */
  clear(): Promise<void> {
    return this.callMethod("clear") as Promise<void>;
  }

  /**
   * The number of entries, as Python's `len(d)`.
   *
   * @returns The count.
   */
  length(): Promise<number> {
    return this.callMethod("length") as Promise<number>;
  }

  /**
   * A copy of the dict.
   *
   * @returns A `Map` of every entry.
   */
  override copy(): Promise<Map<K, V>> {
    return this.callMethod("copy") as Promise<Map<K, V>>;
  }
}

/** How many items each call of a list proxy's iteration reads. */
const LIST_ITERATION_SLICE = 256;

/** The value at `path` below `start`: one step per key, through proxies and plain values. */
async function readPath(start: unknown, path: readonly unknown[]): Promise<unknown> {
  if (!Array.isArray(path)) {
    throw new TypeError(
      `Cannot read a nested value as 'path' must be an array of keys: received ${describe(path)}`,
    );
  }
  let value = start;
  for (let step = 0; step < path.length; step++) {
    const key = path[step];
    const missing = () =>
      new RangeError(
        `Cannot read ${describe(key)} at step ${step + 1} of the path ${describe(path)} as ${
          describe(value)
        } has no such key or index`,
      );
    if (value instanceof DictProxy) value = await value.getItem(key);
    else if (value instanceof ListProxy || value instanceof ArrayProxy) {
      value = await value.get(key as number);
    } else if (value instanceof NamespaceProxy) value = await value.get(key as string);
    else if (value instanceof Map) {
      if (!value.has(key)) throw missing();
      value = value.get(key);
    } else if (Array.isArray(value)) {
      const i = typeof key === "number" && key < 0 ? key + value.length : key;
      if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= value.length) {
        throw missing();
      }
      value = value[i];
    } else if (
      typeof value === "object" && value !== null &&
      Object.getPrototypeOf(value) === Object.prototype
    ) {
      if (typeof key !== "string" || !Object.hasOwn(value, key)) throw missing();
      value = (value as Record<string, unknown>)[key];
    } else {
      throw new TypeError(
        `Cannot read ${describe(key)} at step ${step + 1} of the path ${describe(path)} as ${
          describe(value)
        } holds no keys or items: shorten the path`,
      );
    }
  }
  return value;
}

/**
 * The proxy of a manager's `list()` (Python's `ListProxy`): an array held by the manager.
 *
 * @typeParam T The items' type.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const list = await manager.list<string>(["a"]);
 * await list.extend(["b", "c"]);
 * assert.equal(await list.get(-1), "c");
 * assert.deepEqual(await list.copy(), ["a", "b", "c"]);
 * const seen: string[] = [];
 * for await (const item of list) seen.push(item);
 * assert.deepEqual(seen, ["a", "b", "c"]);
 * ```
 *
 * @example A list of lists
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import type { ListProxy } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const rows = await manager.list<ListProxy<number>>([
 *   await manager.list([1, 2]),
 *   await manager.list([3, 4]),
 * ]);
 * await (await rows.get(1)).set(0, 30); // Python's rows[1][0] = 30
 * assert.equal(await rows.getIn([1, 0]), 30); // Python's rows[1][0]
 * ```
 */
export class ListProxy<T = unknown> extends BaseProxy {
  /**
   * Iterates over the items, as Python's `for item in l`: read in slices of 256 items, so
   * that a long list takes a few calls, and items appended while it iterates are seen.
   *
   * @returns An async iterator of the items.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (let start = 0;; start += LIST_ITERATION_SLICE) {
      const items = await this.slice(start, start + LIST_ITERATION_SLICE);
      yield* items;
      if (items.length < LIST_ITERATION_SLICE) return;
    }
  }

  /**
   * Reads a value nested in this list, as Python's `l[i][j]...`: each index (or key) of
   * `path` reads one level, through proxies stored in containers (one call each) and through
   * plain arrays, objects and `Map`s (read here).
   *
   * @typeParam R The value's type.
   * @param path The indices (and keys) from this list down to the value.
   * @returns The value.
   * @throws {RangeError} If an index or key on the way is missing.
   * @throws {TypeError} If a value on the way has no items to read.
   */
  getIn<R = unknown>(path: readonly unknown[]): Promise<R> {
    return readPath(this, path) as Promise<R>;
  }

  /**
   * Reads an item, as Python's `l[i]`; a negative index counts from the end.
   *
   * @param index The index.
   * @returns The item.
   * @throws {RangeError} If the index is out of range.
   */
  get(index: number): Promise<T> {
    return this.callMethod("get", [index]) as Promise<T>;
  }

  /**
   * Writes an item, as Python's `l[i] = value`.
   *
   * @param index The index.
   * @param value The item.
   * @returns A promise that resolves once written.
   * @throws {RangeError} If the index is out of range.
   */
  set(index: number, value: T): Promise<void> {
    return this.callMethod("set", [index, value]) as Promise<void>;
  }

  /**
   * Adds an item at the end.
   *
   * @param value The item.
   * @returns A promise that resolves once added.
   */
  append(value: T): Promise<void> {
    return this.callMethod("append", [value]) as Promise<void>;
  }

  /**
   * Adds items at the end.
   *
   * @param values The items.
   * @returns A promise that resolves once added.
   */
  extend(values: T[]): Promise<void> {
    return this.callMethod("extend", [values]) as Promise<void>;
  }

  /**
   * Inserts an item before `index`.
   *
   * @param index Where.
   * @param value The item.
   * @returns A promise that resolves once inserted.
   */
  insert(index: number, value: T): Promise<void> {
    return this.callMethod("insert", [index, value]) as Promise<void>;
  }

  /**
   * Removes an item and returns it.
   *
   * @param index Which, the last by default.
   * @returns The item.
   * @throws {RangeError} If the list is empty or the index out of range.
   */
  pop(index?: number): Promise<T> {
    return this.callMethod("pop", index === undefined ? [] : [index]) as Promise<T>;
  }

  /**
   * Removes the first item equal to `value`.
   *
   * @param value The item.
   * @returns A promise that resolves once removed.
   * @throws {Error} If no item is equal to it.
   */
  remove(value: T): Promise<void> {
    return this.callMethod("remove", [value]) as Promise<void>;
  }

  /**
   * The index of the first item equal to `value`.
   *
   * @param value The item.
   * @returns Its index.
   * @throws {Error} If no item is equal to it.
   */
  index(value: T): Promise<number> {
    return this.callMethod("index", [value]) as Promise<number>;
  }

  /**
   * How many items are equal to `value`.
   *
   * @param value The item.
   * @returns The count.
   */
  count(value: T): Promise<number> {
    return this.callMethod("count", [value]) as Promise<number>;
  }

  /**
   * Whether an item is equal to `value`, as Python's `value in l`.
   *
   * @param value The item.
   * @returns `true` if one is.
   */
  includes(value: T): Promise<boolean> {
    return this.callMethod("includes", [value]) as Promise<boolean>;
  }

  /**
   * Sorts the items in place, ascending (or descending with `reverse`).
   *
   * @param reverse Whether to sort descending.
   * @returns A promise that resolves once sorted.
   */
  sort(reverse = false): Promise<void> {
    return this.callMethod("sort", [reverse]) as Promise<void>;
  }

  /**
   * Reverses the items in place.
   *
   * @returns A promise that resolves once reversed.
   */
  reverse(): Promise<void> {
    return this.callMethod("reverse") as Promise<void>;
  }

  /**
   * Removes every item.
   *
   * @returns A promise that resolves once cleared.
   */
  clear(): Promise<void> {
    return this.callMethod("clear") as Promise<void>;
  }

  /**
   * The number of items, as Python's `len(l)`.
   *
   * @returns The count.
   */
  length(): Promise<number> {
    return this.callMethod("length") as Promise<number>;
  }

  /**
   * A copy of some items, as Python's `l[start:end]`.
   *
   * @param start The first index.
   * @param end The index after the last.
   * @returns The items.
   */
  slice(start?: number, end?: number): Promise<T[]> {
    return this.callMethod("slice", [start, end]) as Promise<T[]>;
  }

  /**
   * A copy of the list.
   *
   * @returns Every item, as an array.
   */
  override copy(): Promise<T[]> {
    return this.callMethod("copy") as Promise<T[]>;
  }
}

/**
 * The proxy of a manager's `Value()` (Python's `ValueProxy`): `await v.value` reads the value
 * and `v.value = x` writes it (sent at once, in order, as a `Namespace` attribute is; a write
 * that fails fails the next call), as Python's `v.value`; `get()` and `set()` are the same as
 * calls.
 *
 * @typeParam T The value's type.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const v = await manager.Value("i", 1);
 * v.value = 2;
 * assert.equal(await v.value, 2);
 * await v.set(3);
 * assert.equal(await v.get(), 3);
 * ```
 */
export class ValueProxy<T = unknown> extends BaseProxy {
  #failed: unknown;

  /**
   * The value, read from the manager: `await v.value`.
   *
   * @returns A promise of the value.
   */
  get value(): Promise<T> {
    return this.get();
  }

  /**
   * Writes the value, as Python's `v.value = x`: sent at once; a write that fails makes the
   * next call of this proxy fail with its error.
   *
   * @param value The new value.
   * @throws {TypeError} If the value cannot travel to the manager.
   */
  set value(value: T) {
    // A value that cannot travel throws here, from the assignment itself.
    channels.get(this)!.check(value);
    this.callMethod("set", [value]).catch((error) => (this.#failed ??= error));
  }

  /**
   * Reads the value.
   *
   * @returns The value.
   */
  get(): Promise<T> {
    return (this.#check() ?? this.callMethod("get")) as Promise<T>;
  }

  /**
   * Writes the value.
   *
   * @param value The new value.
   * @returns A promise that resolves once written.
   */
  set(value: T): Promise<void> {
    return (this.#check() ?? this.callMethod("set", [value])) as Promise<void>;
  }

  /** An assignment `v.value = x` that failed fails the next call, as it could not then. */
  #check(): Promise<never> | undefined {
    if (this.#failed === undefined) return undefined;
    const error = this.#failed;
    this.#failed = undefined;
    return Promise.reject(error);
  }
}

/**
 * The proxy of a manager's `Array()` (Python's `ArrayProxy`): a typed array held by the
 * manager.
 *
 * @typeParam T The items' type: `number`, or `bigint` for `q` and `Q`.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const a = await manager.Array("d", [0.5, 1.5]);
 * await a.set(0, 2.5);
 * assert.deepEqual(await a.copy(), [2.5, 1.5]);
 * ```
 */
export class ArrayProxy<T = number> extends BaseProxy {
  /**
   * Reads an item.
   *
   * @param index The index; negative counts from the end.
   * @returns The item.
   * @throws {RangeError} If the index is out of range.
   */
  get(index: number): Promise<T> {
    return this.callMethod("get", [index]) as Promise<T>;
  }

  /**
   * Writes an item.
   *
   * @param index The index; negative counts from the end.
   * @param value The item.
   * @returns A promise that resolves once written.
   * @throws {RangeError} If the index is out of range.
   */
  set(index: number, value: T): Promise<void> {
    return this.callMethod("set", [index, value]) as Promise<void>;
  }

  /**
   * The number of items.
   *
   * @returns The length.
   */
  length(): Promise<number> {
    return this.callMethod("length") as Promise<number>;
  }

  /**
   * A copy of the items.
   *
   * @returns The items, as an array.
   */
  override copy(): Promise<T[]> {
    return this.callMethod("copy") as Promise<T[]>;
  }
}

/**
 * The proxy of a manager's `Lock()`, `RLock()`, `Semaphore()` and `BoundedSemaphore()`
 * (Python's `AcquirerProxy`). An `RLock` belongs to the thread whose proxy acquired it.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const lock = await manager.Lock();
 * assert.equal(await lock.acquire(), true);
 * assert.equal(await lock.acquire({ block: false }), false);
 * await lock.release();
 * assert.equal(await lock.withLock(() => 42), 42);
 * ```
 */
export class AcquirerProxy extends BaseProxy {
  /**
   * Acquires, waiting as the object's `acquire()` does.
   *
   * @param options `{ block: false }` or `{ timeout }`.
   * @returns `true` once acquired; `false` on a failed non-blocking call or a timeout.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    return this.callMethod("acquire", options === undefined ? [] : [options]) as Promise<
      boolean
    >;
  }

  /**
   * Releases.
   *
   * @returns A promise that resolves once released.
   * @throws {Error} If it was not acquired.
   */
  release(): Promise<void> {
    return this.callMethod("release") as Promise<void>;
  }

  /**
   * Runs `fn` while holding it, as Python's `with lock:`.
   *
   * @typeParam T What `fn` returns.
   * @param fn The work to do while holding it.
   * @returns What `fn` returned.
   */
  async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}

/**
 * The proxy of a manager's `Condition()` (Python's `ConditionProxy`). `waitFor()` runs its
 * predicate here, waiting in the manager between checks.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const cond = await manager.Condition();
 * await cond.acquire();
 * assert.equal(await cond.wait(10), false); // nobody notified
 * await cond.release();
 * ```
 */
export class ConditionProxy extends AcquirerProxy {
  /**
   * Releases the lock, waits until notified or `timeout` passes, and acquires it again.
   *
   * @param timeout Milliseconds to wait at most.
   * @returns `false` if the timeout passed.
   */
  wait(timeout?: number): Promise<boolean> {
    return this.callMethod("wait", timeout === undefined ? [] : [timeout]) as Promise<boolean>;
  }

  /**
   * Waits until `predicate()` is truthy, checking after each notification.
   *
   * @typeParam T What the predicate returns.
   * @param predicate Checked here, with the lock held.
   * @param timeout Milliseconds to wait at most.
   * @returns The predicate's last value.
   */
  async waitFor<T>(predicate: () => T | Promise<T>, timeout?: number): Promise<T> {
    const deadline = timeout === undefined ? Infinity : performance.now() + timeout;
    let result = await predicate();
    while (!result) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      await this.wait(left === Infinity ? undefined : left);
      result = await predicate();
    }
    return result;
  }

  /**
   * Wakes up to `n` waiters.
   *
   * @param n How many.
   * @returns A promise that resolves once notified.
   */
  notify(n = 1): Promise<void> {
    return this.callMethod("notify", [n]) as Promise<void>;
  }

  /**
   * Wakes every waiter.
   *
   * @returns A promise that resolves once notified.
   */
  notifyAll(): Promise<void> {
    return this.callMethod("notifyAll") as Promise<void>;
  }
}

/**
 * The proxy of a manager's `Event()` (Python's `EventProxy`).
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const ev = await manager.Event();
 * assert.equal(await ev.wait(10), false);
 * await ev.set();
 * assert.equal(await ev.isSet(), true);
 * ```
 */
export class EventProxy extends BaseProxy {
  /**
   * Raises the flag, waking every waiter.
   *
   * @returns A promise that resolves once set.
   */
  set(): Promise<void> {
    return this.callMethod("set") as Promise<void>;
  }

  /**
   * Lowers the flag.
   *
   * @returns A promise that resolves once cleared.
   */
  clear(): Promise<void> {
    return this.callMethod("clear") as Promise<void>;
  }

  /**
   * Whether the flag is raised.
   *
   * @returns `true` if it is.
   */
  isSet(): Promise<boolean> {
    return this.callMethod("isSet") as Promise<boolean>;
  }

  /**
   * Waits until the flag is raised or `timeout` passes.
   *
   * @param timeout Milliseconds to wait at most.
   * @returns `false` if the timeout passed.
   */
  wait(timeout?: number): Promise<boolean> {
    return this.callMethod("wait", timeout === undefined ? [] : [timeout]) as Promise<boolean>;
  }
}

/**
 * The proxy of a manager's `Barrier()` (Python's `BarrierProxy`).
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const barrier = await manager.Barrier(1);
 * assert.equal(await barrier.wait(), 0);
 * assert.equal(await barrier.parties, 1);
 * assert.equal(await barrier.nWaiting, 0);
 * assert.equal(await barrier.broken, false);
 * ```
 */
export class BarrierProxy extends BaseProxy {
  /**
   * Waits until every party has called it.
   *
   * @param timeout Milliseconds to wait at most.
   * @returns This party's index, 0 to parties - 1.
   * @throws {BrokenBarrierError} If the barrier breaks.
   */
  wait(timeout?: number): Promise<number> {
    return this.callMethod("wait", timeout === undefined ? [] : [timeout]) as Promise<number>;
  }

  /**
   * Breaks the barrier for its waiters, then makes it usable again.
   *
   * @returns A promise that resolves once reset.
   */
  reset(): Promise<void> {
    return this.callMethod("reset") as Promise<void>;
  }

  /**
   * Breaks the barrier until `reset()`.
   *
   * @returns A promise that resolves once broken.
   */
  abort(): Promise<void> {
    return this.callMethod("abort") as Promise<void>;
  }

  /**
   * How many parties pass it together, as `Barrier`'s `parties`: `await barrier.parties`.
   *
   * @returns A promise of the count.
   */
  get parties(): Promise<number> {
    return this.callMethod("getParties") as Promise<number>;
  }

  /**
   * How many parties wait at it now, as `Barrier`'s `nWaiting`: `await barrier.nWaiting`.
   *
   * @returns A promise of the count.
   */
  get nWaiting(): Promise<number> {
    return this.callMethod("getNWaiting") as Promise<number>;
  }

  /**
   * Whether it is broken, as `Barrier`'s `broken`: `await barrier.broken`.
   *
   * @returns A promise of `true` if it is.
   */
  get broken(): Promise<boolean> {
    return this.callMethod("isBroken") as Promise<boolean>;
  }
}

/**
 * The proxy of a manager's `Queue()` and `JoinableQueue()`.
 *
 * @typeParam T The items' type.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const q = await manager.Queue<string>();
 * await q.put("job");
 * assert.equal(await q.get(), "job");
 * assert.equal(await q.empty(), true);
 * ```
 */
export class QueueProxy<T = unknown> extends BaseProxy {
  /**
   * Puts an item, waiting while the queue is full.
   *
   * @param item The item.
   * @param options `{ block, timeout }`.
   * @returns A promise that resolves once put.
   * @throws {Full} If it stayed full.
   */
  put(item: T, options?: { block?: boolean; timeout?: number }): Promise<void> {
    return this.callMethod("put", options === undefined ? [item] : [item, options]) as Promise<
      void
    >;
  }

  /**
   * Takes an item, waiting while the queue is empty.
   *
   * @param options `{ block, timeout }`.
   * @returns The item.
   * @throws {Empty} If it stayed empty.
   */
  get(options?: { block?: boolean; timeout?: number }): Promise<T> {
    return this.callMethod("get", options === undefined ? [] : [options]) as Promise<T>;
  }

  /**
   * Puts an item without waiting.
   *
   * @param item The item.
   * @returns A promise that resolves once put.
   * @throws {Full} If the queue is full.
   */
  putNowait(item: T): Promise<void> {
    return this.callMethod("putNowait", [item]) as Promise<void>;
  }

  /**
   * Takes an item without waiting.
   *
   * @returns The item.
   * @throws {Empty} If the queue is empty.
   */
  getNowait(): Promise<T> {
    return this.callMethod("getNowait") as Promise<T>;
  }

  /**
   * How many items wait in the queue.
   *
   * @returns The count.
   */
  qsize(): Promise<number> {
    return this.callMethod("qsize") as Promise<number>;
  }

  /**
   * Whether the queue is empty.
   *
   * @returns `true` if it is.
   */
  empty(): Promise<boolean> {
    return this.callMethod("empty") as Promise<boolean>;
  }

  /**
   * Whether the queue is full.
   *
   * @returns `true` if it is.
   */
  full(): Promise<boolean> {
    return this.callMethod("full") as Promise<boolean>;
  }

  /**
   * Marks one item taken from a `JoinableQueue()` as done.
   *
   * @returns A promise that resolves once counted.
   * @throws {Error} If called more times than items were put.
   */
  taskDone(): Promise<void> {
    return this.callMethod("taskDone") as Promise<void>;
  }

  /**
   * Waits until every item put in a `JoinableQueue()` is done.
   *
   * @returns A promise that resolves then.
   */
  join(): Promise<void> {
    return this.callMethod("join") as Promise<void>;
  }
}

/**
 * The proxy of a manager's `AsyncResult` (a `PoolProxy`'s `applyAsync()` and `mapAsync()`).
 *
 * @typeParam T The result's type.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * await using pool = await manager.Pool(1);
 * const result = await pool.applyAsync((x: number) => x * 2, [21]);
 * assert.equal(await result.get(), 42);
 * assert.equal(await result.successful(), true);
 * ```
 */
export class AsyncResultProxy<T = unknown> extends BaseProxy {
  /**
   * Waits for the result.
   *
   * @param timeout Milliseconds to wait at most.
   * @returns The result.
   * @throws {TimeoutError} If the timeout passed first.
   */
  get(timeout?: number): Promise<T> {
    return this.callMethod("get", timeout === undefined ? [] : [timeout]) as Promise<T>;
  }

  /**
   * Waits until the result is ready, or `timeout` passes.
   *
   * @param timeout Milliseconds to wait at most.
   * @returns A promise that resolves then.
   */
  wait(timeout?: number): Promise<void> {
    return this.callMethod("wait", timeout === undefined ? [] : [timeout]) as Promise<void>;
  }

  /**
   * Whether the result is ready.
   *
   * @returns `true` once the task ended.
   */
  ready(): Promise<boolean> {
    return this.callMethod("ready") as Promise<boolean>;
  }

  /**
   * Whether the task ended without an error.
   *
   * @returns `true` if it did.
   * @throws {Error} If it is not ready.
   */
  successful(): Promise<boolean> {
    return this.callMethod("successful") as Promise<boolean>;
  }
}

/**
 * The proxy of a manager's `Pool()` (Python's `SyncManager.Pool`): a pool of the manager's
 * own workers. Task functions travel as for any pool: self-contained, or `fromModule()`.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * await using pool = await manager.Pool(2);
 * assert.deepEqual(await pool.map((x: number) => x * x, [1, 2, 3]), [1, 4, 9]);
 * ```
 */
export class PoolProxy extends BaseProxy {
  /**
   * Runs `fn(...args)` in a worker and resolves with its result.
   *
   * @typeParam A The arguments' types.
   * @typeParam R What `fn` returns.
   * @param fn The task: self-contained, or a `fromModule()` reference.
   * @param args Its arguments (data).
   * @returns Its result.
   */
  apply<A extends unknown[], R>(fn: TaskFunction<A, R>, args: A): Promise<Awaited<R>> {
    return this.callMethod("apply", [functionDef(fn), args]) as Promise<Awaited<R>>;
  }

  /**
   * Starts `fn(...args)` in a worker.
   *
   * @typeParam A The arguments' types.
   * @typeParam R What `fn` returns.
   * @param fn The task.
   * @param args Its arguments.
   * @returns A proxy of its `AsyncResult`.
   */
  applyAsync<A extends unknown[], R>(
    fn: TaskFunction<A, R>,
    args: A,
  ): Promise<AsyncResultProxy<Awaited<R>>> {
    return this.callMethod("applyAsync", [functionDef(fn), args]) as Promise<
      AsyncResultProxy<Awaited<R>>
    >;
  }

  /**
   * Applies `fn` to every item, in chunks, and resolves with the results in order.
   *
   * @typeParam T The items' type.
   * @typeParam R What `fn` returns.
   * @param fn The task.
   * @param items The items.
   * @param chunksize Items a task.
   * @returns The results.
   */
  map<T, R>(
    fn: TaskFunction<[T], R>,
    items: Iterable<T>,
    chunksize?: number,
  ): Promise<Awaited<R>[]> {
    return this.callMethod("map", [functionDef(fn), [...items], chunksize]) as Promise<
      Awaited<R>[]
    >;
  }

  /**
   * Starts `map()`.
   *
   * @typeParam T The items' type.
   * @typeParam R What `fn` returns.
   * @param fn The task.
   * @param items The items.
   * @param chunksize Items a task.
   * @returns A proxy of its `AsyncResult`.
   */
  mapAsync<T, R>(
    fn: TaskFunction<[T], R>,
    items: Iterable<T>,
    chunksize?: number,
  ): Promise<AsyncResultProxy<Awaited<R>[]>> {
    return this.callMethod("mapAsync", [functionDef(fn), [...items], chunksize]) as Promise<
      AsyncResultProxy<Awaited<R>[]>
    >;
  }

  /**
   * Calls `fn(...args)` for every argument list, and resolves with the results in order.
   *
   * @typeParam A The arguments' types.
   * @typeParam R What `fn` returns.
   * @param fn The task.
   * @param items The argument lists.
   * @param chunksize Items a task.
   * @returns The results.
   */
  starmap<A extends unknown[], R>(
    fn: TaskFunction<A, R>,
    items: Iterable<A>,
    chunksize?: number,
  ): Promise<Awaited<R>[]> {
    return this.callMethod("starmap", [functionDef(fn), [...items], chunksize]) as Promise<
      Awaited<R>[]
    >;
  }

  /**
   * Lets the submitted work finish, taking no more.
   *
   * @returns A promise that resolves once closed.
   */
  close(): Promise<void> {
    return this.callMethod("close") as Promise<void>;
  }

  /**
   * Stops the workers at once.
   *
   * @returns A promise that resolves once stopped.
   */
  terminate(): Promise<void> {
    return this.callMethod("terminate") as Promise<void>;
  }

  /**
   * Waits for the workers to end, after `close()` or `terminate()`.
   *
   * @returns A promise that resolves then.
   */
  join(): Promise<void> {
    return this.callMethod("join") as Promise<void>;
  }

  /**
   * Terminates the pool, as `await using` does.
   *
   * @returns A promise that resolves once stopped.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.terminate();
  }
}

export const BUILTIN_PROXIES: Record<string, ProxyType> = {
  Namespace: NamespaceProxy,
  dict: DictProxy,
  list: ListProxy,
  Value: ValueProxy,
  Array: ArrayProxy,
  Lock: AcquirerProxy,
  RLock: AcquirerProxy,
  Semaphore: AcquirerProxy,
  BoundedSemaphore: AcquirerProxy,
  Condition: ConditionProxy,
  Event: EventProxy,
  Barrier: BarrierProxy,
  Queue: QueueProxy,
  JoinableQueue: QueueProxy,
  Pool: PoolProxy,
  AsyncResult: AsyncResultProxy,
};

for (const P of [AutoProxy, ...Object.values(BUILTIN_PROXIES)]) proxyTypes.set(P.name, P);

setProxyMaker(makeProxy);
