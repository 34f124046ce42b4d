/**
 * Experiment 2, one process per task vs a pool (seed 003): N short tasks as N `Process`
 * objects started and joined, against `Pool(4).map` over N items, pool start and end
 * included; and the runtime's floor: N bare Workers of a plain `.mjs` module, started and
 * ended.
 *
 * @module
 */
import { Pool, Process } from "./_lib.ts";
import { type Budget, type Result, time } from "./_harness.ts";
import { bareWorkersRun } from "./js_pools.ts";

/** A short task: a small sum. Self-contained, for the workers. */
function task(i: number): number {
  let s = 0;
  for (let k = 0; k < 10_000; k++) s += k % (i + 1);
  return s;
}

/** Runs the experiment. */
export async function processes(budget: Budget): Promise<Result> {
  const n = budget.sizes.tasks;
  const items = Array.from({ length: n }, (_, i) => i);
  const rows = [
    await time(`${n} Process objects`, async () => {
      const ps = items.map((i) => new Process({ target: task, args: [i] }));
      for (const p of ps) p.start();
      for (const p of ps) await p.join();
    }, budget),
    await time(`Pool(4).map over ${n}`, async () => {
      await using pool = new Pool(4);
      await pool.map(task, items);
    }, budget),
    await time(`${n} bare Workers (.mjs), started and ended`, () => bareWorkersRun(n), budget),
  ];
  return {
    title: `2. ${n} short tasks: one Process each vs Pool(4), start and end included`,
    rows,
    comparable: false,
    figures: { processes_ms: rows[0].min, pool4_map_ms: rows[1].min, bare_workers_ms: rows[2].min },
  };
}
