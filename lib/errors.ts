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
