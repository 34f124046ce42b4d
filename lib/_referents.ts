/**
 * The objects a `Manager()` holds for its proxies (CPython's `managers.SyncManager` types):
 * a namespace, a dict, a list, values and arrays, and the synchronisation primitives and
 * queues of this library, which work between the async tasks of the manager's thread.
 *
 * Each method here is what a proxy's method of the same name runs in the manager. Errors
 * follow Python's: a missing key or index is a `RangeError` (`KeyError`, `IndexError`), a
 * missing list item an `Error` (`ValueError`).
 *
 * @module
 */
import { isDeepStrictEqual } from "node:util";
import { describe } from "./reduction.ts";
import { typedArrayOf } from "./sharedctypes.ts";
import { Barrier } from "./synchronize.ts";

function keyName(key: unknown): string {
  return typeof key === "string" ? JSON.stringify(key) : describe(key);
}

function checkIndex(index: unknown, length: number, what: string): number {
  if (typeof index !== "number" || !Number.isInteger(index)) {
    throw new TypeError(
      `Cannot ${what} as the index must be an integer: received ${describe(index)}`,
    );
  }
  const i = index < 0 ? index + length : index;
  if (i < 0 || i >= length) {
    throw new RangeError(
      `Cannot ${what} as index ${index} is out of range for a list of length ${length}`,
    );
  }
  return i;
}

/** Whether `value` is, or holds, a proxy (an object that travels as a reference). */
function holdsProxy(value: unknown, depth = 0): boolean {
  if (typeof value !== "object" || value === null || depth > 32) return false;
  if (typeof (value as { toWire?: unknown }).toWire === "function") return true;
  const items = value instanceof Map
    ? [...value.keys(), ...value.values()]
    : Array.isArray(value) || value instanceof Set
    ? [...value]
    : Object.getPrototypeOf(value) === Object.prototype
    ? Object.values(value)
    : [];
  return items.some((v) => holdsProxy(v, depth + 1));
}

/** `value` with each proxy in it replaced by the reference it travels as. */
function byReference(value: unknown, depth = 0): unknown {
  if (typeof value !== "object" || value === null || depth > 32) return value;
  const wire = (value as { toWire?: () => unknown }).toWire;
  if (typeof wire === "function") return { reference: wire.call(value) };
  const inner = (v: unknown) => byReference(v, depth + 1);
  if (Array.isArray(value)) return value.map(inner);
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [inner(k), inner(v)]));
  if (value instanceof Set) return new Set([...value].map(inner));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, inner(v)]));
}

/**
 * An item's test of equality with `value`, as Python's `==`: deep equality, where two proxies
 * are equal if they stand for the same object (a proxy's state is private, and deep equality
 * alone would find any two proxies of a class equal).
 */
function equalTo(value: unknown): (item: unknown) => boolean {
  if (!holdsProxy(value)) return (item) => isDeepStrictEqual(item, value);
  const expected = byReference(value);
  return (item) => isDeepStrictEqual(byReference(item), expected);
}

/** A namespace's attributes (Python's `Namespace`). */
export class NamespaceReferent {
  #attributes: Record<string, unknown>;

  constructor(attributes: Record<string, unknown> = {}) {
    this.#attributes = { ...attributes };
  }

