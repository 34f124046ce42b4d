/**
 * A spare Worker prepared ahead, so that processes begin at once: Python's `forkserver` start
 * method, which forks a server ahead of need.
 *
 * ```python
 * import multiprocessing as mp
 *
 * def job(i):
 *     print(f"job {i} running")
 *
 * if __name__ == "__main__":
 *     mp.set_start_method("forkserver")
 *     for i in range(3):
 *         p = mp.Process(target=job, args=(i,))
 *         p.start()
 *         p.join()
 * ```
 *
 * `Process.prepare()` boots one Worker ahead; each `start()` hands its process to the waiting
 * spare and boots the next one. Each line shows how long a process took from `start()` to the
 * first line of its target (both threads read one clock: `performance.timeOrigin + now()`).
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/process_prepare.ts
 * bun examples/process_prepare.ts
 * node examples/process_prepare.ts
 * ```
 *
 * @module
 */
import { Process } from "../mod.ts";

function job(i: number, startedAt: number): void {
  const ms = performance.timeOrigin + performance.now() - startedAt;
  console.log(`job ${i} running, ${ms.toFixed(1)} ms after start()`);
}

if (import.meta.main) {
  Process.prepare(); // ahead of need, at start-up
  await new Promise((resolve) => setTimeout(resolve, 500)); // the program does other work
  for (let i = 0; i < 3; i++) {
    const p = new Process({ target: job, args: [i, performance.timeOrigin + performance.now()] });
    p.start();
    await p.join();
    console.log(`${p.name} ended with exitcode ${p.exitcode}`);
    // The next spare boots while the program goes on.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
