// Many calls in flight on one manager connection: they all reach the server before the first
// is answered, frames sent together leave in one write, and a connection that is lost fails
// every call still waiting, each with the same error.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect, createServer, type Server as NetServer, type Socket } from "node:net";
import { describe, test } from "node:test";
import { SocketConnection } from "../lib/_socket.ts";
import * as mp from "../mod.ts";
import { within } from "./_within.ts";

/** Resolves every `arrive(n)` once `n` calls have arrived: none returns before the last. */
export class Gate {
  #arrived = 0;
  #open: (() => void)[] = [];

  arrive(n: number): Promise<number> {
    const mine = ++this.#arrived;
    if (this.#arrived >= n) { for (const open of this.#open.splice(0)) open(); }
    if (this.#arrived >= n) return Promise.resolve(mine);
    return new Promise((resolve) => this.#open.push(() => resolve(mine)));
  }

  /** Never returns: a call left in flight. */
  hang(): Promise<never> {
    return new Promise(() => {});
  }
}

interface GateProxy {
  arrive(n: number): Promise<number>;
  hang(): Promise<never>;
}

const gate = new Gate();

class GateManager extends mp.BaseManager {}
GateManager.register("gate", () => gate);

/** A connected pair of sockets on 127.0.0.1. */
async function socketPair(): Promise<{ a: Socket; b: Socket; server: NetServer }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const a = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port }, () => resolve(s));
    s.once("error", reject);
  });
  return { a, b: await accepted, server };
}

describe("manager connections: calls in flight", () => {
  test("a proxy's concurrent calls all reach the server before the first is answered", async () => {
    await using manager = new GateManager({ authkey: "pipeline" });
    await manager.getServer().listen();
    await using client = new GateManager({ address: manager.address, authkey: "pipeline" });
    await client.connect();
    const proxy = await client.create<GateProxy>("gate");
    // Answered one at a time, the first call would wait for the eighth forever.
    const order = await within(
      Promise.all(Array.from({ length: 8 }, () => proxy.arrive(8))),
      10_000,
      "eight calls in flight",
    );
    assert.deepEqual([...order].sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("a lost connection fails every call in flight with the same EOFError", async () => {
    const manager = new GateManager({ authkey: "pipeline" });
    const server = manager.getServer();
    await server.listen();
    await using client = new GateManager({ address: manager.address, authkey: "pipeline" });
    await client.connect();
    const proxy = await client.create<GateProxy>("gate");
    const calls = Array.from({ length: 5 }, () => proxy.hang());
    const settled = Promise.allSettled(calls);
    // Every request has been read by the server once a later call is answered.
    await proxy.arrive(0);
    await server.close();
    const results = await within(settled, 10_000, "the calls in flight");
    const reasons = results.map((r) => {
      assert.equal(r.status, "rejected");
      return (r as PromiseRejectedResult).reason as Error;
    });
    for (const reason of reasons) {
      assert.ok(reason instanceof mp.EOFError, `not an EOFError: ${String(reason)}`);
      assert.match(
        reason.message,
        /^Cannot reach the manager at 127\.0\.0\.1:\d+ as the connection closed/,
      );
      assert.equal(reason, reasons[0]);
    }
    await manager.shutdown();
  });

  test("SocketConnection.send() writes the frames of one tick in one write, in order", async () => {
    const { a, b, server } = await socketPair();
    let writes = 0;
    const write = a.write.bind(a) as (chunk: Uint8Array) => boolean;
    (a as unknown as { write: (chunk: Uint8Array) => boolean }).write = (chunk) => {
      writes++;
      return write(chunk);
    };
    const sender = new SocketConnection(a, 1024);
    const receiver = new SocketConnection(b, 1024);
    try {
      for (let i = 0; i < 10; i++) sender.send(Buffer.from(`frame ${i}`));
      const got: string[] = [];
      for (let i = 0; i < 10; i++) got.push(Buffer.from(await receiver.recv()).toString());
      assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `frame ${i}`));
      assert.equal(writes, 1);
      // A later tick's frames leave in a write of their own.
      sender.send(Buffer.from("later"));
      assert.equal(Buffer.from(await receiver.recv()).toString(), "later");
      assert.equal(writes, 2);
    } finally {
      sender.close();
      receiver.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test("SocketConnection.close() sends the frames sent before it", async () => {
    const { a, b, server } = await socketPair();
    const sender = new SocketConnection(a, 1024);
    const receiver = new SocketConnection(b, 1024);
    try {
      sender.send(Buffer.from("last words"));
      sender.close();
      assert.equal(Buffer.from(await receiver.recv()).toString(), "last words");
      await assert.rejects(receiver.recv(), mp.EOFError);
    } finally {
      receiver.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
