/**
 * Scale out: the program of `examples/pool_squares.ts` with its tasks run by worker programs
 * that take them from a Redis broker, on this machine or any other that reaches it (as
 * Python's users switch to Ray's `ray.util.multiprocessing.Pool`). What changed from the
 * local program is the import line; the broker comes from `MP_BROKER`.
 *
 * ```sh
 * redis-server --port 6379 --save "" &
 * deno run -A cluster_worker.ts --broker redis://127.0.0.1:6379 &   # on each machine
 * MP_BROKER=redis://127.0.0.1:6379 deno run -A examples/cluster_scale_out.ts
 * ```
 *
 * A function exported from this module reaches the workers as a `fromModule()` reference
 * (here a `file:` URL, which exists on this machine's workers); a self-contained one travels
 * as its source text. The entry code is guarded with `import.meta.main`, so that a worker
 * importing the module does not run it.
 *
 * @module
 */
import { fromModule, Pool } from "../cluster.ts";

/** The task: a module export, which the workers import. */
export function square(x: number): number {
  return x * x;
}

if (import.meta.main) {
  await using pool = new Pool();
  const squares = await pool.map(fromModule<typeof square>(import.meta.url, "square"), [
    ...Array(10).keys(),
  ]);
  console.log(`squares: [${squares.join(", ")}]`);
  let total = 0;
  for await (const y of pool.imap((x: number) => x * x, Array(1000).keys(), 100)) total += y;
  console.log(`sum of the squares below 1000: ${total}`);
  const sum = pool.applyAsync((a: number, b: number) => a + b, [20, 22], {
    callback: (value) => console.log(`callback: ${value}`),
  });
  await sum.get();
}
