// BaseManager over TCP, the distributed case: servers and clients run as separate OS processes
// on 127.0.0.1 (on this runtime and on the other two), and hostile peers are raw sockets.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { connect, createServer, type Server as NetServer, type Socket } from "node:net";
import process from "node:process";
import { describe, test } from "node:test";
import { encode } from "@msgpack/msgpack";
import * as mp from "../mod.ts";
import {
  answerTo,
  CHALLENGE,
  DIGEST,
  frame,
  header,
  PROMPTLY,
  RawPeer,
} from "./fixtures/raw_peer.ts";
import { wireSample } from "./fixtures/tcp_client.ts";
import { currentRuntime, Program, RUNTIMES, startServer } from "./fixtures/tcp_programs.ts";

const SERVER = new URL("./fixtures/tcp_server.ts", import.meta.url);
const CLIENT = new URL("./fixtures/tcp_client.ts", import.meta.url);
const MASTER = new URL("../examples/distributed_master.ts", import.meta.url);
const WORKER = new URL("../examples/distributed_worker.ts", import.meta.url);
const KEY = "tcp test key";
// Starts programs: above bun's default of 5 s per test.
const slow = { timeout: 60_000 };
const PATIENT_HANDSHAKE = "30000";

/** The client side of the fixture server's shared array (an AutoProxy of an Array). */
interface SharedList {
  push(...items: unknown[]): Promise<number>;
  slice(): Promise<unknown[]>;
}

class RemoteManager extends mp.BaseManager {}
RemoteManager.register("getList");

/** A client in this process, connected to the server program at `port`. */
async function goodClient(port: number): Promise<{ client: RemoteManager; list: SharedList }> {
  const client = new RemoteManager({ address: ["127.0.0.1", port], authkey: KEY });
  await client.connect();
  return { client, list: await client.create<SharedList>("getList") };
}

/** Asserts that the server still serves `list`: an item appended is read back. */
async function assertServes(list: SharedList, item: string): Promise<void> {
  await list.push(item);
  assert.equal((await list.slice()).at(-1), item, `the server stopped serving after: ${item}`);
}

/** A TCP relay to `port` that records what each side sent, as a listener on the wire would. */
async function recordingRelay(port: number): Promise<{
  port: number;
  fromClient: Buffer[];
  fromServer: Buffer[];
  close(): Promise<void>;
}> {
  const fromClient: Buffer[] = [];
  const fromServer: Buffer[] = [];
  const sockets = new Set<Socket>();
  const relay: NetServer = createServer((inbound) => {
    const outbound = connect(port, "127.0.0.1");
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.on("data", (d: Buffer) => (fromClient.push(Buffer.from(d)), outbound.write(d)));
    outbound.on("data", (d: Buffer) => (fromServer.push(Buffer.from(d)), inbound.write(d)));
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const address = relay.address();
  assert.ok(typeof address === "object" && address !== null);
  return {
    port: address.port,
    fromClient,
    fromServer,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => relay.close(() => resolve()));
    },
  };
}

/** The first frame of what one side sent: [payload, the frame's bytes]. */
function firstFrame(chunks: Buffer[]): [Buffer, Buffer] {
  const bytes = Buffer.concat(chunks);
  const length = bytes.readUInt32BE(0);
  return [bytes.subarray(4, 4 + length), bytes.subarray(0, 4 + length)];
}

