import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fromModule, Pool, Process } from "../mod.ts";
import * as dummy from "../dummy.ts";
import { Empty, EOFError, Full } from "../lib/errors.ts";
import { allSent } from "../lib/_ring.ts";
import { type Connection, Pipe } from "../lib/connection.ts";
import { JoinableQueue, Queue, SimpleQueue } from "../lib/queues.ts";
import { decodeShared, encodeShared } from "../lib/reduction.ts";
import type * as Tasks from "./fixtures/queue_tasks.ts";
import type * as Channels from "./fixtures/channel_tasks.ts";
import {
  Consumer,
  Doubler,
  Producer,
  Sender,
  Summer,
  type Tagged,
  Watcher,
} from "./fixtures/queue_tasks.ts";

const tasks = new URL("./fixtures/queue_tasks.ts", import.meta.url).href;
const channels = new URL("./fixtures/channel_tasks.ts", import.meta.url).href;
const slow = { timeout: 60_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

/**
 * Checks what the consumers got: every item of every producer exactly once, and each
 * producer's items in order in each consumer's list.
 */
function assertEachOnceInOrder(all: Tagged[][], tags: string[], count: number): void {
  for (const got of all) {
    for (const tag of tags) {
      const seq = got.filter((t) => t.p === tag).map((t) => t.i);
      assert.deepEqual(seq, [...seq].sort((a, b) => a - b), `${tag} out of order`);
    }
  }
  const everything = all.flat().map((t) => `${t.p}:${t.i}`).sort();
  const expected = tags.flatMap((p) => Array.from({ length: count }, (_, i) => `${p}:${i}`))
    .sort();
  assert.deepEqual(everything, expected);
}

describe("Queue (one thread)", () => {
  test("Queue.get() returns items in the order put, as structured clone copies them", async () => {
    const cyclic: Record<string, unknown> = { name: "cycle" };
    cyclic.self = cyclic;
    const twice = { shared: true };
    const items: unknown[] = [
      0,
      -0,
      1,
      -123456789,
      2 ** 40,
      1.5,
      NaN,
      -Infinity,
      "",
      "ascii",
      "é ✓ 日本 😀",
      "\ud800 lone surrogate",
      "x".repeat(1000),
      null,
      undefined,
      true,
      false,
      [],
      [1, "two", [3, [4]], { five: 5 }],
      // deno-lint-ignore no-sparse-arrays
      [1, , 3],
      { a: 1, b: { c: [null, undefined] }, "0": "zero", ["__proto__"]: "own" },
      new Map<unknown, unknown>([[1, "one"], ["k", { v: 2 }]]),
      new Set([1, "a"]),
      new Date(86_400_000),
      /re+gex/gi,
      123n,
      new Uint8Array([1, 2, 3]),
      new Float64Array([0.5, -1]),
      new RangeError("kept"),
      [twice, twice],
      cyclic,
    ];
    const q = new Queue<unknown>();
    for (const item of items) await q.put(item);
    assert.equal(q.qsize(), items.length);
    for (const item of items) assert.deepEqual(await q.get(), structuredClone(item));
    assert.equal(q.empty(), true);
  });

  test("Queue.get() keeps identities within an item: repeated objects and cycles", async () => {
    const shared = { n: 1 };
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    const q = new Queue<unknown>();
    await q.put([shared, shared]);
    await q.put(cyclic);
    const [a, b] = await q.get() as object[];
    assert.equal(a, b);
    const c = await q.get() as { self: unknown };
    assert.equal(c.self, c);
  });

  test("Queue.qsize(), empty() and full() follow puts and gets", async () => {
    const q = new Queue<number>(2);
    assert.equal(q.qsize(), 0);
    assert.equal(q.empty(), true);
    assert.equal(q.full(), false);
    await q.put(1);
    assert.equal(q.qsize(), 1);
    assert.equal(q.empty(), false);
    assert.equal(q.full(), false);
    await q.put(2);
    assert.equal(q.qsize(), 2);
    assert.equal(q.full(), true);
    await q.get();
    assert.equal(q.full(), false);
    await q.get();
    assert.equal(q.empty(), true);
    assert.equal(new Queue().full(), false);
  });

  test("Queue.put() waits while the queue is full, until a get() makes room", async () => {
    const q = new Queue<number>(1);
    await q.put(1);
    let done = false;
    const put = q.put(2).then(() => (done = true));
    await sleep(30);
    assert.equal(done, false);
    assert.equal(q.qsize(), 1);
    assert.equal(await q.get(), 1);
    await put;
    assert.equal(await q.get(), 2);
  });

  test("Queue.get() waits while the queue is empty, until a put()", async () => {
    const q = new Queue<string>();
    let got: string | undefined;
    const get = q.get().then((item) => (got = item));
    await sleep(30);
    assert.equal(got, undefined);
    await q.put("late");
    await get;
    assert.equal(got, "late");
  });

  test("Queue.put() and get() with a timeout fail with Full and Empty", async () => {
    const q = new Queue<number>(1);
    await q.put(1);
    const started = Date.now();
    await assert.rejects(q.put(2, { timeout: 50 }), (error: Error) => {
      assert.ok(error instanceof Full);
      assert.match(error.message, /waited 50 ms/);
      return true;
    });
    assert.ok(Date.now() - started < 10_000);
    await q.get();
    await assert.rejects(q.get({ timeout: 50 }), (error: Error) => {
      assert.ok(error instanceof Empty);
      assert.match(error.message, /stayed empty for 50 ms/);
      return true;
    });
    // The failed put did not go in.
    assert.equal(q.qsize(), 0);
    // A timeout that is not reached does no harm.
    const later = q.get({ timeout: 30_000 });
    await q.put(3);
    assert.equal(await later, 3);
  });

  test("Queue.put() and get() with block: false fail at once with Full and Empty", async () => {
    const q = new Queue<number>(1);
    await assert.rejects(q.get({ block: false }), Empty);
    await q.put(1, { block: false });
    await assert.rejects(q.put(2, { block: false, timeout: 1000 }), Full);
    assert.equal(await q.get({ block: false }), 1);
  });

  test("Queue.putNowait() and getNowait() throw Full and Empty", () => {
    const q = new Queue<string>(2);
    assert.throws(() => q.getNowait(), Empty);
    q.putNowait("a");
    q.putNowait("b");
    assert.throws(() => q.putNowait("c"), (error: Error) => {
      assert.ok(error instanceof Full);
      assert.match(error.message, /maxsize of 2/);
      return true;
    });
    assert.equal(q.getNowait(), "a");
    assert.equal(q.getNowait(), "b");
    assert.throws(() => q.getNowait(), /queue is empty/);
  });

  test("Queue.put() not awaited keeps its order while the queue is full", async () => {
    const q = new Queue<number>(2);
    const puts = Array.from({ length: 20 }, (_, i) => q.put(i));
    const got: number[] = [];
    for (let i = 0; i < 20; i++) got.push(await q.get());
    await Promise.all(puts);
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i));
  });

  test("Queue.put() of an item larger than the buffer sends it in pieces", slow, async () => {
    const q = new Queue<unknown>(0, { bytes: 1024 });
    const big = Uint8Array.from({ length: 100_000 }, (_, i) => i % 251);
    const text = "ab".repeat(50_000);
    const puts = [q.put("before"), q.put(big), q.put(text), q.put("after")];
    assert.equal(await q.get(), "before");
    assert.throws(() => q.getNowait(), Empty); // pieces: only get() receives it
    assert.deepEqual(await q.get(), big);
    assert.equal(await q.get(), text);
    assert.equal(await q.get(), "after");
    await Promise.all(puts);
    assert.equal(q.qsize(), 0);
  });

  test("Queue carries many items through a small buffer, wrapping around", async () => {
    const q = new Queue<string>(0, { bytes: 1024 });
    for (let i = 0; i < 2000; i++) {
      const item = `${i}:${"x".repeat(i % 97)}`;
      await q.put(item);
      assert.equal(await q.get(), item);
    }
  });

  test("Queue.put() waits for room in a full buffer without a maxsize", async () => {
    const q = new Queue<string>(0, { bytes: 1024 });
    const item = "y".repeat(300);
    await q.put(item);
    await q.put(item);
    await q.put(item);
    assert.throws(() => q.putNowait(item), /buffer of 1024 bytes/);
    const fourth = q.put(item);
    for (let i = 0; i < 4; i++) assert.equal(await q.get(), item);
    await fourth;
  });

  test("Queue.close() makes put() and get() fail in this process", async () => {
    const q = new Queue<number>();
    await q.put(1);
    const other = decodeShared(encodeShared(q)) as Queue<number>; // another thread's copy
    q.close();
    q.close(); // twice is fine
    await assert.rejects(q.put(2), /Cannot put an item into the queue as it is closed/);
    await assert.rejects(q.get(), /Cannot get an item from the queue as it is closed/);
    assert.throws(() => q.putNowait(2), /closed/);
    assert.throws(() => q.getNowait(), /closed/);
    assert.equal(await other.get(), 1);
  });

  test("Queue.close() fails the get() calls waiting on it", async () => {
    const q = new Queue<number>();
    const waiting = [q.get(), q.get({ timeout: 60_000 })];
    q.close();
    for (const get of waiting) await assert.rejects(get, /closed/);
  });

  test("allSent() waits until the puts that were not awaited are in their queues", async () => {
    await allSent(); // nothing pending
    const q = new Queue<number>(1);
    for (let i = 0; i < 5; i++) void q.put(i);
    let sent = false;
    const done = allSent().then(() => (sent = true));
    const got: number[] = [];
    for (let i = 0; i < 4; i++) {
      assert.equal(sent, false);
      got.push(await q.get());
    }
    await done;
    got.push(await q.get());
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
  });

  test("Queue.get({ block: false }) behind a waiting get() fails at once", async () => {
    const q = new Queue<number>();
    const waiting = q.get();
    await assert.rejects(q.get({ block: false }), Empty);
    await q.put(1);
    assert.equal(await waiting, 1);
  });

  test("Queue.joinThread() waits for puts still waiting for room", async () => {
    const q = new Queue<number>(1);
    await assert.rejects(q.joinThread(), /not closed/);
    void q.put(1);
    const second = q.put(2);
    q.close();
    let joined = false;
    const join = q.joinThread().then(() => (joined = true));
    await sleep(20);
    assert.equal(joined, false);
    const other = decodeShared(encodeShared(q)) as Queue<number>;
    assert.equal(await other.get(), 1);
    await join;
    await second;
    assert.equal(await other.get(), 2);
  });

  test("Queue validates its arguments up front", async () => {
    assert.throws(
      () => new Queue(-1),
      new RangeError(
        "Cannot create queue as 'maxsize' must be a non-negative integer: received -1",
      ),
    );
    assert.throws(() => new Queue(1.5), RangeError);
    assert.throws(() => new Queue("3" as unknown as number), TypeError);
    assert.throws(() => new Queue(0, { bytes: 10 }), /'bytes' must be between/);
    assert.throws(() => new Queue(0, { bytes: "big" as unknown as number }), TypeError);
    const q = new Queue<number>();
    await assert.rejects(q.put(1, { timeout: NaN }), RangeError);
    await assert.rejects(q.get({ block: "no" as unknown as boolean }), TypeError);
    await assert.rejects(q.get("soon" as never), TypeError);
  });

  test("Queue.put() rejects an item that cannot be cloned, and goes on working", async () => {
    const q = new Queue<unknown>();
    await assert.rejects(q.put({ f: () => 1 }), (error: Error) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /Cannot put the item into the queue as it cannot be cloned/);
      return true;
    });
    assert.throws(() => q.putNowait(Symbol("s")), TypeError);
    await q.put("fine");
    assert.equal(await q.get(), "fine");
  });

  test("Queue.put() refuses shared memory and points to Process arguments", async () => {
    const q = new Queue<unknown>();
    await assert.rejects(q.put([new Queue()]), /a lock, queue.*Process or Pool/);
    await assert.rejects(q.put(new Int32Array(new SharedArrayBuffer(8))), /SharedArrayBuffer/);
  });

  test("Queue travels as its shared memory: a revived copy shares the items", async () => {
    const q = new Queue<string>(3);
    const copy = decodeShared(encodeShared(q)) as Queue<string>;
    assert.ok(copy instanceof Queue);
    assert.notEqual(copy, q);
    await copy.put("from copy");
    assert.equal(await q.get(), "from copy");
    assert.equal(copy.qsize(), 0);
    await q.put("a");
    await q.put("b");
    await q.put("c");
    assert.equal(copy.full(), true);
  });
});

