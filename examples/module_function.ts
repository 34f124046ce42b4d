/**
 * A task function exported from a module, for work that needs imports: `sha256` uses
 * `createHash` from `node:crypto`, so it cannot travel as source text (a function passed as
 * it is reaches the worker without the imports around it). Passed as
 * `fromModule<typeof sha256>(import.meta.url, "sha256")`, it is imported by each worker
 * together with this module's imports, as Python's workers import the `__main__` module to
 * find a pickled function.
 *
 * Ports the pattern every seed uses: the function defined in the program's own module, and the
 * program's entry code under `if __name__ == '__main__':`, for example seed 004:
 *
 * ```python
 * def square(x):
 *     return x * x
 *
 * if __name__ == '__main__':
 *     with Pool(4) as p:
 *         results = p.map(square, range(10))
 *     print(results)
 * ```
 *
 * The program first passes `sha256` as it is, to show the error that explains the fix, then
 * passes it with `fromModule()`.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/module_function.ts
 * bun examples/module_function.ts
 * node examples/module_function.ts
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { currentProcess, fromModule, Pool } from "../mod.ts";

/** What a worker sends back for one text. */
export interface Digest {
  text: string;
  hex: string;
  worker: string;
}

/** Hashes `text` in a worker, and says which worker it was. */
export function sha256(text: string): Digest {
  const hex = createHash("sha256").update(text).digest("hex");
  return { text, hex, worker: currentProcess().name };
}

// Python's `if __name__ == "__main__":`. Every worker imports this module to find `sha256`;
// the guard keeps them from running the program again (and starting pools of their own).
if (import.meta.main) {
  await using pool = new Pool(2);

  try {
    await pool.apply(sha256, ["hello"]);
  } catch (error) {
    console.log(`passed as it is: ${(error as Error).name}: ${(error as Error).message}\n`);
  }

  const task = fromModule<typeof sha256>(import.meta.url, "sha256");
  const digests = await pool.map(task, ["hello", "world", "multiprocessing"]);
  for (const { text, hex, worker } of digests) {
    console.log(`${text}: ${hex} (${worker})`);
  }
  console.log(`main program: ${currentProcess().name}`);
}
