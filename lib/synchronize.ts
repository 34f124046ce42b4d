/**
 * Synchronisation primitives that work across workers (CPython's
 * `multiprocessing.synchronize`): {@linkcode Lock}, {@linkcode RLock},
 * {@linkcode Semaphore}, {@linkcode BoundedSemaphore}, {@linkcode Condition},
 * {@linkcode Event} and {@linkcode Barrier}.
 *
 * Each keeps its state in a `SharedArrayBuffer` and touches it only with `Atomics`, so a lock
 * acquired in one worker is held for every worker it was passed to, and for the main thread.
 * The same objects also order async tasks on one thread: a task that must wait does so with
 * `Atomics.waitAsync`, which lets the thread's other tasks run meanwhile. Nothing ever blocks
 * a thread, so they work on the main thread and with the dummy (same-thread) entry point.
 *
 * @module
 */
import { checkTimeout, waitBudget } from "./_validate.ts";
import { waitFor, type WaitResult } from "./_wait.ts";
import { hasEnded, ownerPid, threadOwnerPid } from "./context.ts";
import { BrokenBarrierError } from "./errors.ts";
import {
  describe,
  type FunctionDef,
  functionDef,
  loadFunction,
  type ModuleFunction,
  reduce,
  registerShared,
  sharedObjectCreated,
} from "./reduction.ts";

// ---- Waiting --------------------------------------------------------------------------------

function noop(): void {}

/**
 * Waits for a change of `int32[index]` (see lib/_wait.ts: it keeps the program alive while
 * pending, and no single wait outlasts `MAX_WAIT`, which bounds a lost notification). Every
 * caller checks its condition and its own deadline again after it returns.
 */
function sleep(
  int32: Int32Array,
  index: number,
  expected: number,
  timeout: number,
): Promise<WaitResult> {
  return waitFor(int32, index, expected, timeout, 0);
}

const pause: (hint?: number) => void = (Atomics as { pause?: (hint?: number) => void }).pause ??
  noop;

// A holder in another worker usually lets go within microseconds; checking a few dozen
// times first (some 50-100 µs in all) saves the waitAsync round trip through the event loop,
// which costs far more. Between checks the waiter backs off, doubling its pauses up to
// MAX_BACKOFF: a waiter that reads the word all the time takes its cache line from the
// holder, whose every acquire and release then waits for it (measured on Node, two workers
// adding to a Value under its lock: 5-8M additions/s without the back-off, 10-11M with it).
const SPINS = 40;
const MAX_BACKOFF = 64;

// Already settled, so the fast paths return them without allocating.
const TRUE: Promise<boolean> = Promise.resolve(true);
const FALSE: Promise<boolean> = Promise.resolve(false);

// ---- Options and validation -----------------------------------------------------------------

/** Options for `acquire()`, as Python's `acquire(block=True, timeout=None)`. */
export interface AcquireOptions {
  /**
   * Wait until the lock is free (`true`), or return `false` at once if it is held (`false`).
   *
   * @default {true}
   */
  block?: boolean;
  /**
   * The most milliseconds to wait; `undefined` waits as long as it takes. Ignored when
   * `block` is `false`, as Python's `multiprocessing` ignores it.
   *
   * @default {undefined}
   */
  timeout?: number;
}

function checkCount(value: unknown, name: string, what: string, min: number): number {
  const kind = min === 0 ? "a non-negative integer" : "a positive integer";
  if (typeof value !== "number") {
    throw new TypeError(`Cannot ${what} as '${name}' must be ${kind}: received ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > MAX_VALUE) {
    throw new RangeError(
      `Cannot ${what} as '${name}' must be ${kind}${
        value > MAX_VALUE ? ` up to ${MAX_VALUE}` : ""
      }: received ${value}`,
    );
  }
  return value;
}

const MAX_VALUE = 0x7fffffff;

// ---- Reviving ---------------------------------------------------------------------------------

// A reviver hands a constructor the state it must adopt instead of allocating its own; the
// public constructors keep Python's signatures and every object, new or received, is built
// by them (so `#private` fields and `sharedObjectCreated()` work the same for both).
let adopting: Record<string, unknown> | undefined;

function takeAdopted(): Record<string, unknown> | undefined {
  const state = adopting;
  adopting = undefined;
  return state;
}

function adopt<T>(state: Record<string, unknown>, make: () => T): T {
  adopting = state;
  try {
    return make();
  } finally {
    adopting = undefined;
  }
}

/** The state's shared words, checked: a malformed record must not become a broken lock. */
function sharedWords(state: unknown, kind: string, length: number): Int32Array {
  const buffer = typeof state === "object" && state !== null
    ? (state as { buffer?: unknown }).buffer
    : undefined;
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== length * 4) {
    throw new TypeError(
      `Cannot receive a shared ${kind} as its state is not what a ${kind} sends: pass the ${kind} object itself`,
    );
  }
  return new Int32Array(buffer);
}

function newWords(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(length * 4));
}

// ---- Mutex ------------------------------------------------------------------------------------
//
// The classic futex mutex (Drepper, "Futexes Are Tricky", mutex 2): one word, 0 free, 1 held,
// 2 held with possible waiters. Taking a free lock is one compareExchange; releasing a lock
// nobody waits for is one compareExchange, and only a release of a contended lock notifies.

const FREE = 0;
const HELD = 1;
const CONTENDED = 2;

async function lockSlow(
  int32: Int32Array,
  index: number,
  budget: number,
): Promise<boolean> {
  for (let i = 0, backoff = 1; i < SPINS; i++) {
    if (
      Atomics.load(int32, index) === FREE &&
      Atomics.compareExchange(int32, index, FREE, HELD) === FREE
    ) return true;
    for (let j = 0; j < backoff; j++) pause();
    if (backoff < MAX_BACKOFF) backoff *= 2;
  }
  const deadline = performance.now() + budget;
  // Marking the word contended before sleeping makes the holder's release notify; a waiter
  // that gives up leaves it so, which costs one spare notify and loses no wakeup.
  while (Atomics.exchange(int32, index, CONTENDED) !== FREE) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await sleep(int32, index, CONTENDED, left);
  }
  return true;
}

/** Releases the mutex word; `false` when it was not held. */
function unlockWord(int32: Int32Array, index: number): boolean {
  const previous = Atomics.compareExchange(int32, index, HELD, FREE);
  if (previous === HELD) return true;
  if (previous === FREE) return false;
  Atomics.store(int32, index, FREE);
  Atomics.notify(int32, index, 1);
  return true;
}

/**
 * The owner id of the current thread: its process pid, unique per worker and main thread,
 * and per same-thread process of `dummy.ts`.
 */
const self = ownerPid;

/** What `withLock()` and `guard()` hold: a lock, a semaphore or a condition. */
interface Holdable {
  acquire(): Promise<boolean>;
  release(): void;
}

/** `withLock()` of every primitive: acquires, runs `fn`, and releases even when it throws. */
async function runHeld<T>(held: Holdable, fn: () => T | Promise<T>): Promise<T> {
  await held.acquire();
  try {
    return await fn();
  } finally {
    held.release();
  }
}

