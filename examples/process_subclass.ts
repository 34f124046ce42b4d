/**
 * A `Process` subclass that overrides `run()`.
 *
 * Ports seed 003 (继承 Process 类):
 *
 * ```python
 * import time
 * from multiprocessing import Process
 *
 * class MyProcess(Process):
 *     def __init__(self, name):
 *         super().__init__()
 *         self.name = name
 *     def run(self):  # 这里必须是 run 函数
 *         print('%s is running!' % self.name)
 *         time.sleep(2)
 *         print('%s is done!' % self.name)
 *
 * if __name__ == '__main__':
 *     p1 = MyProcess('子进程1')
 *     p1.start()
 *     print('主进程!')
 * ```
 *
 * The subclass runs in a Worker, which imports this module to find the class: so the class is
 * exported, says where it lives with `static override module = import.meta.url`, and the
 * program's own code is under `if (import.meta.main)` (Python's `if __name__ == '__main__'`),
 * so that the Worker importing the module does not run it again.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/process_subclass.ts
 * bun examples/process_subclass.ts
 * node examples/process_subclass.ts
 * ```
 *
 * @module
 */
import { Process } from "../mod.ts";

/** Prints that it runs, waits a little, and prints that it is done. */
export class MyProcess extends Process {
  static override module: string | undefined = import.meta.url;

  constructor(name: string) {
    super({ name });
  }

  override async run(): Promise<void> {
    console.log(`${this.name} is running!`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    console.log(`${this.name} is done!`);
  }
}

if (import.meta.main) {
  const p1 = new MyProcess("child 1");
  p1.start();
  console.log("main process!");
  await p1.join();
  console.log(`exitcode ${p1.exitcode}`);
}