describe("JoinableQueue (one thread)", () => {
  test("JoinableQueue.join() resolves once every item put is marked done", async () => {
    const q = new JoinableQueue<number>();
    await q.join(); // nothing put
    await q.put(1);
    await q.put(2);
    let joined = false;
    const join = q.join().then(() => (joined = true));
    await q.get();
    q.taskDone();
    await sleep(30);
    assert.equal(joined, false);
    await q.get();
    q.taskDone();
    await join;
    assert.equal(joined, true);
  });

  test("JoinableQueue.taskDone() called too often throws", async () => {
    const q = new JoinableQueue<number>();
    assert.throws(() => q.taskDone(), /Cannot call taskDone\(\) more times than items/);
    await q.put(1);
    await q.get();
    q.taskDone();
    assert.throws(() => q.taskDone(), Error);
  });

  test("JoinableQueue counts a put that failed as not put", async () => {
    const q = new JoinableQueue<number>(1);
    await q.put(1);
    await assert.rejects(q.put(2, { timeout: 10 }), Full);
    assert.throws(() => q.putNowait(3), Full);
    await q.get();
    q.taskDone();
    await q.join();
  });

  test("JoinableQueue is a Queue and travels as a JoinableQueue", async () => {
    const q = new JoinableQueue<string>(0, { bytes: 4096 });
    assert.ok(q instanceof Queue);
    const copy = decodeShared(encodeShared(q)) as JoinableQueue<string>;
    assert.ok(copy instanceof JoinableQueue);
    await copy.put("x");
    assert.equal(await q.get(), "x");
    q.taskDone();
    await copy.join();
  });
});

