/**
 * Python's `multiprocessing` for TypeScript on Deno, Bun and Node: a process {@linkcode Pool}
 * whose workers run in parallel on all cores, with the names and behaviour Python
 * programmers know (`map`, `applyAsync`, `imap`, `close`, `join`, `terminate`).
 *
 * Work runs in Workers (Deno and Bun Workers, Node `worker_threads`), each with its own
 * heap. The same program runs on the calling thread by changing one import line to
 * `@mp/multiprocessing/dummy` (Python's `multiprocessing.dummy`).
 *
 * A task function reaches a worker as it is, if it is self-contained, or as a
 * {@linkcode fromModule} reference to a module's export, which the worker imports. Guard a
 * program's entry code with `if (import.meta.main)`, as Python guards it with
 * `if __name__ == "__main__"`, so that a worker importing the module does not run it.
 *
 * @example Usage
 * ```ts
 * import * as mp from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * function job(x: number): number {
 *   return x * x;
 * }
 *
 * await using pool = new mp.Pool(2);
 * assert.deepEqual(await pool.map(job, [0, 1, 2, 3]), [0, 1, 4, 9]);
 * assert.equal(await pool.applyAsync(job, [2]).get(), 4);
 * ```
 *
 * @module
 */
import "./lib/_version.ts";
export { Pool } from "./lib/pool.ts";
export { Process } from "./lib/process.ts";
export { Manager } from "./lib/managers.ts";
export * from "./lib/_common.ts";
