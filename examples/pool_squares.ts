/**
 * Squares in a pool of two workers: `map` over `range(10)`, then `applyAsync` for one task,
 * then `applyAsync` in a loop and `get()` on each result.
 *
 * Ports seed 002, section 1.5 (进程池):
 *
 * ```python
 * import multiprocessing as mp
 *
 * def job(x):
 *     return x*x
 *
 * def multicore():
 *     pool = mp.Pool(processes=2)
 *     res = pool.map(job, range(10))
 *     print(res)
 *     res = pool.apply_async(job, (2,))
 *     print(res.get())
 *     multi_res = [pool.apply_async(job, (i,)) for i in range(10)]
 *     print([res.get() for res in multi_res])
 *
 * if __name__ == '__main__':
 *     multicore()
 * ```
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/pool_squares.ts
 * bun examples/pool_squares.ts
 * node examples/pool_squares.ts
 * ```
 *
 * Expected output:
 *
 * ```
 * [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
 * 4
 * [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
 * ```
 *
 * @module
 */
import * as mp from "../mod.ts";

// Self-contained (it uses only its parameter), so it travels to the workers as it is.
function job(x: number): number {
  return x * x;
}

function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

/** Prints a list as Python prints one: `[0, 1, 4]`. */
function print(list: unknown[]): void {
  console.log(`[${list.join(", ")}]`);
}

async function multicore(): Promise<void> {
  // `await using` is Python's `with`: leaving the function terminates the pool.
  await using pool = new mp.Pool({ processes: 2 });
  print(await pool.map(job, range(10)));

  const res = pool.applyAsync(job, [2]);
  console.log(await res.get());

  const multiRes = [...range(10)].map((i) => pool.applyAsync(job, [i]));
  const values: number[] = [];
  for (const res of multiRes) values.push(await res.get());
  print(values);
}

if (import.meta.main) {
  await multicore();
}