describe("SimpleQueue (one thread)", () => {
  test("SimpleQueue.put(), get(), empty() and close()", async () => {
    const q = new SimpleQueue<number[]>();
    assert.equal(q.empty(), true);
    await q.put([1]);
    void q.put([2]);
    assert.equal(q.empty(), false);
    assert.deepEqual(await q.get(), [1]);
    assert.deepEqual(await q.get(), [2]);
    const waiting = q.get();
    q.close();
    await assert.rejects(waiting, /closed/);
    await assert.rejects(q.put([3]), /closed/);
    await assert.rejects(q.get(), /closed/);
  });

  test("SimpleQueue travels as a SimpleQueue", async () => {
    const q = new SimpleQueue<string>();
    const copy = decodeShared(encodeShared(q)) as SimpleQueue<string>;
    assert.ok(copy instanceof SimpleQueue);
    await copy.put("y");
    assert.equal(await q.get(), "y");
  });
});

/** Some way for a test to put and get Tagged items: a Queue or a SimpleQueue. */
interface TaggedQueue {
  put(item: Tagged | null): Promise<void>;
  get(): Promise<Tagged | null>;
}

/**
 * Starts the worker producers and consumers, produces `count` items and consumes beside them
 * on the main thread, ends every consumer with a sentinel, and checks that each item arrived
 * once, in its producer's order, and that every process ended with 0.
 */
