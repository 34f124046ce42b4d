/**
 * Prints the JavaScript pools' figures on this runtime as one JSON object (see `js_pools.ts`).
 *
 * ```sh
 * node bench/js_pools_main.ts [--quick | --tasks=N --runs=R]
 * bun bench/js_pools_main.ts [--quick | --tasks=N --runs=R]
 * deno run -A bench/js_pools_main.ts [--quick | --tasks=N --runs=R]
 * ```
 *
 * `bench/main.ts` runs it so in each round (`--tasks=N --runs=1`), in a program of its own as
 * each of its experiments runs.
 *
 * @module
 */
import process from "node:process";
import { setTimeout } from "node:timers";
import { flag } from "./_common.ts";
import { measurePools } from "./js_pools.ts";

const quick = process.argv.slice(2).includes("--quick");
const tasks = Number(flag("tasks") ?? (quick ? 10_000 : 30_000));
const runs = Number(flag("runs") ?? (quick ? 1 : 3));
console.log(JSON.stringify(await measurePools({ tasks, runs })));
// A library that failed (and was skipped) may have left workers behind: don't let them keep
// the process alive. Unreferenced, so that a clean run exits at once.
setTimeout(() => process.exit(), 5_000).unref();
