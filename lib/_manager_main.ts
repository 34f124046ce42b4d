// The module a manager's worker starts with: it makes the server of the manager's registered
// types, listens on its address, and tells the manager the port. It serves until terminated.
import { type ManagerInit, Server } from "./managers.ts";
import { PipeFrames } from "./_manager_pipe.ts";
import { runtime } from "./runtime/mod.ts";
import "./_shareables.ts";

const port = runtime().hostPort()!;
const init = runtime().workerData() as ManagerInit;

try {
  const types = new Map(
    init.types.map(([typeid, maker, exposed, methodToTypeid]) => [typeid, {
      maker: maker ?? undefined,
      exposed: exposed ?? undefined,
      methodToTypeid: methodToTypeid ?? undefined,
      proxytype: undefined,
    }]),
  );
  const server = new Server(types, init.authkey, init.address, {
    maxFrame: init.maxFrame,
    handshakeTimeout: init.handshakeTimeout,
    idleTimeout: init.idleTimeout,
    limits: init.limits,
  });
  const [, listening] = await server.listen();
  void server.servePipe(new PipeFrames(init.pipe, true, init.maxFrame));
  port.post({ kind: "ready", port: listening });
} catch (error) {
  port.post({ kind: "error", message: error instanceof Error ? error.message : String(error) });
}
