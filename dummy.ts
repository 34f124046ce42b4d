/**
 * The same API as `@mp/multiprocessing`, run on the calling thread's event loop (Python's
 * `multiprocessing.dummy`): concurrency for I/O-bound async work, no parallelism for
 * CPU-bound work. Switching a program between the two is one import line:
 *
 * ```ts ignore
 * import * as mp from "@mp/multiprocessing";        // workers
 * // import * as mp from "@mp/multiprocessing/dummy"; // same program, on one thread
 * ```
 *
 * @example Usage
 * ```ts
 * import * as mp from "@mp/multiprocessing/dummy";
 * import assert from "node:assert/strict";
 *
 * await using pool = new mp.Pool(4);
 * assert.deepEqual(await pool.map((x: number) => x * x, [1, 2, 3]), [1, 4, 9]);
 * ```
 *
 * @module
 */
export { Pool } from "./lib/dummy/pool.ts";
export {
  type ApplyOptions,
  AsyncResult,
  BasePool,
  type MapAsyncOptions,
  type PoolOptions,
} from "./lib/pool.ts";
export { Process } from "./lib/dummy/process.ts";
export { activeChildren, BaseProcess, type ProcessOptions } from "./lib/process.ts";
export { fromModule, type ModuleFunction, type TaskFunction } from "./lib/reduction.ts";
export { cpuCount, currentProcess, parentProcess, type ProcessInfo } from "./lib/context.ts";
export {
  Array,
  type BigIntTypecode,
  type ElementType,
  type LockLike,
  RawArray,
  RawValue,
  type SharedTypedArray,
  type SharedTypedArrays,
  type SharedValue,
  type SynchronizedArray,
  type SynchronizedArrayMethods,
  type SynchronizedOptions,
  type SynchronizedValue,
  type Typecode,
  Value,
} from "./lib/sharedctypes.ts";
export {
  type AcquireOptions,
  Barrier,
  BoundedSemaphore,
  Condition,
  Event,
  Lock,
  RLock,
  Semaphore,
} from "./lib/synchronize.ts";
export {
  type GetOptions,
  JoinableQueue,
  type PutOptions,
  Queue,
  type QueueOptions,
  SimpleQueue,
} from "./lib/queues.ts";
export { Connection, Pipe, type PipeOptions } from "./lib/connection.ts";
export {
  BrokenBarrierError,
  BufferTooShort,
  Empty,
  EOFError,
  Full,
  ProcessError,
  RemoteTraceback,
  TimeoutError,
  WorkerExitError,
} from "./lib/errors.ts";
