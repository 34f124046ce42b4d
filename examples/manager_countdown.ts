/**
 * The count-down: 100 processes each take 1 from `count` in a dict held by a `Manager()`,
 * under a `Lock`, so that the count ends at exactly 0.
 *
 * Ports seed 003 (进程间的数据共享, 方式二):
 *
 * ```python
 * from multiprocessing import Manager, Process, Lock
 *
 * def work(dict, lock):
 *     with lock:
 *         dict['count'] -= 1
 *
 * if __name__ == '__main__':
 *     lock = Lock()
 *     m = Manager()
 *     dic = m.dict({'count': 100})
 *     p_list = []
 *     for i in range(100):
 *         p = Process(target=work, args=(dic, lock))
 *         p_list.append(p)
 *         p.start()
 *     for p in p_list:
 *         p.join()
 *     print(dic['count'])
 * ```
 *
 * `dict['count'] -= 1` is two calls to the manager, a read and then a write: without the
 * lock (the seed's 方式一), another process may read between them, and its write then undoes
 * this one, so the count may end above 0. A manager's own `Lock()` (a proxy) works here as
 * well as `Lock` does.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/manager_countdown.ts
 * bun examples/manager_countdown.ts
 * node examples/manager_countdown.ts
 * ```
 *
 * (An argument sets another number of processes: `node examples/manager_countdown.ts 20`.)
 *
 * It prints:
 *
 * ```
 * 100 processes each took 1 from 100 under the lock
 * count: 0
 * ```
 *
 * @module
 */
import process from "node:process";
import { type DictProxy, fromModule, Lock, Manager, Process } from "../mod.ts";

/** One process: `dict['count'] -= 1` while holding the lock. */
export async function work(dict: DictProxy<string, number>, lock: Lock): Promise<void> {
  await lock.withLock(async () => {
    await dict.set("count", (await dict.getItem("count")) - 1);
  });
}

if (import.meta.main) {
  const n = Number(process.argv[2] ?? 100);
  const lock = new Lock();
  await using m = await Manager();
  const dic = await m.dict<string, number>({ count: n });
  const pList: Process[] = [];
  for (let i = 0; i < n; i++) {
    const p = new Process({
      target: fromModule<typeof work>(import.meta.url, "work"),
      args: [dic, lock],
    });
    pList.push(p);
    p.start();
  }
  for (const p of pList) await p.join();
  const failed = pList.filter((p) => p.exitcode !== 0).length;
  console.log(
    `${n - failed} processes each took 1 from ${n} under the lock` +
      (failed === 0 ? "" : ` (${failed} failed)`),
  );
  console.log(`count: ${await dic.getItem("count")}`);
}
