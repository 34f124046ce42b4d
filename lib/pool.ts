/**
 * The process pool (CPython's `multiprocessing.pool`): {@linkcode Pool} runs tasks in
 * Workers, and the dummy entry point's `Pool` runs the same logic on the calling thread.
 *
 * @module
 */
import { BackendRegistry } from "./_backends.ts";
import { checkNotBootstrapping, errorText } from "./_bootstrap.ts";
import { checkTimeout } from "./_validate.ts";
import { Deque } from "./_deque.ts";
import type { Executor, Job, Sink, Slot, SlotHooks } from "./_executor.ts";
import {
  copyNumbers,
  Op,
  type Packed,
  SpareNumbers,
  unpackChunk,
  unpackInto,
} from "./_protocol.ts";
import { workerExecutor } from "./_worker_executor.ts";
import { checkMayHaveChildren, cpuCount } from "./context.ts";
import { ProcessError, TimeoutError, WorkerExitError } from "./errors.ts";
import { describe, type TaskFunction } from "./reduction.ts";

/** Options for {@linkcode BasePool}'s constructor. */
export interface PoolOptions {
  /**
   * The number of workers.
   *
   * @default {cpuCount()}
   */
  processes?: number;
  /**
   * Runs once in each worker, with `initargs`, as the worker starts: the pool starts its
   * workers when it is made, so the initializer runs even in a pool that is given no task, and
   * `close()` then `join()` wait for it (as Python's). Also runs in the workers that replace
   * others. A function, or a `fromModule()` reference.
   *
   * @default {undefined}
   */
  initializer?: TaskFunction<never[], unknown>;
  /**
   * The arguments of `initializer`: plain data, or the objects a task's arguments may hold
   * (locks, queues, shared values, pipes' connections, manager proxies), which work in the
   * workers as they do here. The pool of `dummy.ts` hands any value over as it is.
   *
   * @default {[]}
   */
  initargs?: unknown[];
  /**
   * How many tasks a worker runs before the pool replaces it with a new one (a map chunk
   * counts as one task). `undefined` keeps workers for the pool's life.
   *
   * @default {undefined}
   */
  maxtasksperchild?: number;
  /**
   * The most megabytes each worker's heap may hold. A task that needs more fails alone with a
   * {@linkcode WorkerExitError} that says its worker ran out of memory, and the pool starts a
   * new worker in its place. `undefined` keeps the runtime's default, V8's limit for the
   * program (about 2–4 GB, by the machine's memory), which Deno and Node apply per worker. Bun
   * cannot bound a worker's heap and ignores this option (README, "Memory"); so does the dummy
   * pool, whose tasks run on the calling thread.
   *
   * @default {undefined}
   */
  maxHeapMB?: number;
}

/** Callbacks for a task's outcome, as in Python's `apply_async(callback=, error_callback=)`. */
export interface ApplyOptions<R> {
  /** Called with the result when the task succeeds. */
  callback?: (result: R) => void;
  /** Called with the error when the task fails. */
  errorCallback?: (error: unknown) => void;
}

/** Options for {@linkcode BasePool.mapAsync} and {@linkcode BasePool.starmapAsync}. */
export interface MapAsyncOptions<R> extends ApplyOptions<R[]> {
  /**
   * Items per task. By default Python's choice: `ceil(length / (4 * processes))`.
   *
   * @default {undefined}
   */
  chunksize?: number;
}

/** Keeps the pool's workers referenced while somebody waits for one of its results. */
interface Holder {
  hold(): void;
  release(): void;
}

function noop(): void {}

/** Whether a worker ended because its heap passed its limit (Node's and Deno's code for it). */
function outOfMemory(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ERR_WORKER_OUT_OF_MEMORY";
}

/** Marks a promise as handled: a pool's results are observed by awaiting them, never raised. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(noop);
  return promise;
}

function reportCallbackError(error: unknown): void {
  // As an event listener's error would: loud, and the pool keeps running.
  queueMicrotask(() => {
    throw error;
  });
}

function checkCount(value: unknown, name: string, what: string): void {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${what} as '${name}' must be a positive integer: received ${describe(value)}`,
    );
  }
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot ${what} as '${name}' must be a positive integer: received ${value}`,
    );
  }
}

let settleResult: (result: AsyncResult<unknown>, ok: boolean, value: unknown) => void;
let setupResult: (
  result: AsyncResult<unknown>,
  holder: Holder,
  options: ApplyOptions<unknown> | undefined,
) => void;

/**
 * The result of a task submitted with {@linkcode BasePool.applyAsync} or
 * {@linkcode BasePool.mapAsync} (Python's `AsyncResult`). An error the task threw is kept
 * until somebody calls {@linkcode AsyncResult.get}: it is never reported as unhandled.
 *
 * @typeParam T The result's type.
 *
 * @example Usage
 * ```ts
 * import { Pool } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using pool = new Pool(2);
 * const result = pool.applyAsync((x: number) => x * x, [7]);
 * assert.equal(await result.get(), 49);
 * assert.ok(result.ready() && result.successful());
 * ```
 */
export class AsyncResult<T> {
  #state: 0 | 1 | 2 = 0;
  #value: unknown = undefined;
  #waiters: Array<() => void> | undefined = undefined;
  #holder: Holder | undefined = undefined;
  #callback: ((value: T) => void) | undefined = undefined;
  #errorCallback: ((error: unknown) => void) | undefined = undefined;

