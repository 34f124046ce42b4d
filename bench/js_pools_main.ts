/**
 * Prints the JavaScript pools' figures on this runtime as one JSON object (see `js_pools.ts`).
 *
 * ```sh
 * node bench/js_pools_main.ts [--quick]
 * bun bench/js_pools_main.ts [--quick]
 * deno run -A bench/js_pools_main.ts [--quick]
 * ```
 *
 * @module
 */
import process from "node:process";
import { setTimeout } from "node:timers";
import { measurePools } from "./js_pools.ts";

const quick = process.argv.slice(2).includes("--quick");
console.log(
  JSON.stringify(
    await measurePools(quick ? { tasks: 10_000, runs: 1 } : { tasks: 30_000, runs: 3 }),
  ),
);
// A library that failed (and was skipped) may have left workers behind: don't let them keep
// the process alive. Unreferenced, so that a clean run exits at once.
setTimeout(() => process.exit(), 5_000).unref();
