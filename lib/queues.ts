/**
 * Queues (CPython's `multiprocessing.queues`): {@linkcode Queue}, {@linkcode JoinableQueue}
 * and {@linkcode SimpleQueue}, which any number of producers and consumers share, on the main
 * thread and in any worker they are passed to.
 *
 * A queue keeps its items in a ring of bytes in a `SharedArrayBuffer`, so that every thread
 * holding it puts and gets directly, under short locks taken with `Atomics`: items between
 * two workers never pass through the main thread. Items from one producer arrive in the order
 * it put them. A consumer with nothing to get waits with `Atomics.waitAsync`, so a waiting
 * `get()` never blocks its thread, and a `get()` whose item is already there resolves
 * without waiting for the event loop.
 *
 * Items are what structured clone accepts (see {@linkcode Pipe} for how they are encoded).
 * The ring holds 1 MiB by default (`{ bytes }` changes it): a `put()` waits while the ring
 * has no room for its item, as it waits while the queue holds `maxsize` items; an item
 * larger than the whole ring goes through in pieces. Locks, queues, connections and shared
 * values cannot be items (as in Python, they are shared by passing them to a `Process` or
 * `Pool`).
 *
 * Timeouts are in milliseconds.
 *
 * @example Usage
 * ```ts
 * import { Process, Queue } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const q = new Queue<[string, number]>();
 * const p = new Process({
 *   target: async (queue: typeof q) => await queue.put(["answer", 42]),
 *   args: [q],
 * });
 * p.start();
 * assert.deepEqual(await q.get(), ["answer", 42]);
 * await p.join();
 * ```
 *
 * @module
 */
import { waitBudget } from "./_validate.ts";
import { waitFor } from "./_wait.ts";
import {
  Channel,
  type ChannelErrors,
  encode,
  encoded,
  MUST_WAIT,
  ringSize,
  UNFINISHED_INDEX,
} from "./_ring.ts";
import { Empty, Full } from "./errors.ts";
import { describe, reduce, registerShared, sharedObjectCreated } from "./reduction.ts";

/** Options for the queues' constructors. */
export interface QueueOptions {
  /**
   * The size in bytes of the queue's buffer in shared memory, rounded up to a power of two.
   * A `put()` waits while the buffer has no room for its item; an item larger than the whole
   * buffer still goes through, in pieces.
   *
   * @default {1048576}
   */
  bytes?: number;
}

/** Options for {@linkcode Queue.put}, as Python's `put(obj, block=True, timeout=None)`. */
export interface PutOptions {
  /**
   * Wait for room (`true`), or fail at once with {@linkcode Full} if there is none.
   *
   * @default {true}
   */
  block?: boolean;
  /**
   * The most milliseconds to wait for room; `undefined` waits as long as it takes. Ignored
   * when `block` is `false`.
   *
   * @default {undefined}
   */
  timeout?: number;
}

/** Options for {@linkcode Queue.get}, as Python's `get(block=True, timeout=None)`. */
export interface GetOptions {
  /**
   * Wait for an item (`true`), or fail at once with {@linkcode Empty} if there is none.
   *
   * @default {true}
   */
  block?: boolean;
  /**
   * The most milliseconds to wait for an item; `undefined` waits as long as it takes.
   * Ignored when `block` is `false`.
   *
   * @default {undefined}
   */
  timeout?: number;
}

function checkMaxsize(maxsize: unknown): number {
  if (typeof maxsize !== "number" || !Number.isInteger(maxsize) || maxsize < 0) {
    const error = typeof maxsize === "number" ? RangeError : TypeError;
    throw new error(
      `Cannot create queue as 'maxsize' must be a non-negative integer: received ${
        describe(maxsize)
      }`,
    );
  }
  if (maxsize > 0x3fffffff) {
    throw new RangeError(
      `Cannot create queue as 'maxsize' must be at most ${0x3fffffff}: received ${maxsize}`,
    );
  }
  return maxsize;
}

