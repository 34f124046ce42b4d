/**
 * A `Manager()` holds a namespace, a list and a dict for every process: a child process
 * changes all three through their proxies, and the parent sees the changes after `join()`.
 *
 * Ports seed 001 (Manager), with Python 3's print and `ns.a = 3`, so that the square shows:
 *
 * ```python
 * from multiprocessing import Manager, Process
 *
 * def modify(ns, lproxy, dproxy):
 *     ns.a **= 2
 *     lproxy.extend(['b', 'c'])
 *     dproxy['b'] = 0
 *
 * manager = Manager()
 * ns = manager.Namespace()
 * ns.a = 3
 * lproxy = manager.list()
 * lproxy.append('a')
 * dproxy = manager.dict()
 * dproxy['b'] = 2
 *
 * p = Process(target=modify, args=(ns, lproxy, dproxy))
 * p.start()
 * print('PID:', p.pid)
 * p.join()
 *
 * print(ns.a)
 * print(lproxy)
 * print(dproxy)
 * ```
 *
 * The manager's objects live in a worker of their own; a proxy's methods send each call
 * there and return a promise of the result. `ns.a = value` sends the write at once, and calls
 * made after it run after it; `await ns.a` reads it.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/manager_namespace.ts
 * bun examples/manager_namespace.ts
 * node examples/manager_namespace.ts
 * ```
 *
 * It prints (the PID varies):
 *
 * ```
 * PID: 12885
 * ns.a: 9
 * lproxy: ["a","b","c"]
 * dproxy: {"b":0}
 * ```
 *
 * @module
 */
import {
  type DictProxy,
  fromModule,
  type ListProxy,
  Manager,
  type NamespaceProxy,
  Process,
} from "../mod.ts";

/** The child: squares `ns.a`, extends the list and sets a key of the dict. */
export async function modify(
  ns: NamespaceProxy & Record<string, unknown>,
  lproxy: ListProxy<string>,
  dproxy: DictProxy<string, number>,
): Promise<void> {
  const a = (await ns.a) as number;
  ns.a = a * a;
  await lproxy.extend(["b", "c"]);
  await dproxy.set("b", 0);
}

if (import.meta.main) {
  await using manager = await Manager();
  const ns = await manager.Namespace();
  ns.a = 3;
  const lproxy = await manager.list<string>();
  await lproxy.append("a");
  const dproxy = await manager.dict<string, number>();
  await dproxy.set("b", 2);

  const p = new Process({
    target: fromModule<typeof modify>(import.meta.url, "modify"),
    args: [ns, lproxy, dproxy],
  });
  p.start();
  console.log("PID:", p.pid);
  await p.join();

  console.log(`ns.a: ${await ns.a}`);
  console.log(`lproxy: ${JSON.stringify(await lproxy.copy())}`);
  console.log(`dproxy: ${JSON.stringify(Object.fromEntries(await dproxy.copy()))}`);
}
