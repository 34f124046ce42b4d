/**
 * Experiment 5, I/O-bound work (seed 000): 20 tasks that each wait for a 100 ms timer, one
 * after the other, on the dummy `Pool(5)` and on the worker `Pool(5)`. Waiting overlaps on
 * either pool, so both take about a fifth of the sequential time.
 *
 * @module
 */
import { dummy, Pool } from "./_lib.ts";
import { type Budget, type Result, time } from "./_harness.ts";

/** A task that waits `ms` milliseconds. Self-contained, for the workers. */
function wait(ms: number): Promise<number> {
  return new Promise((resolve) => setTimeout(() => resolve(ms), ms));
}

/** Runs the experiment. */
export async function io(budget: Budget): Promise<Result> {
  const [n, ms] = [budget.sizes.ioTasks, budget.sizes.ioMs];
  const waits = Array.from({ length: n }, () => ms);
  await using pool = new Pool(5);
  await using threads = new dummy.Pool(5);
  await pool.map(wait, [1, 1, 1, 1, 1], 1);
  const rows = [
    await time("sequential", async () => {
      for (const w of waits) await wait(w);
    }, budget),
    await time("dummy Pool(5)", () => threads.map(wait, waits, 1), budget),
    await time("worker Pool(5)", () => pool.map(wait, waits, 1), budget),
  ];
  return {
    title: `5. ${n} tasks that each wait ${ms} ms: sequential, dummy Pool(5), worker Pool(5)`,
    rows,
    figures: {
      io_sequential_ms: rows[0].min,
      io_dummy5_ms: rows[1].min,
      io_pool5_ms: rows[2].min,
    },
  };
}
