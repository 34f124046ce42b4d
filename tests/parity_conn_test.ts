// Python parity (issue 11): negative timeouts mean "do not wait"; send() is serialisation plus
// sendBytes(); a closed queue refuses empty(), full() and qsize(); a connection handed to a
// same-thread Process is the child's own copy. Written from Python's documentation and
// `Lib/test/_test_multiprocessing.py`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";

const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;
const slow = { timeout: 60_000 };

/** Resolves to how many ms `promise` took to settle, or rejects after `limit` ms. */
async function settlesWithin(promise: Promise<unknown>, limit: number): Promise<number> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      promise.then(() => {}, () => {}),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not settle within ${limit} ms`)), limit);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return performance.now() - started;
}

for (const [label, m] of entries) {
  describe(`parity: negative timeouts do not wait (${label})`, () => {
    // Python: a negative timeout is treated as 0 by every wait (SemLock.acquire clamps it,
    // connection.wait() and threading's waits return at once).
    test("Lock, RLock, Semaphore acquire({ timeout: -1 }) return false at once when taken", async () => {
      for (const lock of [new m.Lock(), new m.Semaphore(1)]) {
        assert.equal(await lock.acquire(), true);
        assert.equal(await lock.acquire({ timeout: -1 }), false);
        lock.release();
      }
      const rlock = new m.RLock();
      await rlock.acquire();
      const p = new m.Process({
        target: async (l: mp.RLock) => {
          if (await l.acquire({ timeout: -1 })) throw new Error("acquired a held RLock");
        },
        args: [rlock],
      });
      p.start();
      await p.join(30_000);
      assert.equal(p.exitcode, 0);
      rlock.release();
    });

    test("Queue.get({ timeout: -1 }) raises Empty and put({ timeout: -1 }) Full at once", async () => {
      const q = new m.Queue<number>(1);
      await assert.rejects(q.get({ timeout: -1 }), m.Empty);
      await q.put(1, { timeout: -1 });
      await assert.rejects(q.put(2, { timeout: -1 }), m.Full);
      assert.equal(await q.get({ timeout: -1 }), 1);
      q.close();
    });

    test("Event.wait(-1), Condition.wait(-1) and Barrier.wait(-1) return at once", async () => {
      const event = new m.Event();
      assert.equal(await event.wait(-1), false);
      event.set();
      assert.equal(await event.wait(-1), true);
      const condition = new m.Condition();
      await condition.acquire();
      assert.equal(await condition.wait(-1), false);
      condition.release();
      const barrier = new m.Barrier(2);
      await assert.rejects(barrier.wait(-1), m.BrokenBarrierError);
    });

    test("Connection.poll(-1) answers at once", async () => {
      const [a, b] = m.Pipe();
      assert.equal(await b.poll(-1), false);
      await a.send(1);
      assert.equal(await b.poll(-1), true);
      a.close();
      b.close();
    });

    test("Process.join(-1) returns at once while the process runs", slow, async () => {
      const event = new m.Event();
      const p = new m.Process({ target: (e: mp.Event) => e.wait(30_000), args: [event] });
      p.start();
      await settlesWithin(p.join(-1), 5_000);
      assert.equal(p.exitcode, null);
      event.set();
      await p.join(30_000);
      assert.equal(p.exitcode, 0);
    });

    test("AsyncResult.get(-1) raises TimeoutError and wait(-1) returns at once", slow, async () => {
      await using pool = new m.Pool(1);
      const event = new m.Event();
      const result = pool.applyAsync((e: mp.Event) => e.wait(30_000), [event]);
      await assert.rejects(result.get(-1), m.TimeoutError);
      await settlesWithin(result.wait(-1), 5_000);
      assert.equal(result.ready(), false);
      event.set();
      assert.equal(await result.get(30_000), true);
    });

    test("a NaN timeout is still refused with RangeError", async () => {
      await assert.rejects(new m.Lock().acquire({ timeout: NaN }), RangeError);
      await assert.rejects(new m.Event().wait(NaN), RangeError);
      const [a] = m.Pipe();
      await assert.rejects(a.poll(NaN), RangeError);
    });

    test("manager proxies take a negative timeout as 0", slow, async () => {
      await using manager = await m.Manager();
      const q = await manager.Queue();
      await assert.rejects(q.get({ timeout: -1 }), m.Empty);
      const event = await manager.Event();
      assert.equal(await event.wait(-1), false);
    });
  });

  describe(`parity: send() is serialisation plus sendBytes() (${label})`, () => {
    test("bytes of a send() message, sent on with sendBytes(), arrive at recv() as the object", async () => {
      const [a, b] = m.Pipe();
      const [c, d] = m.Pipe();
      const values: unknown[] = [
        42,
        "text",
        null,
        undefined,
        [1, [2, "three"]],
        { x: 1.5, y: [true, false] },
        new Map([["k", new Set([1, 2])]]),
        new Uint8Array([1, 2, 3]),
        "x".repeat(3 << 20), // larger than the pipe's buffer: travels in pieces
      ];
      for (const value of values) {
        const sent = a.send(value);
        const bytes = await b.recvBytes();
        await sent;
        assert.ok(bytes instanceof Uint8Array);
        const sentOn = c.sendBytes(bytes);
        assert.deepEqual(await d.recv(), value);
        await sentOn;
      }
      for (const end of [a, b, c, d]) end.close();
    });

    test("recvBytesInto() gives the same bytes, and raw bytes still arrive as bytes", async () => {
      const [a, b] = m.Pipe();
      await a.send({ hello: "world" });
      const into = new Uint8Array(256);
      const n = await b.recvBytesInto(into);
      await b.sendBytes(into, 0, n);
      assert.deepEqual(await a.recv(), { hello: "world" });
      // Bytes that were not an object's encoding are bytes at recv(), as before.
      for (const raw of [new Uint8Array([0]), new Uint8Array([1, 2, 3]), new Uint8Array(0)]) {
        await a.sendBytes(raw);
        assert.deepEqual(await b.recv(), raw);
      }
      a.close();
      b.close();
    });

    test(
      "a send() message relayed through sendBytes() reaches a worker as the object",
      slow,
      async () => {
        const [a, b] = m.Pipe();
        const [c, d] = m.Pipe();
        const p = new m.Process({
          target: async (conn: mp.Connection) => {
            const value = await conn.recv() as { n: number; list: number[] };
            await conn.send(value.n + value.list.reduce((s, x) => s + x, 0));
          },
          args: [d],
        });
        p.start();
        await a.send({ n: 1, list: [2, 3] });
        await c.sendBytes(await b.recvBytes());
        assert.equal(await c.recv(), 6);
        await p.join(30_000);
        for (const end of [a, b, c, d]) end.close();
      },
    );
  });

  describe(`parity: a closed queue refuses empty(), full() and qsize() (${label})`, () => {
    test("Queue and JoinableQueue", async () => {
      for (const q of [new m.Queue<number>(), new m.JoinableQueue<number>()]) {
        await q.put(1);
        q.close();
        assert.throws(() => q.empty(), {
          message: /Cannot ask whether the queue is empty as it is closed/,
        });
        assert.throws(() => q.full(), {
          message: /Cannot ask whether the queue is full as it is closed/,
        });
        assert.throws(() => q.qsize(), {
          message: /Cannot count the items in the queue as it is closed/,
        });
      }
    });

    test("SimpleQueue", () => {
      const q = new m.SimpleQueue<number>();
      q.close();
      assert.throws(() => q.empty(), {
        message: /Cannot ask whether the queue is empty as it is closed/,
      });
    });
  });

  describe(`parity: closing one's own copy of a connection (${label})`, () => {
    test(
      "the parent closes its copy of the child's end after start(); the child still sends, and the parent then sees EOFError",
      slow,
      async () => {
        const [parentEnd, childEnd] = m.Pipe();
        const p = new m.Process({
          target: async (conn: mp.Connection<number>) => {
            for (let i = 0; i < 3; i++) await conn.send(i);
            conn.close();
          },
          args: [childEnd],
        });
        p.start();
        childEnd.close(); // the idiom: close your copy of the end you handed over
        const got: number[] = [];
        for (;;) {
          try {
            got.push(await parentEnd.recv() as number);
          } catch (error) {
            assert.ok(error instanceof m.EOFError, `expected EOFError: ${error}`);
            break;
          }
        }
        assert.deepEqual(got, [0, 1, 2]);
        await p.join(30_000);
        assert.equal(p.exitcode, 0);
        parentEnd.close();
      },
    );

    test(
      "a child's copy closes when it ends, even when its target did not close it",
      slow,
      async () => {
        const [parentEnd, childEnd] = m.Pipe();
        const p = new m.Process({
          target: async (conn: mp.Connection<string>) => {
            await conn.send("bye");
          },
          args: [childEnd],
        });
        p.start();
        childEnd.close();
        assert.equal(await parentEnd.recv(), "bye");
        await p.join(30_000);
        await assert.rejects(parentEnd.recv(), m.EOFError);
        parentEnd.close();
      },
    );
  });
}