  getattr(name: string): unknown {
    if (!Object.hasOwn(this.#attributes, name)) {
      throw new RangeError(
        `Cannot read attribute ${
          keyName(name)
        } as the namespace has none of that name: set it first`,
      );
    }
    return this.#attributes[name];
  }

  setattr(name: string, value: unknown): void {
    this.#attributes[name] = value;
  }

  delattr(name: string): void {
    if (!Object.hasOwn(this.#attributes, name)) {
      throw new RangeError(
        `Cannot delete attribute ${keyName(name)} as the namespace has none of that name`,
      );
    }
    delete this.#attributes[name];
  }

  has(name: string): boolean {
    return Object.hasOwn(this.#attributes, name);
  }

  copy(): Record<string, unknown> {
    return { ...this.#attributes };
  }
}

/** A dict (Python's `dict`), as a `Map`: keys compare as `Map` keys do. */
export class DictReferent {
  #map: Map<unknown, unknown>;

  constructor(init?: unknown) {
    this.#map = init === undefined || init === null
      ? new Map()
      : init instanceof Map
      ? new Map(init)
      : Array.isArray(init)
      ? new Map(init as [unknown, unknown][])
      : new Map(Object.entries(init as Record<string, unknown>));
  }

  get(key: unknown, fallback?: unknown): unknown {
    return this.#map.has(key) ? this.#map.get(key) : fallback;
  }

  getItem(key: unknown): unknown {
    if (!this.#map.has(key)) {
      throw new RangeError(
        `Cannot read key ${
          keyName(key)
        } as the dict has no such key: use get(key, fallback) for a default`,
      );
    }
    return this.#map.get(key);
  }

  set(key: unknown, value: unknown): void {
    this.#map.set(key, value);
  }

  delete(key: unknown): void {
    if (!this.#map.delete(key)) {
      throw new RangeError(`Cannot delete key ${keyName(key)} as the dict has no such key`);
    }
  }

  has(key: unknown): boolean {
    return this.#map.has(key);
  }

  keys(): unknown[] {
    return [...this.#map.keys()];
  }

  values(): unknown[] {
    return [...this.#map.values()];
  }

  items(): [unknown, unknown][] {
    return [...this.#map];
  }

  pop(key: unknown, ...fallback: unknown[]): unknown {
    if (this.#map.has(key)) {
      const value = this.#map.get(key);
      this.#map.delete(key);
      return value;
    }
    if (fallback.length > 0) return fallback[0];
    throw new RangeError(
      `Cannot pop key ${
        keyName(key)
      } as the dict has no such key: pass a fallback as the second argument`,
    );
  }

  popitem(): [unknown, unknown] {
    let last: [unknown, unknown] | undefined;
    for (const entry of this.#map) last = entry;
    if (last === undefined) throw new RangeError("Cannot pop an item as the dict is empty");
    this.#map.delete(last[0]);
    return last;
  }

  setdefault(key: unknown, fallback?: unknown): unknown {
    if (!this.#map.has(key)) this.#map.set(key, fallback);
    return this.#map.get(key);
  }

  update(entries: unknown): void {
    const source = entries instanceof Map
      ? entries
      : Array.isArray(entries)
      ? entries as [unknown, unknown][]
      : Object.entries(entries as Record<string, unknown>);
    for (const [k, v] of source) this.#map.set(k, v);
  }

  clear(): void {
    this.#map.clear();
  }

  length(): number {
    return this.#map.size;
  }

  copy(): Map<unknown, unknown> {
    return new Map(this.#map);
  }
}

/** A list (Python's `list`), as an array. Items compare by deep equality, as `==` does. */
export class ListReferent {
  #items: unknown[];

  constructor(init?: unknown) {
    this.#items = init === undefined || init === null ? [] : [...(init as Iterable<unknown>)];
  }

  get(index: number): unknown {
    return this.#items[checkIndex(index, this.#items.length, "read the list item")];
  }

  set(index: number, value: unknown): void {
    this.#items[checkIndex(index, this.#items.length, "set the list item")] = value;
  }

  append(value: unknown): void {
    this.#items.push(value);
  }

  extend(values: unknown[]): void {
    for (const v of values) this.#items.push(v);
  }

  insert(index: number, value: unknown): void {
    const n = this.#items.length;
    const i = index < 0 ? Math.max(0, index + n) : Math.min(index, n);
    this.#items.splice(i, 0, value);
  }

  pop(index = -1): unknown {
    if (this.#items.length === 0) throw new RangeError("Cannot pop from the list as it is empty");
    const i = checkIndex(index, this.#items.length, "pop the list item");
    return this.#items.splice(i, 1)[0];
  }

  remove(value: unknown): void {
    const i = this.#items.findIndex(equalTo(value));
    if (i < 0) {
      throw new Error(`Cannot remove ${describe(value)} from the list as it is not there`);
    }
    this.#items.splice(i, 1);
  }

  index(value: unknown): number {
    const i = this.#items.findIndex(equalTo(value));
    if (i < 0) throw new Error(`Cannot find ${describe(value)} in the list`);
    return i;
  }

  count(value: unknown): number {
    return this.#items.filter(equalTo(value)).length;
  }

  includes(value: unknown): boolean {
    return this.#items.some(equalTo(value));
  }

  sort(reverse = false): void {
    this.#items.sort((a, b) => {
      const order = (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
      return reverse ? -order : order;
    });
  }

  reverse(): void {
    this.#items.reverse();
  }

  clear(): void {
    this.#items.length = 0;
  }

  length(): number {
    return this.#items.length;
  }

  slice(start?: number, end?: number): unknown[] {
    return this.#items.slice(start, end);
  }

  copy(): unknown[] {
    return [...this.#items];
  }
}

/** A value of the manager (Python's `SyncManager.Value`): any value, read and written whole. */
export class ValueReferent {
  readonly typecode: string;
  #value: unknown;

  constructor(typecode: string, value: unknown) {
    this.typecode = typecode;
    this.#value = value;
  }

  get(): unknown {
    return this.#value;
  }

  set(value: unknown): void {
    this.#value = value;
  }
}

/** An array of the manager (Python's `SyncManager.Array`), of one typecode. */
export class ArrayReferent {
  #items: ArrayLike<unknown> & { [i: number]: unknown };

  constructor(typecode: string, init: number | unknown[]) {
    const C = typedArrayOf(typecode, "an Array") as unknown as new (
      n: number,
    ) => ArrayLike<unknown> & { [i: number]: unknown };
    const values = typeof init === "number" ? undefined : init;
    this.#items = new C(values === undefined ? init as number : values.length);
    if (values !== undefined) values.forEach((v, i) => (this.#items[i] = v));
  }

  get(index: number): unknown {
    return this.#items[checkIndex(index, this.#items.length, "read the array item")];
  }

  set(index: number, value: unknown): void {
    this.#items[checkIndex(index, this.#items.length, "set the array item")] = value;
  }

  length(): number {
    return this.#items.length;
  }

  copy(): unknown[] {
    return Array.from(this.#items);
  }
}

/** A barrier whose properties are methods, as a proxy reaches them. */
export class BarrierReferent extends Barrier {
  getParties(): number {
    return this.parties;
  }

  getNWaiting(): number {
    return this.nWaiting;
  }

  isBroken(): boolean {
    return this.broken;
  }
}

/** What a pool referent needs of a pool: the worker `Pool`, or the dummy one. */
interface PoolLike {
  apply(fn: unknown, args: unknown[]): Promise<unknown>;
  applyAsync(fn: unknown, args: unknown[]): AsyncResultLike;
  map(fn: unknown, items: Iterable<unknown>, chunksize?: number): Promise<unknown[]>;
  mapAsync(
    fn: unknown,
    items: Iterable<unknown>,
    options?: { chunksize?: number },
  ): AsyncResultLike;
  starmap(fn: unknown, items: Iterable<unknown[]>, chunksize?: number): Promise<unknown[]>;
  close(): void;
  terminate(): Promise<void>;
  join(): Promise<void>;
}

/** What an async-result referent needs: a pool's `AsyncResult`. */
interface AsyncResultLike {
  get(timeout?: number): Promise<unknown>;
  wait(timeout?: number): Promise<void>;
  ready(): boolean;
  successful(): boolean;
}

/**
 * A pool of the manager (Python's `SyncManager.Pool`): task functions arrive as their
 * definitions (source text, or module and export), as they travel to workers.
 */
export class PoolReferent {
  #pool: PoolLike;
  #task: (def: unknown) => Promise<unknown>;

  constructor(pool: PoolLike, task: (def: unknown) => Promise<unknown>) {
    this.#pool = pool;
    this.#task = task;
  }

  async apply(def: unknown, args: unknown[]): Promise<unknown> {
    return await this.#pool.apply(await this.#task(def), args);
  }

  async applyAsync(def: unknown, args: unknown[]): Promise<AsyncResultReferent> {
    return new AsyncResultReferent(this.#pool.applyAsync(await this.#task(def), args));
  }

  async map(def: unknown, items: unknown[], chunksize?: number): Promise<unknown[]> {
    return await this.#pool.map(await this.#task(def), items, chunksize ?? undefined);
  }

  async mapAsync(def: unknown, items: unknown[], chunksize?: number): Promise<AsyncResultReferent> {
    const options = chunksize === undefined || chunksize === null ? undefined : { chunksize };
    return new AsyncResultReferent(this.#pool.mapAsync(await this.#task(def), items, options));
  }

  async starmap(def: unknown, items: unknown[][], chunksize?: number): Promise<unknown[]> {
    return await this.#pool.starmap(await this.#task(def), items, chunksize ?? undefined);
  }

  close(): void {
    this.#pool.close();
  }

  terminate(): Promise<void> {
    return this.#pool.terminate();
  }

  join(): Promise<void> {
    return this.#pool.join();
  }
}

/** A pool's `AsyncResult` held by the manager. */
export class AsyncResultReferent {
  #result: AsyncResultLike;

  constructor(result: AsyncResultLike) {
    this.#result = result;
    // Held for a proxy that may never ask: its failure must not be an unhandled rejection.
    result.wait().catch(() => {});
  }

  get(timeout?: number): Promise<unknown> {
    return this.#result.get(timeout ?? undefined);
  }

  wait(timeout?: number): Promise<void> {
    return this.#result.wait(timeout ?? undefined);
  }

  ready(): boolean {
    return this.#result.ready();
  }

  successful(): boolean {
    return this.#result.successful();
  }
}

/** What a queue referent needs of a queue: this library's `Queue` or `JoinableQueue`. */
interface QueueLike {
  put(item: number, options?: unknown): Promise<void>;
  putNowait(item: number): void;
  get(options?: unknown): Promise<number>;
  getNowait(): number;
  qsize(): number;
  empty(): boolean;
  full(): boolean;
  taskDone?(): void;
  join?(): Promise<void>;
}

/**
 * A queue of the manager (Python's `SyncManager.Queue`, a `queue.Queue` in the server): the
 * items stay here as they are, proxies included (which keep their objects alive while
 * queued); the queue itself carries only each item's number, for its order, waits and limits.
 */
export class QueueReferent {
  #queue: QueueLike;
  #items = new Map<number, unknown>();
  #next = 0;

  constructor(queue: QueueLike) {
    this.#queue = queue;
  }

  async put(item: unknown, options?: unknown): Promise<void> {
    const n = this.#hold(item);
    try {
      await this.#queue.put(n, options ?? undefined);
    } catch (error) {
      this.#items.delete(n);
      throw error;
    }
  }

  putNowait(item: unknown): void {
    const n = this.#hold(item);
    try {
      this.#queue.putNowait(n);
    } catch (error) {
      this.#items.delete(n);
      throw error;
    }
  }

  async get(options?: unknown): Promise<unknown> {
    return this.#take(await this.#queue.get(options ?? undefined));
  }

  getNowait(): unknown {
    return this.#take(this.#queue.getNowait());
  }

  qsize(): number {
    return this.#queue.qsize();
  }

  empty(): boolean {
    return this.#queue.empty();
  }

  full(): boolean {
    return this.#queue.full();
  }

  taskDone(): void {
    this.#queue.taskDone!();
  }

  join(): Promise<void> {
    return this.#queue.join!();
  }

  #hold(item: unknown): number {
    const n = this.#next++;
    this.#items.set(n, item);
    return n;
  }

  #take(n: number): unknown {
    const item = this.#items.get(n);
    this.#items.delete(n);
    return item;
  }
}