describe("BaseManager over TCP", () => {
  test(
    "BaseManager: the seed's server program shares its list with client programs on 127.0.0.1",
    slow,
    async () => {
      const { server, port } = await startServer(SERVER, [KEY]);
      try {
        assert.match(server.report, /^port \d+ on 127\.0\.0\.1$/m);
        const first = await new Program("current", CLIENT, [String(port), KEY, "append", "1"])
          .ended();
        assert.equal(first.code, 0, first.stderr);
        assert.equal(first.stdout, 'before []\nafter ["1"]\n');
        // Another program finds the first one's item: the list lives in the server.
        const second = await new Program("current", CLIENT, [String(port), KEY, "append", "2"])
          .ended();
        assert.equal(second.code, 0, second.stderr);
        assert.equal(second.stdout, 'before ["1"]\nafter ["1","2"]\n');
        assert.ok(server.running, `the server ended${server.report}`);
      } finally {
        await server.kill();
      }
    },
  );

  test(
    "BaseManager.connect(): a client program that never shuts down ends once its work is done, and the server keeps serving",
    slow,
    async () => {
      const { server, port } = await startServer(SERVER, [KEY]);
      try {
        const idle = await new Program("current", CLIENT, [String(port), KEY, "leave", "1"])
          .ended(30_000);
        assert.equal(idle.signal, null, `the client did not end by itself${idle.stderr}`);
        assert.equal(idle.code, 0, idle.stderr);
        assert.equal(idle.stdout, 'before []\nafter ["1"]\n');
        assert.equal(idle.stderr, "");
        // serveForever() keeps its program alive and serving after the client went away.
        const next = await new Program("current", CLIENT, [String(port), KEY, "append", "2"])
          .ended();
        assert.equal(next.code, 0, next.stderr);
        assert.equal(next.stdout, 'before ["1"]\nafter ["1","2"]\n');
        assert.ok(server.running, `the server ended${server.report}`);
      } finally {
        await server.kill();
      }
    },
  );

  test(
    "BaseManager: a server on this runtime serves clients on the other two, every value intact both ways",
    slow,
    async () => {
      const { server, port } = await startServer(SERVER, [KEY]);
      const { client, list } = await goodClient(port);
      const others = RUNTIMES.filter((r) => r !== currentRuntime);
      const clients = others.map((r) => new Program(r, CLIENT, [String(port), KEY, "sample"]));
      try {
        await list.push(wireSample(currentRuntime));
        const exits = await Promise.all(clients.map((c) => c.ended(30_000)));
        for (const [i, exit] of exits.entries()) {
          assert.equal(exit.code, 0, clients[i].report);
          // Each decoded what this runtime encoded (and the other's, if it came first).
          assert.match(
            exit.stdout,
            new RegExp(`^${others[i]} checked [23] samples from ${currentRuntime},`, "m"),
          );
        }
        const items = (await list.slice()) as { runtime: string }[];
        assert.deepEqual(items.map((s) => s.runtime).sort(), [...RUNTIMES].sort());
        for (const item of items) assert.deepEqual(item, wireSample(item.runtime));
      } finally {
        await client.shutdown();
        await Promise.all(clients.map((c) => c.kill()));
        await server.kill();
      }
    },
  );

  test(
    "BaseManager.connect() with a wrong authkey rejects with AuthenticationError, and the server keeps serving",
    slow,
    async () => {
      const { server, port } = await startServer(SERVER, [KEY]);
      try {
        const wrong = new RemoteManager({ address: ["127.0.0.1", port], authkey: "not the key" });
        await assert.rejects(wrong.connect(), (error: Error) => {
          assert.ok(error instanceof mp.AuthenticationError, `${error.name}: ${error.message}`);
          assert.match(error.message, /authkey/);
          return true;
        });
        await wrong.shutdown();
        const good = await new Program("current", CLIENT, [String(port), KEY, "append", "ok"])
          .ended();
        assert.equal(good.code, 0, good.stderr);
        assert.equal(good.stdout, 'before []\nafter ["ok"]\n');
      } finally {
        await server.kill();
      }
    },
  );

  test(
    "BaseManager.connect() rejects with AuthenticationError a server that cannot prove the authkey",
    slow,
    async () => {
      // A server that does not hold the key: it welcomes any answer, and cannot answer back.
      const seen: string[] = [];
      const sockets = new Set<Socket>();
      const impostor = createServer((socket) => {
        sockets.add(socket);
        socket.on("error", () => {});
        let step = 0;
        socket.on("data", (bytes: Buffer) => {
          seen.push(bytes.subarray(4).toString("latin1"));
          if (step++ === 0) {
            socket.write(frame(Buffer.from("#WELCOME#")));
          } else {
            socket.write(frame(Buffer.concat([DIGEST, randomBytes(32)])));
          }
        });
        socket.write(frame(Buffer.concat([CHALLENGE, DIGEST, randomBytes(40)])));
      });
      await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
      const { port } = impostor.address() as { port: number };
      const client = new RemoteManager({ address: ["127.0.0.1", port], authkey: KEY });
      try {
        await assert.rejects(client.connect(), mp.AuthenticationError);
        // The client challenged the impostor, and told it that its answer was wrong.
        assert.ok(seen[1]?.startsWith("#CHALLENGE#{sha256}"), JSON.stringify(seen));
        for (let i = 0; i < 200 && seen.length < 3; i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.equal(seen[2], "#FAILURE#");
      } finally {
        await client.shutdown();
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => impostor.close(resolve));
      }
    },
  );

  test(
    "BaseManager's server closes a connection that breaks the handshake at once, and keeps serving",
    slow,
    async () => {
      const { server, port } = await startServer(SERVER, [KEY, PATIENT_HANDSHAKE]);
      const { client, list } = await goodClient(port);
      const peers: RawPeer[] = [];
      const peer = async () => {
        const p = await RawPeer.connect(port);
        peers.push(p);
        return p;
      };
      try {
        // Random bytes: their first four announce some huge frame.
        let p = await peer();
        p.sendRaw(randomBytes(1024));
        assert.ok(await p.closedWithin(), "random bytes");
        await assertServes(list, "after random bytes");

        // A frame one byte over the handshake's limit of 256, and one of 4 GiB.
        for (const length of [257, 0xffffffff]) {
          p = await peer();
          p.sendRaw(header(length));
          assert.ok(await p.closedWithin(), `a header announcing ${length} bytes`);
          await assertServes(list, `after a header of ${length}`);
        }

        // A random answer, in a well-formed frame: refused.
        p = await peer();
        await p.recv();
        p.send(Buffer.concat([DIGEST, randomBytes(32)]));
        assert.equal((await p.recv()).toString(), "#FAILURE#");
        assert.ok(await p.closedWithin(), "a wrong answer");
        await assertServes(list, "after a wrong answer");

        // A truncated frame, then the peer leaves.
        p = await peer();
        await p.recv();
        p.sendRaw(Buffer.concat([header(40), randomBytes(10)]));
        p.end();
        assert.ok(await p.closedWithin(), "a truncated frame");
        await assertServes(list, "after a truncated frame");

        // A good client's answer, recorded on the wire, replayed on a new connection.
        const relay = await recordingRelay(port);
        const recorded = new RemoteManager({ address: ["127.0.0.1", relay.port], authkey: KEY });
        await recorded.connect();
        await recorded.shutdown();
        await relay.close();
        const [challenge] = firstFrame(relay.fromServer);
        const [answer, answerFrame] = firstFrame(relay.fromClient);
        assert.ok(
          answer.equals(answerTo(challenge, KEY)),
          "the relay recorded the client's answer",
        );
        p = await peer();
        const fresh = await p.recv();
        assert.ok(!fresh.equals(challenge), "each connection gets a challenge of its own");
        p.sendRaw(answerFrame);
        assert.equal((await p.recv()).toString(), "#FAILURE#");
        assert.ok(await p.closedWithin(), "a replayed answer");
        await assertServes(list, "after a replayed answer");

        // A new client program still connects and sees every item the good client added.
        const late = await new Program("current", CLIENT, [String(port), KEY, "append", "late"])
          .ended();
        assert.equal(late.code, 0, late.stderr);
        assert.match(
          late.stdout,
          /^after \["after random bytes",.*"after a replayed answer","late"\]$/m,
        );
        assert.ok(server.running, `the server ended${server.report}`);
      } finally {
        for (const p of peers) p.destroy();
        await client.shutdown();
        await server.kill();
      }
    },
  );

  test(
    "BaseManager's server closes only the connection that sends a malformed or oversized frame after authenticating",
    slow,
    async () => {
      const maxFrame = 1024;
      const { server, port } = await startServer(SERVER, [KEY, PATIENT_HANDSHAKE, `${maxFrame}`]);
      const { client, list } = await goodClient(port);
      const peers: RawPeer[] = [];
      const authenticated = async () => {
        const p = await RawPeer.connect(port);
        peers.push(p);
        await p.authenticate(KEY);
        return p;
      };
      try {
        // Well-formed requests by hand, up to the limit, are answered: the raw peer speaks the
        // protocol, so what closes the connections below is what they send.
        const bystander = await authenticated();
        assert.deepEqual(await bystander.call([1, "", "ping", []]), [1, 0, "pong"]);
        const big = [2, "", "ping", ["x".repeat(maxFrame - 30)]];
        assert.ok(encode(big).length <= maxFrame);
        assert.deepEqual(await bystander.call(big), [2, 0, "pong"]);

        const attacks: [string, Uint8Array][] = [
          ["bytes that are not MessagePack", frame(Uint8Array.of(0xc1))],
          ["a request that is not [callId, objectId, method, args]", frame(encode([1]))],
          ["a header announcing one byte over maxFrame", header(maxFrame + 1)],
          ["a frame over maxFrame", frame(encode(["x".repeat(2 * maxFrame)]))],
          ["a number instead of a request", frame(encode(5))],
          ["null instead of a request", frame(encode(null))],
          ["a map instead of a request", frame(encode({}))],
        ];
        for (const [what, bytes] of attacks) {
          const p = await authenticated();
          p.sendRaw(bytes);
          assert.ok(await p.closedWithin(), what);
          await assertServes(list, `after ${what}`);
        }
        // The other connections are untouched.
        assert.deepEqual(await bystander.call([3, "", "ping", []]), [3, 0, "pong"]);
        const late = await new Program("current", CLIENT, [String(port), KEY, "append", "late"])
          .ended();
        assert.equal(late.code, 0, late.stderr);
        assert.match(late.stdout, /^after \[.*"after a map instead of a request","late"\]$/m);
        assert.ok(server.running, `the server ended${server.report}`);
      } finally {
        for (const p of peers) p.destroy();
        await client.shutdown();
        await server.kill();
      }
    },
  );

  test(
    "BaseManager's server closes a connection that has not authenticated within handshakeTimeout",
    slow,
    async () => {
      class Local extends mp.BaseManager {}
      const items: string[] = [];
      Local.register("getList", () => items);
      const server = new Local({ authkey: KEY, handshakeTimeout: 200 }).getServer();
      const [, port] = await server.listen();
      const peers: RawPeer[] = [];
      try {
        const start = Date.now();
        // One sends nothing; one sends part of its answer and waits.
        const silent = await RawPeer.connect(port);
        const partial = await RawPeer.connect(port);
        peers.push(silent, partial);
        await silent.recv();
        await partial.recv();
        partial.sendRaw(Buffer.concat([header(40), randomBytes(10)]));
        // Well before the default of 5000 ms.
        assert.ok(await silent.closedWithin(2_500), "a peer that sends nothing");
        assert.ok(await partial.closedWithin(2_500), "a peer that sends half an answer");
        assert.ok(Date.now() - start >= 150, `closed after ${Date.now() - start} ms`);
        // A client that answers in time is served.
        const client = new RemoteManager({ address: ["127.0.0.1", port], authkey: KEY });
        try {
          await client.connect();
          await assertServes(await client.create<SharedList>("getList"), "in time");
          assert.deepEqual(items, ["in time"]);
        } finally {
          await client.shutdown();
        }
      } finally {
        for (const p of peers) p.destroy();
        await server.close();
      }
    },
  );

  test(
    "BaseManager's server does not time out a peer that proved the key, however slow the rest of its handshake",
    slow,
    async () => {
      // A client is done once it sends its last frame, and sends its first request with it:
      // a server timing it until that frame arrives closed, on a starved machine, clients
      // that believed themselves connected (their calls failed with EOFError).
      class Local extends mp.BaseManager {}
      const handshakeTimeout = 1_500;
      const server = new Local({ authkey: KEY, handshakeTimeout }).getServer();
      const [, port] = await server.listen();
      const peer = await RawPeer.connect(port);
      try {
        // Proves the key at once, then challenges the server only after its bound has passed.
        await peer.authenticate(KEY, PROMPTLY, 2 * handshakeTimeout);
        assert.deepEqual(await peer.call([1, "", "ping", []]), [1, 0, "pong"]);
      } finally {
        peer.destroy();
        await server.close();
      }
    },
  );

  test(
    "BaseManager.start() serves registered types from a worker; connect() reaches it from another manager",
    slow,
    async () => {
      class Started extends mp.BaseManager {}
      Started.register(
        "Counter",
        mp.fromModule<() => unknown>(
          new URL("./fixtures/manager_types.ts", import.meta.url).href,
          "makeCounter",
        ),
      );
      Started.register("Echo", () => ({ echo: (x: unknown) => x }));
      // A callable that is not self-contained cannot run in the manager's worker.
      const outside = Number(String(3));
      Started.register("Closure", () => outside);
      await using server = new Started({ authkey: KEY });
      await server.start();
      const [host, port] = server.address;
      assert.equal(host, "127.0.0.1");
      assert.ok(port > 0);
      await assert.rejects(server.start(), /started or connected before/);
      // deno-lint-ignore no-explicit-any
      const counter = await server.create<any>("Counter");
      assert.equal(await counter.add(2), 2);
      await using client = new Started({ address: [host, port], authkey: KEY });
      await client.connect();
      // deno-lint-ignore no-explicit-any
      const other = await client.create<any>("Counter");
      assert.equal(await other.add(5), 5);
      assert.match(await other.digest(), /^[0-9a-f]{8}$/);
      // deno-lint-ignore no-explicit-any
      const echo = await client.create<any>("Echo");
      assert.deepEqual(await echo.echo({ a: [1] }), { a: [1] });
      await assert.rejects(client.create("Closure"), ReferenceError);
      await assert.rejects(client.create("Nope"), mp.RemoteError);
      await server.shutdown();
      await assert.rejects(other.add(1), /Cannot reach the manager .* closed/);
    },
  );

  test("BaseManager's server listens on 127.0.0.1 unless told otherwise", slow, async () => {
    class Local extends mp.BaseManager {}
    Local.register("getList", () => []);
    const server = new Local({ authkey: KEY }).getServer();
    const wide = new Local({ authkey: KEY, address: ["0.0.0.0", 0] }).getServer();
    const reaches = (port: number, host: string) =>
      new Promise<boolean>((resolve) => {
        const socket = connect(port, host, () => (socket.destroy(), resolve(true)));
        socket.on("error", () => resolve(false));
      });
    try {
      const [host, port] = await server.listen();
      assert.equal(host, "127.0.0.1");
      assert.ok(port > 0);
      assert.deepEqual(server.address(), ["127.0.0.1", port]);
      assert.ok(await reaches(port, "127.0.0.1"));
      if (process.platform === "linux") {
        // Linux routes all of 127/8 to loopback: only a wildcard listener answers 127.0.0.2.
        const [, widePort] = await wide.listen();
        assert.ok(await reaches(widePort, "127.0.0.2"), "a wildcard listener answers 127.0.0.2");
        assert.equal(await reaches(port, "127.0.0.2"), false, "bound to 127.0.0.1 only");
      }
    } finally {
      await server.close();
      await wide.close();
    }
  });

  test(
    "BaseManager: distributed_worker.ts programs on deno, bun and node do each task of distributed_master.ts exactly once",
    slow,
    async () => {
      const tasks = 30;
      const master = new Program("current", MASTER, ["0", `${tasks}`, "3"]);
      let workers: Program[] = [];
      try {
        const [, port] = await master.line(/^master: serving on 127\.0\.0\.1:(\d+)$/);
        workers = RUNTIMES.map((runtime) => new Program(runtime, WORKER, [port]));
        const exits = await Promise.all(workers.map((w) => w.ended(30_000)));
        const done = new Map<string, number>();
        for (const [i, exit] of exits.entries()) {
          assert.equal(exit.code, 0, workers[i].report);
          const said = new RegExp(`^worker (${RUNTIMES[i]} \\d+): exit after (\\d+) tasks$`, "m")
            .exec(exit.stdout);
          assert.ok(said !== null, workers[i].report);
          done.set(said[1], Number(said[2]));
        }
        const { code, stdout } = await master.ended(15_000);
        assert.equal(code, 0, master.report);
        const results = [...stdout.matchAll(/^result: (\d+) \* \1 = (\d+) \(by (\w+ \d+)\)$/gm)];
        const numbers = results.map((r) => Number(r[1])).sort((a, b) => a - b);
        assert.deepEqual(numbers, Array.from({ length: tasks }, (_, i) => i + 1));
        for (const r of results) assert.equal(Number(r[2]), Number(r[1]) ** 2);
        // Every worker took tasks (they all waited when the tasks came), as many as it said.
        for (const [worker, count] of done) {
          assert.ok(count > 0, `${worker} took no task${master.report}`);
          assert.equal(results.filter((r) => r[3] === worker).length, count, worker);
        }
        assert.match(
          stdout,
          new RegExp(`^summary: ${tasks} of ${tasks} tasks done exactly once by 3 workers$`, "m"),
        );
      } finally {
        await Promise.all(workers.map((w) => w.kill()));
        await master.kill();
      }
    },
  );
});
