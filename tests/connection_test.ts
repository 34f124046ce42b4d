import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fromModule, Pool, Process } from "../mod.ts";
import * as dummy from "../dummy.ts";
import { Connection, Pipe } from "../lib/connection.ts";
import { BufferTooShort, EOFError } from "../lib/errors.ts";
import { Queue } from "../lib/queues.ts";
import { decodeShared, encodeShared } from "../lib/reduction.ts";
import type * as Tasks from "./fixtures/queue_tasks.ts";
import type * as Channels from "./fixtures/channel_tasks.ts";
import { echo, Greeter } from "./fixtures/queue_tasks.ts";

const tasks = new URL("./fixtures/queue_tasks.ts", import.meta.url).href;
const channels = new URL("./fixtures/channel_tasks.ts", import.meta.url).href;
const slow = { timeout: 60_000 };
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/**
 * Blocks this thread (no event loop, so nothing can pass through it) until `cells[index]` is
 * no longer 0, or `ms` have passed.
 */
function blockWhileZero(cells: Int32Array, index: number, ms: number): void {
  const deadline = Date.now() + ms;
  for (let left = ms; Atomics.load(cells, index) === 0 && left > 0; left = deadline - Date.now()) {
    Atomics.wait(cells, index, 0, left);
  }
}

describe("Pipe (one thread)", () => {
  test("Connection.send() and recv() carry cloneable values both ways, in order", async () => {
    const [a, b] = Pipe();
    const values: unknown[] = [
      1,
      "two",
      [3, { four: 4 }],
      null,
      undefined,
      new Map([["k", 1]]),
      new Date(0),
      7n,
      new Uint16Array([1, 2]),
    ];
    for (const value of values) await a.send(value);
    for (const value of values) assert.deepEqual(await b.recv(), value);
    await b.send("back");
    assert.equal(await a.recv(), "back");
  });

  test("Connection keeps message boundaries: 'a', 'b', 'cd' never merge", async () => {
    const [a, b] = Pipe();
    void a.send("a");
    void a.send("b");
    void a.send("cd");
    assert.equal(await b.recv(), "a");
    assert.equal(await b.recv(), "b");
    assert.equal(await b.recv(), "cd");
    await a.sendBytes(bytes("a"));
    await a.sendBytes(bytes("b"));
    await a.sendBytes(bytes("cd"));
    assert.equal(text(await b.recvBytes()), "a");
    assert.equal(text(await b.recvBytes()), "b");
    assert.equal(text(await b.recvBytes()), "cd");
  });

  test("Connection.sendBytes() sends size bytes from offset, of any buffer", async () => {
    const [a, b] = Pipe();
    await a.sendBytes(bytes("hello world"), 6);
    await a.sendBytes(bytes("hello world"), 2, 3);
    await a.sendBytes(new Uint16Array([0x0201]).buffer);
    await a.sendBytes(new DataView(new Uint8Array([9, 8, 7]).buffer, 1));
    await a.sendBytes(new Uint8Array(0));
    assert.equal(text(await b.recvBytes()), "world");
    assert.equal(text(await b.recvBytes()), "llo");
    assert.deepEqual([...await b.recvBytes()], [1, 2]);
    assert.deepEqual([...await b.recvBytes()], [8, 7]);
    assert.deepEqual([...await b.recvBytes()], []);
    await assert.rejects(a.sendBytes(bytes("abc"), 4), RangeError);
    await assert.rejects(a.sendBytes(bytes("abc"), 1, 3), RangeError);
    await assert.rejects(a.sendBytes("abc" as never), TypeError);
  });

  test("Connection.recv() of a sendBytes() message gives its bytes", async () => {
    const [a, b] = Pipe();
    await a.sendBytes(new Uint8Array([5, 6]));
    assert.deepEqual(await b.recv(), new Uint8Array([5, 6]));
  });

  test("Connection.recvBytes(maxlength) fails with BufferTooShort for a longer message", async () => {
    const [a, b] = Pipe();
    await a.sendBytes(bytes("too long"));
    await a.sendBytes(bytes("ok"));
    await assert.rejects(b.recvBytes(3), (error: Error) => {
      assert.ok(error instanceof BufferTooShort);
      assert.match(error.message, /message of 8 bytes as 'maxlength' is 3/);
      assert.equal(text(error.data), "too long");
      return true;
    });
    // The connection stays usable.
    assert.equal(text(await b.recvBytes(2)), "ok");
    await assert.rejects(b.recvBytes(-1), RangeError);
  });

  test("Connection.recvBytesInto() writes at an offset, or fails with BufferTooShort", async () => {
    const [a, b] = Pipe();
    await a.sendBytes(new Uint8Array([1, 2]));
    await a.sendBytes(new Uint8Array([1, 2, 3]));
    const into = new Uint8Array(4);
    assert.equal(await b.recvBytesInto(into, 2), 2);
    assert.deepEqual([...into], [0, 0, 1, 2]);
    const error = await b.recvBytesInto(into, 2).catch((e) => e);
    assert.ok(error instanceof BufferTooShort);
    assert.deepEqual([...error.data], [1, 2, 3]);
  });

  test("Connection.poll() says whether a message is there without taking it", async () => {
    const [a, b] = Pipe();
    assert.equal(await b.poll(), false);
    const started = Date.now();
    assert.equal(await b.poll(50), false);
    assert.ok(Date.now() - started < 10_000);
    await a.send("x");
    assert.equal(await b.poll(), true);
    assert.equal(await b.poll(10), true);
    assert.equal(await b.recv(), "x");
    assert.equal(await b.poll(), false);
    const later = b.poll(null);
    setTimeout(() => a.send("y"), 10);
    assert.equal(await later, true);
    assert.equal(await b.recv(), "y");
    await assert.rejects(b.poll(NaN), RangeError);
  });

  test("Connection.recv() fails with EOFError once the other end closed and all was read", async () => {
    const [a, b] = Pipe();
    await a.send(1);
    void a.send(2);
    a.close();
    assert.equal(await b.recv(), 1);
    assert.equal(await b.recv(), 2);
    assert.equal(await b.poll(), true); // recv() would not wait
    await assert.rejects(b.recv(), EOFError);
    await assert.rejects(b.recvBytes(), EOFError);
    await assert.rejects(b.send(3), /other end of the pipe is closed/);
  });

  test("Connection.recv() waiting when the other end closes fails with EOFError", async () => {
    const [a, b] = Pipe();
    const waiting = b.recv();
    a.close();
    await assert.rejects(waiting, EOFError);
  });

  test("Connection.close() closes this end: closed, and send()/recv() fail", async () => {
    const [a, b] = Pipe();
    const waiting = a.recv();
    assert.equal(a.closed, false);
    a.close();
    a.close(); // twice is fine
    assert.equal(a.closed, true);
    assert.equal(b.closed, false);
    await assert.rejects(waiting, /closed/);
    await assert.rejects(a.send(1), /Cannot send as the connection is closed/);
    await assert.rejects(a.recv(), /Cannot receive as the connection is closed/);
    await assert.rejects(a.poll(), /closed/);
  });

  test("Connection is disposable: using closes it", () => {
    const [a] = Pipe();
    {
      using conn = a;
      assert.equal(conn.closed, false);
    }
    assert.equal(a.closed, true);
  });

  test("Pipe(false) returns [receiver, sender]; each refuses the other direction", async () => {
    const [reader, writer] = Pipe<string>(false);
    assert.equal(reader.readable, true);
    assert.equal(reader.writable, false);
    assert.equal(writer.readable, false);
    assert.equal(writer.writable, true);
    await assert.rejects(reader.send("x"), /Cannot send on a receive-only connection/);
    await assert.rejects(reader.sendBytes(bytes("x")), /receive-only/);
    await assert.rejects(writer.recv(), /Cannot receive on a send-only connection/);
    await assert.rejects(writer.recvBytes(), /send-only/);
    await assert.rejects(writer.poll(), /send-only/);
    await writer.send("one way");
    assert.equal(await reader.recv(), "one way");
    writer.close();
    await assert.rejects(reader.recv(), EOFError);
    const [r2, w2] = Pipe(false);
    r2.close();
    await assert.rejects(w2.send("x"), /other end of the pipe is closed/);
  });

  test("Pipe() duplex ends are both readable and writable", () => {
    const [a, b] = Pipe();
    assert.deepEqual([a.readable, a.writable, b.readable, b.writable], [true, true, true, true]);
  });

  test("Pipe() validates its arguments; Connection is not created directly", () => {
    assert.throws(() => Pipe("yes" as unknown as boolean), TypeError);
    assert.throws(() => Pipe(true, { bytes: 1 }), RangeError);
    assert.throws(() => Pipe(true, null as never), TypeError);
    assert.throws(() => new Connection(), /call Pipe\(\)/);
  });

  test("Connection carries messages larger than its buffer, in pieces", slow, async () => {
    const [a, b] = Pipe(true, { bytes: 1024 });
    const big = Array.from({ length: 20_000 }, (_, i) => i);
    const raw = Uint8Array.from({ length: 50_000 }, (_, i) => i % 256);
    const sends = [a.send("small"), a.send(big), a.sendBytes(raw), a.send("end")];
    assert.equal(await b.recv(), "small");
    assert.deepEqual(await b.recv(), big);
    assert.deepEqual(await b.recvBytes(), raw);
    assert.equal(await b.recv(), "end");
    await Promise.all(sends);
  });

  test("Connection's other end sees EOF only when every copy of this end is closed", async () => {
    const [a, b] = Pipe();
    const copy = decodeShared(encodeShared(b)) as Connection; // as a process receives it
    assert.ok(copy instanceof Connection);
    b.close();
    await copy.send("still open");
    assert.equal(await a.recv(), "still open");
    assert.equal(await a.poll(), false);
    copy.close();
    await assert.rejects(a.recv(), EOFError);
    assert.throws(() => encodeShared(b), /closed connection/);
  });
});