/** `guard()` of every primitive: acquires, and returns a guard that releases once. */
async function guardOf(held: Holdable): Promise<Disposable> {
  await held.acquire();
  let holding = true;
  return {
    [Symbol.dispose]() {
      if (!holding) return;
      holding = false;
      held.release();
    },
  };
}

// An RLock knows its owner: one that ended while it held the lock never releases it, and
// what the lock guards may be half changed, so a waiter fails rather than wait for ever (a
// Lock or Semaphore has no owner, and stays held, as Python's do).
function abandoned(pid: number): Error {
  return new Error(
    `Cannot acquire the lock as the worker with pid ${pid} that held it ended without releasing it: what it guarded may be half changed, so create a new lock (and check the data it guarded)`,
  );
}

const UNLOCKED_RELEASE =
  "Cannot release an unlocked lock: release only after a successful acquire()";

// Condition reaches into the locks through these, set in the classes' static blocks.
let ownsLock: (lock: Lock | RLock) => boolean;
let releaseAll: (lock: Lock | RLock) => number;
let reacquire: (lock: Lock | RLock, saved: number) => Promise<void>;

/**
 * A lock (Python's `multiprocessing.Lock`): once a worker, the main thread or an async task
 * has acquired it, every other one that calls {@linkcode Lock.acquire} waits until it is
 * released. Any thread may release it, as in Python.
 *
 * Pass it to workers as a task argument; it works there over the same shared memory.
 *
 * @example Usage
 * ```ts
 * import { Lock } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const lock = new Lock();
 * assert.equal(await lock.acquire(), true);
 * assert.equal(await lock.acquire({ block: false }), false); // held
 * lock.release();
 *
 * // As Python's `with lock:`
 * const total = await lock.withLock(() => 40 + 2);
 * assert.equal(total, 42);
 * {
 *   using _held = await lock.guard();
 *   assert.ok(lock.locked());
 * }
 * assert.equal(lock.locked(), false);
 * ```
 */
export class Lock {
  #state: Int32Array;

  static {
    registerShared(
      "Lock",
      (state) => adopt({ state: sharedWords(state, "Lock", 1) }, () => new Lock()),
    );
  }

  /** Creates an unlocked lock. */
  constructor() {
    const adopted = takeAdopted();
    this.#state = adopted ? adopted.state as Int32Array : newWords(1);
    sharedObjectCreated();
  }

