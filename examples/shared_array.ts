/**
 * An `Array` in shared memory, updated by two processes: without a lock, holding the
 * array's own lock (`getLock()`), and with `Atomics.add()`, which needs no lock.
 *
 * Ports seed 002, section 1.6 (共享内存: `mp.Array('i', [1, 2, 3, 4])`), with the two
 * processes of section 1.7 (进程锁 Lock) adding to each element instead of to a `Value`, and
 * sleeps of 10 ms instead of 100 ms:
 *
 * ```python
 * import multiprocessing as mp
 * import time
 *
 * def job(a, num):
 *     for _ in range(10):
 *         time.sleep(0.1)
 *         for i in range(len(a)):
 *             a[i] += num
 *         print(a[:])
 *
 * def job_with_lock(a, num):
 *     with a.get_lock():
 *         job(a, num)
 *
 * def multicore(target):
 *     a = mp.Array('i', [1, 2, 3, 4])
 *     p1 = mp.Process(target=target, args=(a, 1))
 *     p2 = mp.Process(target=target, args=(a, 3))
 *     p1.start(); p2.start(); p1.join(); p2.join()
 *     return a[:]
 *
 * if __name__ == '__main__':
 *     print(multicore(job))
 *     print(multicore(job_with_lock))
 * ```
 *
 * The array is an `Int32Array` over shared memory, so `a[i]`, `a.length` and `Atomics` work on
 * it as on any typed array. Without the lock the two processes' lines interleave; with it, one
 * process's ten lines come before the other's. `Atomics.add()` reads and writes an element in
 * one step, so that no update is lost without a lock.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/shared_array.ts
 * bun examples/shared_array.ts
 * node examples/shared_array.ts
 * ```
 *
 * Expected output (the lines of the first part interleave differently on each run):
 *
 * ```
 * array: [1, 2, 3, 4] (Int32Array over a SharedArrayBuffer: true)
 * [4, 5, 6, 7]
 * [5, 6, 7, 8]
 * …
 * without lock: [41, 42, 43, 44]
 * [2, 3, 4, 5]
 * …
 * [11, 12, 13, 14]
 * [14, 15, 16, 17]
 * …
 * [41, 42, 43, 44]
 * with lock: [41, 42, 43, 44]
 * with Atomics.add(): [41, 42, 43, 44]
 * ```
 *
 * @module
 */
import * as mp from "../mod.ts";

type Shared = mp.SynchronizedArray<"i">;

// Each job is self-contained (it uses only its parameters and globals), so it travels to its
// process as it is.

async function job(a: Shared, num: number): Promise<void> {
  for (let round = 0; round < 10; round++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    for (let i = 0; i < a.length; i++) a[i] += num;
    console.log(`[${a.join(", ")}]`);
  }
}

async function jobWithLock(a: Shared, num: number): Promise<void> {
  const lock = a.getLock();
  await lock.acquire();
  try {
    for (let round = 0; round < 10; round++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      for (let i = 0; i < a.length; i++) a[i] += num;
      console.log(`[${a.join(", ")}]`);
    }
  } finally {
    lock.release();
  }
}

function jobWithAtomics(a: Shared, num: number): void {
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < a.length; i++) Atomics.add(a, i, num);
  }
}

/** Runs `target` in two processes, with `num` 1 and 3, on a new array; returns the array. */
async function multicore(target: (a: Shared, num: number) => unknown): Promise<string> {
  const a = mp.Array("i", [1, 2, 3, 4]);
  const processes = [1, 3].map((num) => new mp.Process({ target, args: [a, num] }));
  for (const p of processes) p.start();
  for (const p of processes) await p.join();
  return `[${a.join(", ")}]`;
}

if (import.meta.main) {
  const array = mp.Array("i", [1, 2, 3, 4]);
  const shared = array instanceof Int32Array && array.buffer instanceof SharedArrayBuffer;
  console.log(`array: [${array.join(", ")}] (Int32Array over a SharedArrayBuffer: ${shared})`);
  console.log(`without lock: ${await multicore(job)}`);
  console.log(`with lock: ${await multicore(jobWithLock)}`);
  console.log(`with Atomics.add(): ${await multicore(jobWithAtomics)}`);
}
