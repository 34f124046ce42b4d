/**
 * The same-thread pool (CPython's `multiprocessing.dummy`): the worker pool's logic with
 * its tasks run on the calling thread's event loop.
 *
 * @module
 */
import { isThenable } from "../_thenable.ts";
import { Deque } from "../_deque.ts";
import type { Executor, Job, Slot, SlotHooks, SlotInit } from "../_executor.ts";
import { Op } from "../_protocol.ts";
import { allocatePid, markEnded, runAsProcess } from "../context.ts";
import { type FunctionDef, functionDef, loadFunction } from "../reduction.ts";
import { BasePool, registerExecutor } from "../pool.ts";

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

// Sync tasks run back to back for at most this long before the slot lets timers and I/O
// run, as a thread switch would; yielding after every task would make tiny tasks slow.
const YIELD_AFTER_MS = 4;

const loaded = new Map<number, Promise<AnyFunction>>();

function resolveFunction(fn: unknown): AnyFunction | Promise<AnyFunction> {
  if (typeof fn === "function") return fn as AnyFunction;
  const def = fn as FunctionDef;
  let promise = loaded.get(def.id);
  if (promise === undefined) loaded.set(def.id, promise = loadFunction(def));
  return promise;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** One "worker": runs its jobs one after another on this thread. */
class ThreadSlot implements Slot {
  readonly pid: number;
  readonly name: string;
  #hooks: SlotHooks;
  #queue = new Deque<Job>();
  #running = 0;
  #looping = false;
  #ended = false;
  #initialized: Promise<boolean>;

  // Who its tasks run as: currentProcess() in them, and the owner of the RLocks they take.
  // Python's pool workers are daemons.
  #info: { name: string; pid: number; daemon: boolean };

  constructor(hooks: SlotHooks, init: SlotInit) {
    this.#hooks = hooks;
    this.pid = allocatePid().pid;
    this.name = `DummyWorker-${init.number}`;
    this.#info = { name: this.name, pid: this.pid, daemon: true };
    this.#initialized = this.#initialize(init);
  }

  async #initialize(init: SlotInit): Promise<boolean> {
    await null;
    // Terminated at once: as a worker stopped before it started, it runs nothing.
    if (this.#ended) return false;
    if (init.initializer !== undefined) {
      try {
        const fn = await resolveFunction(init.initializer);
        const value = runAsProcess(this.#info, [], () => fn(...init.initargs));
        if (isThenable(value)) await value;
      } catch (error) {
        if (!this.#ended) this.#hooks.initError(this, error);
        return false;
      }
    }
    if (!this.#ended) this.#hooks.ready(this);
    return true;
  }

  send(jobs: Job[]): undefined {
    for (const job of jobs) this.#queue.push(job);
    if (!this.#looping) void this.#loop();
    return undefined;
  }

  async #loop(): Promise<void> {
    this.#looping = true;
    try {
      if (!await this.#initialized) return;
      let turn = performance.now();
      while (!this.#ended && this.#queue.length > 0) {
        const job = this.#queue.shift()!;
        this.#running = job.seq;
        const started = performance.now();
        let ok = 1;
        let value: unknown;
        try {
          // Imported before the task runs as this worker: on Deno, an import() inside an
          // AsyncLocalStorage context leaks that context into later unrelated callbacks.
          const resolved = resolveFunction(job.fn);
          const fn = isThenable(resolved) ? await resolved : resolved;
          value = await runAsProcess(this.#info, [], () => this.#call(fn, job));
        } catch (error) {
          ok = 0;
          value = error;
        }
        this.#running = 0;
        if (this.#ended) return;
        const now = performance.now();
        this.#hooks.results(this, [job.seq, ok, value], now - started);
        if (now - turn >= YIELD_AFTER_MS) {
          await nextTurn();
          turn = performance.now();
        }
      }
    } finally {
      this.#looping = false;
    }
  }

  async #call(fn: AnyFunction, job: Job): Promise<unknown> {
    if (job.op === Op.apply) return await fn(...(job.payload as unknown[]));
    const items = job.payload as unknown[];
    const out = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      let value = job.op === Op.starmap ? fn(...(items[i] as unknown[])) : fn(items[i]);
      if (isThenable(value)) value = await value;
      out[i] = value;
    }
    return out;
  }

  running(): number {
    return this.#running;
  }

  terminate(): Promise<void> {
    // A running task cannot be stopped on this thread; its result is dropped.
    this.#ended = true;
    this.#queue.drain();
    // For parentProcess().isAlive() in processes its tasks started.
    markEnded(this.pid);
    return new Promise((resolve) => {
      queueMicrotask(() => {
        this.#hooks.exit(this, 0, undefined);
        resolve();
      });
    });
  }

  ref(): void {}

  unref(): void {}
}

const threadExecutor: Executor = {
  // Any function runs here, closures and built-ins included; module references are imported.
  prepare: (fn, role) => typeof fn === "function" ? fn : functionDef(fn, role),
  // The initializer gets its arguments as they are, as a thread would.
  checkInitargs: () => {},
  // Closures of one source text are different functions here, but cost about the same.
  costKey: (prepared) =>
    typeof prepared === "function" ? Function.prototype.toString.call(prepared) : prepared,
  spawn: (hooks, init) => new ThreadSlot(hooks, init),
};

/**
 * The same-thread pool (Python's `multiprocessing.dummy.Pool`, a thread pool): the same
 * API and behaviour as the worker `Pool`, with every task run on the calling thread's event
 * loop. At most `processes` tasks are in flight at once: async tasks overlap, which suits
 * I/O-bound work, and sync tasks run one at a time, so CPU-bound work gains nothing.
 * Switching a program between the two is one import line.
 *
 * @example Usage
 * ```ts
 * import { Pool } from "@mp/multiprocessing/dummy";
 * import assert from "node:assert/strict";
 *
 * await using pool = new Pool(5);
 * const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
 * const pages = await pool.map(async (i: number) => {
 *   await sleep(10);
 *   return `page ${i}`;
 * }, [1, 2, 3]);
 * assert.deepEqual(pages, ["page 1", "page 2", "page 3"]);
 * ```
 */
export class Pool extends BasePool {}

registerExecutor(Pool, threadExecutor);
