/**
 * The same-thread manager (`dummy.ts`): the objects of a `SyncManager` held on the calling
 * thread, reached through the same proxies, whose calls run directly instead of over TCP.
 *
 * @module
 */
import { PoolReferent } from "../_referents.ts";
import { type ManagerOptions, PoolProxy, SyncManager, taskOf } from "../managers.ts";
import { Pool } from "./pool.ts";

class ThreadManager extends SyncManager {
  static {
    // Its Pool runs tasks on this thread too, as Python's dummy Manager().Pool is a ThreadPool.
    this.register("Pool", (processes?: number) => new PoolReferent(new Pool(processes), taskOf), {
      exposed: ["apply", "applyAsync", "map", "mapAsync", "starmap", "close", "terminate", "join"],
      methodToTypeid: { applyAsync: "AsyncResult", mapAsync: "AsyncResult" },
      proxytype: PoolProxy,
      createMethod: false,
    });
  }

  constructor(options?: ManagerOptions) {
    super(options);
    this.useLocalServer();
  }
}

/**
 * Returns a {@linkcode SyncManager} whose objects live on the calling thread (the
 * `Manager()` of `dummy.ts`): the same methods and proxies as the worker manager's, with
 * values copied in and out as they would travel, so a program behaves the same under
 * either entry point. Its proxies work in same-thread processes and pool tasks, not in
 * workers.
 *
 * @param options Accepted for the same signature; nothing listens.
 * @returns The manager; `shutdown()` (or `await using`) ends it.
 *
 * @example Usage
 * ```ts
 * import { Manager, Process } from "@mp/multiprocessing/dummy";
 * import type { DictProxy } from "@mp/multiprocessing/dummy";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const d = await manager.dict<string, number>({ count: 3 });
 * const p = new Process({
 *   target: async (d: DictProxy<string, number>) => {
 *     await d.set("count", (await d.get("count"))! - 1);
 *   },
 *   args: [d],
 * });
 * p.start();
 * await p.join();
 * assert.equal(await d.get("count"), 2);
 * ```
 */
export function Manager(options?: ManagerOptions): Promise<SyncManager> {
  return Promise.resolve(new ThreadManager(options));
}
