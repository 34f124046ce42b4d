/**
 * A pool whose workers were started ahead of need, so that its first result does not wait for
 * Workers to start: Python's `forkserver` start method, which forks a server ahead of need.
 *
 * ```python
 * import multiprocessing as mp
 * import time
 *
 * def square(x):
 *     return x * x
 *
 * if __name__ == "__main__":
 *     mp.set_start_method("forkserver")
 *     mp.set_forkserver_preload([__name__])
 *     t = time.perf_counter()
 *     with mp.Pool(2) as pool:
 *         print(pool.map(square, range(10)))
 *         print(f"first result after {(time.perf_counter() - t) * 1000:.1f} ms")
 * ```
 *
 * `Pool.prepare(2)` starts two pool workers at start-up; the `Pool(2)` made later takes them
 * and only sends them its settings. The program times the same first result with a pool that
 * starts its own workers, then with one that takes prepared ones.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/pool_prepare.ts
 * bun examples/pool_prepare.ts
 * node examples/pool_prepare.ts
 * ```
 *
 * @module
 */
import { Pool } from "../mod.ts";

function square(x: number): number {
  return x * x;
}

/** Milliseconds from `new Pool(2)` to its first result, and that result. */
async function firstResult(): Promise<[number, number[]]> {
  const t = performance.now();
  await using pool = new Pool(2);
  const squares = await pool.map(square, Array.from({ length: 10 }, (_, i) => i));
  return [performance.now() - t, squares];
}

if (import.meta.main) {
  const [cold] = await firstResult();
  console.log(`workers started by the pool: first result after ${cold.toFixed(1)} ms`);

  await Pool.prepare(2); // ahead of need, at start-up: resolves once the workers have loaded
  // … the program does other work, then needs a pool:
  const [warm, squares] = await firstResult();
  console.log(`[${squares.join(", ")}]`);
  console.log(`prepared workers: first result after ${warm.toFixed(1)} ms`);
}
