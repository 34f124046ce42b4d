/**
 * The remote manager's server: shares a list with clients in other programs, on this machine
 * or another, through a {@linkcode BaseManager} served on a TCP address with an `authkey`. Run
 * `examples/remote_manager_client.ts` (on any of the three runtimes) to use the list.
 *
 * Ports seed 001 (分布式进程通信, the server):
 *
 * ```python
 * from multiprocessing.managers import BaseManager
 *
 * host = '127.0.0.1'
 * port = 9030
 * authkey = 'secret'
 *
 * shared_list = []
 *
 * class RemoteManager(BaseManager):
 *     pass
 *
 * RemoteManager.register('get_list', callable=lambda: shared_list)
 * mgr = RemoteManager(address=(host, port), authkey=authkey)
 * server = mgr.get_server()
 * server.serve_forever()
 * ```
 *
 * Run it with any of (the port is 9030 unless given; 0 lets the system choose one):
 *
 * ```sh
 * deno run -A examples/remote_manager_server.ts [port]
 * bun examples/remote_manager_server.ts [port]
 * node examples/remote_manager_server.ts [port]
 * ```
 *
 * It prints `serving getList on 127.0.0.1:9030` and serves until it is stopped (Ctrl+C).
 *
 * @module
 */
import process from "node:process";
import { BaseManager } from "../mod.ts";

const host = "127.0.0.1";
const port = Number(process.argv[2] ?? 9030);
const authkey = "secret";

const sharedList: unknown[] = [];

class RemoteManager extends BaseManager {}

// Each client's getList() gets a proxy of this one array; its methods run here.
RemoteManager.register("getList", () => sharedList);
const mgr = new RemoteManager({ address: [host, port], authkey });
const server = mgr.getServer();
const address = await server.listen();
console.log(`serving getList on ${address.join(":")}`);
await server.serveForever();
