/**
 * The error classes callers catch, as in CPython's `multiprocessing` package.
 *
 * @module
 */

/**
 * The base of every error this library defines (Python's `multiprocessing.ProcessError`).
 *
 * @example Usage
 * ```ts
 * import { ProcessError, TimeoutError } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new TimeoutError("late") instanceof ProcessError);
 * ```
 */
export class ProcessError extends Error {
  /**
   * Creates an error.
   *
   * @param message What went wrong and what to do about it.
   * @param options The standard error options, such as `cause`.
   */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProcessError";
  }
}

/**
 * A wait ran out of time (Python's `multiprocessing.TimeoutError`): thrown by
 * {@linkcode AsyncResult.get} when its `timeout` passes before the result is ready.
 *
 * @example Usage
 * ```ts
 * import { Pool, TimeoutError } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using pool = new Pool(1);
 * const slow = pool.applyAsync(async () => await new Promise((r) => setTimeout(r, 500)), []);
 * await assert.rejects(slow.get(10), TimeoutError);
 * ```
 */
export class TimeoutError extends ProcessError {
  /**
   * Creates an error.
   *
   * @param message What timed out.
   * @param options The standard error options, such as `cause`.
   */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TimeoutError";
  }
}

/**
 * A worker ended while it was running a task: the task fails with this error and the
 * pool starts a new worker in its place. Other tasks are not affected.
 *
 * `exitCode` is the worker's exit code (`1` after an uncaught error, `n` after an
 * explicit `process.exit(n)`); the uncaught error, when there was one, is the `cause`.
 *
 * @example Usage
 * ```ts
 * import { Pool, WorkerExitError } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using pool = new Pool(1);
 * const err = await pool.apply(() => process.exit(3), []).catch((e) => e);
 * assert.ok(err instanceof WorkerExitError);
 * assert.equal(err.exitCode, 3);
 * assert.equal(await pool.apply((x: number) => x + 1, [1]), 2); // replaced, still working
 * ```
 */
export class WorkerExitError extends ProcessError {
  /** The worker's exit code: `1` after an uncaught error, `n` after `process.exit(n)`. */
  readonly exitCode: number;

  /**
   * Creates an error.
   *
   * @param message Which worker ended and what happened to the task.
   * @param exitCode The worker's exit code.
   * @param options The standard error options; `cause` is the worker's uncaught error.
   */
  constructor(message: string, exitCode: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkerExitError";
    this.exitCode = exitCode;
  }
}

/**
 * The stack of an error as it was inside the worker that threw it, kept as the `cause` of
 * the error the caller receives (CPython's `RemoteTraceback`). Its `message` is that stack.
 *
 * @example Usage
 * ```ts
 * import { Pool, RemoteTraceback } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using pool = new Pool(1);
 * const err = await pool.apply(() => { throw new RangeError("bad"); }, []).catch((e) => e);
 * assert.ok(err instanceof RangeError);
 * assert.ok(err.cause instanceof RemoteTraceback);
 * assert.match(err.cause.message, /RangeError: bad/);
 * ```
 */
export class RemoteTraceback extends Error {
  /**
   * Creates a traceback.
   *
   * @param stack The error's stack as the worker printed it.
   * @param options The standard error options; `cause` is the original error's own cause.
   */
  constructor(stack: string, options?: ErrorOptions) {
    super(stack, options);
    this.name = "RemoteTraceback";
  }
}

/**
 * A {@linkcode Barrier} is broken (Python's `threading.BrokenBarrierError`): a party's wait
 * timed out, the barrier's action threw, or somebody called `abort()` or `reset()` while
 * parties were waiting. Every party waiting at it, and every later one until `reset()`, fails
 * with this error.
 *
 * @example Usage
 * ```ts
 * import { Barrier, BrokenBarrierError } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const barrier = new Barrier(2);
 * barrier.abort();
 * await assert.rejects(barrier.wait(), BrokenBarrierError);
 * ```
 */
export class BrokenBarrierError extends ProcessError {
  /**
   * Creates an error.
   *
   * @param message Why the barrier broke and how to use it again.
   * @param options The standard error options, such as `cause`.
   */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokenBarrierError";
  }
}

