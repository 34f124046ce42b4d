/**
 * Experiment 3, chunk size (seed 003): `map` of a tiny function over 100,000 items with
 * chunksize 1, 10, 100 and the default (`ceil(n / (4 × processes))`).
 *
 * @module
 */
import { Pool } from "./_lib.ts";
import { type Budget, rate, type Result, time } from "./_harness.ts";

/** Runs the experiment. */
export async function chunksize(budget: Budget): Promise<Result> {
  const n = budget.sizes.chunks;
  const xs = Array.from({ length: n }, (_, i) => i);
  const inc = (x: number) => x + 1;
  await using pool = new Pool(2);
  await pool.map(inc, xs);
  const rows = [];
  for (const size of [1, 10, 100, undefined]) {
    rows.push(
      await time(`chunksize ${size ?? "default"}`, () => pool.map(inc, xs, size), budget, n),
    );
  }
  return {
    title: `3. map of x + 1 over ${n} items on Pool(2), by chunksize`,
    rows,
    figures: {
      chunks_1_items_per_s: rate(rows[0]),
      chunks_10_items_per_s: rate(rows[1]),
      chunks_100_items_per_s: rate(rows[2]),
      chunks_default_items_per_s: rate(rows[3]),
    },
  };
}
