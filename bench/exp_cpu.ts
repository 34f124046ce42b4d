/**
 * Experiment 1, plain vs thread-style vs multi-core (seed 002, section 1.4): the seed's `job`,
 * the sum of `i + i**2 + i**3` for `i < 10**7`, twice: sequentially, through the dummy pool
 * with 2 workers, and through the worker pool with 2. The dummy pool cannot beat sequential
 * for this CPU-bound job, as Python's threads cannot; the worker pool approaches 2×.
 *
 * @module
 */
import assert from "node:assert/strict";
import { dummy, Pool } from "./_lib.ts";
import { type Budget, type Result, time } from "./_harness.ts";

/** The seed's job (plain numbers, not Python's big integers). Self-contained, for the pools. */
export function job(n: number): number {
  let res = 0;
  for (let i = 0; i < n; i++) res += i + i ** 2 + i ** 3;
  return res;
}

/** Runs the experiment. */
export async function cpu(budget: Budget): Promise<Result> {
  const n = budget.sizes.job;
  const expected = job(n) + job(n);
  await using pool = new Pool(2);
  await using threads = new dummy.Pool(2);
  const sum = (xs: number[]) => xs[0] + xs[1];
  assert.equal(sum(await pool.map(job, [n, n], 1)), expected);
  assert.equal(sum(await threads.map(job, [n, n], 1)), expected);
  const rows = [
    await time("sequential", () => job(n) + job(n), budget),
    await time("dummy Pool(2)", async () => sum(await threads.map(job, [n, n], 1)), budget),
    await time("worker Pool(2)", async () => sum(await pool.map(job, [n, n], 1)), budget),
  ];
  return {
    title: `1. the seed's job (n = ${n}) twice: sequential, dummy pool, worker pool`,
    rows,
    figures: {
      cpu_sequential_ms: rows[0].min,
      cpu_dummy_ms: rows[1].min,
      cpu_pool_ms: rows[2].min,
    },
  };
}
