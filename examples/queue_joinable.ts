/**
 * Producers that wait until their buns are eaten: two producers put buns into a
 * `JoinableQueue(5)` and then `join()` it, which returns once the consumers have marked every
 * bun done with `taskDone()`. The consumers are daemons: they end with the program.
 *
 * Ports seed 003 (JoinableQueue, 2.0 版本, with ten buns per producer and shorter sleeps):
 *
 * ```python
 * from multiprocessing import JoinableQueue, Process
 * import time
 *
 * def consumer(name, q):
 *     while True:
 *         msg = q.get()
 *         if not msg: break
 *         time.sleep(0.7)
 *         print('%s 抢着吃了%s' % (name, msg))
 *         q.task_done()  # tells the producers one more bun is eaten
 *
 * def producer(name, produce, q):
 *     for i in range(20):
 *         msg = '%s %s' % (produce, i)
 *         q.put(msg)
 *         print('%s 生产了%s' % (name, msg))
 *         time.sleep(0.2)
 *     q.join()  # waits until everything put has been eaten
 *
 * if __name__ == '__main__':
 *     q = JoinableQueue(5)
 *     c1 = Process(target=consumer, args=('饭桶1', q))
 *     c1.daemon = True  # no need for consumers once the producers are done
 *     c2 = Process(target=consumer, args=('饭桶2', q))
 *     c2.daemon = True
 *     p1 = Process(target=producer, args=('生产者', '包子', q))
 *     p2 = Process(target=producer, args=('生产者', '叉烧包', q))
 *     for p in [c1, c2, p1, p2]:
 *         p.start()
 *     p1.join()
 *     p2.join()
 * ```
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/queue_joinable.ts
 * bun examples/queue_joinable.ts
 * node examples/queue_joinable.ts
 * ```
 *
 * It prints `producer made bun 0` to `bun 9` and `char siu bun 0` to `9`, each in order, twenty
 * `glutton N ate ...` lines, then `every bun eaten: the producers' join() returned`.
 *
 * @module
 */
import { fromModule, JoinableQueue, Process } from "../mod.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Eats buns for ever, marking each one done. */
export async function consumer(name: string, q: JoinableQueue<string | null>): Promise<void> {
  for (;;) {
    const msg = await q.get();
    if (msg === null) break;
    await sleep(50);
    console.log(`${name} ate ${msg}`);
    q.taskDone(); // tells the producers one more bun is eaten
  }
}

/** Makes ten buns, then waits until every bun put is eaten. */
export async function producer(name: string, produce: string, q: JoinableQueue<string | null>) {
  for (let i = 0; i < 10; i++) {
    const msg = `${produce} ${i}`;
    await q.put(msg);
    console.log(`${name} made ${msg}`);
    await sleep(20);
  }
  await q.join(); // waits until everything put has been eaten
}

if (import.meta.main) {
  const q = new JoinableQueue<string | null>(5);
  const eat = fromModule<typeof consumer>(import.meta.url, "consumer");
  const make = fromModule<typeof producer>(import.meta.url, "producer");
  const c1 = new Process({ target: eat, args: ["glutton 1", q] });
  c1.daemon = true; // no need for consumers once the producers are done
  const c2 = new Process({ target: eat, args: ["glutton 2", q] });
  c2.daemon = true;
  const p1 = new Process({ target: make, args: ["producer", "bun", q] });
  const p2 = new Process({ target: make, args: ["producer", "char siu bun", q] });
  for (const p of [c1, c2, p1, p2]) p.start();
  await p1.join();
  await p2.join();
  console.log("every bun eaten: the producers' join() returned");
}