describe("Pipe (across workers)", () => {
  test(
    "Pipe: a process sends ['hello'] and closes, the parent receives it then EOF",
    slow,
    async () => {
      const [parentConn, childConn] = Pipe<string[]>();
      const p = new Greeter(childConn);
      p.start();
      childConn.close(); // the parent's copy, as in Python
      assert.deepEqual(await parentConn.recv(), ["hello"]);
      await p.join();
      assert.equal(p.exitcode, 0);
      await assert.rejects(parentConn.recv(), EOFError);
    },
  );

  test("Connection round trips with a worker keep every message and its order", slow, async () => {
    await using pool = new Pool(1);
    const [mine, theirs] = Pipe();
    const echoed = pool.apply(fromModule<typeof Tasks.echo>(tasks, "echo"), [theirs]);
    await mine.send("first");
    assert.equal(await mine.recv(), "first");
    theirs.close(); // the worker has its copy now: only that one stays open
    for (let i = 1; i < 2000; i++) {
      const message = i % 2 === 0 ? i : { i, text: `#${i}` };
      await mine.send(message);
      assert.deepEqual(await mine.recv(), message);
    }
    mine.close();
    assert.equal(await echoed, 2000);
  });

  test("Connection.sendBytes() reaches a worker, which answers", slow, async () => {
    await using pool = new Pool(1);
    const [mine, theirs] = Pipe();
    const done = pool.apply(fromModule<typeof Tasks.reverseBytes>(tasks, "reverseBytes"), [
      theirs,
    ]);
    await mine.sendBytes(new Uint8Array([1, 2, 3]));
    assert.equal(await mine.recv(), 3);
    assert.deepEqual([...await mine.recvBytes()], [3, 2, 1]);
    await done;
  });

  test(
    "Pipe between two workers carries messages both ways, then recv() fails with EOFError once one closes",
    slow,
    async () => {
      const [left, right] = Pipe<string>();
      const results = new Queue<{ got: string[]; error: string }>();
      const answerer = new Process({
        target: async (conn: Connection<string>) => {
          for (;;) {
            const message = await conn.recv();
            if (message === "bye") break;
            await conn.send(message.toUpperCase());
          }
          await conn.send("closing");
          conn.close();
        },
        args: [left],
      });
      const asker = new Process({
        target: async (conn: Connection<string>, out: Queue<{ got: string[]; error: string }>) => {
          const got: string[] = [];
          for (const message of ["a", "b", "c"]) {
            await conn.send(message);
            got.push(await conn.recv());
          }
          await conn.send("bye");
          got.push(await conn.recv());
          let error = "no error";
          try {
            await conn.recv();
          } catch (e) {
            error = `${(e as Error).constructor.name}: ${(e as Error).message}`;
          }
          await out.put({ got, error });
        },
        args: [right, results],
      });
      answerer.start();
      asker.start();
      // Each worker's copy is then the only open copy of its end.
      left.close();
      right.close();
      const { got, error } = await results.get({ timeout: 30_000 });
      assert.deepEqual(got, ["A", "B", "C", "closing"]);
      assert.match(error, /^EOFError: Cannot receive as the other end of the pipe is closed/);
      await answerer.join();
      await asker.join();
      assert.deepEqual([answerer.exitcode, asker.exitcode], [0, 0]);
    },
  );

  test(
    "Pipe carries messages from worker to worker while the main thread is busy",
    slow,
    async () => {
      const [left, right] = Pipe<number>(true, { bytes: 1024 });
      // [0]: 1 once every answer came back right (2 if one did not).
      const cells = new Int32Array(new SharedArrayBuffer(4));
      const count = 2000;
      const asker = new Process({
        target: async (conn: Connection<number>, n: number, cells: Int32Array) => {
          let ok = true;
          for (let i = 0; i < n; i++) {
            await conn.send(i);
            if (await conn.recv() !== 2 * i) ok = false;
          }
          Atomics.store(cells, 0, ok ? 1 : 2);
          Atomics.notify(cells, 0);
        },
        args: [left, count, cells],
      });
      const doubler = new Process({
        target: async (conn: Connection<number>, n: number) => {
          for (let i = 0; i < n; i++) await conn.send(2 * await conn.recv());
        },
        args: [right, count],
      });
      asker.start();
      doubler.start();
      left.close();
      right.close();
      blockWhileZero(cells, 0, 45_000);
      assert.equal(Atomics.load(cells, 0), 1, "the answers did not all come back, right");
      await asker.join();
      await doubler.join();
      assert.deepEqual([asker.exitcode, doubler.exitcode], [0, 0]);
    },
  );

  test("Pipe(false) ends passed to a worker refuse the wrong direction there", slow, async () => {
    await using pool = new Pool(1);
    const [reader, writer] = Pipe<string>(false);
    await writer.send("one way");
    const atReader = await pool.apply(async (conn: Connection<string>) => {
      const got = await conn.recv();
      const refused = await conn.send("back").then(() => "sent", (e: Error) => e.message);
      return [got, conn.readable, conn.writable, refused];
    }, [reader]);
    assert.deepEqual(atReader, [
      "one way",
      true,
      false,
      "Cannot send on a receive-only connection: Pipe(false) returns [receiver, sender]",
    ]);
    const atWriter = await pool.apply(async (conn: Connection<string>) => {
      const recv = await conn.recv().then(() => "received", (e: Error) => e.message);
      const poll = await conn.poll().then(() => "polled", (e: Error) => e.message);
      await conn.send("from the worker");
      return [conn.readable, conn.writable, recv, poll];
    }, [writer]);
    assert.deepEqual(atWriter, [
      false,
      true,
      "Cannot receive on a send-only connection: Pipe(false) returns [receiver, sender]",
      "Cannot poll on a send-only connection: Pipe(false) returns [receiver, sender]",
    ]);
    assert.equal(await reader.recv(), "from the worker");
  });

  test(
    "Pipe made in a pool task comes back with both ends working, here and in another task",
    slow,
    async () => {
      await using pool = new Pool(2);
      const [mine, theirs] = await pool.apply(
        fromModule<typeof Channels.makePipe>(channels, "makePipe"),
        [],
      );
      assert.ok(mine instanceof Connection);
      assert.ok(theirs instanceof Connection);
      const done = pool.apply(fromModule<typeof Tasks.reverseBytes>(tasks, "reverseBytes"), [
        theirs,
      ]);
      await mine.sendBytes(new Uint8Array([4, 5, 6, 7]));
      assert.equal(await mine.recv(), 4);
      assert.deepEqual([...await mine.recvBytes()], [7, 6, 5, 4]);
      await done;
    },
  );
});

