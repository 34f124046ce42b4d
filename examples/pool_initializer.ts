/**
 * A pool's initializer receives a manager's Namespace and a Lock: each worker keeps them in
 * module variables for its tasks, and counts itself in the namespace as it starts. The pool
 * starts its workers when it is made, so every worker has counted itself once `close()` and
 * `join()` return, even a worker that ran no task.
 *
 * Ports Python's initializer idiom (CPython's `test_pool_initializer`, with a lock and tasks):
 *
 * ```python
 * from multiprocessing import Lock, Manager, Pool, current_process, parent_process
 *
 * def init(shared_ns, shared_lock):
 *     global ns, lock
 *     ns, lock = shared_ns, shared_lock
 *     with lock:
 *         ns.started += 1
 *
 * def work(x):
 *     with lock:
 *         ns.done += 1
 *     return f"{x * x} by a worker of {parent_process().name}"
 *
 * if __name__ == "__main__":
 *     with Manager() as manager:
 *         ns = manager.Namespace()
 *         ns.started = ns.done = 0
 *         pool = Pool(3, initializer=init, initargs=(ns, Lock()))
 *         print(pool.map(work, range(4)))
 *         pool.close()
 *         pool.join()
 *         print("workers started:", ns.started, "tasks done:", ns.done)
 * ```
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/pool_initializer.ts
 * bun examples/pool_initializer.ts
 * node examples/pool_initializer.ts
 * ```
 *
 * It prints:
 *
 * ```
 * ["0 by a worker of MainProcess","1 by a worker of MainProcess","4 by a worker of MainProcess","9 by a worker of MainProcess"]
 * workers started: 3, tasks done: 4
 * ```
 *
 * @module
 */
import { fromModule, Lock, Manager, type NamespaceProxy, parentProcess, Pool } from "../mod.ts";

// Set in each worker by its initializer.
let ns: NamespaceProxy;
let lock: Lock;

/** The initializer: keeps the namespace and the lock, and counts this worker. */
export async function init(sharedNs: NamespaceProxy, sharedLock: Lock): Promise<void> {
  ns = sharedNs;
  lock = sharedLock;
  await lock.withLock(async () => {
    await ns.set("started", (await ns.get("started") as number) + 1);
  });
}

/** A task: counts itself in the namespace and squares `x`. */
export async function work(x: number): Promise<string> {
  await lock.withLock(async () => {
    await ns.set("done", (await ns.get("done") as number) + 1);
  });
  return `${x * x} by a worker of ${parentProcess()!.name}`;
}

if (import.meta.main) {
  await using manager = await Manager();
  const shared = await manager.Namespace();
  await shared.set("started", 0);
  await shared.set("done", 0);
  const pool = new Pool({
    processes: 3,
    initializer: fromModule<typeof init>(import.meta.url, "init"),
    initargs: [shared, new Lock()],
  });
  const results = await pool.map(fromModule<typeof work>(import.meta.url, "work"), [0, 1, 2, 3]);
  console.log(JSON.stringify(results));
  pool.close();
  await pool.join();
  console.log(
    `workers started: ${await shared.get("started")}, tasks done: ${await shared.get("done")}`,
  );
}