function checkOptions(options: unknown): QueueOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot create queue as 'options' must be an object such as { bytes }: received ${
        describe(options)
      }`,
    );
  }
  return options as QueueOptions;
}

function queueErrors(channel: () => Channel): ChannelErrors {
  return {
    full(timeout) {
      const { maxsize, capacity } = channel();
      const why = maxsize > 0 && channel().size() >= maxsize
        ? `the queue holds its maxsize of ${maxsize} items`
        : `the queue's buffer of ${capacity} bytes has no room for it: consumers must get items first, or create the queue with a larger { bytes }`;
      return new Full(
        timeout === 0
          ? `Cannot put the item without waiting as ${why}`
          : `Cannot put the item as it waited ${timeout} ms for room: ${why}`,
      );
    },
    empty(timeout) {
      return new Empty(
        timeout === 0
          ? "Cannot get an item without waiting as the queue is empty"
          : `Cannot get an item as the queue stayed empty for ${timeout} ms`,
      );
    },
    broken: () => new Error("Cannot put the item as the queue is broken"),
    eof: () => new Error("Cannot get an item as the queue is broken"),
  };
}

// Set while a queue is revived in another thread, for the constructor to adopt.
let adopting: SharedArrayBuffer | undefined;

function revive<Q>(state: unknown, kind: string, make: () => Q): Q {
  const buffer = (state as { buffer?: unknown } | null)?.buffer;
  if (!Channel.valid(buffer)) {
    throw new TypeError(
      `Cannot receive a shared ${kind} as its state is not what a ${kind} sends: pass the ${kind} object itself`,
    );
  }
  adopting = buffer;
  try {
    return make();
  } finally {
    adopting = undefined;
  }
}

function newChannel(maxsize: unknown, options: unknown): Channel {
  const buffer = adopting ??
    Channel.allocate(ringSize(checkOptions(options).bytes, "queue"), checkMaxsize(maxsize));
  const channel: Channel = new Channel(buffer, queueErrors(() => channel));
  return channel;
}

const CLOSED_GET = "Cannot get an item from the queue as it is closed in this process";

// The channel of a queue, for JoinableQueue's methods (set in Queue's static block).
let channelOf: (queue: Queue<unknown>) => Channel;

/**
 * A queue that producers and consumers in any threads share (Python's
 * `multiprocessing.Queue`): first in, first out; items from one producer arrive in the
 * order it put them.
 *
 * Pass a queue to a {@linkcode Process} or a pool task as an argument: it works there as here,
 * and items put in one worker reach a consumer in another without passing through the main
 * thread. `put()` and `get()` return promises: a full queue makes `put()` wait, an empty one
 * makes `get()` wait, for as long as `timeout` milliseconds allows.
 *
 * @typeParam T The items.
 *
 * @example Usage
 * ```ts
 * import { Empty, Queue } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const q = new Queue<string>(2);
 * await q.put("a");
 * await q.put("b");
 * assert.equal(q.full(), true);
 * assert.equal(await q.get(), "a");
 * assert.equal(q.getNowait(), "b");
 * await assert.rejects(q.get({ timeout: 10 }), Empty);
 * ```
 */
export class Queue<T = unknown> {
  #channel: Channel;
  #closed = false;
  #joinable: boolean;

  static {
    channelOf = (queue) => queue.#channel;
    registerShared("Queue", (state) => revive(state, "Queue", () => new Queue()));
  }

  /**
   * Creates a queue.
   *
   * @param maxsize The most items the queue holds; `0` (the default) for no limit.
   * @param options `{ bytes }`: the size of the queue's buffer in shared memory.
   * @throws {RangeError} If `maxsize` is negative or `bytes` out of range.
   * @throws {TypeError} If `maxsize` or `bytes` is not an integer.
   */
  constructor(maxsize = 0, options: QueueOptions = {}) {
    this.#channel = newChannel(maxsize, options);
    this.#joinable = this instanceof JoinableQueue;
    sharedObjectCreated();
  }

