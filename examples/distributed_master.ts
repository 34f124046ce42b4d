/**
 * The distributed job queue, master side: a {@linkcode BaseManager} served on a TCP address
 * shares a task queue and a result queue; worker programs (`examples/distributed_worker.ts`, on
 * any runtime, on this machine or another) connect, take tasks and put results. The master puts
 * the tasks, then one sentinel `null` per worker, and collects every result, checking that each
 * task was done exactly once.
 *
 * Ports Python's classic `task_master.py`, with a sentinel per worker where it uses timeouts:
 *
 * ```python
 * import queue
 * from multiprocessing.managers import BaseManager
 *
 * task_queue = queue.Queue()
 * result_queue = queue.Queue()
 *
 * class QueueManager(BaseManager):
 *     pass
 *
 * QueueManager.register('get_task_queue', callable=lambda: task_queue)
 * QueueManager.register('get_result_queue', callable=lambda: result_queue)
 * manager = QueueManager(address=('127.0.0.1', 5000), authkey=b'abc')
 * manager.start()
 * task = manager.get_task_queue()
 * result = manager.get_result_queue()
 * for n in range(10):
 *     task.put(n)
 * for i in range(10):
 *     print('Result: %s' % result.get(timeout=10))
 * manager.shutdown()
 * ```
 *
 * Run it, then start the workers, in other terminals, with any of the three runtimes; the master
 * puts the tasks once they are all ready:
 *
 * ```sh
 * deno run -A examples/distributed_master.ts [port=5000] [tasks=10] [workers=3]
 * deno run -A examples/distributed_worker.ts [port=5000]
 * bun examples/distributed_worker.ts [port=5000]
 * node examples/distributed_worker.ts [port=5000]
 * ```
 *
 * It prints `master: serving on 127.0.0.1:5000` (port 0 lets the system choose one), a line per
 * worker that is ready, a line per result, a line per worker that finished, and last
 * `summary: 10 of 10 tasks done exactly once by 3 workers`.
 *
 * @module
 */
import process from "node:process";
import { BaseManager, Empty, Queue } from "../mod.ts";

/** What a worker puts in the result queue: that it is ready, a task's result, or that it finished. */
export type Result =
  | { worker: string; ready: true }
  | { task: number; square: number; worker: string }
  | { worker: string; finished: number };

const [port = "5000", tasks = "10", workers = "3"] = process.argv.slice(2);
const nTasks = Number(tasks);
const nWorkers = Number(workers);

/** `n` and the noun, plural unless `n` is 1. */
const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`;

const taskQueue = new Queue<number | null>();
const resultQueue = new Queue<Result>();

class QueueManager extends BaseManager {}

// Every worker's getTaskQueue() gets a proxy of the same queue, held here.
QueueManager.register("getTaskQueue", () => taskQueue);
QueueManager.register("getResultQueue", () => resultQueue);
const manager = new QueueManager({ address: ["127.0.0.1", Number(port)], authkey: "abc" });
// The server runs on this thread, so the master uses the queues themselves; the workers'
// calls arrive between its awaits.
const server = manager.getServer();
console.log(`master: serving on ${(await server.listen()).join(":")}`);

// Waits for the workers, so that each of them finds tasks to take.
console.log(`master: waiting for ${count(nWorkers, "worker")}`);
for (let ready = 0; ready < nWorkers;) {
  const r = await resultQueue.get();
  if ("ready" in r) {
    console.log(`master: worker ${r.worker} is ready`);
    ready++;
  }
}

for (let n = 1; n <= nTasks; n++) await taskQueue.put(n);
for (let w = 0; w < nWorkers; w++) await taskQueue.put(null); // one sentinel per worker
console.log(`master: put ${count(nTasks, "task")} and ${count(nWorkers, "sentinel")}`);

const doneBy = new Map<number, string[]>();
const finished: string[] = [];
let problems = 0;
try {
  // Until every worker has said it finished: then nothing more can arrive.
  while (finished.length < nWorkers) {
    const r = await resultQueue.get({ timeout: 10_000 });
    if ("ready" in r) continue;
    if ("finished" in r) {
      console.log(`master: worker ${r.worker} finished after ${count(r.finished, "task")}`);
      finished.push(r.worker);
      continue;
    }
    console.log(`result: ${r.task} * ${r.task} = ${r.square} (by ${r.worker})`);
    if (r.square !== r.task * r.task) problems++;
    doneBy.set(r.task, [...doneBy.get(r.task) ?? [], r.worker]);
  }
} catch (error) {
  if (!(error instanceof Empty)) throw error;
  console.log(
    `master: no result for 10 s; ${finished.length} of ${count(nWorkers, "worker")} finished`,
  );
  problems++;
}
await server.close();

const once = [...doneBy.values()].filter((by) => by.length === 1).length;
for (let n = 1; n <= nTasks; n++) {
  const by = doneBy.get(n) ?? [];
  if (by.length !== 1) {
    console.log(`master: task ${n} was done ${by.length} times`);
    problems++;
  }
}
console.log(
  `summary: ${once} of ${count(nTasks, "task")} done exactly once by ${
    count(finished.length, "worker")
  }`,
);
if (problems > 0) process.exitCode = 1;