  static {
    settleResult = (result, ok, value) => result.#settle(ok, value);
    setupResult = (result, holder, options) => {
      result.#holder = holder;
      result.#callback = options?.callback;
      result.#errorCallback = options?.errorCallback;
      // Whoever asked for a callback is waiting for it.
      if (result.#callback !== undefined || result.#errorCallback !== undefined) holder.hold();
    };
  }

  #settle(ok: boolean, value: unknown): void {
    if (this.#state !== 0) return;
    this.#state = ok ? 1 : 2;
    this.#value = value;
    const callback = ok ? this.#callback : this.#errorCallback;
    if (this.#callback !== undefined || this.#errorCallback !== undefined) {
      this.#callback = this.#errorCallback = undefined;
      this.#holder?.release();
    }
    if (callback !== undefined) {
      try {
        callback(value as T);
      } catch (error) {
        reportCallbackError(error);
      }
    }
    const waiters = this.#waiters;
    this.#waiters = undefined;
    if (waiters !== undefined) { for (const wake of waiters) wake(); }
  }

  /**
   * Whether the task has finished, successfully or not.
   *
   * @returns `true` once the task has finished.
   */
  ready(): boolean {
    return this.#state !== 0;
  }

  /**
   * Whether the task finished without an error.
   *
   * @returns `true` if the task succeeded.
   * @throws {Error} If the task has not finished yet: check {@linkcode AsyncResult.ready}
   *   or await {@linkcode AsyncResult.wait} first.
   */
  successful(): boolean {
    if (this.#state === 0) {
      throw new Error(
        "Cannot tell whether the task succeeded as it has not finished: await wait() or check ready() first",
      );
    }
    return this.#state === 1;
  }

  /**
   * Waits until the task has finished, or until `timeout` milliseconds have passed.
   *
   * @param timeout Milliseconds to wait at most; `undefined` waits as long as it takes.
   * @returns A promise that resolves when the task finished or the time ran out.
   * @throws {RangeError} If `timeout` is negative.
   */
  wait(timeout?: number): Promise<void> {
    checkTimeout(timeout, "wait for the result");
    if (this.#state !== 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const holder = this.#holder;
      holder?.hold();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const wake = () => {
        if (timer !== undefined) clearTimeout(timer);
        holder?.release();
        resolve();
      };
      (this.#waiters ??= []).push(wake);
      if (timeout !== undefined) {
        timer = setTimeout(() => {
          timer = undefined;
          const waiters = this.#waiters;
          const at = waiters?.indexOf(wake) ?? -1;
          if (at >= 0) waiters!.splice(at, 1);
          wake();
        }, timeout);
      }
    });
  }

  /**
   * The task's result, once it has finished.
   *
   * @param timeout Milliseconds to wait at most; `undefined` waits as long as it takes.
   * @returns A promise of the result; it rejects with the task's error (the same class and
   *   message, with the worker's stack as `cause`).
   * @throws {TimeoutError} If `timeout` passes first (as a rejection).
   */
  get(timeout?: number): Promise<T> {
    if (this.#state === 1) return Promise.resolve(this.#value as T);
    if (this.#state === 2) return handled(Promise.reject(this.#value));
    return handled(
      this.wait(timeout).then(() => {
        if (this.#state === 1) return this.#value as T;
        if (this.#state === 2) throw this.#value;
        throw new TimeoutError(`Timed out after ${timeout} ms waiting for the task's result`);
      }),
    );
  }
}

/** Delivers a single task's outcome to its AsyncResult. */
class ApplySink implements Sink {
  readonly result: AsyncResult<unknown>;
  constructor(result: AsyncResult<unknown>) {
    this.result = result;
  }
  settle(_index: number, ok: boolean, value: unknown): void {
    settleResult(this.result, ok, value);
  }
}

/** Gathers a map's chunks into one list; fails with the first error, once all chunks end. */
class MapSink implements Sink {
  readonly result: AsyncResult<unknown>;
  #values: unknown[] | undefined = undefined;
  #length: number;
  #chunksize: number;
  #left: number;
  #error: unknown = undefined;
  #failed = false;
  #spares: SpareNumbers;

  constructor(
    result: AsyncResult<unknown>,
    length: number,
    chunksize: number,
    chunks: number,
    spares: SpareNumbers,
  ) {
    this.result = result;
    this.#length = length;
    this.#chunksize = chunksize;
    this.#left = chunks;
    this.#spares = spares;
  }

  /**
   * Makes the list the results go in. The pool calls it once the chunks have gone out: a list
   * of a million takes Node 4 ms to make, time the workers spend on the chunks meanwhile.
   */
  prepare(): unknown[] {
    return this.#values ??= new Array(this.#length);
  }

  settlePacked(index: number, chunk: Packed): void {
    unpackInto(chunk, this.prepare(), index * this.#chunksize);
    this.#settled();
  }

  settle(index: number, ok: boolean, value: unknown): void {
    if (ok) {
      const values = this.prepare();
      const at = index * this.#chunksize;
      if (value instanceof Float64Array) {
        copyNumbers(value, values, at);
        this.#spares.give(value);
      } else {
        const chunk = value as unknown[];
        for (let i = 0; i < chunk.length; i++) values[at + i] = chunk[i];
      }
    } else if (!this.#failed) {
      this.#failed = true;
      this.#error = value;
    }
    this.#settled();
  }

  #settled(): void {
    if (--this.#left === 0) {
      settleResult(this.result, !this.#failed, this.#failed ? this.#error : this.prepare());
    }
  }
}

/** What an imap iterator needs of its pool. */
interface Feed extends Holder {
  readonly processes: number;
  /** Queues a job; throws if the pool was terminated. */
  submit(job: Job): void;
  /** The prepared function, for every chunk. */
  fn: unknown;
  /** Its cost key. */
  key: unknown;
  /** An iterator starts and stops feeding: a closed pool waits for its feeders. */
  feeding(delta: 1 | -1): void;
}

// An imap keeps at most about this many items per worker between its input and its
// consumer (in flight or waiting to be consumed): enough to keep batches full, little enough
// that memory stays flat over an endless generator. It reads its input again once a quarter
// of that window has been consumed (see IMapIterator's #fill).
const IMAP_WINDOW_PER_PROCESS = 4096;
// An async input's items that follow each other within this many milliseconds go to the
// workers together (see IMapIterator's #fillAsync).
const GATHER_MS = 1;

type Item = { ok: boolean; value: unknown };

/** The lazy iterator behind imap and imapUnordered. */
class IMapIterator<R> implements AsyncIterableIterator<R>, Sink {
  #feed: Feed;
  #op: Op;
  #source: Iterator<unknown> | AsyncIterator<unknown>;
  #async: boolean;
  #chunksize: number;
  #ordered: boolean;
  #window: number;
  #lowWater: number;
  #submitted = 0;
  #delivered = 0;
  #inFlight = 0;
  #pending = new Map<number, Item>();
  #ready = new Deque<Item>();
  #waiters = new Deque<(item: IteratorResult<R>) => void>();
  #serving = false;
  #pulling = false;
  #inputDone = false;
  #inputError: Item | undefined = undefined;
  #finished = false;
  #started = false;

  constructor(
    feed: Feed,
    op: Op,
    source: Iterator<unknown> | AsyncIterator<unknown>,
    async: boolean,
    chunksize: number,
    ordered: boolean,
  ) {
    this.#feed = feed;
    this.#op = op;
    this.#source = source;
    this.#async = async;
    this.#chunksize = chunksize;
    this.#ordered = ordered;
    this.#window = Math.max(2, Math.ceil(feed.processes * IMAP_WINDOW_PER_PROCESS / chunksize));
    this.#lowWater = this.#window - Math.max(1, Math.floor(this.#window / 4));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<R>> {
    if (!this.#started && !this.#finished) {
      // Only an iteration in progress keeps a closed pool's workers (see BasePool.close).
      this.#started = true;
      this.#feed.feeding(1);
    }
    const item = this.#take();
    if (item !== undefined) return item.ok ? Promise.resolve(item.result) : this.#fail(item);
    if (this.#finished) return Promise.resolve({ done: true, value: undefined });
    this.#feed.hold();
    const promise = new Promise<IteratorResult<R>>((resolve) => {
      this.#waiters.push(resolve);
    });
    this.#fill();
    this.#serve();
    return handled(
      promise.then((result) => {
        this.#feed.release();
        return result;
      }).then((result) => this.#unwrap(result)),
    );
  }

  return(): Promise<IteratorResult<R>> {
    this.#finish();
    return Promise.resolve({ done: true, value: undefined });
  }

  // Errors travel through the waiter as a marked result, unwrapped here.
  #unwrap(result: IteratorResult<R>): IteratorResult<R> {
    if (result.done !== true && (result as { error?: true }).error) throw result.value;
    return result;
  }

  #fail(item: { result: IteratorResult<R> }): Promise<IteratorResult<R>> {
    return handled(Promise.reject(item.result.value));
  }

  /** The next deliverable item, or `undefined`. Ends the iteration after an input error. */
  #take(): { ok: boolean; result: IteratorResult<R> } | undefined {
    const item = this.#ready.shift();
    if (item !== undefined) {
      this.#fill();
      return { ok: item.ok, result: { done: false, value: item.value as R } };
    }
    if (this.#inputError !== undefined && this.#inFlight === 0 && this.#pending.size === 0) {
      const error = this.#inputError;
      this.#finish();
      return { ok: false, result: { done: false, value: error.value as R } };
    }
    if (this.#inputDone && this.#inFlight === 0 && this.#pending.size === 0) this.#finish();
    return undefined;
  }

  #serve(): void {
    // #take() refills, and the refill may end the input and call #serve() again: that inner
    // call would hand out the waiter this loop is about to use, so it leaves the work here.
    if (this.#serving) return;
    this.#serving = true;
    try {
      while (this.#waiters.length > 0) {
        const item = this.#take();
        if (item === undefined) {
          if (!this.#finished) return;
          while (this.#waiters.length > 0) {
            this.#waiters.shift()!({ done: true, value: undefined });
          }
          return;
        }
        const result = item.ok
          ? item.result
          : { done: false, value: item.result.value, error: true } as IteratorResult<R>;
        this.#waiters.shift()!(result);
      }
    } finally {
      this.#serving = false;
    }
  }

  settle(index: number, ok: boolean, value: unknown): void {
    this.#inFlight--;
    if (this.#finished) return;
    const item = { ok, value };
    if (this.#ordered) {
      this.#pending.set(index, item);
      for (let next; (next = this.#pending.get(this.#delivered)) !== undefined;) {
        this.#pending.delete(this.#delivered++);
        this.#expand(next);
      }
    } else {
      this.#expand(item);
    }
    this.#fill();
    this.#serve();
  }

  /** Puts a chunk's items, or its one error, on the ready queue. */
  #expand(item: Item): void {
    if (!item.ok) {
      this.#ready.push(item);
      return;
    }
    for (const value of item.value as unknown[]) this.#ready.push({ ok: true, value });
  }

  #buffered(): number {
    return this.#inFlight + this.#pending.size + Math.ceil(this.#ready.length / this.#chunksize);
  }

  /** Pulls from the input until the window is full, once it has fallen to its low-water mark. */
  #fill(): void {
    if (this.#finished || this.#inputDone || this.#pulling) return;
    // Refill in batches: pulled one at a time (a result taken, an item pulled), each pull would
    // go to a worker as a job of its own, one per message, and the results come back one per
    // message too, until the end (imap with chunksize 1 ran at a tenth of its rate so).
    if (this.#buffered() > this.#lowWater) return;
    if (this.#async) {
      void this.#fillAsync();
      return;
    }
    const source = this.#source as Iterator<unknown>;
    while (this.#buffered() < this.#window) {
      const chunk: unknown[] = [];
      try {
        while (chunk.length < this.#chunksize) {
          const step = source.next();
          if (step.done) {
            this.#inputDone = true;
            break;
          }
          chunk.push(step.value);
        }
      } catch (error) {
        this.#inputFailed(error);
        return;
      }
      if (chunk.length > 0 && !this.#submit(chunk)) return;
      if (this.#inputDone) {
        this.#serve();
        return;
      }
    }
  }

  async #fillAsync(): Promise<void> {
    this.#pulling = true;
    const source = this.#source as AsyncIterator<unknown>;
    // Chunks read and not yet submitted. Submitted as each is read, every chunk would travel
    // alone, as the pool sends in a microtask and one runs at each await below: so an item
    // that follows another within GATHER_MS waits, with those after it, for up to GATHER_MS
    // (a timer sends what a source that then stalls gave), and they go out together.
    const held: unknown[][] = [];
    let heldSince = 0;
    let lastSent = -Infinity;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const send = (): boolean => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      lastSent = performance.now();
      const chunks = held.splice(0);
      if (this.#finished || this.#inputError !== undefined) return false;
      for (const chunk of chunks) if (!this.#submit(chunk)) return false;
      return true;
    };
    try {
      while (
        !this.#finished && !this.#inputDone && this.#buffered() + held.length < this.#window
      ) {
        const chunk: unknown[] = [];
        try {
          while (chunk.length < this.#chunksize) {
            const step = await source.next();
            if (step.done) {
              this.#inputDone = true;
              break;
            }
            chunk.push(step.value);
          }
        } catch (error) {
          // The chunks read before it go first; the error takes the place of this one.
          if (send()) this.#inputFailed(error);
          return;
        }
        if (this.#finished) return;
        if (chunk.length === 0) continue;
        held.push(chunk);
        const now = performance.now();
        if (held.length > 1) {
          if (now - heldSince >= GATHER_MS && !send()) return;
        } else if (now - lastSent >= GATHER_MS) {
          // The first item after a pause goes at once.
          if (!send()) return;
        } else {
          heldSince = now;
          timer = setTimeout(send, GATHER_MS);
        }
      }
      send();
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      held.length = 0;
      this.#pulling = false;
      this.#serve();
    }
  }

  /**
   * Ends the input with its error, in the place of the chunk it fell in: that chunk fails as
   * a whole, the items read of it dropped, as Python's task feeder drops a batch it could not
   * finish reading (chunksize 2, a failure at item 7: 6 results, then the error).
   */
  #inputFailed(error: unknown): void {
    this.#inputDone = true;
    this.#inputError = { ok: false, value: error };
    this.#serve();
  }

  #submit(chunk: unknown[]): boolean {
    if (this.#op === Op.starmap) {
      const bad = chunk.findIndex((args) => !Array.isArray(args));
      if (bad >= 0) {
        this.#inputFailed(starmapItemError(this.#submitted * this.#chunksize + bad, chunk[bad]));
        return false;
      }
    }
    const job: Job = {
      fn: this.#feed.fn,
      key: this.#feed.key,
      op: this.#op,
      payload: chunk,
      sink: this,
      index: this.#submitted,
      seq: 0,
      cost: 0,
      source: undefined,
    };
    try {
      this.#feed.submit(job);
    } catch (error) {
      this.#inputDone = true;
      this.#inputError = { ok: false, value: error };
      this.#serve();
      return false;
    }
    this.#submitted++;
    this.#inFlight++;
    return true;
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#pending.clear();
    this.#ready.drain();
    if (this.#started) this.#feed.feeding(-1);
    if (!this.#inputDone) {
      this.#inputDone = true;
      try {
        const closing = this.#source.return?.();
        if (closing instanceof Promise) closing.catch(noop);
      } catch {
        // The consumer stopped; an input that fails to close has nothing left to tell it.
      }
    }
    this.#serve();
  }
}

function starmapItemError(index: number, item: unknown): TypeError {
  return new TypeError(
    `Cannot starmap item ${index} as it must be an array of arguments: received ${
      describe(item)
    }. Wrap each item's arguments in an array, as in [[1, 2], [3, 4]]`,
  );
}

function iteratorOf(
  iterable: unknown,
  what: string,
): { iterator: Iterator<unknown> | AsyncIterator<unknown>; async: boolean } {
  const it = iterable as Partial<Iterable<unknown> & AsyncIterable<unknown>> | null | undefined;
  if (it != null && typeof it[Symbol.asyncIterator] === "function") {
    return { iterator: it[Symbol.asyncIterator]!(), async: true };
  }
  if (it != null && typeof it[Symbol.iterator] === "function") {
    return { iterator: it[Symbol.iterator]!(), async: false };
  }
  throw new TypeError(
    `Cannot ${what} as 'iterable' must be an iterable or async iterable: received ${
      describe(iterable)
    }`,
  );
}

/** Reads a whole input, as Python's map does with an input that has no length. */
function drain(iterable: unknown, what: string): unknown[] | Promise<unknown[]> {
  if (Array.isArray(iterable)) return iterable;
  const { iterator, async } = iteratorOf(iterable, what);
  if (!async) return Array.from({ [Symbol.iterator]: () => iterator as Iterator<unknown> });
  return (async () => {
    const out: unknown[] = [];
    const it = iterator as AsyncIterator<unknown>;
    for (let step = await it.next(); !step.done; step = await it.next()) out.push(step.value);
    return out;
  })();
}

/** The state a pool keeps for each of its workers. */
interface SlotState {
  slot: Slot;
  /** Jobs sent and not yet answered, in the order sent. */
  inFlight: Deque<Job>;
  /** The estimated milliseconds of work in `inFlight`. */
  backlog: number;
  nextSeq: number;
  /** Jobs sent in this worker's life, for `maxtasksperchild`. */
  assigned: number;
  /** The initializer has run. */
  ready: boolean;
  /** Being stopped on purpose: its exit is expected. */
  retiring: boolean;
}

// The pool sends each worker enough tasks to keep it busy for about this long, so that tiny
// tasks travel in batches (one message per batch, not per task) while long ones go one at a
// time and none waits behind a long task on a worker when another worker is free.
const TARGET_BATCH_MS = 2;
const MAX_IN_FLIGHT = 1024;
// After a worker could not start, work fails at once with its cause for this long; then the
// pool tries to start workers again.
const START_RETRY_AFTER_MS = 1000;

const executors = new BackendRegistry<Executor>(
  "Cannot create a BasePool directly: create a Pool",
);

/**
 * Sets the back end of a `BasePool` subclass: the worker pool's and the dummy pool's.
 * Internal: not exported from the entry points.
 */
export function registerExecutor(
  pool: abstract new (...args: never[]) => BasePool,
  executor: Executor,
): void {
  executors.register(pool, executor);
}

/**
 * The logic every pool shares: the worker {@linkcode Pool} of `mod.ts` and the same-thread
 * `Pool` of `dummy.ts` differ only in where a task runs. Type a parameter as `BasePool` to
 * accept either; create pools with `new Pool()`.
 *
 * Tasks are self-contained functions, which travel as source text and are compiled once in
 * each worker, or {@linkcode fromModule} references to functions exported from modules.
 * Arguments and results travel by structured clone.
 *
 * @example Usage
 * ```ts
 * import { type BasePool, Pool } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * async function squares(pool: BasePool): Promise<number[]> {
 *   return await pool.map((x: number) => x * x, [1, 2, 3]);
 * }
 * await using pool = new Pool(2);
 * assert.deepEqual(await squares(pool), [1, 4, 9]);
 * ```
 */
export abstract class BasePool implements AsyncDisposable {
  #executor: Executor;
  #processes: number;
  #maxTasks: number;
  #maxHeapMB: number | undefined;
  #initializer: unknown;
  #initargs: unknown[];
  #state: "run" | "close" | "terminate" = "run";
  #queue = new Deque<Job>();
  // Chunks of numbers that came back from maps, to pack the next map's chunks into.
  #spares = new SpareNumbers();
  #slots = new Map<Slot, SlotState>();
  #workerNumber = 0;
  /** The measured milliseconds of one task, per task function (its executor's cost key). */
  #costs = new Map<unknown, number>();
  #outstanding = 0;
  #feeders = 0;
  #holds = 0;
  #pumpScheduled = false;
  #rotate = 0;
  #ended: { promise: Promise<void>; resolve: () => void };
  /**
   * Why a worker could not start, and when: for a while after, the pool starts no more
   * workers, so that a pool whose workers cannot load does not start one after another.
   */
  #startFailure: { error: WorkerExitError; at: number } | undefined = undefined;
  #hooks: SlotHooks;
  #holder: Holder;

  /**
   * Starts a pool of `processes` workers.
   *
   * @param options The number of workers, or {@linkcode PoolOptions}.
   * @throws {TypeError} If `processes`, `maxtasksperchild` or `maxHeapMB` is not a number,
   *   `initializer` is not a function, or `initargs` is not an array of values that can reach
   *   the workers.
   * @throws {Error} In a daemon `Process`: daemonic processes are not allowed to have
   *   children.
   * @throws {RangeError} If `processes`, `maxtasksperchild` or `maxHeapMB` is not a positive
   *   integer.
   */
  constructor(options?: number | PoolOptions) {
    this.#executor = executors.find(new.target);
    checkNotBootstrapping("a Pool");
    checkMayHaveChildren("a Pool");
    const opts: PoolOptions = typeof options === "object" && options !== null
      ? options
      : { processes: options as number | undefined };
    const processes = opts.processes ?? cpuCount();
    checkCount(processes, "processes", "create pool");
    this.#processes = processes;
    if (opts.maxtasksperchild === undefined || opts.maxtasksperchild === null) {
      this.#maxTasks = Infinity;
    } else {
      checkCount(opts.maxtasksperchild, "maxtasksperchild", "create pool");
      this.#maxTasks = opts.maxtasksperchild;
    }
    if (opts.maxHeapMB !== undefined && opts.maxHeapMB !== null) {
      checkCount(opts.maxHeapMB, "maxHeapMB", "create pool");
    }
    this.#maxHeapMB = opts.maxHeapMB ?? undefined;
    const initargs = opts.initargs ?? [];
    if (!Array.isArray(initargs)) {
      throw new TypeError(
        `Cannot create pool as 'initargs' must be an array of arguments: received ${
          describe(initargs)
        }`,
      );
    }
    this.#executor.checkInitargs(initargs);
    this.#initargs = initargs;
    this.#initializer = opts.initializer === undefined
      ? undefined
      : this.#executor.prepare(opts.initializer, "initializer");
    let resolveEnded!: () => void;
    const endedPromise = new Promise<void>((resolve) => (resolveEnded = resolve));
    this.#ended = { promise: endedPromise, resolve: resolveEnded };
    this.#holder = {
      hold: () => {
        if (this.#holds++ === 0) { for (const slot of this.#slots.keys()) slot.ref(); }
      },
      release: () => {
        if (--this.#holds === 0) { for (const slot of this.#slots.keys()) slot.unref(); }
      },
    };
    this.#hooks = {
      ready: (slot) => {
        const state = this.#slots.get(slot);
        if (state !== undefined) state.ready = true;
        // Workers start again: whatever stopped one before has passed.
        this.#startFailure = undefined;
        // A closed pool let this worker finish its initializer before ending it.
        this.#checkIdle();
      },
      initError: (slot, error) => this.#onInitError(slot, error),
      results: (slot, results, busy) => this.#onResults(slot, results, busy),
      exit: (slot, code, error) => this.#onExit(slot, code, error),
    };
    for (let i = 0; i < processes; i++) this.#spawn();
  }

  /**
   * Starts `processes` pool workers now, ahead of need, so that the next pool (or pools) take
   * them instead of waiting for Workers to start: a Worker's start costs milliseconds to tens
   * of milliseconds, which a pool's first result waits for; a prepared worker only receives
   * its pool's settings. Python's `forkserver` start method likewise starts a server ahead of
   * need. Resolves when the workers have loaded; awaiting it is optional.
   *
   * Workers that are already waiting count: a second call does not add more. A pool takes as
   * many as it needs and starts the rest (a pool with `maxHeapMB` starts its own, as a heap
   * limit is set when a Worker starts); a worker that a pool replaces also takes one. The
   * workers keep the program alive only while they load, and end with it: a program that does
   * not create the pool pays idle Workers, one that never calls `prepare()` pays nothing. Where
   * a pool starts no Worker of this program (the calling thread of `dummy.ts`, the cluster
   * pool) it checks its argument and does nothing else.
   *
   * @param processes How many workers to have waiting; the number of CPUs by default.
   * @returns A promise that resolves once each worker has loaded (or ended: a worker that
   *   could not start is started again by the pool, which reports why).
   * @throws {TypeError} If `processes` is not a number.
   * @throws {RangeError} If `processes` is not a positive integer.
   * @throws {Error} In a daemon `Process`: daemonic processes are not allowed to have
   *   children.
   *
   * @example Usage
   * ```ts
   * import { Pool } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * await Pool.prepare(2); // at start-up, ahead of need
   * // … later: this pool's workers are already running.
   * await using pool = new Pool(2);
   * assert.equal(await pool.apply((x: number) => x + 1, [41]), 42);
   * ```
   */
  static prepare(processes?: number): Promise<void> {
    const executor = executors.find(this);
    checkNotBootstrapping("pool workers");
    checkMayHaveChildren("pool workers");
    const count = processes ?? cpuCount();
    checkCount(count, "processes", "prepare pool workers");
    return executor.prepareWorkers?.(count) ?? Promise.resolve();
  }

  /** The number of workers. */
  get processes(): number {
    return this.#processes;
  }

  // ---- Submitting work ------------------------------------------------------------------

  #checkRunning(method: string): void {
    if (this.#state !== "run") {
      throw new Error(
        `Cannot call ${method}() as the pool is ${
          this.#state === "close" ? "closed" : "terminated"
        }: submit work before close() or terminate(), or create a new Pool`,
      );
    }
  }

  #submit(job: Job): void {
    if (this.#state === "terminate") {
      throw new Error("Cannot submit work as the pool is terminated: create a new Pool");
    }
    this.#outstanding++;
    this.#queue.push(job);
    if (!this.#pumpScheduled) {
      // Submissions made in one synchronous run (applyAsync in a loop) go out together.
      this.#pumpScheduled = true;
      queueMicrotask(() => {
        this.#pumpScheduled = false;
        this.#pump();
      });
    }
  }

  #newResult<T>(options: ApplyOptions<T> | undefined): AsyncResult<T> {
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw new TypeError(
        `Cannot submit the task as 'options' must be an object with callback and errorCallback: received ${
          describe(options)
        }`,
      );
    }
    for (const key of ["callback", "errorCallback"] as const) {
      const cb = options?.[key];
      if (cb !== undefined && typeof cb !== "function") {
        throw new TypeError(
          `Cannot submit the task as '${key}' must be a function: received ${describe(cb)}`,
        );
      }
    }
    const result = new AsyncResult<T>();
    setupResult(result as AsyncResult<unknown>, this.#holder, options as ApplyOptions<unknown>);
    return result;
  }

  /**
   * Runs `fn(...args)` in a worker and waits for the result (Python's `apply`).
   *
   * @typeParam A The function's parameter types.
   * @typeParam R The function's return type.
   * @param fn A self-contained function, or a `fromModule()` reference.
   * @param args The arguments, as an array.
   * @returns A promise of the result; it rejects with the task's error.
   *
   * @example Usage
   * ```ts
   * import { Pool } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * await using pool = new Pool(1);
   * assert.equal(await pool.apply((a: number, b: number) => a + b, [2, 3]), 5);
   * ```
   */
  apply<A extends unknown[], R>(fn: TaskFunction<A, R>, args: A): Promise<Awaited<R>> {
    try {
      return this.applyAsync(fn, args).get();
    } catch (error) {
      return handled(Promise.reject(error));
    }
  }

  /**
   * Starts `fn(...args)` in a worker and returns at once (Python's `apply_async`).
   *
   * @typeParam A The function's parameter types.
   * @typeParam R The function's return type.
   * @param fn A self-contained function, or a `fromModule()` reference.
   * @param args The arguments, as an array.
   * @param options `callback` gets the result, `errorCallback` the error.
   * @returns The task's {@linkcode AsyncResult}.
   * @throws {Error} If the pool is closed or terminated.
   * @throws {TypeError} If `fn` is not a task function or `args` is not an array.
   *
   * @example Usage
   * ```ts
   * import { Pool } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * await using pool = new Pool(2);
   * const results = [1, 2, 3].map((i) => pool.applyAsync((x: number) => x * x, [i]));
   * assert.deepEqual(await Promise.all(results.map((r) => r.get())), [1, 4, 9]);
   * ```
   */
  applyAsync<A extends unknown[], R>(
    fn: TaskFunction<A, R>,
    args: A = [] as unknown[] as A,
    options?: ApplyOptions<Awaited<R>>,
  ): AsyncResult<Awaited<R>> {
    this.#checkRunning("applyAsync");
    const prepared = this.#executor.prepare(fn, "task");
    if (!Array.isArray(args)) {
      throw new TypeError(
        `Cannot apply the task as 'args' must be an array of arguments: received ${
          describe(args)
        }. Wrap a single argument in an array, as in [x]`,
      );
    }
    const result = this.#newResult(options);
    const sink = new ApplySink(result as AsyncResult<unknown>);
    const key = this.#executor.costKey(prepared);
    this.#submit({
      fn: prepared,
      key,
      op: Op.apply,
      payload: args,
      sink,
      index: 0,
      seq: 0,
      cost: 0,
      source: undefined,
    });
    return result;
  }

  /**
   * Calls `fn` on every item, in parallel, and waits for the list of results in input
   * order (Python's `map`). The input is cut into chunks of `chunksize` items, each sent
   * to a worker as one task; an input without a length is read whole first.
   *
   * @typeParam T The items' type.
   * @typeParam R The function's return type.
   * @param fn A self-contained function of one argument, or a `fromModule()` reference.
   * @param iterable The items: an array, any iterable, or an async iterable.
   * @param chunksize Items per task; by default `ceil(length / (4 * processes))`.
   * @returns A promise of the results; on failure it rejects with the first error, once
   *   every chunk has finished.
   *
   * @example Usage
   * ```ts
   * import { Pool } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * await using pool = new Pool(2);
   * assert.deepEqual(await pool.map((x: number) => x * x, [0, 1, 2, 3]), [0, 1, 4, 9]);
   * ```
   */
  map<T, R>(
    fn: TaskFunction<[T], R>,
    iterable: Iterable<T> | AsyncIterable<T>,
    chunksize?: number,
  ): Promise<Awaited<R>[]> {
    try {
      return this.#mapAsync<Awaited<R>>("map", Op.map, fn, iterable, { chunksize }).get();
    } catch (error) {
      return handled(Promise.reject(error));
    }
  }

  /**
   * Like {@linkcode BasePool.map}, but returns at once (Python's `map_async`). `callback`
   * gets the whole list once; on failure `errorCallback` gets the first error once, after
   * every chunk has finished.
   *
   * @typeParam T The items' type.
   * @typeParam R The function's return type.
   * @param fn A self-contained function of one argument, or a `fromModule()` reference.
   * @param iterable The items.
   * @param options `chunksize`, `callback` and `errorCallback`.
   * @returns The {@linkcode AsyncResult} of the whole list.
   * @throws {Error} If the pool is closed or terminated.
   *
   * @example Usage
   * ```ts
   * import { Pool } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * await using pool = new Pool(2);
   * const result = pool.mapAsync((x: number) => x + 1, [1, 2, 3], { chunksize: 2 });
   * assert.deepEqual(await result.get(), [2, 3, 4]);
   * ```
   */
  mapAsync<T, R>(
    fn: TaskFunction<[T], R>,
    iterable: Iterable<T> | AsyncIterable<T>,
    options?: MapAsyncOptions<Awaited<R>>,
  ): AsyncResult<Awaited<R>[]> {
    return this.#mapAsync("mapAsync", Op.map, fn, iterable, options);
  }

  /**
   * Like {@linkcode BasePool.map}, but each item is an array of arguments, spread into
   * `fn` (Python's `starmap`).
   *
   * @typeParam A The function's parameter types.
   * @typeParam R The function's return type.
   * @param fn A self-contained function, or a `fromModule()` reference.
   * @param iterable Argument arrays.
   * @param chunksize Items per task; by default `ceil(length / (4 * processes))`.
   * @returns A promise of the results in input order.
   *
   * @example Usage
   * ```ts
   * import { Pool } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * await using pool = new Pool(2);
   * assert.deepEqual(await pool.starmap((a: number, b: number) => a * b, [[1, 2], [3, 4]]), [2, 12]);
   * ```
   */
  starmap<A extends unknown[], R>(
    fn: TaskFunction<A, R>,
    iterable: Iterable<A> | AsyncIterable<A>,
    chunksize?: number,
  ): Promise<Awaited<R>[]> {
    try {
      return this.#mapAsync("starmap", Op.starmap, fn, iterable, { chunksize }).get() as Promise<
        Awaited<R>[]
      >;
    } catch (error) {
      return handled(Promise.reject(error));
    }
  }

  /**
   * Like {@linkcode BasePool.starmap}, but returns at once (Python's `starmap_async`).
   *
   * @typeParam A The function's parameter types.
   * @typeParam R The function's return type.
   * @param fn A self-contained function, or a `fromModule()` reference.
   * @param iterable Argument arrays.
   * @param options `chunksize`, `callback` and `errorCallback`.
   * @returns The {@linkcode AsyncResult} of the whole list.
   * @throws {Error} If the pool is closed or terminated.
   *
   * @example Usage
   * ```ts
   * import { Pool } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * await using pool = new Pool(2);
   * const result = pool.starmapAsync((a: number, b: number) => a - b, [[5, 1], [9, 3]]);
   * assert.deepEqual(await result.get(), [4, 6]);
   * ```
   */
  starmapAsync<A extends unknown[], R>(
    fn: TaskFunction<A, R>,
    iterable: Iterable<A> | AsyncIterable<A>,
    options?: MapAsyncOptions<Awaited<R>>,
  ): AsyncResult<Awaited<R>[]> {
    return this.#mapAsync("starmapAsync", Op.starmap, fn, iterable, options);
  }

  #mapAsync<R>(
    method: string,
    op: Op,
    fn: unknown,
    iterable: unknown,
    options: MapAsyncOptions<R> | undefined,
  ): AsyncResult<R[]> {
    this.#checkRunning(method);
    const prepared = this.#executor.prepare(fn, "task");
    const chunksize = options?.chunksize;
    if (chunksize !== undefined) checkCount(chunksize, "chunksize", method);
    const result = this.#newResult<R[]>(options);
    const items = drain(iterable, method);
    const start = (list: unknown[]) => {
      if (op === Op.starmap) {
        const bad = list.findIndex((args) => !Array.isArray(args));
        if (bad >= 0) throw starmapItemError(bad, list[bad]);
      }
      if (list.length === 0) {
        settleResult(result as AsyncResult<unknown>, true, []);
        return;
      }
      // Python's default: about four chunks per worker.
      const size = chunksize ?? Math.ceil(list.length / (4 * this.#processes));
      const chunks = Math.ceil(list.length / size);
      const spares = this.#spares;
      const sink = new MapSink(result as AsyncResult<unknown>, list.length, size, chunks, spares);
      const key = this.#executor.costKey(prepared);
      for (let index = 0; index < chunks; index++) {
        const from = index * size;
        const to = Math.min(from + size, list.length);
        const packed = op === Op.map ? this.#executor.chunk?.(list, from, to, spares) : undefined;
        const payload = packed ?? list.slice(from, to);
        const source = packed === undefined ? undefined : { list, from, to };
        this.#submit({ fn: prepared, key, op, payload, sink, index, seq: 0, cost: 0, source });
      }
      // After the microtask that sends the chunks (queued by the first #submit).
      queueMicrotask(() => sink.prepare());
    };
    if (Array.isArray(items)) {
      start(items);
    } else {
      // An async input is read first; the pool must not finish closing meanwhile.
      this.#feeders++;
      items.then(start).catch((error) => {
        settleResult(result as AsyncResult<unknown>, false, error);
      }).finally(() => {
        this.#feeders--;
        this.#checkIdle();
      });
    }
    return result;
  }

  /**
   * A lazy version of {@linkcode BasePool.map} (Python's `imap`): results arrive in input
   * order as they are ready. The input is read only as workers free up, with a bounded
   * number of chunks in flight, so an endless generator works in flat memory; breaking out
   * of the loop stops reading it. A task's error is thrown at its place; iteration can
   * go on after it.
   *
   * @typeParam T The items' type.
   * @typeParam R The function's return type.
   * @param fn A self-contained function of one argument, or a `fromModule()` reference.
   * @param iterable The items: any iterable or async iterable, even endless.
   * @param chunksize Items per task.
   * @returns An async iterator of the results.
   * @throws {Error} If the pool is closed or terminated.
   *
   * @example Usage
   * ```ts
   * import { Pool } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * function* naturals() {
   *   for (let i = 0; ; i++) yield i;
   * }
   * await using pool = new Pool(2);
   * const out: number[] = [];
   * for await (const square of pool.imap((x: number) => x * x, naturals(), 10)) {
   *   if (out.push(square) === 5) break;
   * }
   * assert.deepEqual(out, [0, 1, 4, 9, 16]);
   * ```
   */
  imap<T, R>(
    fn: TaskFunction<[T], R>,
    iterable: Iterable<T> | AsyncIterable<T>,
    chunksize: number = 1,
  ): AsyncIterableIterator<Awaited<R>> {
    return this.#imap("imap", Op.map, fn, iterable, chunksize, true);
  }

  /**
   * Like {@linkcode BasePool.imap}, but yields results in the order they finish
   * (Python's `imap_unordered`).
   *
   * @typeParam T The items' type.
   * @typeParam R The function's return type.
   * @param fn A self-contained function of one argument, or a `fromModule()` reference.
   * @param iterable The items: any iterable or async iterable, even endless.
   * @param chunksize Items per task.
   * @returns An async iterator of the results.
   * @throws {Error} If the pool is closed or terminated.
   *
   * @example Usage
   * ```ts
   * import { Pool } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * await using pool = new Pool(2);
   * const out: number[] = [];
   * for await (const x of pool.imapUnordered((x: number) => x * 2, [1, 2, 3])) out.push(x);
   * assert.deepEqual(out.sort(), [2, 4, 6]);
   * ```
   */
  imapUnordered<T, R>(
    fn: TaskFunction<[T], R>,
    iterable: Iterable<T> | AsyncIterable<T>,
    chunksize: number = 1,
  ): AsyncIterableIterator<Awaited<R>> {
    return this.#imap("imapUnordered", Op.map, fn, iterable, chunksize, false);
  }

  #imap<R>(
    method: string,
    op: Op,
    fn: unknown,
    iterable: unknown,
    chunksize: number,
    ordered: boolean,
  ): AsyncIterableIterator<R> {
    this.#checkRunning(method);
    const prepared = this.#executor.prepare(fn, "task");
    checkCount(chunksize, "chunksize", method);
    const { iterator, async } = iteratorOf(iterable, method);
    const feed: Feed = {
      processes: this.#processes,
      fn: prepared,
      key: this.#executor.costKey(prepared),
      submit: (job) => this.#submit(job),
      hold: this.#holder.hold,
      release: this.#holder.release,
      feeding: (delta) => {
        this.#feeders += delta;
        if (delta < 0) this.#checkIdle();
      },
    };
    return new IMapIterator<R>(feed, op, iterator, async, chunksize, ordered);
  }

  // ---- Dispatch -------------------------------------------------------------------------

  #spawn(): void {
    const slot = this.#executor.spawn(this.#hooks, {
      number: ++this.#workerNumber,
      initializer: this.#initializer,
      initargs: this.#initargs,
      maxHeapMB: this.#maxHeapMB,
    });
    this.#slots.set(slot, {
      slot,
      inFlight: new Deque(),
      backlog: 0,
      nextSeq: 1,
      assigned: 0,
      ready: false,
      retiring: false,
    });
    if (this.#holds === 0) slot.unref();
  }

