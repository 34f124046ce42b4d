/**
 * The distributed job queue, worker side: connects to `examples/distributed_master.ts` (on any
 * runtime, on this machine or another), takes tasks from its task queue until the sentinel
 * `null`, and puts each result in its result queue. It tells the master, through the result
 * queue, when it is ready and when it has finished.
 * Registering a typeid with no callable says that the server makes the object; `proxytype`
 * gives the proxy its methods (`put()`, `get()`, ... of {@linkcode QueueProxy}).
 *
 * Ports Python's classic `task_worker.py`, with a sentinel where it uses a timeout:
 *
 * ```python
 * import time
 * from multiprocessing.managers import BaseManager
 *
 * class QueueManager(BaseManager):
 *     pass
 *
 * QueueManager.register('get_task_queue')
 * QueueManager.register('get_result_queue')
 * m = QueueManager(address=('127.0.0.1', 5000), authkey=b'abc')
 * m.connect()
 * task = m.get_task_queue()
 * result = m.get_result_queue()
 * for i in range(10):
 *     n = task.get(timeout=1)
 *     print('run task %d * %d...' % (n, n))
 *     time.sleep(1)
 *     result.put('%d * %d = %d' % (n, n, n * n))
 * print('worker exit.')
 * ```
 *
 * Start the master, then run any number of these (as many as the master was told), with any of:
 *
 * ```sh
 * deno run -A examples/distributed_worker.ts [port=5000] [host=127.0.0.1]
 * bun examples/distributed_worker.ts [port=5000] [host=127.0.0.1]
 * node examples/distributed_worker.ts [port=5000] [host=127.0.0.1]
 * ```
 *
 * It prints `worker <runtime> <pid>: run task n * n` for each task it takes, then
 * `worker <runtime> <pid>: exit after k tasks`.
 *
 * @module
 */
import process from "node:process";
import { BaseManager, QueueProxy } from "../mod.ts";
import type { Result } from "./distributed_master.ts";

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

const [port = "5000", host = "127.0.0.1"] = process.argv.slice(2);
const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
const name = `${runtime} ${process.pid}`;

class QueueManager extends BaseManager {}

QueueManager.register("getTaskQueue", undefined, { proxytype: QueueProxy });
QueueManager.register("getResultQueue", undefined, { proxytype: QueueProxy });
const m = new QueueManager({ address: [host, Number(port)], authkey: "abc" });
await m.connect();
const task = await m.create<QueueProxy<number | null>>("getTaskQueue");
const result = await m.create<QueueProxy<Result>>("getResultQueue");

await result.put({ worker: name, ready: true });
let done = 0;
for (;;) {
  const n = await task.get();
  if (n === null) break; // the master's sentinel: no more tasks
  console.log(`worker ${name}: run task ${n} * ${n}`);
  // A little work, so that the tasks spread over the workers.
  await new Promise((resolve) => setTimeout(resolve, 20));
  await result.put({ task: n, square: n * n, worker: name });
  done++;
}
await result.put({ worker: name, finished: done });
console.log(`worker ${name}: exit after ${count(done, "task")}`);
await m.shutdown();
