/**
 * Ten "send mail" processes started in a loop, then joined in a loop: the main program goes
 * on only when every mail is sent.
 *
 * Ports seed 003 (join: 开启多个子进程, 等待全部结束):
 *
 * ```python
 * import time
 * from multiprocessing import Process
 *
 * def task(n):
 *     time.sleep(1)
 *     print('send mail %s' % n)
 *
 * if __name__ == '__main__':
 *     p_list = []
 *     for i in range(10):
 *         p = Process(target=task, args=(i,))
 *         p.start()
 *         p_list.append(p)
 *     for p in p_list:
 *         p.join()
 *     print('all mail sent')
 * ```
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/process_send_mail.ts
 * bun examples/process_send_mail.ts
 * node examples/process_send_mail.ts
 * ```
 *
 * @module
 */
import { Process } from "../mod.ts";

async function task(n: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  console.log(`send mail ${n}`);
}

if (import.meta.main) {
  const processes: Process[] = [];
  for (let i = 0; i < 10; i++) {
    const p = new Process({ target: task, args: [i] });
    p.start();
    processes.push(p);
  }
  for (const p of processes) await p.join();
  console.log(`all mail sent: exit codes ${JSON.stringify(processes.map((p) => p.exitcode))}`);
}
