/**
 * A `Value` in shared memory, updated by two processes: first without a lock, then holding a
 * lock around each process's whole loop, then a race that shows why the lock is needed.
 *
 * Ports seed 002, sections 1.6 (共享内存) and 1.7 (进程锁 Lock), with sleeps of 10 ms instead
 * of 100 ms:
 *
 * ```python
 * import multiprocessing as mp
 * import time
 *
 * value1 = mp.Value('i', 0)
 * value2 = mp.Value('d', 3.14)
 *
 * def job(v, num):
 *     for _ in range(10):
 *         time.sleep(0.1)
 *         v.value += num
 *         print(v.value)
 *
 * def job_with_lock(v, num, l):
 *     l.acquire()
 *     for _ in range(10):
 *         time.sleep(0.1)
 *         v.value += num
 *         print(v.value)
 *     l.release()
 *
 * def multicore():
 *     v = mp.Value('i', 0)
 *     p1 = mp.Process(target=job, args=(v, 1))
 *     p2 = mp.Process(target=job, args=(v, 3))
 *     p1.start(); p2.start(); p1.join(); p2.join()
 *
 *     l = mp.Lock()
 *     v = mp.Value('i', 0)
 *     p1 = mp.Process(target=job_with_lock, args=(v, 1, l))
 *     p2 = mp.Process(target=job_with_lock, args=(v, 3, l))
 *     p1.start(); p2.start(); p1.join(); p2.join()
 *
 * if __name__ == '__main__':
 *     multicore()
 * ```
 *
 * Without the lock the two processes' lines interleave; with it, one process's ten lines come
 * before the other's. The sleeps leave little room for the two processes to update `v` at the
 * same moment, so the last part drops them: two processes, starting together at a `Barrier`,
 * each add 1 a million times. Without a lock updates are lost, as `v.value += 1`
 * reads and then writes, and the other process writes in between; under `v.getLock()` none is.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/shared_value.ts
 * bun examples/shared_value.ts
 * node examples/shared_value.ts
 * ```
 *
 * Expected output (the lines of the first part interleave differently on each run; the
 * race's first total varies too, and is almost always below 2000000):
 *
 * ```
 * value1: 0, value2: 3.14
 * 3
 * 4
 * …
 * without lock: 40
 * 1
 * 2
 * …
 * 10
 * 13
 * …
 * 40
 * with lock: 40
 * race without lock: 1452311 of 2000000
 * race with getLock(): 2000000 of 2000000
 * ```
 *
 * @module
 */
import * as mp from "../mod.ts";

// Each job is self-contained (it uses only its parameters and globals), so it travels to its
// process as it is.

async function job(v: mp.SynchronizedValue<"i">, num: number): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    v.value += num;
    console.log(v.value);
  }
}

async function jobWithLock(v: mp.SynchronizedValue<"i">, num: number, l: mp.Lock): Promise<void> {
  await l.acquire();
  try {
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      v.value += num;
      console.log(v.value);
    }
  } finally {
    l.release();
  }
}

/** Adds 1 to `free` `times` times without a lock, then to `guarded` under its lock. */
async function race(
  free: mp.SynchronizedValue<"i">,
  guarded: mp.SynchronizedValue<"i">,
  times: number,
  start: mp.Barrier,
): Promise<void> {
  // Both processes start each loop at the same moment, not one after the other.
  await start.wait();
  // No await between the read and the write: nothing here waits for the other process.
  for (let i = 0; i < times; i++) free.value += 1;
  await start.wait();
  const lock = guarded.getLock();
  for (let i = 0; i < times; i++) {
    await lock.acquire();
    guarded.value += 1;
    lock.release();
  }
}

/** Starts one process per argument list, and waits for all of them. */
async function runAll(
  target: mp.TaskFunction<never[], unknown>,
  argsList: unknown[][],
): Promise<void> {
  const processes = argsList.map((args) => new mp.Process({ target, args }));
  for (const p of processes) p.start();
  for (const p of processes) await p.join();
}

async function multicore(): Promise<void> {
  const value1 = mp.Value("i", 0);
  const value2 = mp.Value("d", 3.14);
  console.log(`value1: ${value1.value}, value2: ${value2.value}`);

  let v = mp.Value("i", 0);
  await runAll(job, [[v, 1], [v, 3]]);
  console.log(`without lock: ${v.value}`);

  const l = new mp.Lock();
  v = mp.Value("i", 0);
  await runAll(jobWithLock, [[v, 1, l], [v, 3, l]]);
  console.log(`with lock: ${v.value}`);

  const times = 1_000_000;
  const [free, guarded] = [mp.Value("i", 0), mp.Value("i", 0)];
  const start = new mp.Barrier(2);
  await runAll(race, [[free, guarded, times, start], [free, guarded, times, start]]);
  console.log(`race without lock: ${free.value} of ${2 * times}`);
  console.log(`race with getLock(): ${guarded.value} of ${2 * times}`);
}

if (import.meta.main) {
  await multicore();
}