/**
 * A queue had no item to give (Python's `queue.Empty`): thrown by `getNowait()`, and by
 * `get()` with `{ block: false }` or once its `timeout` has passed.
 *
 * @example Usage
 * ```ts
 * import { Empty, Queue } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const q = new Queue<number>();
 * assert.throws(() => q.getNowait(), Empty);
 * await assert.rejects(q.get({ timeout: 10 }), Empty);
 * ```
 */
export class Empty extends Error {
  /**
   * Creates an error.
   *
   * @param message Which queue was empty, and for how long.
   * @param options The standard error options, such as `cause`.
   */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Empty";
  }
}

/**
 * A queue had no room for an item (Python's `queue.Full`): thrown by `putNowait()`, and by
 * `put()` with `{ block: false }` or once its `timeout` has passed.
 *
 * @example Usage
 * ```ts
 * import { Full, Queue } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const q = new Queue<number>(1);
 * q.putNowait(1);
 * assert.throws(() => q.putNowait(2), Full);
 * await assert.rejects(q.put(2, { timeout: 10 }), Full);
 * ```
 */
export class Full extends Error {
  /**
   * Creates an error.
   *
   * @param message Which queue was full, and for how long.
   * @param options The standard error options, such as `cause`.
   */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Full";
  }
}

/**
 * There is nothing left to receive (Python's `EOFError`): `recv()` on a connection whose
 * other end is closed, once everything sent before has been received.
 *
 * @example Usage
 * ```ts
 * import { EOFError, Pipe } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = Pipe();
 * await a.send("last");
 * a.close();
 * assert.equal(await b.recv(), "last");
 * await assert.rejects(b.recv(), EOFError);
 * ```
 */
export class EOFError extends Error {
  /**
   * Creates an error.
   *
   * @param message Which connection ended.
   * @param options The standard error options, such as `cause`.
   */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EOFError";
  }
}

/**
 * A received message was longer than the caller allowed (Python's
 * `multiprocessing.BufferTooShort`): thrown by `recvBytes(maxlength)` and
 * `recvBytesInto(buffer)`. The message has been received all the same: it is in
 * {@linkcode BufferTooShort.data}, so nothing is lost and the connection stays usable.
 *
 * @example Usage
 * ```ts
 * import { BufferTooShort, Pipe } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = Pipe();
 * await a.sendBytes(new Uint8Array([1, 2, 3]));
 * const error = await b.recvBytes(2).catch((e) => e);
 * assert.ok(error instanceof BufferTooShort);
 * assert.deepEqual([...error.data], [1, 2, 3]);
 * ```
 */
export class BufferTooShort extends ProcessError {
  /** The whole message that did not fit. */
  readonly data: Uint8Array;

  /**
   * Creates an error.
   *
   * @param message How long the message was and how much room there was.
   * @param data The whole message.
   * @param options The standard error options, such as `cause`.
   */
  constructor(message: string, data: Uint8Array = new Uint8Array(0), options?: ErrorOptions) {
    super(message, options);
    this.name = "BufferTooShort";
    this.data = data;
  }
}

/**
 * The two ends of a manager connection do not share the same `authkey` (Python's
 * `multiprocessing.AuthenticationError`): thrown by `connect()` and by proxy calls of a
 * client whose key the server rejected.
 *
 * @example Usage
 * ```ts
 * import { AuthenticationError, ProcessError } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new AuthenticationError("wrong key") instanceof ProcessError);
 * ```
 */
export class AuthenticationError extends ProcessError {
  /**
   * Creates an error.
   *
   * @param message What was rejected and what key to use.
   * @param options The standard error options, such as `cause`.
   */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuthenticationError";
  }
}

/**
 * A manager could not do what a proxy asked, for a reason other than an error of the shared
 * object itself (Python's `multiprocessing.managers.RemoteError`): a method that the object
 * does not expose, an object the manager no longer has, or a request it does not understand.
 * Errors the object's own methods throw arrive as themselves.
 *
 * @example Usage
 * ```ts
 * import { ProcessError, RemoteError } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new RemoteError("no such method") instanceof ProcessError);
 * ```
 */
export class RemoteError extends ProcessError {
  /**
   * Creates an error.
   *
   * @param message What the manager could not do, and why.
   * @param options The standard error options, such as `cause`.
   */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RemoteError";
  }
}