async function runWithMain(
  q: TaggedQueue,
  results: { get(): Promise<Tagged[]> },
  producers: Process[],
  consumers: Process[],
  count: number,
): Promise<void> {
  for (const p of [...producers, ...consumers]) p.start();
  const mine: Tagged[] = [];
  const consuming = (async () => {
    for (;;) {
      const item = await q.get();
      if (item === null) return;
      mine.push(item);
    }
  })();
  for (let i = 0; i < count; i++) await q.put({ p: "main", i });
  for (const p of producers) await p.join();
  for (let i = 0; i < 3; i++) await q.put(null);
  await consuming;
  const all = [mine, await results.get(), await results.get()];
  for (const c of consumers) await c.join();
  assertEachOnceInOrder(all, ["main", "w1", "w2"], count);
  for (const p of [...producers, ...consumers]) assert.equal(p.exitcode, 0);
}

describe("Queue (across workers)", () => {
  test(
    "Queue serves many producers and consumers, keeping each producer's order",
    slow,
    async () => {
      const q = new Queue<Tagged | null>(50);
      const results = new Queue<Tagged[]>();
      const count = 300;
      // Two worker producers and the main thread; two worker consumers and the main thread.
      const producers = [new Producer(q, "w1", count), new Producer(q, "w2", count)];
      const consumers = [new Consumer(q, results), new Consumer(q, results)];
      await runWithMain(q, results, producers, consumers, count);
    },
  );

  test(
    "SimpleQueue serves many producers and consumers, keeping each producer's order",
    slow,
    async () => {
      // A small buffer: producers wait for room, in workers and here.
      const q = new SimpleQueue<Tagged | null>({ bytes: 1024 });
      const results = new SimpleQueue<Tagged[]>();
      const count = 300;
      const produce = async (queue: SimpleQueue<Tagged | null>, tag: string, n: number) => {
        for (let i = 0; i < n; i++) await queue.put({ p: tag, i });
      };
      const consume = async (queue: SimpleQueue<Tagged | null>, out: SimpleQueue<Tagged[]>) => {
        const got: Tagged[] = [];
        for (;;) {
          const item = await queue.get();
          if (item === null) break;
          got.push(item);
        }
        await out.put(got);
      };
      // Two worker producers and the main thread; two worker consumers and the main thread.
      const producers = ["w1", "w2"].map((tag) =>
        new Process({ target: produce, args: [q, tag, count] })
      );
      const consumers = [0, 1].map(() => new Process({ target: consume, args: [q, results] }));
      await runWithMain(q, results, producers, consumers, count);
    },
  );

  test(
    "A Process target finds a Queue and a Connection nested in objects and arrays of its args",
    slow,
    async () => {
      const q = new Queue<string>();
      const [mine, theirs] = Pipe<string>();
      const p = new Process({
        target: async ({ q: [queue], conn }: { q: Queue<string>[]; conn: Connection<string> }) => {
          await queue.put(`put into a ${queue.constructor.name}`);
          await conn.send(`sent on a ${conn.constructor.name}`);
          conn.close();
        },
        args: [{ q: [q], conn: theirs }],
      });
      p.start();
      theirs.close(); // the process's copy is the only one left open
      await p.join();
      assert.equal(p.exitcode, 0);
      assert.equal(q.getNowait(), "put into a Queue");
      assert.equal(await mine.recv(), "sent on a Connection");
      await assert.rejects(mine.recv(), EOFError);
    },
  );

  test(
    "Queue carries items from worker to worker while the main thread is busy",
    slow,
    async () => {
      const control = new SimpleQueue<string>();
      const q = new Queue<number>(100);
      const cells = new Int32Array(new SharedArrayBuffer(8));
      const count = 20_000;
      const sender = new Sender(control, q, count);
      const summer = new Summer(q, count, cells);
      sender.start();
      summer.start();
      control.put("go");
      // A synchronous loop: nothing can pass through this thread until it ends.
      const deadline = Date.now() + 45_000;
      while (Atomics.load(cells, 0) === 0 && Date.now() < deadline);
      assert.equal(Atomics.load(cells, 0), 1, "the items did not all arrive, in order");
      assert.equal(Atomics.load(cells, 1), (count * (count - 1)) / 2);
      await sender.join();
      await summer.join();
      assert.equal(q.qsize(), 0);
    },
  );

  test(
    "SimpleQueue carries items from worker to worker while the main thread is busy",
    slow,
    async () => {
      // A small buffer: the producer keeps waiting for the consumer to make room.
      const q = new SimpleQueue<number>({ bytes: 1024 });
      const cells = new Int32Array(new SharedArrayBuffer(8));
      const count = 10_000;
      const producer = new Process({
        target: async (queue: SimpleQueue<number>, n: number) => {
          for (let i = 0; i < n; i++) await queue.put(i);
        },
        args: [q, count],
      });
      const consumer = new Process({
        target: async (queue: SimpleQueue<number>, n: number, cells: Int32Array) => {
          let sum = 0;
          let ordered = true;
          for (let i = 0; i < n; i++) {
            const item = await queue.get();
            if (item !== i) ordered = false;
            sum += item;
          }
          Atomics.store(cells, 1, sum);
          Atomics.store(cells, 0, ordered ? 1 : 2);
          Atomics.notify(cells, 0);
        },
        args: [q, count, cells],
      });
      producer.start();
      consumer.start();
      blockWhileZero(cells, 0, 45_000);
      assert.equal(Atomics.load(cells, 0), 1, "the items did not all arrive, in order");
      assert.equal(Atomics.load(cells, 1), (count * (count - 1)) / 2);
      await producer.join();
      await consumer.join();
      assert.equal(q.empty(), true);
    },
  );

  test(
    "JoinableQueue carries items and taskDone() from worker to worker while the main thread is busy",
    slow,
    async () => {
      const q = new JoinableQueue<number>(50);
      // [0]: 1 once the producer's join() returned with every item done (2 if not all were);
      // [1]: items done; [2]: 1 if an item came out of order.
      const cells = new Int32Array(new SharedArrayBuffer(12));
      const count = 5000;
      const producer = new Process({
        target: async (queue: JoinableQueue<number>, n: number, cells: Int32Array) => {
          for (let i = 0; i < n; i++) await queue.put(i);
          await queue.join();
          Atomics.store(cells, 0, Atomics.load(cells, 1) === n ? 1 : 2);
          Atomics.notify(cells, 0);
        },
        args: [q, count, cells],
      });
      const consumer = new Process({
        target: async (queue: JoinableQueue<number>, n: number, cells: Int32Array) => {
          for (let i = 0; i < n; i++) {
            const item = await queue.get();
            if (item !== i) Atomics.store(cells, 2, 1);
            Atomics.add(cells, 1, 1);
            queue.taskDone();
          }
        },
        args: [q, count, cells],
      });
      producer.start();
      consumer.start();
      blockWhileZero(cells, 0, 45_000);
      assert.equal(Atomics.load(cells, 0), 1, "join() in the producer did not return after all");
      assert.equal(Atomics.load(cells, 1), count);
      assert.equal(Atomics.load(cells, 2), 0, "the items came out of order");
      await producer.join();
      await consumer.join();
      assert.deepEqual([producer.exitcode, consumer.exitcode], [0, 0]);
      await q.join();
    },
  );

  test(
    "Queue and Pipe made in a Process work in its nested Process and report to the main thread",
    slow,
    async () => {
      const out = new Queue<unknown>();
      const p = new Process({
        target: fromModule<typeof Channels.relay>(channels, "relay"),
        args: [out],
      });
      p.start();
      await p.join();
      assert.equal(p.exitcode, 0);
      assert.equal(out.getNowait(), "hello from the nested process");
      const report: Channels.RelayReport = {
        reply: "pong",
        fromQueue: `${p.name}:1`,
        eof: true,
        exitcode: 0,
      };
      assert.deepEqual(out.getNowait(), report);
    },
  );

  test(
    "Queue made in a pool task comes back as a Queue shared with the main thread and other tasks",
    slow,
    async () => {
      await using pool = new Pool(2);
      const q = await pool.apply(fromModule<typeof Channels.makeQueue>(channels, "makeQueue"), [
        3,
      ]);
      assert.ok(q instanceof Queue);
      await q.put(1);
      await q.put(2);
      const drain = fromModule<typeof Tasks.drain>(tasks, "drain");
      assert.deepEqual(await pool.apply(drain, [q as Queue<unknown>, 2]), [1, 2]);
      await pool.apply(fromModule<typeof Tasks.fill>(tasks, "fill"), [q, 10, 3]);
      assert.equal(q.full(), true, "the maxsize given in the worker holds here");
      assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [10, 11, 12]);
    },
  );

  test("Queue with maxsize holds no more than maxsize items across workers", slow, async () => {
    const q = new Queue<number>(5);
    const cells = new Int32Array(new SharedArrayBuffer(4));
    const watcher = new Watcher(q, 200, cells);
    watcher.start();
    for (let i = 0; i < 200; i++) await q.put(i);
    await watcher.join();
    assert.equal(watcher.exitcode, 0);
    assert.ok(Atomics.load(cells, 0) <= 5, `saw qsize ${Atomics.load(cells, 0)}`);
  });

  test("JoinableQueue.join() waits for daemon consumers in workers", slow, async () => {
    const q = new JoinableQueue<number>();
    const results = new Queue<number>();
    const consumers = [new Doubler(q, results), new Doubler(q, results)];
    for (const c of consumers) c.start();
    for (let i = 1; i <= 50; i++) await q.put(i);
    await q.join();
    assert.equal(results.qsize(), 50);
    const doubled: number[] = [];
    for (let i = 0; i < 50; i++) doubled.push(results.getNowait());
    assert.deepEqual(
      doubled.sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => 2 * i + 2),
    );
    for (const c of consumers) c.terminate();
  });

  test("Queue works in pool tasks: workers get tasks and put results", slow, async () => {
    await using pool = new Pool(2);
    const todo = new Queue<number | null>();
    const done = new Queue<[number, number]>();
    for (let i = 0; i < 100; i++) await todo.put(i);
    await todo.put(null);
    await todo.put(null);
    const squarer = fromModule<typeof Tasks.squarer>(tasks, "squarer");
    const counts = await Promise.all([
      pool.apply(squarer, [todo, done]),
      pool.apply(squarer, [todo, done]),
    ]);
    assert.equal(counts[0] + counts[1], 100);
    const got: [number, number][] = [];
    for (let i = 0; i < 100; i++) got.push(await done.get());
    got.sort((a, b) => a[0] - b[0]);
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => [i, i * i]));
  });

  test("Queue, JoinableQueue and SimpleQueue arrive in a worker as themselves", slow, async () => {
    await using pool = new Pool(1);
    const q = new Queue<string>();
    const j = new JoinableQueue<string>();
    const s = new SimpleQueue<string>();
    const names = await pool.apply(fromModule<typeof Tasks.kinds>(tasks, "kinds"), [q, j, s]);
    assert.deepEqual(names, ["Queue", "JoinableQueue", "SimpleQueue"]);
    assert.equal(await q.get(), "from worker");
    assert.equal(await j.get(), "from worker");
    assert.equal(await s.get(), "from worker");
    j.taskDone();
    await j.join();
  });
});

