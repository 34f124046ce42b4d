/**
 * A process started with `args` and joined; then the parent prints its pid.
 *
 * Ports seed 003 (开启子进程 and 给子进程传参):
 *
 * ```python
 * from multiprocessing import Process
 *
 * def func1(name):
 *     print('%s is running' % name)
 *     print('%s is done' % name)
 *
 * if __name__ == '__main__':
 *     p1 = Process(target=func1, args=('子进程1',))
 *     p1.start()
 *     print(p1.pid)
 *     p1.join()
 *     print('主')
 * ```
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/process_args.ts
 * bun examples/process_args.ts
 * node examples/process_args.ts
 * ```
 *
 * @module
 */
import { currentProcess, Process } from "../mod.ts";

function func1(name: string): void {
  console.log(`${name} is running`);
  console.log(`${name} is done`);
}

if (import.meta.main) {
  const p1 = new Process({ target: func1, args: ["child 1"] });
  p1.start();
  await p1.join();
  console.log(`${p1.name} (pid ${p1.pid}) ended with exitcode ${p1.exitcode}`);
  console.log(`main (pid ${currentProcess().pid})`);
}
