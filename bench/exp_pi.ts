/**
 * Experiment 4, Monte Carlo π (seed 004): `map(monteCarlo, [10**6] × 4)` on `Pool(4)`
 * against the four runs one after the other.
 *
 * @module
 */
import { Pool } from "./_lib.ts";
import { type Budget, type Result, time } from "./_harness.ts";

/** The seed's estimate from `n` random points. Self-contained, for the workers. */
export function monteCarlo(n: number): number {
  let inside = 0;
  for (let i = 0; i < n; i++) {
    const x = Math.random();
    const y = Math.random();
    if (x * x + y * y <= 1) inside++;
  }
  return (4 * inside) / n;
}

/** Runs the experiment. */
export async function pi(budget: Budget): Promise<Result> {
  const n = budget.sizes.pi;
  const inputs = [n, n, n, n];
  await using pool = new Pool(4);
  await pool.map(monteCarlo, inputs, 1);
  const rows = [
    await time("sequential", () => inputs.map(monteCarlo), budget),
    await time("Pool(4)", () => pool.map(monteCarlo, inputs, 1), budget),
  ];
  return {
    title: `4. Monte Carlo π, 4 × ${n} points: sequential vs Pool(4)`,
    rows,
    figures: { pi_sequential_ms: rows[0].min, pi_pool4_ms: rows[1].min },
  };
}
