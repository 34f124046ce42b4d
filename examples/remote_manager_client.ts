/**
 * The remote manager's client: connects to `examples/remote_manager_server.ts`, which may run on
 * another runtime or another machine, and uses the list it shares. Registering `getList` with no
 * callable says that the server makes it; `connect()` proves the `authkey` to the server, and
 * the server proves it back.
 *
 * Ports seed 001 (分布式进程通信, the client):
 *
 * ```python
 * from multiprocessing.managers import BaseManager
 *
 * host = '127.0.0.1'
 * port = 9030
 * authkey = 'secret'
 *
 * class RemoteManager(BaseManager):
 *     pass
 *
 * RemoteManager.register('get_list')
 * mgr = RemoteManager(address=(host, port), authkey=authkey)
 * mgr.connect()
 *
 * l = mgr.get_list()
 * print l
 * l.append(1)
 * print mgr.get_list()
 * ```
 *
 * Start the server, then run this with any of (the port is 9030 unless given):
 *
 * ```sh
 * deno run -A examples/remote_manager_client.ts [port]
 * bun examples/remote_manager_client.ts [port]
 * node examples/remote_manager_client.ts [port]
 * ```
 *
 * The first run prints `[]` and `[1]`; each later run finds one more `1` in the server's list.
 *
 * @module
 */
import process from "node:process";
import { BaseManager } from "../mod.ts";

const host = "127.0.0.1";
const port = Number(process.argv[2] ?? 9030);
const authkey = "secret";

class RemoteManager extends BaseManager {}

/** What the client sees of the server's array: its methods, each returning a promise. */
interface SharedList {
  slice(): Promise<number[]>;
  push(...items: number[]): Promise<number>;
}

RemoteManager.register("getList");
const mgr = new RemoteManager({ address: [host, port], authkey });
await mgr.connect();

// A proxy of the server's array (an AutoProxy: every public method of the array).
const l = await mgr.create<SharedList>("getList");
console.log(JSON.stringify(await l.slice()));
await l.push(1);
console.log(JSON.stringify(await (await mgr.create<SharedList>("getList")).slice()));
await mgr.shutdown(); // closes this client's connection; the server keeps serving
