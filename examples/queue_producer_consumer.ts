/**
 * Producer and consumers: one producer puts twenty buns into a `Queue(5)`, which makes it wait
 * whenever five are waiting to be eaten; two consumers eat them until each gets the sentinel
 * `null` (Python's `None`) that the main program puts once the producer is done.
 *
 * Ports seed 003 (生产者消费者模型, with shorter sleeps):
 *
 * ```python
 * from multiprocessing import Queue, Process
 * import time
 *
 * def consumer(name, q):
 *     while True:
 *         msg = q.get()  # waits until the queue holds an item
 *         if not msg: break
 *         time.sleep(0.7)
 *         print('%s 抢着吃了%s' % (name, msg))
 *
 * def producer(name, produce, q):
 *     for i in range(20):
 *         msg = '%s %s' % (produce, i)
 *         q.put(msg)  # waits while the queue holds 5 items
 *         print('%s 生产了%s' % (name, msg))
 *         time.sleep(0.2)
 *
 * if __name__ == '__main__':
 *     q = Queue(5)
 *     p1 = Process(target=consumer, args=('饭桶1', q))
 *     p2 = Process(target=consumer, args=('饭桶2', q))
 *     p3 = Process(target=producer, args=('生产者', '包子', q))
 *     p3.start()
 *     p1.start()
 *     p2.start()
 *     p3.join()  # the producer has put everything
 *     q.put(None)  # one sentinel per consumer
 *     q.put(None)
 * ```
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/queue_producer_consumer.ts
 * bun examples/queue_producer_consumer.ts
 * node examples/queue_producer_consumer.ts
 * ```
 *
 * It prints `producer made bun 0` to `bun 19` in order, twenty `glutton N ate bun I` lines
 * (which glutton eats which bun varies), then `all 20 buns eaten`.
 *
 * @module
 */
import { fromModule, Process, Queue } from "../mod.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Eats buns until the sentinel `null`. */
export async function consumer(name: string, q: Queue<string | null>): Promise<void> {
  for (;;) {
    const msg = await q.get(); // waits until the queue holds an item
    if (msg === null) break;
    await sleep(70);
    console.log(`${name} ate ${msg}`);
  }
}

/** Makes twenty buns. */
export async function producer(name: string, produce: string, q: Queue<string | null>) {
  for (let i = 0; i < 20; i++) {
    const msg = `${produce} ${i}`;
    await q.put(msg); // waits while the queue holds 5 items
    console.log(`${name} made ${msg}`);
    await sleep(20);
  }
}

if (import.meta.main) {
  const q = new Queue<string | null>(5);
  const eat = fromModule<typeof consumer>(import.meta.url, "consumer");
  const make = fromModule<typeof producer>(import.meta.url, "producer");
  const p1 = new Process({ target: eat, args: ["glutton 1", q] });
  const p2 = new Process({ target: eat, args: ["glutton 2", q] });
  const p3 = new Process({ target: make, args: ["producer", "bun", q] });
  p3.start();
  p1.start();
  p2.start();
  await p3.join(); // the producer has put everything
  await q.put(null); // one sentinel per consumer
  await q.put(null);
  await p1.join();
  await p2.join();
  console.log("all 20 buns eaten");
}
