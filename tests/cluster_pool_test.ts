// The cluster Pool's API against a real redis-server and a worker program of the runtime
// that runs the test (issue 13): the Pool API of mod.ts, task functions, values, errors.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { fromModule, Pool } from "../cluster.ts";
import {
  haveRedis,
  type RedisServer,
  startRedis,
  startWorker,
  type WorkerProcess,
} from "./_redis.ts";
import { Counter, Point, Unmarked } from "./fixtures/parity_cls_classes.ts";

const TASKS = new URL("./fixtures/cluster_tasks.ts", import.meta.url).href;
const CLASSES = new URL("./fixtures/parity_cls_classes.ts", import.meta.url).href;
const square = fromModule<(x: number) => number>(TASKS, "square");
const T = { timeout: 60_000 };

describe("cluster Pool", { skip: !haveRedis() && "redis-server is not installed" }, () => {
  let redis: RedisServer;
  let worker: WorkerProcess;

  before(async () => {
    redis = await startRedis();
    worker = await startWorker(redis.url);
  }, T);

  after(async () => {
    await worker?.stop();
    await redis?.stop();
  }, T);

  test("Pool.map() returns every result once, in input order", T, async () => {
    await using pool = new Pool({ broker: redis.url, processes: 3 });
    const items = Array.from({ length: 5000 }, (_, i) => i);
    assert.deepEqual(await pool.map((x: number) => x * 2, items), items.map((x) => x * 2));
    assert.deepEqual(await pool.map(square, [1, 2, 3], 1), [1, 4, 9]);
  });

  test(
    "Pool.apply(), applyAsync() with callbacks, starmap() and mapAsync() run on the workers",
    T,
    async () => {
      await using pool = new Pool({ broker: redis.url });
      assert.equal(await pool.apply((a: number, b: number) => a + b, [2, 3]), 5);
      const seen: unknown[] = [];
      const result = pool.applyAsync((x: number) => x + 1, [41], { callback: (v) => seen.push(v) });
      assert.equal(await result.get(), 42);
      assert.ok(result.ready() && result.successful());
      assert.deepEqual(seen, [42]);
      const errors: unknown[] = [];
      const failing = pool.applyAsync(
        () => {
          throw new RangeError("out of range");
        },
        [],
        { errorCallback: (e) => errors.push(e) },
      );
      await assert.rejects(failing.get(), { name: "RangeError", message: "out of range" });
      assert.equal((errors[0] as Error).message, "out of range");
      assert.deepEqual(await pool.starmap((a: number, b: number) => a * b, [[2, 3], [4, 5]]), [
        6,
        20,
      ]);
      assert.deepEqual(await pool.mapAsync(square, [4, 5]).get(), [16, 25]);
    },
  );

  test("Pool.imap() yields in order and imapUnordered() yields every result", T, async () => {
    await using pool = new Pool({ broker: redis.url, processes: 2 });
    function* numbers() {
      for (let i = 0; i < 300; i++) yield i;
    }
    const ordered: number[] = [];
    for await (const v of pool.imap((x: number) => x * x, numbers(), 7)) ordered.push(v);
    assert.deepEqual(ordered, [...numbers()].map((x) => x * x));
    const unordered: number[] = [];
    for await (const v of pool.imapUnordered((x: number) => x + 1, numbers(), 10)) {
      unordered.push(v);
    }
    assert.deepEqual(unordered.sort((a, b) => a - b), [...numbers()].map((x) => x + 1));
  });

  test(
    "Pool.imap() over an endless generator keeps the broker's stream and the input it reads bounded",
    T,
    async () => {
      const processes = 2;
      await using pool = new Pool({ broker: redis.url, processes });
      let pulled = 0;
      function* endless() {
        for (let i = 0;; i++) {
          pulled++;
          yield i;
        }
      }
      const { createClient } = await import("@redis/client");
      const client = await createClient({ url: redis.url }).connect();
      let most = 0;
      let consumed = 0;
      try {
        for await (const x of pool.imap((x: number) => x + 1, endless(), 50)) {
          assert.equal(x, consumed + 1);
          if (++consumed % 500 === 0) {
            for (const key of await client.keys("mp:*:tasks")) {
              most = Math.max(most, await client.xLen(key));
            }
          }
          if (consumed === 20_000) break;
        }
      } finally {
        client.destroy();
      }
      // At most two chunks per slot on the broker, and a window of items in the caller.
      assert.ok(most <= 2 * processes, `${most} chunks on the stream at once`);
      assert.ok(
        pulled - consumed <= processes * 4096 + 50,
        `${pulled - consumed} items read ahead`,
      );
    },
  );

  test("values travel as MessagePack: Maps, bigints, dates, typed arrays, errors", T, async () => {
    await using pool = new Pool({ broker: redis.url });
    const value = {
      map: new Map([["a", 1n]]),
      date: new Date(0),
      bytes: new Float64Array([1.5, 2.5]),
      set: new Set([1, 2]),
    };
    assert.deepEqual(await pool.apply((v: unknown) => v, [value]), value);
    await assert.rejects(
      pool.apply((v: unknown) => v, [new (class Point {})()]),
      (e: Error) =>
        e instanceof TypeError && /cluster's broker/.test(e.message) && /Point/.test(e.message),
    );
    await assert.rejects(
      pool.apply(() => () => 1, []),
      (e: Error) => e instanceof TypeError && /cannot be cloned|the task's result/.test(e.message),
    );
  });

  test("instances of classes registered with registerClass() travel both ways", T, async () => {
    await using pool = new Pool({ broker: redis.url });
    const double = fromModule<(p: Point) => Point>(CLASSES, "double");
    const doubled = await pool.apply(double, [new Point(1, 2)]);
    assert.ok(doubled instanceof Point);
    assert.deepEqual([doubled.x, doubled.y], [2, 4]);
    const counters = await pool.map((c: Counter) => c.increment(), [
      new Counter(1),
      new Counter(5),
    ]);
    assert.ok(counters.every((c) => c instanceof Counter));
    assert.deepEqual(counters.map((c) => c.count), [2, 6]);
    await assert.rejects(
      pool.apply((u: unknown) => u, [new Unmarked(1)]),
      (e: Error) => e instanceof TypeError && /registerClass/.test(e.message),
    );
  });

  test(
    "a fromModule() reference the worker cannot load fails the task with the worker's error",
    T,
    async () => {
      await using pool = new Pool({ broker: redis.url });
      const missing = fromModule<() => void>(
        new URL("./fixtures/no_such_module.ts", import.meta.url).href,
        "f",
      );
      await assert.rejects(pool.apply(missing, []), /no_such_module/);
      const noExport = fromModule<() => void>(TASKS, "nope");
      await assert.rejects(pool.apply(noExport, []), /Cannot find the function 'nope'/);
    },
  );

  test(
    "close() and join() end the pool once its work is done, and leave no key on the broker",
    T,
    async () => {
      const pool = new Pool({ broker: redis.url });
      const result = pool.mapAsync((x: number) => x + 1, [1, 2, 3]);
      pool.close();
      await pool.join();
      assert.deepEqual(await result.get(), [2, 3, 4]);
      await assert.rejects(pool.map((x: number) => x, [1]), /closed/);
      const { createClient } = await import("@redis/client");
      const client = await createClient({ url: redis.url }).connect();
      try {
        assert.deepEqual(await client.keys("mp:*"), []);
      } finally {
        client.destroy();
      }
    },
  );

  test("a Pool without a broker says how to start Redis and workers", () => {
    const saved = process.env.MP_BROKER;
    delete process.env.MP_BROKER;
    try {
      assert.throws(
        () => new Pool(),
        (e: Error) =>
          /no broker is given/.test(e.message) && /MP_BROKER/.test(e.message) &&
          /redis-server/.test(e.message) && /cluster\/worker/.test(e.message),
      );
      assert.throws(() => new Pool({ broker: "http://x" }), TypeError);
      assert.throws(() => new Pool({ broker: redis.url, visibilityTimeout: 0 }), RangeError);
      assert.throws(
        () => new Pool({ broker: redis.url, initializer: () => {} } as never),
        /no option 'initializer'/,
      );
    } finally {
      if (saved !== undefined) process.env.MP_BROKER = saved;
    }
  });

  test("the MP_BROKER environment variable names the broker", T, async () => {
    const saved = process.env.MP_BROKER;
    process.env.MP_BROKER = redis.url;
    try {
      await using pool = new Pool(1);
      assert.equal(await pool.apply((x: number) => x * 3, [3]), 9);
    } finally {
      if (saved === undefined) delete process.env.MP_BROKER;
      else process.env.MP_BROKER = saved;
    }
  });

  test(
    "a broker that cannot be reached fails the tasks, saying where and how to start it",
    T,
    async () => {
      await using pool = new Pool({ broker: "redis://127.0.0.1:1" });
      await assert.rejects(
        pool.apply((x: number) => x, [1]),
        (e: Error) => /cannot be reached/.test(e.message) && /redis-server/.test(e.message),
      );
    },
  );
});

describe(
  "cluster Pool with a password",
  { skip: !haveRedis() && "redis-server is not installed" },
  () => {
    test(
      "redis://:password@host works for pools and workers; a wrong password fails clearly",
      T,
      async () => {
        const redis = await startRedis({ password: "s3cret" });
        const worker = await startWorker(redis.url);
        try {
          await using pool = new Pool({ broker: redis.url });
          assert.deepEqual(await pool.map((x: number) => -x, [1, 2]), [-1, -2]);
          const wrong = redis.url.replace("s3cret", "wrong");
          await using bad = new Pool({ broker: wrong });
          await assert.rejects(
            bad.apply((x: number) => x, [1]),
            (e: Error) => /cannot be reached/.test(e.message) && !e.message.includes("wrong@"),
          );
        } finally {
          await worker.stop();
          await redis.stop();
        }
      },
    );
  },
);
