/**
 * `map` over 10,000 items with `chunksize = 100`: the input goes to the workers in 100
 * chunks of 100 items, so each message between threads carries a hundred calls instead of
 * one, which is what makes a map of many small tasks fast.
 *
 * Ports seed 004 (数据分块):
 *
 * ```python
 * # 将10000个任务分成每块100个 (split 10,000 tasks into chunks of 100)
 * pool.map(func, range(10000), chunksize=100)
 * ```
 *
 * The program runs the same map with `chunksize` 1, 100 and the default
 * (`ceil(10000 / (4 * processes))`, Python's choice), checks the three lists are equal, and
 * prints the time each took.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/pool_chunksize.ts
 * bun examples/pool_chunksize.ts
 * node examples/pool_chunksize.ts
 * ```
 *
 * Expected output (times vary):
 *
 * ```
 * chunksize=100: 10000 results, first [0, 1, 4, 9, 16], sum 333283335000 (12.3 ms)
 * chunksize=1: 10000 results, first [0, 1, 4, 9, 16], sum 333283335000 (40.1 ms)
 * chunksize=default: 10000 results, first [0, 1, 4, 9, 16], sum 333283335000 (8.2 ms)
 * all three lists are equal
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import { Pool } from "../mod.ts";

function func(x: number): number {
  return x * x;
}

if (import.meta.main) {
  const items = Array.from({ length: 10_000 }, (_, i) => i);
  await using pool = new Pool(2);
  // One small map first, so that the timings below do not include the workers' start.
  await pool.map(func, [0, 1]);

  const lists: number[][] = [];
  for (const chunksize of [100, 1, undefined]) {
    const start = performance.now();
    const results = await pool.map(func, items, chunksize);
    const ms = performance.now() - start;
    const sum = results.reduce((a, b) => a + b, 0);
    console.log(
      `chunksize=${chunksize ?? "default"}: ${results.length} results, first [${
        results.slice(0, 5).join(", ")
      }], sum ${sum} (${ms.toFixed(1)} ms)`,
    );
    lists.push(results);
  }
  assert.deepEqual(lists[1], lists[0]);
  assert.deepEqual(lists[2], lists[0]);
  console.log("all three lists are equal");
}
