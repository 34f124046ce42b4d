/**
 * A simulated crawler: twenty page fetches in a pool of five workers, each result handed to
 * a `callback` on the main thread as soon as its page is done, so results arrive in the
 * order the pages finish, not the order they were submitted.
 *
 * Ports seed 003, section 2.9.4.3 (回调函数), the version with a callback:
 *
 * ```python
 * from multiprocessing import Pool
 * import time
 * import random
 *
 * def func(i):  # runs in a worker
 *     time.sleep(random.random())
 *     print('爬取的网页的内容%s' % i)
 *     return len('网页大小!') * i
 *
 * def call_back(contact):  # runs in the main process
 *     print(contact)
 *
 * if __name__ == '__main__':
 *     p = Pool(5)
 *     for i in range(20):
 *         ret = p.apply_async(func, args=(i,), callback=call_back)
 *     p.close()
 *     p.join()
 * ```
 *
 * The random sleep is up to 100 ms here instead of up to 1 s. The last line sorts what the
 * callback received, which is always `[0, 5, 10, ..., 95]`.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/pool_crawler_callback.ts
 * bun examples/pool_crawler_callback.ts
 * node examples/pool_crawler_callback.ts
 * ```
 *
 * @module
 */
import { Pool } from "../mod.ts";

// Runs in a worker. An async function: its sleep does not block the worker's thread, but
// a worker runs one task at a time, as a Python worker process does.
async function func(i: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 100));
  console.log(`crawled page ${i}`);
  return "网页大小!".length * i;
}

if (import.meta.main) {
  const received: number[] = [];
  // Runs on the main thread, once per finished task.
  const callBack = (contact: number) => {
    console.log(contact);
    received.push(contact);
  };

  const p = new Pool(5);
  for (let i = 0; i < 20; i++) {
    p.applyAsync(func, [i], { callback: callBack });
  }
  p.close();
  await p.join();

  console.log(`callback received (sorted): [${received.sort((a, b) => a - b).join(", ")}]`);
}