  /**
   * Acquires the lock, waiting while another holds it.
   *
   * @param options `{ block: false }` to return at once, `{ timeout }` to wait at most that
   *   many milliseconds.
   * @returns `true` once acquired; `false` if it was held and `block` was `false`, or the
   *   timeout passed.
   * @throws {TypeError} If the options are not of the types above (as a rejection).
   * @throws {RangeError} If `timeout` is negative (as a rejection).
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    let budget = Infinity;
    if (options !== undefined) {
      try {
        budget = waitBudget(options, "acquire the lock");
      } catch (error) {
        return Promise.reject(error);
      }
    }
    // The uncontended path: one compareExchange and a promise settled long ago, no allocation.
    if (Atomics.compareExchange(this.#state, 0, FREE, HELD) === FREE) return TRUE;
    if (budget === 0) return FALSE;
    return lockSlow(this.#state, 0, budget);
  }

  /**
   * Releases the lock, letting one waiter acquire it.
   *
   * @throws {Error} If the lock is not locked.
   */
  release(): void {
    if (!unlockWord(this.#state, 0)) throw new Error(UNLOCKED_RELEASE);
  }

  /**
   * Whether some thread or task holds the lock now.
   *
   * @returns `true` while the lock is held.
   */
  locked(): boolean {
    return Atomics.load(this.#state, 0) !== FREE;
  }

  /**
   * Runs `fn` while holding the lock, as Python's `with lock:`: acquires, runs, and releases
   * even when `fn` throws.
   *
   * @typeParam T What `fn` returns (a promise is awaited).
   * @param fn The work to do while holding the lock.
   * @returns What `fn` returned.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * assert.equal(await lock.withLock(async () => "done"), "done");
   * assert.equal(lock.locked(), false);
   * ```
   */
  withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return runHeld(this, fn);
  }

  /**
   * Acquires the lock and returns a guard that releases it when disposed, for
   * `using _held = await lock.guard();`.
   *
   * @returns A guard whose `[Symbol.dispose]()` releases the lock once.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * {
   *   using _held = await lock.guard();
   *   assert.ok(lock.locked());
   * }
   * assert.equal(lock.locked(), false);
   * ```
   */
  guard(): Promise<Disposable> {
    return guardOf(this);
  }

  /**
   * How the lock travels to other workers: its shared memory.
   *
   * @returns The kind `"Lock"` and the shared buffer.
   */
  [reduce](): { kind: string; state: unknown } {
    return { kind: "Lock", state: { buffer: this.#state.buffer } };
  }

  static {
    ownsLock = (lock) =>
      lock instanceof Lock ? lock.locked() : ownerOf(Atomics.load(rlockState(lock), 0)) === self();
  }
}

// RLock words: the lock word, a word no longer used, and how many times the owner acquired
// it. The count rests at 1 while the lock is free, so that taking a free lock and its last
// release need not write it: seq-cst stores are the dear part of the fast path.
//
// The lock word holds its owner: 0 when free, else the owner's id times two, plus one when
// others may sleep on it (so the release must notify). Taking the lock and naming its owner
// are one atomic step: a worker stopped at any moment leaves the lock either free or held by
// a thread that can be seen to have ended. (With the owner in a word of its own, written
// after the lock word, a worker stopped between the two left the lock held by nobody: seen on
// Bun and Node, a pool terminated or a Process killed while its workers used a Condition left
// the main thread's wait() hung for ever, and the program could not exit.)
const COUNT = 2;

// Ids are pids: the OS process's pid plus a count of this program's workers, far below 2^30.
const ownerOf = (word: number): number => word >> 1;
const WAITERS_BIT = 1;

/** The slow path of an RLock's acquire: the word is taken, or the budget runs out. */
async function rlockSlow(
  state: Int32Array,
  budget: number,
  me: number,
  count: number,
): Promise<boolean> {
  const mine = me << 1;
  for (let i = 0, backoff = 1; i < SPINS; i++) {
    if (Atomics.load(state, 0) === FREE && Atomics.compareExchange(state, 0, FREE, mine) === FREE) {
      if (count !== 1) state[COUNT] = count;
      return true;
    }
    for (let j = 0; j < backoff; j++) pause();
    if (backoff < MAX_BACKOFF) backoff *= 2;
  }
  const deadline = performance.now() + budget;
  for (;;) {
    const word = Atomics.load(state, 0);
    if (word === FREE) {
      // Taken as contended: others may sleep on it, and its release must wake one.
      if (Atomics.compareExchange(state, 0, FREE, mine | WAITERS_BIT) === FREE) {
        if (count !== 1) state[COUNT] = count;
        return true;
      }
      continue;
    }
    const holder = ownerOf(word);
    if (hasEnded(holder)) throw abandoned(holder);
    // Marking the word contended before sleeping makes the holder's release notify.
    if (
      (word & WAITERS_BIT) === 0 &&
      Atomics.compareExchange(state, 0, word, word | WAITERS_BIT) !== word
    ) continue;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await sleep(state, 0, word | WAITERS_BIT, left);
  }
}

/** Frees an RLock's word (its owner's last release), waking a sleeper if there may be one. */
function rlockFree(state: Int32Array): void {
  if ((Atomics.exchange(state, 0, FREE) & WAITERS_BIT) !== 0) Atomics.notify(state, 0, 1);
}
let rlockState: (lock: RLock) => Int32Array;

/**
 * A re-entrant lock (Python's `multiprocessing.RLock`): the thread that holds it may acquire
 * it again, and must release it as many times as it acquired it; only that thread may
 * release it.
 *
 * The owner is a thread, as in Python: a worker, or the main thread (identified by
 * `currentProcess().pid`); in `dummy.ts`, where processes and pool workers are async tasks of
 * one thread as Python's dummy ones are threads, each of them is an owner of its own. Like
 * Python's RLock, which belongs to a thread and not to the code running on it, other async
 * tasks of one thread share its ownership: while one holds it, another acquires it at once.
 * To exclude plain async tasks of one thread from each other, use a {@linkcode Lock}.
 *
 * @example Usage
 * ```ts
 * import { RLock } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const lock = new RLock();
 * assert.equal(await lock.acquire(), true);
 * assert.equal(await lock.acquire(), true); // again, by its owner
 * lock.release();
 * assert.ok(lock.locked());
 * lock.release();
 * assert.equal(lock.locked(), false);
 * assert.throws(() => lock.release(), /unlocked lock/);
 * ```
 */
export class RLock {
  #state: Int32Array;

  static {
    registerShared(
      "RLock",
      (state) => adopt({ state: sharedWords(state, "RLock", 3) }, () => new RLock()),
    );
    rlockState = (lock) => lock.#state;
  }

  /** Creates an unlocked re-entrant lock. */
  constructor() {
    const adopted = takeAdopted();
    if (adopted) {
      this.#state = adopted.state as Int32Array;
    } else {
      this.#state = newWords(3);
      this.#state[COUNT] = 1;
    }
    sharedObjectCreated();
  }

  /**
   * Acquires the lock, or acquires it once more if this thread holds it already.
   *
   * @param options `{ block: false }` to return at once, `{ timeout }` to wait at most that
   *   many milliseconds.
   * @returns `true` once acquired; `false` if another thread holds it and `block` was
   *   `false`, or the timeout passed.
   * @throws {TypeError} If the options are not of the types above (as a rejection).
   * @throws {RangeError} If `timeout` is negative (as a rejection).
   * @throws {Error} If the worker that holds it ended without releasing it (as a rejection).
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    let budget = Infinity;
    if (options !== undefined) {
      try {
        budget = waitBudget(options, "acquire the lock");
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const state = this.#state;
    const me = self();
    // COUNT is a plain read and write: only the owner writes it while it holds the lock, and
    // the lock word's atomics order it for the next owner.
    const word = Atomics.load(state, 0);
    if (word === FREE) {
      if (Atomics.compareExchange(state, 0, FREE, me << 1) === FREE) return TRUE;
    } else if (ownerOf(word) === me) {
      state[COUNT]++;
      return TRUE;
    }
    if (budget === 0) return FALSE;
    return rlockSlow(state, budget, me, 1);
  }

  /**
   * Releases one level of this thread's hold; the last release unlocks it.
   *
   * @throws {Error} If the lock is not locked, or another thread holds it.
   */
  release(): void {
    const state = this.#state;
    const owner = ownerOf(Atomics.load(state, 0));
    if (owner !== self()) {
      throw new Error(
        owner === 0
          ? UNLOCKED_RELEASE
          : "Cannot release a lock that another thread holds: only the worker (or main thread) that acquired an RLock may release it",
      );
    }
    const count = state[COUNT];
    if (count > 1) {
      state[COUNT] = count - 1;
      return;
    }
    rlockFree(state);
  }

  /**
   * Whether some thread holds the lock now.
   *
   * @returns `true` while the lock is held.
   */
  locked(): boolean {
    return Atomics.load(this.#state, 0) !== FREE;
  }

  /**
   * Runs `fn` while holding the lock, as Python's `with lock:`.
   *
   * @typeParam T What `fn` returns (a promise is awaited).
   * @param fn The work to do while holding the lock.
   * @returns What `fn` returned.
   */
  withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return runHeld(this, fn);
  }

  /**
   * Acquires the lock and returns a guard that releases it when disposed, for
   * `using _held = await lock.guard();`.
   *
   * @returns A guard whose `[Symbol.dispose]()` releases the lock once.
   */
  guard(): Promise<Disposable> {
    return guardOf(this);
  }

  /**
   * How the lock travels to other workers: its shared memory.
   *
   * @returns The kind `"RLock"` and the shared buffer.
   */
  [reduce](): { kind: string; state: unknown } {
    return { kind: "RLock", state: { buffer: this.#state.buffer } };
  }

  static {
    // Python's Condition._release_save and _acquire_restore: a wait lets go of every level.
    releaseAll = (lock) => {
      if (lock instanceof Lock) {
        lock.release();
        return 1;
      }
      const state = lock.#state;
      const count = Atomics.load(state, COUNT);
      Atomics.store(state, COUNT, 1);
      rlockFree(state);
      return count;
    };
    reacquire = async (lock, saved) => {
      if (lock instanceof Lock) {
        await lock.acquire();
        return;
      }
      const state = lock.#state;
      const me = self();
      if (ownerOf(Atomics.load(state, 0)) === me) {
        // Another task of this thread took it meanwhile: the thread holds both levels.
        Atomics.add(state, COUNT, saved);
      } else if (Atomics.compareExchange(state, 0, FREE, me << 1) === FREE) {
        state[COUNT] = saved;
      } else {
        await rlockSlow(state, Infinity, me, saved);
      }
    };
  }
}

// ---- Semaphores -------------------------------------------------------------------------------

// Semaphore words: the value, how many waiters sleep on it, and the bound (-1: none).
const VALUE = 0;
const SLEEPERS = 1;
const BOUND = 2;
let semaphoreState: (semaphore: Semaphore) => Int32Array;
let bindSemaphore: (semaphore: Semaphore, bound: number) => void;

function tryDown(state: Int32Array): boolean {
  for (;;) {
    const value = Atomics.load(state, VALUE);
    if (value <= 0) return false;
    if (Atomics.compareExchange(state, VALUE, value, value - 1) === value) return true;
  }
}

async function downSlow(state: Int32Array, budget: number): Promise<boolean> {
  for (let i = 0; i < SPINS; i++) {
    if (tryDown(state)) return true;
    pause();
  }
  const deadline = performance.now() + budget;
  // Registered before the value is checked again, so a release that the check misses sees a
  // sleeper and notifies.
  Atomics.add(state, SLEEPERS, 1);
  try {
    for (;;) {
      if (tryDown(state)) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await sleep(state, VALUE, 0, left);
    }
  } finally {
    Atomics.sub(state, SLEEPERS, 1);
  }
}

/**
 * A semaphore (Python's `multiprocessing.Semaphore`): a counter that
 * {@linkcode Semaphore.acquire} decrements, waiting while it is zero, and
 * {@linkcode Semaphore.release} increments. It lets at most `value` holders in at once.
 *
 * @example Usage
 * ```ts
 * import { Semaphore } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const slots = new Semaphore(2);
 * assert.equal(await slots.acquire(), true);
 * assert.equal(await slots.acquire(), true);
 * assert.equal(await slots.acquire({ timeout: 10 }), false); // both taken
 * slots.release(2);
 * assert.equal(slots.getValue(), 2);
 * ```
 */
export class Semaphore {
  #state: Int32Array;
  // Copied from the shared memory, where it never changes: a release need not read it there.
  #bound: number;

  static {
    registerShared(
      "Semaphore",
      (state) => adopt({ state: sharedWords(state, "Semaphore", 3) }, () => new Semaphore()),
    );
    semaphoreState = (semaphore) => semaphore.#state;
    bindSemaphore = (semaphore, bound) => {
      Atomics.store(semaphore.#state, BOUND, bound);
      semaphore.#bound = bound;
    };
  }

  /**
   * Creates a semaphore.
   *
   * @param value Its initial value: how many may hold it at once.
   * @throws {TypeError} If `value` is not a number.
   * @throws {RangeError} If `value` is not a non-negative integer.
   */
  constructor(value: number = 1) {
    const adopted = takeAdopted();
    if (adopted) {
      this.#state = adopted.state as Int32Array;
      this.#bound = Atomics.load(this.#state, BOUND);
    } else {
      checkCount(value, "value", `create ${this.#article()}`, 0);
      this.#state = newWords(3);
      this.#state[VALUE] = value;
      this.#state[BOUND] = this.#bound = -1;
    }
    sharedObjectCreated();
  }

  #article(): string {
    return this instanceof BoundedSemaphore ? "a bounded semaphore" : "a semaphore";
  }

  /**
   * Decrements the value, waiting while it is zero.
   *
   * @param options `{ block: false }` to return at once, `{ timeout }` to wait at most that
   *   many milliseconds.
   * @returns `true` once decremented; `false` if the value was zero and `block` was
   *   `false`, or the timeout passed.
   * @throws {TypeError} If the options are not of the types above (as a rejection).
   * @throws {RangeError} If `timeout` is negative (as a rejection).
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    let budget = Infinity;
    if (options !== undefined) {
      try {
        budget = waitBudget(options, "acquire the semaphore");
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const state = this.#state;
    // The uncontended path: a load and one compareExchange, no allocation.
    const value = Atomics.load(state, VALUE);
    if (value > 0 && Atomics.compareExchange(state, VALUE, value, value - 1) === value) {
      return TRUE;
    }
    if (budget === 0) return tryDown(state) ? TRUE : FALSE;
    return downSlow(state, budget);
  }

  /**
   * Increments the value by `n`, waking up to `n` waiters.
   *
   * @param n How much to add.
   * @throws {TypeError} If `n` is not a number.
   * @throws {RangeError} If `n` is not a positive integer, or (for a
   *   {@linkcode BoundedSemaphore}) the value would rise above its initial value.
   */
  release(n: number = 1): void {
    if (n !== 1) checkCount(n, "n", `release ${this.#article()}`, 1);
    const state = this.#state;
    const bound = this.#bound;
    if (bound < 0) {
      // One add; past the int32 range it wraps for an instant, which waiters read as zero.
      const value = Atomics.add(state, VALUE, n);
      if (value > MAX_VALUE - n) {
        Atomics.sub(state, VALUE, n);
        throw new RangeError(
          `Cannot release the semaphore as its value would exceed ${MAX_VALUE}: received n = ${n} with value ${value}`,
        );
      }
    } else {
      for (;;) {
        const value = Atomics.load(state, VALUE);
        if (value > bound - n) {
          throw new RangeError(
            `Cannot release the bounded semaphore as its value would rise above its initial value ${bound}: release only as many times as you acquired it`,
          );
        }
        if (Atomics.compareExchange(state, VALUE, value, value + n) === value) break;
      }
    }
    if (Atomics.load(state, SLEEPERS) > 0) Atomics.notify(state, VALUE, n);
  }

  /**
   * The current value.
   *
   * @returns How many more `acquire()` calls would succeed without waiting, now.
   */
  getValue(): number {
    return Atomics.load(this.#state, VALUE);
  }

  /**
   * Runs `fn` while holding the semaphore, as Python's `with semaphore:`.
   *
   * @typeParam T What `fn` returns (a promise is awaited).
   * @param fn The work to do while holding the semaphore.
   * @returns What `fn` returned.
   */
  withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return runHeld(this, fn);
  }

  /**
   * Acquires the semaphore and returns a guard that releases it when disposed, for
   * `using _held = await semaphore.guard();`.
   *
   * @returns A guard whose `[Symbol.dispose]()` releases the semaphore once.
   */
  guard(): Promise<Disposable> {
    return guardOf(this);
  }

  /**
   * How the semaphore travels to other workers: its shared memory.
   *
   * @returns The kind `"Semaphore"` and the shared buffer.
   */
  [reduce](): { kind: string; state: unknown } {
    return { kind: "Semaphore", state: { buffer: this.#state.buffer } };
  }
}

/**
 * A semaphore whose value may never rise above its initial value (Python's
 * `multiprocessing.BoundedSemaphore`): a release without a matching acquire throws, which
 * catches the bug early.
 *
 * @example Usage
 * ```ts
 * import { BoundedSemaphore } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const slots = new BoundedSemaphore(1);
 * await slots.acquire();
 * slots.release();
 * assert.throws(() => slots.release(), RangeError);
 * assert.equal(slots.getValue(), 1);
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  static {
    registerShared(
      "BoundedSemaphore",
      (state) =>
        adopt(
          { state: sharedWords(state, "BoundedSemaphore", 3) },
          () => new BoundedSemaphore(),
        ),
    );
  }

  /**
   * Creates a bounded semaphore.
   *
   * @param value Its initial value, which is also its greatest.
   * @throws {TypeError} If `value` is not a number.
   * @throws {RangeError} If `value` is not a non-negative integer.
   */
  constructor(value: number = 1) {
    const reviving = adopting !== undefined;
    super(value);
    if (!reviving) bindSemaphore(this, value);
  }

  /**
   * How the semaphore travels to other workers: its shared memory.
   *
   * @returns The kind `"BoundedSemaphore"` and the shared buffer.
   */
  override [reduce](): { kind: string; state: unknown } {
    return { kind: "BoundedSemaphore", state: { buffer: semaphoreState(this).buffer } };
  }
}

// ---- Condition --------------------------------------------------------------------------------
//
// Each Condition object that has waiters (one per thread that received it, usually) takes a
// slot in the shared memory. Its waiters queue in that object, in this thread; the slot holds
// one word, `tokens << 16 | waiting`: `waiting` counts its waiters that no notify has chosen
// yet, `tokens` the wakeups a notify sent it that none of its waiters has taken yet.
//
// notify(n), under the lock, moves up to n from `waiting` to `tokens` across the slots, in one
// compareExchange per slot, so it wakes exactly min(n, waiters) waiters. The object's pump
// (one Atomics.waitAsync on the word) hands each token to its oldest waiter. A waiter whose
// time runs out takes back its own `waiting` count when one is left, and then reports a
// timeout: no later notify is spent on it. When none is left, a notify has already chosen
// this object for it, so it takes that token and reports being notified instead: either way
// every notify wakes a live waiter. The word always equals waiting + tokens = this object's
// queued waiters, so an object whose queue empties frees its slot for others.

const SLOTS = 256;
const HEADER = 2; // [slots ever used, where the next notify starts]
const USED = 0;
const CURSOR = 1;
const ONE_TOKEN = 0x10000;
const WAITING_MASK = 0xffff;
const MAX_LOCAL_WAITERS = 0x7fff;

interface Waiter {
  resolve: (notified: boolean) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * A condition variable (Python's `multiprocessing.Condition`): waiters release its lock and
 * sleep until another holder of the lock calls {@linkcode Condition.notify} or
 * {@linkcode Condition.notifyAll}, then hold the lock again before they go on.
 *
 * The default lock is a new {@linkcode RLock}, as in Python; as an RLock's owner is a thread,
 * async tasks of one thread that use one Condition should give it a {@linkcode Lock}:
 * `new Condition(new Lock())`.
 *
 * @example Usage
 * ```ts
 * import { Condition, Lock } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const cond = new Condition(new Lock());
 * const items: number[] = [];
 *
 * async function consume(): Promise<number> {
 *   return await cond.withLock(async () => {
 *     await cond.waitFor(() => items.length > 0);
 *     return items.shift()!;
 *   });
 * }
 *
 * const consumer = consume();
 * await cond.withLock(() => {
 *   items.push(7);
 *   cond.notify();
 * });
 * assert.equal(await consumer, 7);
 * ```
 */
export class Condition {
  #lock: Lock | RLock;
  #state: Int32Array;
  #slot = -1;
  #queue = new Set<Waiter>();
  #pumping = false;

  static {
    registerShared("Condition", (state) => {
      const lock = (state as { lock?: unknown } | null)?.lock;
      if (!(lock instanceof Lock || lock instanceof RLock)) {
        throw new TypeError(
          "Cannot receive a shared Condition as its state holds no lock: pass the Condition object itself",
        );
      }
      return adopt(
        { state: sharedWords(state, "Condition", HEADER + 2 * SLOTS), lock },
        () => new Condition(),
      );
    });
  }

  /**
   * Creates a condition variable.
   *
   * @param lock The lock it uses; a new {@linkcode RLock} if omitted.
   * @throws {TypeError} If `lock` is not a {@linkcode Lock} or {@linkcode RLock}.
   */
  constructor(lock?: Lock | RLock) {
    const adopted = takeAdopted();
    if (adopted) {
      this.#lock = adopted.lock as Lock | RLock;
      this.#state = adopted.state as Int32Array;
    } else {
      if (lock !== undefined && !(lock instanceof Lock || lock instanceof RLock)) {
        throw new TypeError(
          `Cannot create a condition as 'lock' must be a Lock, an RLock or undefined: received ${
            describe(lock)
          }`,
        );
      }
      this.#lock = lock ?? new RLock();
      this.#state = newWords(HEADER + 2 * SLOTS);
    }
    sharedObjectCreated();
  }

  /**
   * Acquires the condition's lock.
   *
   * @param options As the lock's `acquire()`.
   * @returns `true` once acquired; `false` on a failed non-blocking call or a timeout.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    return this.#lock.acquire(options);
  }

  /**
   * Releases the condition's lock.
   *
   * @throws {Error} As the lock's `release()`.
   */
  release(): void {
    this.#lock.release();
  }

  /**
   * Releases the lock, waits until notified or until `timeout` passes, and acquires the lock
   * again before it returns (also on a timeout).
   *
   * @param timeout The most milliseconds to wait; `undefined` waits until notified.
   * @returns `true` if notified, `false` if the timeout passed.
   * @throws {Error} If this thread does not hold the lock (as a rejection).
   * @throws {TypeError} If `timeout` is not a number or undefined (as a rejection).
   * @throws {RangeError} If `timeout` is negative (as a rejection).
   */
  async wait(timeout?: number): Promise<boolean> {
    const ms = checkTimeout(timeout, "wait on the condition");
    if (!ownsLock(this.#lock)) {
      throw new Error(
        "Cannot wait on the condition as its lock is not held: call wait() between acquire() and release()",
      );
    }
    if (this.#queue.size >= MAX_LOCAL_WAITERS) {
      throw new RangeError(
        `Cannot wait on the condition as ${MAX_LOCAL_WAITERS} tasks already wait on this object: pass the condition to fewer tasks of one thread`,
      );
    }
    // Registered while the lock is held, so that any notify after the release counts us.
    Atomics.add(this.#state, this.#takeSlot(), 1);
    let waiter!: Waiter;
    const woken = new Promise<boolean>((resolve) => {
      waiter = { resolve, timer: undefined };
    });
    this.#queue.add(waiter);
    // Timers take at most 2^31 - 1 ms (24.8 days) and fire at once past it: wait for ever.
    if (ms <= 0x7fffffff) waiter.timer = setTimeout(() => this.#expire(waiter), ms);
    const saved = releaseAll(this.#lock);
    if (!this.#pumping) void this.#pump();
    let notified = false;
    try {
      notified = await woken;
    } finally {
      await reacquire(this.#lock, saved);
    }
    return notified;
  }

  /**
   * Waits until `predicate()` returns a truthy value, as Python's `wait_for`: checks it
   * first, then after each wakeup, holding the lock each time.
   *
   * @typeParam T What the predicate returns.
   * @param predicate The state to wait for, read under the lock.
   * @param timeout The most milliseconds to wait in all; `undefined` waits as long as it
   *   takes.
   * @returns The predicate's last value: falsy only if the timeout passed.
   * @throws {Error} If this thread does not hold the lock (as a rejection).
   */
  async waitFor<T>(predicate: () => T, timeout?: number): Promise<T> {
    const ms = checkTimeout(timeout, "wait on the condition");
    if (typeof predicate !== "function") {
      throw new TypeError(
        `Cannot wait on the condition as 'predicate' must be a function: received ${
          describe(predicate)
        }`,
      );
    }
    if (!ownsLock(this.#lock)) {
      throw new Error(
        "Cannot wait on the condition as its lock is not held: call waitFor() between acquire() and release()",
      );
    }
    const deadline = performance.now() + ms;
    let result = predicate();
    while (!result) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      await this.wait(left === Infinity ? undefined : left);
      result = predicate();
    }
    return result;
  }

  /**
   * Wakes `n` of the waiters (all of them if fewer wait). The woken waiters go on once they
   * hold the lock again, so after the caller releases it.
   *
   * @param n How many waiters to wake.
   * @throws {Error} If this thread does not hold the lock.
   * @throws {TypeError} If `n` is not a number.
   * @throws {RangeError} If `n` is not a non-negative integer.
   */
  notify(n: number = 1): void {
    if (n !== 1 && n !== Infinity) checkCount(n, "n", "notify the condition", 0);
    if (!ownsLock(this.#lock)) {
      throw new Error(
        "Cannot notify the condition as its lock is not held: call notify() between acquire() and release()",
      );
    }
    const state = this.#state;
    const used = Atomics.load(state, USED);
    if (used === 0) return;
    const start = Atomics.load(state, CURSOR) % used;
    let left = n;
    for (let k = 0; k < used && left > 0; k++) {
      const index = HEADER + 2 * ((start + k) % used) + 1;
      for (;;) {
        const word = Atomics.load(state, index);
        const waiting = word & WAITING_MASK;
        if (waiting === 0) break;
        const chosen = Math.min(waiting, left);
        if (
          Atomics.compareExchange(state, index, word, word - chosen + chosen * ONE_TOKEN) === word
        ) {
          left -= chosen;
          // Every sleeper on the word, so that a pump left over from the slot's last owner
          // cannot swallow the wakeup.
          Atomics.notify(state, index);
          break;
        }
      }
    }
    // Begin the next notify at the next slot, so that no object's waiters starve another's.
    Atomics.store(state, CURSOR, (start + 1) % used);
  }

  /**
   * Wakes every waiter.
   *
   * @throws {Error} If this thread does not hold the lock.
   */
  notifyAll(): void {
    this.notify(Infinity);
  }

  /**
   * Runs `fn` while holding the condition's lock, as Python's `with cond:`.
   *
   * @typeParam T What `fn` returns (a promise is awaited).
   * @param fn The work to do while holding the lock.
   * @returns What `fn` returned.
   */
  withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return runHeld(this, fn);
  }

  /**
   * Acquires the condition's lock and returns a guard that releases it when disposed, for
   * `using _held = await cond.guard();`.
   *
   * @returns A guard whose `[Symbol.dispose]()` releases the lock once.
   */
  guard(): Promise<Disposable> {
    return guardOf(this);
  }

  /**
   * How the condition travels to other workers: its shared memory and its lock.
   *
   * @returns The kind `"Condition"`, the shared buffer and the lock.
   */
  [reduce](): { kind: string; state: unknown } {
    return { kind: "Condition", state: { buffer: this.#state.buffer, lock: this.#lock } };
  }

  /** The index of this object's slot word, taking a free slot when it has none. */
  #takeSlot(): number {
    const state = this.#state;
    if (this.#slot < 0) {
      // Slots are taken only by waiters, which hold the lock, so the scan does not race
      // with another taker; a slot is given back (set to 0) without the lock.
      for (let slot = 0; slot < SLOTS; slot++) {
        if (Atomics.compareExchange(state, HEADER + 2 * slot, 0, 1) !== 0) continue;
        this.#slot = slot;
        for (;;) {
          const used = Atomics.load(state, USED);
          if (used > slot || Atomics.compareExchange(state, USED, used, slot + 1) === used) break;
        }
        break;
      }
      if (this.#slot < 0) {
        throw new RangeError(
          `Cannot wait on the condition as ${SLOTS} copies of it in other workers already have waiters: share it with fewer workers`,
        );
      }
    }
    return HEADER + 2 * this.#slot + 1;
  }

  /** Hands the tokens notify() sends this object to its waiters, oldest first. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    const state = this.#state;
    try {
      while (this.#queue.size > 0) {
        const index = HEADER + 2 * this.#slot + 1;
        const word = Atomics.load(state, index);
        if (word >= ONE_TOKEN) {
          if (Atomics.compareExchange(state, index, word, word - ONE_TOKEN) === word) {
            this.#settle(this.#queue.values().next().value!, true);
          }
          continue;
        }
        await sleep(state, index, word, Infinity);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #expire(waiter: Waiter): void {
    if (!this.#queue.has(waiter)) return;
    const state = this.#state;
    const index = HEADER + 2 * this.#slot + 1;
    for (;;) {
      const word = Atomics.load(state, index);
      const mine = (word & WAITING_MASK) > 0;
      // Our own registration if no notify took it; else the token a notify sent for it.
      const next = mine ? word - 1 : word - ONE_TOKEN;
      if (Atomics.compareExchange(state, index, word, next) === word) {
        this.#settle(waiter, !mine);
        return;
      }
    }
  }

  #settle(waiter: Waiter, notified: boolean): void {
    this.#queue.delete(waiter);
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.resolve(notified);
    if (this.#queue.size > 0) return;
    // No waiter left: the word is 0 (it counts exactly the queued waiters). Give the slot
    // back, and wake the pump so that it ends instead of keeping the thread alive.
    const index = HEADER + 2 * this.#slot + 1;
    this.#slot = -1;
    Atomics.store(this.#state, index - 1, 0);
    Atomics.notify(this.#state, index);
  }
}

// ---- Event ------------------------------------------------------------------------------------

// Event words: the flag, and how many times it was set (what waiters sleep on).
const FLAG = 0;
const SETS = 1;

async function eventSlow(state: Int32Array, seen: number, budget: number): Promise<boolean> {
  const deadline = performance.now() + budget;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return Atomics.load(state, FLAG) === 1;
    await sleep(state, SETS, seen, left);
    // A set() since we started counts even if clear() followed it, as in Python.
    if (Atomics.load(state, SETS) !== seen) return true;
  }
}

/**
 * An event (Python's `multiprocessing.Event`): a flag that {@linkcode Event.set} raises and
 * {@linkcode Event.clear} lowers; {@linkcode Event.wait} waits until it is raised.
 *
 * @example Usage
 * ```ts
 * import { Event } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const ready = new Event();
 * assert.equal(await ready.wait(10), false);
 * setTimeout(() => ready.set(), 5);
 * assert.equal(await ready.wait(), true);
 * assert.ok(ready.isSet());
 * ```
 */
export class Event {
  #state: Int32Array;

  static {
    registerShared(
      "Event",
      (state) => adopt({ state: sharedWords(state, "Event", 2) }, () => new Event()),
    );
  }

  /** Creates an event whose flag is lowered. */
  constructor() {
    const adopted = takeAdopted();
    this.#state = adopted ? adopted.state as Int32Array : newWords(2);
    sharedObjectCreated();
  }

  /**
   * Whether the flag is raised.
   *
   * @returns `true` after `set()` and before `clear()`.
   */
  isSet(): boolean {
    return Atomics.load(this.#state, FLAG) === 1;
  }

  /** Raises the flag and wakes every waiter; later waits return at once until `clear()`. */
  set(): void {
    const state = this.#state;
    if (Atomics.exchange(state, FLAG, 1) === 1) return;
    Atomics.add(state, SETS, 1);
    Atomics.notify(state, SETS);
  }

  /** Lowers the flag. */
  clear(): void {
    Atomics.store(this.#state, FLAG, 0);
  }

  /**
   * Waits until the flag is raised.
   *
   * @param timeout The most milliseconds to wait; `undefined` waits as long as it takes.
   * @returns `true` if the flag was raised (even if lowered again since), `false` if the
   *   timeout passed first.
   * @throws {TypeError} If `timeout` is not a number or undefined (as a rejection).
   * @throws {RangeError} If `timeout` is negative (as a rejection).
   */
  wait(timeout?: number): Promise<boolean> {
    let budget: number;
    try {
      budget = checkTimeout(timeout, "wait for the event");
    } catch (error) {
      return Promise.reject(error);
    }
    const state = this.#state;
    const seen = Atomics.load(state, SETS);
    if (Atomics.load(state, FLAG) === 1) return TRUE;
    if (budget === 0) return FALSE;
    return eventSlow(state, seen, budget);
  }

  /**
   * How the event travels to other workers: its shared memory.
   *
   * @returns The kind `"Event"` and the shared buffer.
   */
  [reduce](): { kind: string; state: unknown } {
    return { kind: "Event", state: { buffer: this.#state.buffer } };
  }
}

// ---- Barrier ----------------------------------------------------------------------------------
//
// Python's threading.Barrier, state for state: parties arrive while it fills, the last one
// runs the action and lets all go (draining), arrivals for the next pass wait until every
// party of this one has left, and reset() or abort() break the pass for whoever waits. Its
// lock is a spin lock on a shared word, held only across a few synchronous statements (never
// across an await), so reset() and abort() need not wait for anyone and stay synchronous.
// Every change of state bumps a counter and notifies everybody sleeping on it.

const SPIN_LOCK = 0;
const PHASE = 1;
const PARTIES_IN = 2;
const CHANGES = 3;

const FILLING = 0;
const DRAINING = 1;
const ACTING = 2; // the last party runs the action; nobody leaves or enters meanwhile
const RESETTING = -1;
const BROKEN = -2;

type Action = (() => unknown) | ModuleFunction<() => unknown>;

function isAction(action: unknown): action is Action {
  if (typeof action === "function") return true;
  const ref = action as Partial<ModuleFunction> | null;
  return typeof ref === "object" && ref !== null && typeof ref.module === "string" &&
    typeof ref.name === "string";
}

// The spin lock's word holds its holder's pid. A worker terminated or killed inside one of
// the few statements it guards never lets go: a thread that finds the holder ended takes the
// lock over (the state it guards changes in single atomic steps, so it is whole). A live
// holder lets go within microseconds; one that has not after BARRIER_SLEEPS sleeps of 1 ms
// (a worker that is still starting, or whose end its parent has not seen yet) is reported
// rather than waited for, so that no thread blocks for long. A holder once reported is
// reported at once on the next call while it still holds the lock: a thread that calls again
// and again without going back to its event loop (where it would learn of the holder's end)
// would otherwise block for BARRIER_SLEEPS ms each time (seen: the main thread frozen for
// 17 s by a loop of barrier calls while Pool.terminate() stopped the holder).
const BARRIER_SPINS = 1000;
const BARRIER_SLEEPS = 250;
let reportedHolder = 0;

function lockBarrier(state: Int32Array): void {
  const me = threadOwnerPid();
  for (let i = 0; i < BARRIER_SPINS; i++) {
    if (Atomics.compareExchange(state, SPIN_LOCK, 0, me) === 0) return;
    pause();
  }
  for (let i = 0; i < BARRIER_SLEEPS; i++) {
    const owner = Atomics.load(state, SPIN_LOCK);
    if (owner === 0 || hasEnded(owner)) {
      if (Atomics.compareExchange(state, SPIN_LOCK, owner, me) === owner) return;
      continue;
    }
    if (owner === reportedHolder) break;
    Atomics.wait(state, SPIN_LOCK, owner, 1);
  }
  reportedHolder = Atomics.load(state, SPIN_LOCK);
  throw new Error(
    `Cannot use the barrier as the worker with pid ${
      Atomics.load(state, SPIN_LOCK)
    } has held its internal lock for over ${BARRIER_SLEEPS} ms and has not ended: a worker stopped inside a barrier call may leave it unusable, so create a new Barrier`,
  );
}

function unlockBarrier(state: Int32Array): void {
  Atomics.store(state, SPIN_LOCK, 0);
}

/** Wakes every sleeper; called with the spin lock held, after a change of state. */
function changed(state: Int32Array): void {
  Atomics.add(state, CHANGES, 1);
  Atomics.notify(state, CHANGES);
}

/** Python's `_exit`: the last party out of a drained or reset pass opens the next one. */
function leave(state: Int32Array): void {
  const count = Atomics.sub(state, PARTIES_IN, 1) - 1;
  const phase = Atomics.load(state, PHASE);
  if (count === 0 && (phase === DRAINING || phase === RESETTING)) {
    Atomics.store(state, PHASE, FILLING);
    changed(state);
  }
}

function broken(): BrokenBarrierError {
  return new BrokenBarrierError(
    "Cannot pass the barrier as it is broken (a wait timed out, its action threw, or abort() or reset() was called): call reset() to use it again",
  );
}

interface BarrierState {
  buffer: SharedArrayBuffer;
  parties: number;
  timeout: number | undefined;
  action: FunctionDef | undefined;
}

/**
 * A barrier (Python's `multiprocessing.Barrier`): each of `parties` parties calls
 * {@linkcode Barrier.wait}, and all of them go on together once the last has arrived. It
 * can be used again for any number of passes.
 *
 * `action`, if given, runs once per pass, in the last party to arrive, before any party
 * goes on. When the barrier travels to a worker, its action travels with it: a
 * self-contained function as its source text, or a `fromModule()` reference.
 *
 * @example Usage
 * ```ts
 * import { Barrier } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * let passes = 0;
 * const barrier = new Barrier(3, () => {
 *   passes++;
 * });
 * const indices = await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()]);
 * assert.deepEqual(indices.sort(), [0, 1, 2]);
 * assert.equal(passes, 1);
 * ```
 */
export class Barrier {
  #state: Int32Array;
  #parties: number;
  #timeout: number | undefined;
  #action: Action | undefined;
  #actionDef: FunctionDef | undefined;
  #actionFn: (() => unknown) | undefined;

  static {
    registerShared("Barrier", (state) => {
      const s = state as Partial<BarrierState> | null;
      const words = sharedWords(state, "Barrier", 4);
      return adopt(
        { state: words, parties: s!.parties, timeout: s!.timeout, action: s!.action },
        () => new Barrier(1),
      );
    });
  }

  /**
   * Creates a barrier.
   *
   * @param parties How many parties must call `wait()` before all go on.
   * @param action Runs once per pass, before the parties go on; a function or a
   *   `fromModule()` reference. If it throws, the barrier breaks.
   * @param timeout The default timeout of `wait()`, in milliseconds.
   * @throws {TypeError} If an argument is not of the types above.
   * @throws {RangeError} If `parties` is not a positive integer or `timeout` is negative.
   */
  constructor(parties: number, action?: Action, timeout?: number) {
    const adopted = takeAdopted();
    if (adopted) {
      this.#state = adopted.state as Int32Array;
      this.#parties = adopted.parties as number;
      this.#timeout = adopted.timeout as number | undefined;
      this.#actionDef = adopted.action as FunctionDef | undefined;
    } else {
      checkCount(parties, "parties", "create a barrier", 1);
      if (action !== undefined && !isAction(action)) {
        throw new TypeError(
          `Cannot create a barrier as 'action' must be a function, a fromModule() reference or undefined: received ${
            describe(action)
          }`,
        );
      }
      checkTimeout(timeout, "create a barrier");
      this.#state = newWords(4);
      this.#parties = parties;
      this.#timeout = timeout;
      this.#action = action;
      if (typeof action === "function") this.#actionFn = action;
    }
    sharedObjectCreated();
  }

  /** How many parties must arrive for the barrier to let them go. */
  get parties(): number {
    return this.#parties;
  }

  /** How many parties wait at the barrier now. */
  get nWaiting(): number {
    const state = this.#state;
    return Atomics.load(state, PHASE) === FILLING ? Atomics.load(state, PARTIES_IN) : 0;
  }

  /** Whether the barrier is broken: every `wait()` fails until `reset()`. */
  get broken(): boolean {
    return Atomics.load(this.#state, PHASE) === BROKEN;
  }

  /**
   * Waits until all parties have arrived.
   *
   * @param timeout The most milliseconds to wait; by default the barrier's own timeout. If
   *   it passes, the barrier breaks.
   * @returns This party's index in the pass, from `0` to `parties - 1`, distinct for each.
   * @throws {BrokenBarrierError} If the barrier is or becomes broken, or is reset, while
   *   waiting (as a rejection); the party that ran a throwing action gets its error.
   * @throws {RangeError} If `timeout` is negative (as a rejection).
   */
  async wait(timeout?: number): Promise<number> {
    const budget = checkTimeout(timeout ?? this.#timeout, "wait at the barrier");
    const deadline = performance.now() + budget;
    const state = this.#state;
    let index: number;
    // Enter: wait while the last pass drains, is reset, or runs its action.
    for (;;) {
      lockBarrier(state);
      const phase = Atomics.load(state, PHASE);
      if (phase === FILLING) {
        index = Atomics.add(state, PARTIES_IN, 1);
        break;
      }
      if (phase === BROKEN) {
        unlockBarrier(state);
        throw broken();
      }
      const seen = Atomics.load(state, CHANGES);
      unlockBarrier(state);
      await sleep(state, CHANGES, seen, Infinity);
    }
    if (index + 1 === this.#parties) {
      // The last party: run the action with the spin lock free, then let everyone go.
      if (this.#hasAction()) {
        Atomics.store(state, PHASE, ACTING);
        unlockBarrier(state);
        try {
          await this.#runAction();
        } catch (error) {
          lockBarrier(state);
          Atomics.store(state, PHASE, BROKEN);
          changed(state);
          leave(state);
          unlockBarrier(state);
          throw error;
        }
        lockBarrier(state);
        if (Atomics.load(state, PHASE) !== ACTING) {
          // Aborted or reset while the action ran.
          leave(state);
          unlockBarrier(state);
          throw broken();
        }
      }
      Atomics.store(state, PHASE, DRAINING);
      changed(state);
      leave(state);
      unlockBarrier(state);
      return index;
    }
    unlockBarrier(state);
    // Wait for the last party.
    for (;;) {
      lockBarrier(state);
      const phase = Atomics.load(state, PHASE);
      if (phase === FILLING || phase === ACTING) {
        const left = deadline - performance.now();
        if (left <= 0 && phase === FILLING) {
          Atomics.store(state, PHASE, BROKEN);
          changed(state);
          leave(state);
          unlockBarrier(state);
          throw broken();
        }
        // A timeout during the action waits for its end, as Python's wait_for re-checks the
        // state once it holds the lock the action ran under.
        const seen = Atomics.load(state, CHANGES);
        unlockBarrier(state);
        await sleep(state, CHANGES, seen, left > 0 ? left : Infinity);
        continue;
      }
      leave(state);
      unlockBarrier(state);
      if (phase === DRAINING) return index;
      throw broken();
    }
  }

  /**
   * Returns the barrier to its initial state. Parties waiting at it fail with
   * {@linkcode BrokenBarrierError}; later ones use it afresh.
   */
  reset(): void {
    const state = this.#state;
    lockBarrier(state);
    if (Atomics.load(state, PARTIES_IN) > 0) {
      const phase = Atomics.load(state, PHASE);
      if (phase === FILLING || phase === ACTING || phase === BROKEN) {
        Atomics.store(state, PHASE, RESETTING);
      }
    } else {
      Atomics.store(state, PHASE, FILLING);
    }
    changed(state);
    unlockBarrier(state);
  }

  /**
   * Breaks the barrier: parties waiting at it, and later ones until `reset()`, fail with
   * {@linkcode BrokenBarrierError}. Use it to release the others when one party cannot come.
   */
  abort(): void {
    const state = this.#state;
    lockBarrier(state);
    Atomics.store(state, PHASE, BROKEN);
    changed(state);
    unlockBarrier(state);
  }

  /**
   * How the barrier travels to other workers: its shared memory, its parties, default
   * timeout, and its action as a function definition.
   *
   * @returns The kind `"Barrier"` and that state.
   * @throws {TypeError} If the action cannot travel (a built-in or bound function).
   */
  [reduce](): { kind: string; state: unknown } {
    const state: BarrierState = {
      buffer: this.#state.buffer as SharedArrayBuffer,
      parties: this.#parties,
      timeout: this.#timeout,
      action: this.#actionDef ??
        (this.#action === undefined ? undefined : functionDef(this.#action, "barrier action")),
    };
    return { kind: "Barrier", state };
  }

  #hasAction(): boolean {
    return this.#action !== undefined || this.#actionDef !== undefined;
  }

  async #runAction(): Promise<void> {
    let fn = this.#actionFn;
    if (fn === undefined) {
      const def = this.#actionDef ?? functionDef(this.#action, "barrier action");
      fn = this.#actionFn = await loadFunction(def) as () => unknown;
    }
    await fn();
  }
}
