/**
 * A long task holds one worker of a pool of five while the other four work through ten
 * short tasks: a pool hands each task to whichever worker is free.
 *
 * Ports seed 000 (Python实践17-进程池):
 *
 * ```python
 * def task_short(num):
 *     time.sleep(3)
 *     print("I am task: {0}\n".format(num))
 *
 * def task_long(num):
 *     while True:
 *         print("I am task: {0}\n".format(num))
 *         time.sleep(1)
 *
 * if __name__ == "__main__":
 *     pool = Pool(processes=5)
 *     pool.apply_async(task_short, args=(10, ))  # asynchronous
 *     pool.map(task_long, range(10))             # synchronous
 *     print("main process")
 * ```
 *
 * In the seed the task submitted with `apply_async` holds one worker for 3 s, so `map` starts
 * on the other four; its tasks never end, so tasks 5 to 9 never run (the seed's lesson: a
 * pool is not the place for never-ending work). Here every task ends: the task submitted
 * with `applyAsync` takes 1 s, and the ten short tasks 100 ms each (run with `starmap`, as
 * they take two arguments: the task number and the start time). The timestamps show the
 * ten tasks finishing on the four other workers, in three rounds, while the long task is
 * still running; then the program waits for it, and closes and joins the pool.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/pool_long_task.ts
 * bun examples/pool_long_task.ts
 * node examples/pool_long_task.ts
 * ```
 *
 * @module
 */
import { Pool } from "../mod.ts";

// Both tasks print from their worker, with the milliseconds since `t0` (Date.now() is the
// same clock on every thread, unlike performance.now()).

async function longTask(num: number, t0: number): Promise<number> {
  console.log(`[${Date.now() - t0} ms] long task ${num} starts`);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  console.log(`[${Date.now() - t0} ms] long task ${num} ends`);
  return num;
}

async function shortTask(num: number, t0: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  console.log(`[${Date.now() - t0} ms] short task ${num} done`);
  return num;
}

if (import.meta.main) {
  const pool = new Pool({ processes: 5 });
  const t0 = Date.now();

  const long = pool.applyAsync(longTask, [10, t0]);
  // starmap: map with several arguments per task, spread into the function.
  const args = Array.from({ length: 10 }, (_, i): [number, number] => [i, t0]);
  const done = await pool.starmap(shortTask, args);

  console.log(`[${Date.now() - t0} ms] main: starmap returned [${done.join(", ")}]`);
  console.log(`main: starmap finished while the long task was running: ready() = ${long.ready()}`);

  console.log(`main: the long task returned ${await long.get()}`);
  pool.close();
  await pool.join();
  console.log(`[${Date.now() - t0} ms] main process`);
}
