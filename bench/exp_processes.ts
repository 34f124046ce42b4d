/**
 * Experiment 2, one process per task vs a pool (seed 003): N short tasks as N `Process`
 * objects started and joined, against `Pool(4).map` over N items, pool start and end
 * included; and the runtime's floor: N bare Workers of a plain `.mjs` module, started and
 * ended, and past it N Workers that import a Process's modules and answer one message each (its
 * process), with no library. Also one `Process` in an otherwise idle program, from `start()` to
 * its target's first line, on a spare Worker that `Process.prepare()` booted (Python's fork:
 * about 1 ms).
 *
 * @module
 */
import { Pool, Process, processWorkerImports } from "./_lib.ts";
import { type Budget, type Result, type Row, rowOf, time } from "./_harness.ts";
import { answerWorkersRun, bareWorkersRun } from "./js_pools.ts";

/** A short task: a small sum. Self-contained, for the workers. */
function task(i: number): number {
  let s = 0;
  for (let k = 0; k < 10_000; k++) s += k % (i + 1);
  return s;
}

// Long enough for a spare Worker to boot on a loaded machine (tens of ms on Node).
const SPARE_BOOT_MS = 300;

/**
 * From `start()` to the target's first line, for one `Process` whose spare Worker has booted:
 * both ends read the clock shared by the threads (`performance.timeOrigin + now()`).
 */
async function spareStart(budget: Budget): Promise<Row> {
  const at = new Float64Array(new SharedArrayBuffer(8));
  const stamp = (a: Float64Array) => void (a[0] = performance.timeOrigin + performance.now());
  const samples = budget.quick ? 3 : budget.tier === "default" ? 5 : 15;
  const times: number[] = [];
  Process.prepare();
  for (let i = 0; i < samples; i++) {
    // After a start the library keeps a spare ready: this wait lets it boot.
    await new Promise((resolve) => setTimeout(resolve, SPARE_BOOT_MS));
    const p = new Process({ target: stamp, args: [at] });
    const begin = performance.timeOrigin + performance.now();
    p.start();
    await p.join();
    times.push(at[0] - begin);
  }
  return rowOf("1 Process, spare ready: start() to target", times);
}

/** Runs the experiment. */
export async function processes(budget: Budget): Promise<Result> {
  const n = budget.sizes.tasks;
  const items = Array.from({ length: n }, (_, i) => i);
  const imports = processWorkerImports();
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
    await spareStart(budget),
    // What a Process's Worker does past a bare one, without the library: its modules, and a
    // message in (its process) and out.
    await time(
      `floor: ${n} Workers importing a Process's modules, each answering a message`,
      () => answerWorkersRun(n, imports),
      budget,
    ),
  ];
  return {
    title: `2. ${n} short tasks: one Process each vs Pool(4), start and end included`,
    rows,
    comparable: false,
    figures: {
      processes_ms: rows[0].min,
      pool4_map_ms: rows[1].min,
      bare_workers_ms: rows[2].min,
      spare_start_ms: rows[3].min,
      process_loads_ms: rows[4].min,
    },
  };
}
