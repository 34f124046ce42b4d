/**
 * Monte Carlo estimate of π on four workers: each throws a million random points at the
 * unit square and counts those inside the quarter circle; the main thread averages the four
 * estimates.
 *
 * Ports seed 004 (科学计算加速, 并行计算的蒙特卡洛近似):
 *
 * ```python
 * import random
 *
 * def monte_carlo(n):
 *     inside = 0
 *     for _ in range(n):
 *         x, y = random.random(), random.random()
 *         if x**2 + y**2 <= 1:
 *             inside += 1
 *     return 4 * inside / n
 *
 * if __name__ == '__main__':
 *     with Pool(4) as p:
 *         results = p.map(monte_carlo, [10**6]*4)
 *     pi_approx = sum(results)/len(results)
 *     print(f"π ≈ {pi_approx}")
 * ```
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/monte_carlo_pi.ts
 * bun examples/monte_carlo_pi.ts
 * node examples/monte_carlo_pi.ts
 * ```
 *
 * Prints, for instance, `π ≈ 3.141437` (4 million points: within ±0.003 of π nearly always).
 *
 * @module
 */
import { Pool } from "../mod.ts";

function monteCarlo(n: number): number {
  let inside = 0;
  for (let i = 0; i < n; i++) {
    const x = Math.random();
    const y = Math.random();
    if (x ** 2 + y ** 2 <= 1) inside++;
  }
  return 4 * inside / n;
}

if (import.meta.main) {
  let results: number[];
  {
    await using p = new Pool(4);
    results = await p.map(monteCarlo, Array(4).fill(10 ** 6));
  }
  const piApprox = results.reduce((a, b) => a + b, 0) / results.length;
  console.log(`estimates: [${results.join(", ")}]`);
  console.log(`π ≈ ${piApprox}`);
}
