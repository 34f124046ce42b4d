/**
 * The daemon watchdog: a daemon process reports every so often while the main program and a
 * second, ordinary process work; when they end, the daemon ends with them.
 *
 * Ports seed 003 (守护进程):
 *
 * ```python
 * from multiprocessing import Process
 * import time
 *
 * def eye():
 *     while True:
 *         print('SERVER,我很好!')
 *         time.sleep(1)
 *
 * def func2():
 *     print('进程2要做的事情!')
 *     time.sleep(8)
 *     print('进程2已经结束!')
 *
 * def main():
 *     print('做我主要的事情')
 *     time.sleep(5)
 *     print('done')
 *
 * if __name__ == '__main__':
 *     p = Process(target=eye)
 *     p2 = Process(target=func2)
 *     p.daemon = True
 *     p.start()
 *     p2.start()
 *     main()
 *     p2.join()
 * ```
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/process_daemon.ts
 * bun examples/process_daemon.ts
 * node examples/process_daemon.ts
 * ```
 *
 * @module
 */
import { Process } from "../mod.ts";

function eye(): Promise<never> {
  console.log("SERVER, I am fine!");
  setInterval(() => console.log("SERVER, I am fine!"), 100);
  return new Promise(() => {});
}

async function func2(): Promise<void> {
  console.log("process 2 is working");
  await new Promise((resolve) => setTimeout(resolve, 800));
  console.log("process 2 is done");
}

if (import.meta.main) {
  const p = new Process({ target: eye });
  const p2 = new Process({ target: func2 });
  p.daemon = true;
  p.start();
  p2.start();
  console.log("main: doing my main job");
  await new Promise((resolve) => setTimeout(resolve, 500));
  console.log("main: done");
  await p2.join();
  console.log(`watchdog still alive at the end: ${p.isAlive()}; the program now ends with it`);
}
