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
import "./lib/_version.ts";
export { Pool } from "./lib/dummy/pool.ts";
export { Process } from "./lib/dummy/process.ts";
export { Manager } from "./lib/dummy/managers.ts";
export * from "./lib/_common.ts";
