/**
 * The ticket sale: ten buyers share one JSON file of tickets. Anybody may look at the count
 * at any time, but buying (read, wait, write) happens under a `Lock`, so no two buyers sell
 * the same ticket.
 *
 * Ports seed 003 (互斥锁: 模拟抢票):
 *
 * ```python
 * import json, time
 * from multiprocessing import Process, Lock
 *
 * def show_ticket(name):
 *     with open('test.txt', 'r') as f1:
 *         file = json.load(f1)
 *     print('%s 查询余票数量,余票数量为%s' % (name, file['number']))
 *
 * def get_ticket(name):
 *     with open('test.txt', 'r') as f1:
 *         file = json.load(f1)
 *     time.sleep(0.2)
 *     if file['number'] > 0:
 *         file['number'] -= 1
 *         print('%s 购票成功!' % name)
 *     else:
 *         print('余票不足,%s 购票失败' % name)
 *     time.sleep(0.2)
 *     with open('test.txt', 'w') as f2:
 *         json.dump(file, f2)
 *
 * def func(name, lock):
 *     show_ticket(name)
 *     lock.acquire()
 *     get_ticket(name)
 *     lock.release()
 *
 * if __name__ == '__main__':
 *     lock = Lock()
 *     for i in range(10):
 *         p = Process(target=func, args=('购票者%s' % i, lock))
 *         p.start()
 * ```
 *
 * The buyers read and write a file, so their function imports `node:fs`: it is exported from
 * this module and passed with `fromModule()`, and the program's own code is under
 * `if (import.meta.main)`.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/lock_ticket.ts
 * bun examples/lock_ticket.ts
 * node examples/lock_ticket.ts
 * ```
 *
 * @module
 */
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromModule, Lock, Process } from "../mod.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One buyer: looks at the count, then buys one ticket under the lock. */
export async function buyer(name: string, file: string, lock: Lock): Promise<void> {
  const seen = JSON.parse(await readFile(file, "utf8")) as { number: number };
  console.log(`${name} sees ${seen.number} ticket(s) left`);
  await lock.withLock(async () => {
    const tickets = JSON.parse(await readFile(file, "utf8")) as { number: number };
    await sleep(20);
    if (tickets.number > 0) {
      tickets.number -= 1;
      console.log(`${name} bought a ticket`);
    } else {
      console.log(`${name} found no ticket left`);
    }
    await sleep(20);
    // Buyers read the count without the lock: write a new file and rename it into place, so
    // that a reader sees the old count or the new one, never a file half written.
    await writeFile(`${file}.${name}`, JSON.stringify(tickets));
    await rename(`${file}.${name}`, file);
  });
}

if (import.meta.main) {
  const dir = await mkdtemp(join(tmpdir(), "tickets-"));
  const file = join(dir, "tickets.json");
  await writeFile(file, JSON.stringify({ number: 3 }));
  const lock = new Lock();
  const buyers: Process[] = [];
  for (let i = 0; i < 10; i++) {
    const p = new Process({
      target: fromModule<typeof buyer>(import.meta.url, "buyer"),
      args: [`buyer ${i}`, file, lock],
    });
    p.start();
    buyers.push(p);
  }
  for (const p of buyers) await p.join();
  const left = JSON.parse(await readFile(file, "utf8")) as { number: number };
  console.log(`tickets left: ${left.number}`);
  console.log(`exit codes: ${JSON.stringify(buyers.map((p) => p.exitcode))}`);
  await rm(dir, { recursive: true });
}