  #checkOpen(what: string): void {
    if (this.#closed) {
      throw new Error(`Cannot ${what} the queue as it is closed in this process`);
    }
  }

  /**
   * Puts an item into the queue, waiting while it is full. Written at once when there is
   * room (then the promise is already resolved), so a `put()` that is not awaited still
   * arrives, in order.
   *
   * @param item A value structured clone accepts.
   * @param options `{ block: false }` to fail at once if full, `{ timeout }` to wait at most
   *   that many milliseconds.
   * @returns A promise that resolves once the item is in the queue.
   * @throws {Full} (as a rejection) If the queue stayed full.
   * @throws {TypeError} (as a rejection) If `item` cannot be cloned or holds shared memory.
   * @throws {Error} (as a rejection) If the queue is closed in this process.
   *
   * @example Usage
   * ```ts
   * import { Full, Queue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>(1);
   * await q.put(1);
   * await assert.rejects(q.put(2, { timeout: 10 }), Full);
   * await assert.rejects(q.put(2, { block: false }), Full);
   * ```
   */
  put(item: T, options?: PutOptions): Promise<void> {
    try {
      const timeout = options === undefined
        ? Infinity
        : waitBudget(options, "put an item into the queue");
      this.#checkOpen("put an item into");
      const length = encode(item, "put the item into the queue");
      return this.#channel.send(encoded(), length, timeout, this.#joinable);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Puts an item into the queue if there is room now (Python's `put_nowait`).
   *
   * @param item A value structured clone accepts.
   * @throws {Full} If the queue has no room now.
   * @throws {TypeError} If `item` cannot be cloned or holds shared memory.
   * @throws {Error} If the queue is closed in this process.
   *
   * @example Usage
   * ```ts
   * import { Full, Queue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>(1);
   * q.putNowait(1);
   * assert.throws(() => q.putNowait(2), Full);
   * ```
   */
  putNowait(item: T): void {
    this.#checkOpen("put an item into");
    const length = encode(item, "put the item into the queue");
    void this.#channel.send(encoded(), length, 0, this.#joinable);
  }

  /**
   * Takes the next item, waiting while the queue is empty. Resolves without waiting for the
   * event loop when an item is there.
   *
   * @param options `{ block: false }` to fail at once if empty, `{ timeout }` to wait at
   *   most that many milliseconds.
   * @returns A promise of the item.
   * @throws {Empty} (as a rejection) If the queue stayed empty.
   * @throws {Error} (as a rejection) If the queue is closed in this process.
   *
   * @example Usage
   * ```ts
   * import { Empty, Queue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>();
   * setTimeout(() => q.put(7), 10);
   * assert.equal(await q.get(), 7);
   * await assert.rejects(q.get({ timeout: 10 }), Empty);
   * ```
   */
  get(options?: GetOptions): Promise<T> {
    if (this.#closed) return Promise.reject(new Error(CLOSED_GET));
    let timeout = Infinity;
    if (options !== undefined) {
      try {
        timeout = waitBudget(options, "get an item from the queue");
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#channel.receiveValue(timeout) as Promise<T>;
  }

  /**
   * Takes the next item if there is one now (Python's `get_nowait`). An item larger than
   * the queue's buffer arrives in pieces, so only `get()` receives it.
   *
   * @returns The item.
   * @throws {Empty} If the queue is empty.
   * @throws {Error} If the queue is closed in this process.
   *
   * @example Usage
   * ```ts
   * import { Empty, Queue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<string>();
   * q.putNowait("x");
   * assert.equal(q.getNowait(), "x");
   * assert.throws(() => q.getNowait(), Empty);
   * ```
   */
  getNowait(): T {
    if (this.#closed) throw new Error(CLOSED_GET);
    const channel = this.#channel;
    const item = channel.receiving ? MUST_WAIT : channel.tryReceive();
    if (item === MUST_WAIT) throw channel.errors.empty(0);
    return item as T;
  }

  /**
   * The number of items in the queue: put, and not yet taken by a consumer. Other threads
   * may change it at any moment.
   *
   * @returns The number of items.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>();
   * await q.put(1);
   * await q.put(2);
   * assert.equal(q.qsize(), 2);
   * ```
   */
  qsize(): number {
    this.#checkOpen("count the items in");
    return this.#channel.size();
  }

  /**
   * Whether the queue is empty, so that `getNowait()` would fail. Other threads may change
   * it at any moment.
   *
   * @returns `true` if there is no item.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>();
   * assert.equal(q.empty(), true);
   * await q.put(1);
   * assert.equal(q.empty(), false);
   * ```
   */
  empty(): boolean {
    if (this.#closed) {
      throw new Error("Cannot ask whether the queue is empty as it is closed in this process");
    }
    return this.#channel.isEmpty();
  }

  /**
   * Whether the queue holds `maxsize` items, so that `putNowait()` would fail. Always
   * `false` without a `maxsize`. Other threads may change it at any moment.
   *
   * @returns `true` if the queue is full.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>(1);
   * assert.equal(q.full(), false);
   * await q.put(1);
   * assert.equal(q.full(), true);
   * ```
   */
  full(): boolean {
    if (this.#closed) {
      throw new Error("Cannot ask whether the queue is full as it is closed in this process");
    }
    return this.#channel.isFull();
  }

  /**
   * Closes the queue in this process (Python's `close()`): this copy takes no more items and
   * gives none; `get()`s waiting on it fail. Items already put, even those still waiting for
   * room, still go out, and other threads' copies go on working.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>();
   * q.close();
   * await assert.rejects(q.put(1), /closed/);
   * await assert.rejects(q.get(), /closed/);
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.cancelReceives(new Error(CLOSED_GET));
  }

  /**
   * Waits until every item this process put has gone into the queue (Python's
   * `join_thread()`, which waits for the queue's feeder thread): call it after
   * {@linkcode Queue.close} before a worker ends, when its `put()`s were not awaited.
   *
   * @returns A promise that resolves once nothing this process put is still waiting for room.
   * @throws {Error} (as a rejection) If the queue is not closed.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing";
   *
   * const q = new Queue<number>(1);
   * void q.put(1); // not awaited
   * q.close();
   * await q.joinThread(); // the put has gone out
   * ```
   */
  async joinThread(): Promise<void> {
    if (!this.#closed) {
      throw new Error("Cannot call joinThread() on a queue that is not closed: close() it first");
    }
    await this.#channel.flushed();
  }

  /**
   * How the queue travels to another worker: its shared memory.
   *
   * @returns The kind (`"Queue"` or `"JoinableQueue"`) and the shared buffer.
   */
  [reduce](): { kind: string; state: unknown } {
    return {
      kind: this.#joinable ? "JoinableQueue" : "Queue",
      state: { buffer: this.#channel.buffer },
    };
  }
}

/**
 * A {@linkcode Queue} that also counts the items not yet processed (Python's
 * `multiprocessing.JoinableQueue`): every `put()` adds one, every `taskDone()` takes one away,
 * and `join()` waits until none is left.
 *
 * @typeParam T The items.
 *
 * @example Usage
 * ```ts
 * import { JoinableQueue } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const q = new JoinableQueue<number>();
 * await q.put(1);
 * await q.put(2);
 * const done: number[] = [];
 * (async () => {
 *   for (let i = 0; i < 2; i++) {
 *     done.push(await q.get());
 *     q.taskDone();
 *   }
 * })();
 * await q.join();
 * assert.deepEqual(done, [1, 2]);
 * ```
 */
export class JoinableQueue<T = unknown> extends Queue<T> {
  static {
    registerShared(
      "JoinableQueue",
      (state) => revive(state, "JoinableQueue", () => new JoinableQueue()),
    );
  }

  /**
   * Creates a queue.
   *
   * @param maxsize The most items the queue holds; `0` (the default) for no limit.
   * @param options `{ bytes }`: the size of the queue's buffer in shared memory.
   * @throws {RangeError} If `maxsize` is negative or `bytes` out of range.
   * @throws {TypeError} If `maxsize` or `bytes` is not an integer.
   */
  constructor(maxsize = 0, options: QueueOptions = {}) {
    super(maxsize, options);
  }

  /**
   * Marks one item taken from the queue as processed (Python's `task_done()`): call it once
   * per `get()`, after the work on that item is finished.
   *
   * @throws {Error} If called more times than items were put.
   *
   * @example Usage
   * ```ts
   * import { JoinableQueue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new JoinableQueue<number>();
   * await q.put(1);
   * await q.get();
   * q.taskDone();
   * assert.throws(() => q.taskDone(), /more times/);
   * ```
   */
  taskDone(): void {
    const c = channelOf(this).control;
    for (;;) {
      const unfinished = Atomics.load(c, UNFINISHED_INDEX);
      if (unfinished <= 0) {
        throw new Error(
          "Cannot call taskDone() more times than items were put into the queue: call it once per item taken with get()",
        );
      }
      if (Atomics.compareExchange(c, UNFINISHED_INDEX, unfinished, unfinished - 1) === unfinished) {
        if (unfinished === 1) Atomics.notify(c, UNFINISHED_INDEX);
        return;
      }
    }
  }

  /**
   * Waits until every item put into the queue, by any thread, has been marked processed with
   * {@linkcode JoinableQueue.taskDone}.
   *
   * @returns A promise that resolves when no item is left unfinished.
   *
   * @example Usage
   * ```ts
   * import { JoinableQueue } from "@mp/multiprocessing";
   *
   * const q = new JoinableQueue<string>();
   * await q.join(); // nothing put: resolves at once
   * ```
   */
  async join(): Promise<void> {
    const c = channelOf(this).control;
    for (;;) {
      const unfinished = Atomics.load(c, UNFINISHED_INDEX);
      if (unfinished <= 0) return;
      await waitFor(c, UNFINISHED_INDEX, unfinished);
    }
  }
}

/**
 * A queue without `maxsize`, sizes or timeouts (Python's `multiprocessing.SimpleQueue`):
 * `put()`, `get()`, `empty()` and `close()`.
 *
 * @typeParam T The items.
 *
 * @example Usage
 * ```ts
 * import { SimpleQueue } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const q = new SimpleQueue<number[]>();
 * await q.put([1, 2]);
 * assert.equal(q.empty(), false);
 * assert.deepEqual(await q.get(), [1, 2]);
 * ```
 */
export class SimpleQueue<T = unknown> {
  #channel: Channel;
  #closed = false;

  static {
    registerShared("SimpleQueue", (state) => revive(state, "SimpleQueue", () => new SimpleQueue()));
  }

  /**
   * Creates a queue.
   *
   * @param options `{ bytes }`: the size of the queue's buffer in shared memory.
   * @throws {RangeError} If `bytes` is out of range.
   * @throws {TypeError} If `bytes` is not an integer.
   */
  constructor(options: QueueOptions = {}) {
    this.#channel = newChannel(0, options);
    sharedObjectCreated();
  }

  /**
   * Puts an item into the queue. Written at once when there is room (then the promise is
   * already resolved), so a `put()` that is not awaited still arrives, in order.
   *
   * @param item A value structured clone accepts.
   * @returns A promise that resolves once the item is in the queue.
   * @throws {TypeError} (as a rejection) If `item` cannot be cloned or holds shared memory.
   * @throws {Error} (as a rejection) If the queue is closed in this process.
   *
   * @example Usage
   * ```ts
   * import { SimpleQueue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new SimpleQueue<string>();
   * await q.put("x");
   * assert.equal(await q.get(), "x");
   * ```
   */
  put(item: T): Promise<void> {
    try {
      if (this.#closed) {
        throw new Error("Cannot put an item into the queue as it is closed in this process");
      }
      const length = encode(item, "put the item into the queue");
      return this.#channel.send(encoded(), length, Infinity, false);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Takes the next item, waiting while the queue is empty.
   *
   * @returns A promise of the item.
   * @throws {Error} (as a rejection) If the queue is closed in this process.
   *
   * @example Usage
   * ```ts
   * import { SimpleQueue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new SimpleQueue<number>();
   * setTimeout(() => q.put(1), 10);
   * assert.equal(await q.get(), 1);
   * ```
   */
  get(): Promise<T> {
    if (this.#closed) return Promise.reject(new Error(CLOSED_GET));
    return this.#channel.receiveValue(Infinity) as Promise<T>;
  }

  /**
   * Whether the queue is empty. Other threads may change it at any moment.
   *
   * @returns `true` if there is no item.
   *
   * @example Usage
   * ```ts
   * import { SimpleQueue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new SimpleQueue().empty(), true);
   * ```
   */
  empty(): boolean {
    if (this.#closed) {
      throw new Error("Cannot ask whether the queue is empty as it is closed in this process");
    }
    return this.#channel.isEmpty();
  }

  /**
   * Closes the queue in this process: this copy takes no more items and gives none; `get()`s
   * waiting on it fail. Other threads' copies go on working.
   *
   * @example Usage
   * ```ts
   * import { SimpleQueue } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const q = new SimpleQueue();
   * q.close();
   * await assert.rejects(q.get(), /closed/);
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.cancelReceives(new Error(CLOSED_GET));
  }

  /**
   * How the queue travels to another worker: its shared memory.
   *
   * @returns The kind `"SimpleQueue"` and the shared buffer.
   */
  [reduce](): { kind: string; state: unknown } {
    return { kind: "SimpleQueue", state: { buffer: this.#channel.buffer } };
  }
}