  /** The expected milliseconds of one task of `fn`; a new function counts as a full batch. */
  #estimate(key: unknown): number {
    return this.#costs.get(key) ?? TARGET_BATCH_MS;
  }

  /**
   * Sends queued jobs to workers with room, in batches. A worker gets jobs while its backlog
   * (the estimated cost of what it holds) is under TARGET_BATCH_MS, and never more than an
   * even share of the queue, so no job waits behind a slow one while another worker idles.
   */
  #pump(): void {
    if (this.#state === "terminate" || this.#queue.length === 0) return;
    // Workers that died while starting are replaced only when there is work for them.
    let live = 0;
    for (const state of this.#slots.values()) if (!state.retiring) live++;
    if (
      this.#startFailure !== undefined &&
      performance.now() - this.#startFailure.at >= START_RETRY_AFTER_MS
    ) {
      // Try again, in case the cause has passed (a file being written, memory, a limit).
      this.#startFailure = undefined;
    }
    if (this.#startFailure === undefined) {
      for (; live < this.#processes; live++) this.#spawn();
    } else if (live === 0) {
      // No worker could start, and new ones would not either yet: fail the work at once.
      const { error } = this.#startFailure;
      for (const job of this.#queue.drain()) this.#finishJob(job, false, error);
      this.#checkIdle();
      return;
    }
    const states = [...this.#slots.values()];
    // A job that could not be sent (its arguments cannot be cloned) fails at once and frees its
    // place: go round again until every job is sent or no worker has room, or those behind it
    // would wait for a result that never comes.
    let anyRefused = false;
    for (let refused = true; refused && this.#queue.length > 0;) {
      refused = false;
      const share = Math.ceil(this.#queue.length / this.#processes);
      const first = this.#rotate++ % states.length;
      for (let k = 0; k < states.length && this.#queue.length > 0; k++) {
        const state = states[(first + k) % states.length];
        if (state.retiring) continue;
        const limit = Math.min(
          MAX_IN_FLIGHT - state.inFlight.length,
          this.#maxTasks - state.assigned,
          share,
        );
        const jobs: Job[] = [];
        let backlog = state.backlog;
        while (jobs.length < limit && this.#queue.length > 0) {
          const cost = this.#estimate(this.#queue.peek()!.key);
          if (state.inFlight.length + jobs.length > 0 && backlog + cost > TARGET_BATCH_MS) break;
          const job = this.#queue.shift()!;
          job.seq = state.nextSeq++;
          job.cost = cost;
          backlog += cost;
          jobs.push(job);
        }
        if (jobs.length === 0) continue;
        const rejected = state.slot.send(jobs);
        const failed = rejected === undefined ? undefined : new Set(rejected.map(([job]) => job));
        for (const job of jobs) {
          if (failed?.has(job)) continue;
          state.inFlight.push(job);
          state.backlog += job.cost;
        }
        // Only the tasks a worker ran count towards its maxtasksperchild.
        state.assigned += jobs.length - (rejected?.length ?? 0);
        if (rejected === undefined || rejected.length === 0) continue;
        refused = anyRefused = true;
        for (const [job, error] of rejected) this.#finishJob(job, false, error);
      }
    }
    // Jobs that failed to send may have been the last a closed pool was waiting for.
    if (anyRefused) this.#checkIdle();
  }

  #finishJob(job: Job, ok: boolean, value: unknown): void {
    this.#outstanding--;
    job.sink.settle(job.index, ok, value);
  }

  /**
   * A chunk of results that arrived packed: into its map's list, without a copy between. A
   * chunk that cannot be unpacked fails its own task.
   */
  #finishPacked(job: Job, chunk: Packed): void {
    const sink = job.sink;
    if (sink.settlePacked !== undefined) {
      this.#outstanding--;
      try {
        sink.settlePacked(job.index, chunk);
      } catch (error) {
        sink.settle(job.index, false, error);
      }
      return;
    }
    let value: unknown;
    try {
      value = unpackChunk(chunk);
    } catch (error) {
      return this.#finishJob(job, false, error);
    }
    this.#finishJob(job, true, value);
  }

  #onResults(slot: Slot, results: unknown[], busy: number): void {
    const state = this.#slots.get(slot);
    if (state === undefined || this.#state === "terminate") return;
    // Learn each function's cost from this batch's measured time (see TARGET_BATCH_MS).
    const perTask = Math.max(busy / (results.length / 3), 0.0005);
    let learned: unknown = undefined;
    for (let i = 0; i < results.length; i += 3) {
      const job = state.inFlight.shift()!;
      state.backlog -= job.cost;
      if (job.key !== learned) {
        learned = job.key;
        const old = this.#costs.get(job.key);
        this.#costs.set(job.key, old === undefined ? perTask : 0.7 * old + 0.3 * perTask);
      }
      const ok = results[i + 1];
      if (ok === 2) this.#finishPacked(job, results[i + 2] as Packed);
      else this.#finishJob(job, ok === 1, results[i + 2]);
    }
    if (state.inFlight.length === 0) state.backlog = 0; // no drift from float sums
    this.#maybeRetire(state);
    this.#pump();
    this.#checkIdle();
  }

  /** Replaces a worker that has run its `maxtasksperchild` tasks, once it is idle. */
  #maybeRetire(state: SlotState): void {
    if (state.assigned < this.#maxTasks || state.inFlight.length > 0 || state.retiring) return;
    state.retiring = true;
    void state.slot.terminate();
    if (this.#state === "run" || this.#outstanding > 0) this.#spawn();
  }

  #onInitError(slot: Slot, error: unknown): void {
    const state = this.#slots.get(slot);
    if (state === undefined || state.retiring) return;
    state.retiring = true;
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const failure = new ProcessError(
      `Cannot run the task as the pool's initializer failed in ${slot.name}: ${message}`,
      { cause: error },
    );
    for (const job of state.inFlight.drain()) this.#finishJob(job, false, failure);
    void slot.terminate();
    this.#checkIdle();
  }

  #onExit(slot: Slot, exitCode: number, error: unknown): void {
    const state = this.#slots.get(slot);
    if (state === undefined) return;
    this.#slots.delete(slot);
    const cause = error === undefined ? undefined : { cause: error };
    const detail = error === undefined ? "" : ` after an uncaught ${errorText(error, false)}`;
    // A worker started ahead of need that ended before it read its start: as if it had never
    // been, its jobs go back to the pool and another takes its place.
    const unread = slot.unread?.() ?? false;
    if (!state.ready && !state.retiring && this.#state !== "terminate" && !unread) {
      // It ended before it could run anything: its modules did not load, or its initializer
      // ended it. Workers started after it would likely end alike, so for a while the pool
      // starts no more (START_RETRY_AFTER_MS), and its work fails with the cause once no
      // worker is left.
      const failure = new WorkerExitError(
        `Cannot run the task as the pool's worker ${slot.name} (pid ${slot.pid}) could not start: it ended with exit code ${exitCode}${detail}`,
        exitCode,
        cause,
      );
      this.#startFailure ??= { error: failure, at: performance.now() };
      for (const job of state.inFlight.drain()) this.#finishJob(job, false, failure);
    }
    if (this.#state !== "terminate" && state.inFlight.length > 0) {
      const running = slot.running();
      const failure = new WorkerExitError(
        outOfMemory(error)
          ? `Worker ${slot.name} (pid ${slot.pid}) ran out of memory while running this task: its heap passed ${
            this.#maxHeapMB === undefined
              ? "the runtime's limit"
              : `its limit of ${this.#maxHeapMB} MB`
          }, and the pool started a new worker in its place. Raise the pool's 'maxHeapMB', or let the task hold less at once`
          : `Worker ${slot.name} (pid ${slot.pid}) ended with exit code ${exitCode}${detail} while running this task; the pool started a new worker in its place`,
        exitCode,
        cause,
      );
      // Only the task it was running fails; the ones queued behind it go back to the pool.
      const jobs = state.inFlight.drain();
      for (let i = jobs.length - 1; i >= 0; i--) {
        if (jobs[i].seq === running) this.#finishJob(jobs[i], false, failure);
        else this.#queue.unshift(jobs[i]);
      }
    }
    if (
      !state.retiring && (state.ready || unread) &&
      (this.#state === "run" || (this.#state === "close" && this.#outstanding > 0))
    ) {
      this.#spawn();
    }
    this.#pump();
    this.#checkIdle();
    this.#checkEnded();
  }

  /**
   * Once a closed pool has no work left, its workers end: each once its initializer has run,
   * as Python's workers run it before they take the sentinel that ends them.
   */
  #checkIdle(): void {
    if (this.#state !== "close" || this.#outstanding > 0 || this.#feeders > 0) return;
    for (const state of this.#slots.values()) {
      if (state.retiring || !state.ready) continue;
      state.retiring = true;
      void state.slot.terminate();
    }
    this.#checkEnded();
  }

  #checkEnded(): void {
    if (this.#state !== "run" && this.#slots.size === 0) this.#ended.resolve();
  }

  // ---- Ending ---------------------------------------------------------------------------

  /**
   * Stops the pool taking new work; the work already submitted still runs, then the
   * workers end (Python's `close`). Call {@linkcode BasePool.join} to wait for that.
   *
   * @example Usage
   * ```ts
   * import { Pool } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const pool = new Pool(2);
   * const result = pool.applyAsync((x: number) => x * 2, [21]);
   * pool.close();
   * await pool.join();
   * assert.equal(await result.get(), 42);
   * ```
   */
  close(): void {
    if (this.#state !== "run") return;
    this.#state = "close";
    this.#spares.close();
    this.#checkIdle();
  }

  /**
   * Stops the workers at once (Python's `terminate`); tasks not finished fail with an
   * error that says the pool was terminated. Disposing the pool (`await using`) does this.
   *
   * @returns A promise that resolves when every worker has ended.
   *
   * @example Usage
   * ```ts
   * import { Pool } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const pool = new Pool(2);
   * const never = pool.applyAsync(() => new Promise(() => {}), []);
   * await pool.terminate();
   * await assert.rejects(never.get(), /terminated/);
   * ```
   */
  async terminate(): Promise<void> {
    if (this.#state !== "terminate") {
      this.#state = "terminate";
      this.#spares.close();
      const failure = new ProcessError(
        "Cannot finish the task as the pool was terminated: terminate() stops every task still queued or running",
      );
      const jobs = this.#queue.drain();
      for (const state of this.#slots.values()) {
        jobs.push(...state.inFlight.drain());
        state.retiring = true;
      }
      for (const job of jobs) this.#finishJob(job, false, failure);
      await Promise.all([...this.#slots.keys()].map((slot) => slot.terminate()));
      this.#checkEnded();
    }
    await this.join();
  }

  /**
   * Waits until every worker has ended, after {@linkcode BasePool.close} (all submitted
   * work done) or {@linkcode BasePool.terminate} (Python's `join`).
   *
   * @returns A promise that resolves when every worker has ended.
   * @throws {Error} If the pool is still running: call `close()` or `terminate()` first.
   */
  join(): Promise<void> {
    if (this.#state === "run") {
      return handled(
        Promise.reject(
          new Error("Cannot join a running pool: call close() or terminate() first"),
        ),
      );
    }
    this.#holder.hold();
    return this.#ended.promise.finally(this.#holder.release);
  }

  /** Terminates the pool, as leaving Python's `with Pool() as pool:` does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.terminate();
  }
}

/**
 * A pool of worker processes (Python's `multiprocessing.Pool`): each worker is a Worker
 * (Deno and Bun Workers, Node `worker_threads`) with its own heap, so tasks run in parallel
 * on all cores. An idle pool never keeps the program alive; one that is closed and joined,
 * or terminated, has no workers left.
 *
 * A task function travels to the workers either as it is, if it is self-contained (it uses
 * only its parameters and globals), or as a {@linkcode fromModule} reference to a module's
 * export, which the workers import. A function that uses a variable from outside itself
 * fails with an error that names the variable and shows that fix.
 *
 * @example Usage
 * ```ts
 * import { Pool } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using pool = new Pool(2);
 * assert.deepEqual(await pool.map((x: number) => x * x, [1, 2, 3, 4]), [1, 4, 9, 16]);
 * assert.equal(await pool.applyAsync((x: number) => x + 1, [41]).get(), 42);
 * ```
 */
export class Pool extends BasePool {}

registerExecutor(Pool, workerExecutor);
