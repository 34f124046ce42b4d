/**
 * The same {@linkcode Pool} across machines: its tasks run on worker programs on any machine
 * that reaches a Redis broker (as Python's users switch to Ray's
 * `ray.util.multiprocessing.Pool`). Everything else is `mod.ts`'s, so a program switches by
 * its import line and where the broker is: the `broker` option, or `MP_BROKER`.
 *
 * Start Redis, then a worker program on each machine that should run tasks:
 *
 * ```sh
 * redis-server --port 6379 --requirepass PASSWORD
 * deno run -A jsr:@mp/multiprocessing/cluster/worker --broker redis://:PASSWORD@HOST:6379
 * # or, from npm: node node_modules/@mp/multiprocessing/dist/cluster_worker.js --broker ...
 * ```
 *
 * Each worker runs a local `Pool` of its machine's cores and takes chunks of tasks from a
 * Redis Stream as one consumer group; {@linkcode serve} embeds a worker in a program. Task
 * functions are self-contained functions or {@linkcode fromModule} references to modules the
 * workers can load (`https:`, `jsr:`, or `file:` paths that exist on their machines); values
 * travel as MessagePack, as a manager's do.
 *
 * @example Usage
 * ```ts ignore
 * import * as mp from "@mp/multiprocessing/cluster";
 * import assert from "node:assert/strict";
 *
 * function job(x: number): number {
 *   return x * x;
 * }
 *
 * await using pool = new mp.Pool({ broker: "redis://localhost:6379" });
 * assert.deepEqual(await pool.map(job, [0, 1, 2, 3]), [0, 1, 4, 9]);
 * ```
 *
 * @module
 */
import "./lib/_version.ts";
export { type ClusterPoolOptions, Pool } from "./lib/cluster/pool.ts";
export type { BrokerTls } from "./lib/cluster/_broker.ts";
export { serve, type ServeOptions } from "./lib/cluster/worker.ts";
export { Process } from "./lib/process.ts";
export { Manager } from "./lib/managers.ts";
export * from "./lib/_common.ts";
