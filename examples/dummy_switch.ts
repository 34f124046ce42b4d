/**
 * One program, two pools: the worker pool of `mod.ts` and the same-thread pool of `dummy.ts`
 * (Python's `multiprocessing.dummy`), switched by one import line.
 *
 * Ports seed 000 (multiprocessing.dummy): keep both import lines and comment one out to move
 * a program between processes and threads; if you do not know whether it is CPU-bound or
 * I/O-bound, switch and see which runs faster:
 *
 * ```python
 * from multiprocessing.dummy import Pool  # threads
 * from multiprocessing import Pool        # processes
 * ```
 *
 * The TypeScript switch is:
 *
 * ```ts
 * import * as mp from "../mod.ts"; // import * as mp from "../dummy.ts";
 * ```
 *
 * To show both sides in one run, this program writes its body as a function of the `Pool`
 * class and runs it with each entry point. The I/O-bound job (ten 100 ms sleeps on five
 * workers) takes about 200 ms either way, plus, for the worker pool, the time its workers
 * take to start; the CPU-bound job (four loops of arithmetic) runs in parallel only on the
 * worker pool, and one task after another on the dummy pool.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/dummy_switch.ts
 * bun examples/dummy_switch.ts
 * node examples/dummy_switch.ts
 * ```
 *
 * Expected output (times vary with the runtime and the number of cores; these are from
 * Deno on two cores):
 *
 * ```
 * mod.ts   I/O-bound: [0, 5, 10, 15, 20, 25, 30, 35, 40, 45] in 578 ms
 * mod.ts   CPU-bound: [1714285, 1714285, 1714285, 1714285] in 227 ms
 * dummy.ts I/O-bound: [0, 5, 10, 15, 20, 25, 30, 35, 40, 45] in 216 ms
 * dummy.ts CPU-bound: [1714285, 1714285, 1714285, 1714285] in 384 ms
 * ```
 *
 * @module
 */
import * as mp from "../mod.ts"; // import * as mp from "../dummy.ts";
// A program picks one of the two lines above. This one imports the dummy entry point a second
// time, under its own name, only to run its body with both pools in one run.
import * as dummy from "../dummy.ts";

// I/O-bound: waits, as a page download would.
async function fetchPage(i: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  return "网页大小!".length * i;
}

// CPU-bound: keeps a core busy.
function count(n: number): number {
  let multiples = 0;
  for (let i = 0; i < n; i++) {
    if ((i * i) % 7 === 1) multiples++;
  }
  return multiples;
}

/** The whole program, written against whichever `Pool` it is given. */
async function main(label: string, Pool: typeof mp.Pool | typeof dummy.Pool): Promise<void> {
  // The first time includes the pool's start, as a program's run time would.
  let start = performance.now();
  await using pool = new Pool(5);
  const pages = await pool.map(fetchPage, Array.from({ length: 10 }, (_, i) => i));
  let ms = performance.now() - start;
  console.log(`${label} I/O-bound: [${pages.join(", ")}] in ${ms.toFixed(0)} ms`);

  start = performance.now();
  const counts = await pool.map(count, [6e6, 6e6, 6e6, 6e6], 1);
  ms = performance.now() - start;
  console.log(`${label} CPU-bound: [${counts.join(", ")}] in ${ms.toFixed(0)} ms`);
}

if (import.meta.main) {
  await main("mod.ts  ", mp.Pool);
  await main("dummy.ts", dummy.Pool);
}