describe("Queue (dummy.ts)", () => {
  test("Queue(maxsize) between two dummy.Process: put() waits while full, items in order", async () => {
    const q = new dummy.Queue<number | null>(2);
    let puts = 0;
    let largest = 0;
    const producer = new dummy.Process({
      target: async () => {
        for (let i = 0; i < 10; i++) {
          await q.put(i);
          puts++;
        }
        await q.put(null);
      },
    });
    const got: number[] = [];
    const consumer = new dummy.Process({
      target: async () => {
        for (;;) {
          largest = Math.max(largest, q.qsize());
          const item = await q.get();
          if (item === null) return;
          got.push(item);
        }
      },
    });
    producer.start();
    await sleep(30);
    // No consumer yet: the producer waits in its third put().
    assert.equal(puts, 2);
    assert.equal(q.full(), true);
    assert.equal(producer.isAlive(), true);
    consumer.start();
    await producer.join();
    await consumer.join();
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.ok(largest <= 2, `saw qsize ${largest}`);
    assert.deepEqual([producer.exitcode, consumer.exitcode], [0, 0]);
  });

  test("JoinableQueue.join() waits for consumers in a dummy.Process and a dummy.Pool task", async () => {
    const q = new dummy.JoinableQueue<number | null>();
    const done: number[] = [];
    const consume = async () => {
      let n = 0;
      for (;;) {
        const item = await q.get();
        if (item === null) {
          q.taskDone();
          return n;
        }
        await sleep(1);
        done.push(item);
        n++;
        q.taskDone();
      }
    };
    const p = new dummy.Process({ target: consume });
    p.start();
    await using pool = new dummy.Pool(1);
    const task = pool.apply(consume, []);
    for (let i = 1; i <= 20; i++) await q.put(i);
    await q.join();
    assert.deepEqual(
      [...done].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await q.put(null);
    await q.put(null);
    await p.join();
    assert.equal(p.exitcode, 0);
    assert.ok(await task > 0, "the pool task consumed nothing");
    await q.join();
  });
});