describe("Pipe (dummy.ts)", () => {
  test("Pipe between a dummy.Process and the main thread, then EOFError once it closes", async () => {
    const [mine, theirs] = Pipe<string>();
    const p = new dummy.Process({
      target: async (conn: Connection<string>) => {
        for (;;) {
          const message = await conn.recv();
          if (message === "bye") break;
          await conn.send(message.toUpperCase());
        }
        conn.close();
      },
      args: [theirs],
    });
    p.start();
    theirs.close(); // the child has its own copy, as a worker Process would
    for (const message of ["a", "b", "cd"]) {
      await mine.send(message);
      assert.equal(await mine.recv(), message.toUpperCase());
    }
    await mine.send("bye");
    await assert.rejects(mine.recv(), EOFError);
    await p.join();
    assert.equal(p.exitcode, 0);
  });

  test("Pipe end in a dummy.Pool task echoes until the main thread closes its end", async () => {
    await using pool = new dummy.Pool(1);
    const [mine, theirs] = Pipe();
    const echoed = pool.apply(echo, [theirs]);
    for (let i = 0; i < 5; i++) {
      await mine.send({ i });
      assert.deepEqual(await mine.recv(), { i });
    }
    mine.close();
    assert.equal(await echoed, 5);
    assert.equal(theirs.closed, true, "the task's end is this very object, closed by the task");
  });
});
