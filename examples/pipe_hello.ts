/**
 * The pipe hello: a process sends `['hello']` through a {@linkcode Pipe} and closes its end;
 * the parent receives it.
 *
 * Ports seed 001 (管道 pipe):
 *
 * ```python
 * from multiprocessing import Process, Pipe
 *
 * def f(conn):
 *     conn.send(['hello'])
 *     conn.close()
 *
 * parent_conn, child_conn = Pipe()
 * p = Process(target=f, args=(child_conn,))
 * p.start()
 * print parent_conn.recv()
 * p.join()
 * ```
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/pipe_hello.ts
 * bun examples/pipe_hello.ts
 * node examples/pipe_hello.ts
 * ```
 *
 * It prints `["hello"]`.
 *
 * @module
 */
import { type Connection, fromModule, Pipe, Process } from "../mod.ts";

/** The child: sends one message and closes its end of the pipe. */
export async function f(conn: Connection<string[]>): Promise<void> {
  await conn.send(["hello"]);
  conn.close();
}

if (import.meta.main) {
  const [parentConn, childConn] = Pipe<string[]>();
  const p = new Process({ target: fromModule<typeof f>(import.meta.url, "f"), args: [childConn] });
  p.start();
  console.log(JSON.stringify(await parentConn.recv()));
  await p.join();
}
