import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import { runChild } from "./_child.ts";
import type * as Tasks from "./fixtures/tasks.ts";

const tasks = new URL("./fixtures/tasks.ts", import.meta.url).href;
const ref = <F extends (...args: never[]) => unknown>(name: string) =>
  mp.fromModule<F>(tasks, name);

const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;

/** For tests that start programs or move millions of items (Bun's default limit is 5 s). */
const slow = { timeout: 180_000 };

/** A task that sleeps without keeping the process alive, so an abandoned one cannot hang it. */
const sleepTask = (ms: number): Promise<number> =>
  new Promise((resolve) => {
    const timer: unknown = setTimeout(() => resolve(ms), ms);
    if (typeof timer === "object" && timer !== null && "unref" in timer) {
      (timer as { unref(): void }).unref();
    } else {
      (globalThis as unknown as { Deno: { unrefTimer(id: unknown): void } }).Deno.unrefTimer(
        timer,
      );
    }
  });

for (const [label, m] of entries) {
  describe(`Pool (${label})`, () => {
    test("Pool.map() returns results in input order", async () => {
      await using pool = new m.Pool(2);
      const xs = Array.from({ length: 100 }, (_, i) => i);
      assert.deepEqual(await pool.map((x: number) => x * x, xs), xs.map((x) => x * x));
    });

    test("Pool.map() accepts a function exported from a .ts module", async () => {
      await using pool = new m.Pool(2);
      assert.deepEqual(await pool.map(ref<typeof Tasks.square>("square"), [1, 2, 3]), [1, 4, 9]);
      // The export imports node:crypto and calls a module-level helper.
      const [a, b] = await pool.map(ref<typeof Tasks.digest>("digest"), ["a", "b"]);
      assert.match(a, /^[0-9a-f]{8}$/);
      assert.notEqual(a, b);
    });

    test("Pool.map() compiles a function once per worker, not once per task", async () => {
      await using pool = new m.Pool(1);
      // Named function expression: `counted` is the compiled function itself, so the count
      // lives on it and survives only if it is reused.
      const counted = function counted(): number {
        const self = counted as unknown as { calls?: number };
        self.calls = (self.calls ?? 0) + 1;
        return self.calls;
      };
      const out = await pool.map(counted, Array.from({ length: 10 }), 1);
      assert.deepEqual(out, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });

    test("Pool.map() runs async functions and method shorthand functions", async () => {
      await using pool = new m.Pool(2);
      const methods = {
        triple(x: number) {
          return 3 * x;
        },
        async later(x: number) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          return x + 0.5;
        },
      };
      assert.deepEqual(await pool.map(methods.triple, [1, 2]), [3, 6]);
      assert.deepEqual(await pool.map(methods.later, [1, 2]), [1.5, 2.5]);
    });

    test("Pool.map() drains a generator without a length first", async () => {
      await using pool = new m.Pool(2);
      const pulled: number[] = [];
      function* gen() {
        for (let i = 0; i < 20; i++) {
          pulled.push(i);
          yield i;
        }
      }
      const result = pool.map((x: number) => x + 1, gen());
      // Python's map reads an input without a length whole before it submits anything.
      assert.equal(pulled.length, 20);
      assert.deepEqual(await result, Array.from({ length: 20 }, (_, i) => i + 1));
    });

    test("Pool.map() accepts an async iterable", async () => {
      await using pool = new m.Pool(2);
      async function* gen() {
        for (let i = 0; i < 5; i++) yield i;
      }
      assert.deepEqual(await pool.map((x: number) => -x, gen()), [-0, -1, -2, -3, -4]);
    });

    test("Pool.map() of an empty iterable gives []", async () => {
      await using pool = new m.Pool(2);
      assert.deepEqual(await pool.map((x: number) => x, []), []);
      assert.deepEqual(await pool.starmap((x: number) => x, []), []);
      assert.deepEqual(await pool.mapAsync((x: number) => x, new Set<number>()).get(), []);
      for await (const _ of pool.imap((x: number) => x, [])) assert.fail("no items expected");
    });

    test("Pool.map() rejects with an input iterable's error, and the pool keeps working", async () => {
      await using pool = new m.Pool(2);
      function* broken() {
        yield 1;
        throw new SyntaxError("input broke");
      }
      await assert.rejects(pool.map((x: number) => x, broken()), {
        name: "SyntaxError",
        message: "input broke",
      });
      assert.deepEqual(await pool.map((x: number) => x * 2, [1, 2]), [2, 4]);
    });

    test("Pool.map() rejects with a task's error, with its class and message", async () => {
      await using pool = new m.Pool(2);
      const risky = (x: number) => {
        if (x === 3) throw new RangeError(`bad value ${x}`);
        return x;
      };
      await assert.rejects(pool.map(risky, [1, 2, 3, 4], 1), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.equal(error.message, "bad value 3");
        return true;
      });
    });

    test("Pool.map() rejects a chunksize that is not a positive integer", async () => {
      await using pool = new m.Pool(1);
      await assert.rejects(pool.map((x: number) => x, [1], 0), RangeError);
      await assert.rejects(pool.map((x: number) => x, [1], "2" as unknown as number), TypeError);
      assert.throws(() => pool.imap((x: number) => x, [1], 1.5), RangeError);
    });

    test("Pool.map() rejects an input that is not iterable", async () => {
      await using pool = new m.Pool(1);
      await assert.rejects(
        pool.map((x: number) => x, 5 as unknown as number[]),
        /'iterable' must be an iterable or async iterable: received 5/,
      );
    });

    test("Pool.apply() runs one call and returns its result", async () => {
      await using pool = new m.Pool(2);
      assert.equal(await pool.apply((a: number, b: number) => a * b, [6, 7]), 42);
      await assert.rejects(
        pool.apply((x: number) => x, 2 as unknown as [number]),
        /'args' must be an array of arguments: received 2/,
      );
      await assert.rejects(
        pool.apply(42 as unknown as () => void, []),
        /must be a function or a fromModule\(\) reference: received 42/,
      );
    });

    test("Pool.applyAsync() calls callback with the result", async () => {
      await using pool = new m.Pool(2);
      const seen: number[] = [];
      const results = [1, 2, 3].map((i) =>
        pool.applyAsync((x: number) => x * 10, [i], { callback: (r) => seen.push(r) })
      );
      for (const result of results) await result.wait();
      assert.deepEqual(seen.sort((a, b) => a - b), [10, 20, 30]);
      assert.ok(results.every((r) => r.ready() && r.successful()));
    });

    test("Pool.applyAsync() calls errorCallback with the error", async () => {
      await using pool = new m.Pool(2);
      const errors: unknown[] = [];
      const result = pool.applyAsync(
        (x: number) => {
          if (x === 3) throw new TypeError("special value");
          return x;
        },
        [3],
        {
          callback: () => assert.fail("callback must not run"),
          errorCallback: (e) => errors.push(e),
        },
      );
      await result.wait();
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof TypeError);
      assert.equal((errors[0] as Error).message, "special value");
      assert.equal(result.successful(), false);
      await assert.rejects(result.get(), TypeError);
    });

    test("AsyncResult.get() rejects with TimeoutError when the timeout passes", async () => {
      await using pool = new m.Pool(1);
      const result = pool.applyAsync(sleepTask, [5_000]);
      await assert.rejects(result.get(20), mp.TimeoutError);
      await assert.rejects(result.get(20), (e: unknown) => e instanceof m.ProcessError);
      assert.equal(result.ready(), false);
    });

    test("AsyncResult.wait() returns after its timeout with the task unfinished", async () => {
      await using pool = new m.Pool(1);
      const result = pool.applyAsync(sleepTask, [5_000]);
      await result.wait(20);
      assert.equal(result.ready(), false);
      assert.throws(() => result.successful(), /has not finished/);
      assert.throws(() => result.wait(NaN), RangeError);
    });

    test("Pool.mapAsync() calls callback once with the whole list", async () => {
      await using pool = new m.Pool(2);
      const calls: number[][] = [];
      const result = pool.mapAsync((x: number) => x + 1, [1, 2, 3, 4, 5], {
        chunksize: 2,
        callback: (list) => calls.push(list),
      });
      assert.deepEqual(await result.get(), [2, 3, 4, 5, 6]);
      assert.deepEqual(calls, [[2, 3, 4, 5, 6]]);
    });

    test("Pool.mapAsync() calls errorCallback once, after every chunk has finished", async () => {
      await using pool = new m.Pool(2);
      const finished = new Int32Array(new SharedArrayBuffer(4));
      const seenAtError: number[] = [];
      const task = async ([x, flag]: [number, Int32Array]) => {
        if (x === 0) throw new Error("first chunk fails at once");
        await new Promise((resolve) => setTimeout(resolve, 100));
        Atomics.add(flag, 0, 1);
        return x;
      };
      const result = pool.mapAsync(task, [[0, finished], [1, finished], [2, finished]], {
        chunksize: 1,
        errorCallback: () => seenAtError.push(Atomics.load(finished, 0)),
      });
      await result.wait();
      assert.deepEqual(seenAtError, [2]);
      await assert.rejects(result.get(), /first chunk fails at once/);
    });

    test("Pool.starmap() spreads each item into the function's arguments", async () => {
      await using pool = new m.Pool(2);
      assert.deepEqual(await pool.starmap((a: number, b: number) => a ** b, [[2, 3], [3, 2]]), [
        8,
        9,
      ]);
      assert.deepEqual(
        await pool.starmapAsync((a: string, b: string) => a + b, [["x", "y"]]).get(),
        ["xy"],
      );
      await assert.rejects(
        pool.starmap((a: number) => a, [[1], 2 as unknown as [number]]),
        /starmap item 1 as it must be an array of arguments: received 2/,
      );
    });

    test("Pool.imap() yields in input order, Pool.imapUnordered() as results come", async () => {
      await using pool = new m.Pool(2);
      // Item 0 cannot finish before item 1 has: it waits for item 1's flag.
      const task = async ([i, flag]: [number, Int32Array]) => {
        if (i === 0) {
          while (Atomics.load(flag, 0) === 0) await new Promise((r) => setTimeout(r, 1));
        } else {
          Atomics.store(flag, 0, 1);
        }
        return i;
      };
      const ordered: number[] = [];
      const flag1 = new Int32Array(new SharedArrayBuffer(4));
      for await (const i of pool.imap(task, [[0, flag1], [1, flag1]])) ordered.push(i);
      assert.deepEqual(ordered, [0, 1]);
      // Item 0 cannot finish before the caller has had item 1's result: the first result
      // imapUnordered yields opens the gate item 0 waits at.
      const unordered: number[] = [];
      const gate = new Int32Array(new SharedArrayBuffer(4));
      for await (const i of pool.imapUnordered(task, [[0, gate], [1, new Int32Array(4)]])) {
        unordered.push(i);
        Atomics.store(gate, 0, 1);
      }
      assert.deepEqual(unordered, [1, 0]);
    });

    test("Pool.imap() reads its input lazily and stops when the consumer stops", async () => {
      await using pool = new m.Pool(2);
      let pulled = 0;
      let closed = false;
      function* naturals() {
        try {
          for (let i = 0;; i++) {
            pulled++;
            yield i;
          }
        } finally {
          closed = true;
        }
      }
      const out: number[] = [];
      for await (const x of pool.imap((x: number) => x * 2, naturals(), 4)) {
        if (out.push(x) === 10) break;
      }
      assert.deepEqual(out, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
      assert.ok(closed, "the input's return() was called");
      const after = pulled;
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(pulled, after, "nothing is pulled after the consumer stopped");
      assert.ok(pulled < 2 * 4096 * 4 + 100, `pulled ${pulled} items from an endless input`);
    });

    test("Pool.imap() refills its window in batches, not one item per result taken", async () => {
      // With chunksize 1 each item is a job. Pulled one at a time as results are taken, each
      // would travel to a worker in a message of its own (imap ran at a tenth of its rate so):
      // the input is read again only once a quarter of the window (2 × 4096 items) has left.
      await using pool = new m.Pool(2);
      const window = 2 * 4096;
      const n = 4 * window;
      let consumed = 0;
      let refills = 0;
      let lastSeen = -1;
      function* numbers() {
        for (let i = 0; i < n; i++) {
          if (consumed !== lastSeen) {
            refills++;
            lastSeen = consumed;
          }
          yield i;
        }
      }
      let sum = 0;
      for await (const x of pool.imap((x: number) => x + 1, numbers())) {
        sum += x;
        consumed++;
      }
      assert.equal(consumed, n);
      assert.equal(sum, (n * (n + 1)) / 2);
      // The first fill, then one each time a quarter of the window has been taken, at most.
      assert.ok(refills <= 1 + n / (window / 4), `the input was read in ${refills} separate runs`);
    });

    test("Pool.imap() sends the items of a fast async input to its worker many to a message", async () => {
      // Each await of the input lets the pool's send (a microtask) run: items that arrive
      // together are gathered first, or each would travel alone (a fifth of the rate or less).
      // A task sees which run of its worker's event loop it is in: the tasks of one message
      // run in one. On Deno each message gets a run of its own, so the count is the number of
      // messages (12,822 without the gathering); Node and Bun may run several queued messages
      // in one, so there it is a lower bound, which passed without the gathering too.
      await using pool = new m.Pool(1);
      const n = 20_000;
      async function* numbers() {
        for (let i = 0; i < n; i++) yield i;
      }
      const seen: number[] = [];
      for await (
        const run of pool.imap(() => {
          const g = globalThis as { batchOpen?: boolean; batches?: number };
          if (!g.batchOpen) {
            g.batchOpen = true;
            g.batches = (g.batches ?? 0) + 1;
            queueMicrotask(() => g.batchOpen = false);
          }
          return g.batches!;
        }, numbers())
      ) seen.push(run);
      assert.equal(seen.length, n);
      const runs = new Set(seen).size;
      if (label === "mod.ts") assert.ok(runs <= n / 10, `${n} items came in ${runs} messages`);
    });

    test("Pool.imap() keeps memory flat over a 10-million-item generator", slow, async () => {
      await using pool = new m.Pool(2);
      let pulled = 0;
      let consumed = 0;
      let widest = 0;
      function* numbers() {
        for (let i = 0; i < 10_000_000; i++) {
          pulled++;
          yield i;
        }
      }
      let sum = 0;
      for await (const x of pool.imap((x: number) => x & 1, numbers(), 5_000)) {
        sum += x;
        consumed++;
        if ((consumed & 0xffff) === 0) widest = Math.max(widest, pulled - consumed);
      }
      assert.equal(consumed, 10_000_000);
      assert.equal(sum, 5_000_000);
      // Items between the input and the consumer stay within the window, whatever the length.
      assert.ok(widest <= 2 * 4096 + 2 * 5_000, `held ${widest} items at once`);
    });

    test(
      "Pool.imap() delivers every item when a late first result releases a full window",
      slow,
      async () => {
        // With chunksize 1 the window is 4096 items a process, and the input fills it
        // exactly, so its end is not seen yet. Item 0 finishes last; handing out the first of
        // the others makes room, and the refill finds the end while next() is being served.
        await using pool = new m.Pool(2);
        const n = 2 * 4096;
        const xs = Array.from({ length: n }, (_, i) => i);
        let count = 0;
        let sum = 0;
        for await (
          const y of pool.imap(async (x: number) => {
            if (x === 0) await new Promise((r) => setTimeout(r, 200));
            return x;
          }, xs)
        ) {
          count++;
          sum += y;
        }
        assert.equal(count, n);
        assert.equal(sum, (n * (n - 1)) / 2);
      },
    );

    test("Pool.map() of numbers keeps each value exactly and returns a plain array", async () => {
      await using pool = new m.Pool(2);
      const special = [0, -0, NaN, Infinity, -Infinity, 2 ** 53 + 2, 5e-324, 0.1, -1.5e300];
      const xs = Array.from({ length: 500 }, (_, i) => special[i % special.length] ?? i);
      const same = await pool.map((x: number) => x, xs, 100);
      assert.ok(Array.isArray(same));
      assert.equal(same.length, xs.length);
      for (let i = 0; i < xs.length; i++) assert.ok(Object.is(same[i], xs[i]), `item ${i}`);
      const mixed = await pool.map((x: number) => (x === 0.1 ? "tenth" : x), xs, 100);
      assert.equal(mixed[7], "tenth");
      assert.ok(Object.is(mixed[1], -0));
      const seen: string[] = [];
      for await (const y of pool.imap((x: number) => typeof x, xs.slice(0, 200), 100)) seen.push(y);
      assert.deepEqual(new Set(seen), new Set(["number"]));
    });

    test("Pool.imap() throws a task's error at its place and can go on", async () => {
      await using pool = new m.Pool(2);
      const it = pool.imap((x: number) => {
        if (x === 1) throw new EvalError("item 1");
        return x;
      }, [0, 1, 2]);
      assert.deepEqual(await it.next(), { done: false, value: 0 });
      await assert.rejects(it.next(), { name: "EvalError", message: "item 1" });
      assert.deepEqual(await it.next(), { done: false, value: 2 });
      assert.deepEqual(await it.next(), { done: true, value: undefined });
    });

    test("Pool.imap() ends with an input iterable's error after the items before it", async () => {
      await using pool = new m.Pool(2);
      function* broken() {
        yield 1;
        yield 2;
        throw new URIError("input broke");
      }
      const out: number[] = [];
      await assert.rejects(async () => {
        for await (const x of pool.imap((x: number) => x * 10, broken())) out.push(x);
      }, { name: "URIError", message: "input broke" });
      assert.deepEqual(out, [10, 20]);
      assert.deepEqual(await pool.map((x: number) => x, [7]), [7]);
    });

    test("Pool runs at most `processes` tasks at once, and async tasks overlap", async () => {
      await using pool = new m.Pool(3);
      const state = new Int32Array(new SharedArrayBuffer(8)); // [running, most running]
      const task = async (s: Int32Array) => {
        const now = Atomics.add(s, 0, 1) + 1;
        for (let most = Atomics.load(s, 1); now > most; most = Atomics.load(s, 1)) {
          Atomics.compareExchange(s, 1, most, now);
        }
        // Waits until three tasks run together: it would wait for ever were they serial.
        const deadline = Date.now() + 10_000;
        while (Atomics.load(s, 1) < 3 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 1));
        }
        Atomics.sub(s, 0, 1);
      };
      await pool.map(task, Array.from({ length: 9 }, () => state), 1);
      assert.equal(Atomics.load(state, 1), 3);
    });

    test("Pool({ initializer }) runs it before each worker's first task", async () => {
      const calls: unknown[] = [];
      const initializer = label === "dummy.ts"
        ? (tag: string) => void calls.push(tag)
        : ref<typeof Tasks.init>("init");
      await using pool = new m.Pool({ processes: 2, initializer, initargs: ["tag-1"] });
      if (label === "dummy.ts") {
        await pool.map((x: number) => x, [1, 2, 3, 4], 1);
        assert.deepEqual(calls, ["tag-1", "tag-1"]);
      } else {
        const seen = await pool.map(ref<typeof Tasks.readInit>("readInit"), [1, 2, 3, 4], 1);
        for (const s of seen) assert.deepEqual([s.count, s.tag], [1, "tag-1"]);
      }
    });

    test("Pool({ initializer }) failing fails the tasks with a clear error", async () => {
      const initializer = label === "dummy.ts"
        ? () => {
          throw new RangeError("initializer refused");
        }
        : ref<typeof Tasks.failingInit>("failingInit");
      await using pool = new m.Pool({ processes: 1, initializer });
      await assert.rejects(pool.apply((x: number) => x, [1]), (error: unknown) => {
        assert.ok(error instanceof m.ProcessError);
        assert.match(error.message, /initializer failed .*RangeError: initializer refused/);
        return true;
      });
    });

    test("Pool({ maxtasksperchild }) replaces workers and keeps results right", slow, async () => {
      const calls: number[] = [];
      const initializer = label === "dummy.ts"
        ? () => void calls.push(1)
        : ref<typeof Tasks.init>("init");
      await using pool = new m.Pool({
        processes: 2,
        maxtasksperchild: 2,
        initializer,
        initargs: ["t"],
      });
      const xs = Array.from({ length: 12 }, (_, i) => i);
      assert.deepEqual(await pool.map((x: number) => x * 3, xs, 1), xs.map((x) => x * 3));
      if (label === "dummy.ts") {
        // 12 tasks, 2 per worker: 6 workers ran them, each initialized once.
        assert.ok(calls.length >= 6, `${calls.length} initializer calls`);
      } else {
        const seen = await pool.map(ref<typeof Tasks.readInit>("readInit"), xs, 1);
        const pids = new Set(seen.map((s) => s.pid));
        assert.ok(pids.size >= 6, `12 tasks ran in ${pids.size} workers`);
        // Every replacement ran the initializer once before its tasks.
        for (const s of seen) assert.deepEqual([s.count, s.tag], [1, "t"]);
      }
    });

    test("new Pool() rejects invalid processes and maxtasksperchild", () => {
      for (const bad of [0, -1, 0.5, NaN, Infinity]) {
        assert.throws(() => new m.Pool(bad), RangeError, `processes ${bad}`);
        assert.throws(() => new m.Pool({ maxtasksperchild: bad }), RangeError);
      }
      assert.throws(() => new m.Pool("12" as unknown as number), {
        name: "TypeError",
        message: `Cannot create pool as 'processes' must be a positive integer: received "12"`,
      });
      assert.throws(
        () => new m.Pool({ maxtasksperchild: "12" as unknown as number }),
        TypeError,
      );
      assert.throws(() => new m.Pool({ initargs: 3 as unknown as [] }), TypeError);
      assert.throws(() => new m.Pool({ initializer: 3 as unknown as () => void }), TypeError);
    });

    test("Pool defaults to cpuCount() processes", async () => {
      await using pool = new m.Pool();
      assert.equal(pool.processes, m.cpuCount());
    });

    test("Pool refuses new work after close() and terminate()", async () => {
      const pool = new m.Pool(1);
      pool.close();
      assert.throws(() => pool.applyAsync((x: number) => x, [1]), /pool is closed/);
      await assert.rejects(
        pool.map((x: number) => x, [1]),
        /Cannot call map\(\) as the pool is closed/,
      );
      assert.throws(() => pool.imap((x: number) => x, [1]), /pool is closed/);
      await pool.join();
      const other = new m.Pool(1);
      await other.terminate();
      assert.throws(() => other.applyAsync((x: number) => x, [1]), /pool is terminated/);
      await assert.rejects(other.apply((x: number) => x, [1]), /pool is terminated/);
    });

    test("Pool.join() before close() is an error", async () => {
      await using pool = new m.Pool(1);
      await assert.rejects(
        pool.join(),
        /Cannot join a running pool: call close\(\) or terminate\(\) first/,
      );
    });

    test("Pool.close() lets submitted work finish, then join() returns", async () => {
      const pool = new m.Pool(2);
      const sleep = (ms: number) => new Promise((resolve) => setTimeout(() => resolve(ms), ms));
      const results = [1, 2, 3, 4].map((i) => pool.applyAsync(sleep, [i * 10]));
      pool.close();
      await pool.join();
      assert.deepEqual(await Promise.all(results.map((r) => r.get())), [10, 20, 30, 40]);
    });

    test("Pool.terminate() stops 10,000 queued sleeping tasks at once", slow, async () => {
      const pool = new m.Pool(2);
      const results = Array.from({ length: 10_000 }, () => pool.applyAsync(sleepTask, [60_000]));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      await pool.terminate();
      await pool.join();
      const ms = performance.now() - started;
      // The running tasks sleep a minute: returning at all before then shows they were stopped.
      assert.ok(ms < 30_000, `terminate + join took ${ms.toFixed(0)} ms`);
      await assert.rejects(results[0].get(), /pool was terminated/);
      await assert.rejects(results[9_999].get(), /pool was terminated/);
    });

    test("await using terminates the pool at the end of the block", async () => {
      let kept: mp.BasePool;
      {
        await using pool = new m.Pool(1);
        kept = pool;
        assert.equal(await pool.apply((x: number) => x, [1]), 1);
      }
      assert.throws(() => kept.applyAsync((x: number) => x, [1]), /terminated/);
    });

    test(
      "a program exits after close() and join(), terminate(), or leaving its pool idle",
      slow,
      async () => {
        const program = new URL("./fixtures/exit_program.ts", import.meta.url);
        const entry = label === "dummy.ts" ? "dummy" : "mod";
        for (const scenario of ["close-join", "terminate", "idle", "pending-get"]) {
          const { code, stdout, stderr } = await runChild(program, [entry, scenario], 30_000);
          assert.equal(code, 0, `${scenario}: exit code ${code}\n${stderr}`);
          assert.match(stdout, /done \[1,4,9\]/, scenario);
          if (scenario === "pending-get") assert.match(stdout, /^late$/m);
        }
      },
    );
  });
}

describe("Pool (mod.ts): workers", () => {
  test("currentProcess() and parentProcess() name the worker and its parent", async () => {
    await using pool = new mp.Pool(2);
    const me = mp.currentProcess();
    assert.equal(me.name, "MainProcess");
    assert.equal(mp.parentProcess(), null);
    const seen = await pool.map(ref<typeof Tasks.whoami>("whoami"), [1, 2, 3, 4], 1);
    for (const { self, parent } of seen) {
      assert.match(self.name, /^PoolWorker-\d+$/);
      assert.notEqual(self.pid, me.pid);
      assert.deepEqual(parent, { name: "MainProcess", pid: me.pid });
    }
  });

  test(
    "Pool.map() with the default chunksize sends ceil(len / (4 * processes)) items a task",
    slow,
    async () => {
      // With one task per worker, each chunk runs in a worker of its own: count the workers.
      await using pool = new mp.Pool({ processes: 2, maxtasksperchild: 1 });
      const pids = await pool.map(ref<typeof Tasks.pidOf>("pidOf"), Array.from({ length: 40 }));
      const chunks = [...new Set(pids)];
      assert.equal(chunks.length, 8); // 40 items, chunksize ceil(40 / 8) = 5
      for (const pid of chunks) assert.equal(pids.filter((p) => p === pid).length, 5);
      const two = await pool.map(ref<typeof Tasks.pidOf>("pidOf"), Array.from({ length: 40 }), 20);
      assert.equal(new Set(two).size, 2);
    },
  );

  test("a function that uses an outer variable fails naming it and showing the fix", async () => {
    await using pool = new mp.Pool(1);
    // Not a literal: Bun's transpiler inlines `const x = 10` into the function that uses it.
    const offset = Number(String(10));
    const addOffset = (x: number) => x + offset;
    await assert.rejects(pool.map(addOffset, [1]), (error: unknown) => {
      assert.ok(error instanceof ReferenceError);
      assert.match(error.message, /'addOffset'.* uses 'offset', which is defined outside/);
      assert.match(error.message, /fromModule\(import\.meta\.url, "addOffset"\)/);
      assert.match(error.message, /import\.meta\.main/);
      return true;
    });
    assert.deepEqual(await pool.map((x: number) => x + 1, [1]), [2]);
  });

  test("a built-in function fails with a hint to wrap it", async () => {
    await using pool = new mp.Pool(1);
    await assert.rejects(pool.map(Math.sqrt, [4]), /'sqrt' to a worker as it is a built-in/);
    assert.deepEqual(await pool.map((x: number) => Math.sqrt(x), [4]), [2]);
  });

  test("a task's error keeps its class and message, with the worker's stack as cause", async () => {
    await using pool = new mp.Pool(1);
    const error = await pool.apply(() => {
      throw new RangeError("out of range in worker");
    }, []).catch((e) => e);
    assert.ok(error instanceof RangeError);
    assert.equal(error.message, "out of range in worker");
    assert.ok(error.cause instanceof mp.RemoteTraceback);
    assert.match(error.cause.message, /RangeError: out of range in worker/);
    const custom = await pool.apply(ref<typeof Tasks.throwCustom>("throwCustom"), ["mine"])
      .catch((e) => e);
    assert.equal(custom.name, "CustomError");
    assert.equal(custom.message, "mine");
    assert.equal(custom.code, "E_CUSTOM");
    assert.match(custom.cause.message, /throwCustom/);
  });

  test("an argument that cannot be cloned fails that task alone", async () => {
    await using pool = new mp.Pool(2);
    const results = [1, () => 2, 3].map((arg) => pool.applyAsync((x: unknown) => typeof x, [arg]));
    assert.equal(await results[0].get(), "number");
    await assert.rejects(results[1].get(), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /arguments of .* cannot be cloned/);
      return true;
    });
    assert.equal(await results[2].get(), "number");
  });

  test("a result that cannot be cloned fails that task alone", async () => {
    await using pool = new mp.Pool(1);
    const results = [false, true, false].map((bad) =>
      pool.applyAsync((b: boolean) => (b ? { f: () => 1 } : "fine"), [bad])
    );
    assert.equal(await results[0].get(), "fine");
    await assert.rejects(results[1].get(), /result of .* cannot be cloned/);
    assert.equal(await results[2].get(), "fine");
  });

  test("imap chunks of numbers sent back with a chunk that cannot be cloned arrive whole", async () => {
    // The packed chunks' buffers move to the pool instead of being copied, and Deno detaches
    // moved buffers even when the send fails: they must not move in a send that can fail.
    await using pool = new mp.Pool(1);
    const xs = [...Array(400).keys()];
    const out: unknown[] = [];
    let failure: unknown = undefined;
    const twice = (x: number) => (x === 300 ? () => x : x * 2);
    // Once first, so that the worker runs the four chunks below in one go, and sends their
    // results in one message.
    await pool.map(twice, [1, 2]);
    const it = pool.imap(twice, xs, 100);
    while (true) {
      try {
        const step = await it.next();
        if (step.done) break;
        out.push(step.value);
      } catch (error) {
        failure = error;
        break;
      }
    }
    assert.deepStrictEqual(out, xs.slice(0, 300).map((x) => x * 2));
    assert.match(String(failure), /result of .* cannot be cloned/);
  });

  test("a result that cannot be cloned, sent back with a chunk of numbers, fails its task alone", async () => {
    await using pool = new mp.Pool(1);
    const double = (x: number) => x * 2;
    const fn = () => () => 1;
    // Once first, so that the worker runs the two below in one go, and sends their results in
    // one message.
    await pool.map(double, [1, 2]);
    await assert.rejects(pool.apply(fn, []), /cannot be cloned/);
    const xs = [...Array(100).keys()];
    const mapped = pool.mapAsync(double, xs, { chunksize: 100 });
    const bad = pool.applyAsync(fn, []);
    assert.deepStrictEqual(await mapped.get(), xs.map(double));
    await assert.rejects(bad.get(), /result of .* cannot be cloned/);
  });

  test("fromModule() rejects a relative URL and a missing export", async () => {
    assert.throws(() => mp.fromModule("./tasks.ts", "square"), /must be an absolute URL/);
    await using pool = new mp.Pool(1);
    await assert.rejects(
      pool.apply(ref<() => void>("notAFunction"), []),
      /Cannot find the function 'notAFunction' in module .*tasks\.ts: its export 'notAFunction' is 42/,
    );
  });

  for (
    const [how, name, args] of [
      ["an explicit exit", "exitWith", [3]],
      ["an uncaught error", "throwLater", []],
      ["an unhandled rejection", "rejectLater", []],
    ] as const
  ) {
    test(`a worker that dies of ${how} fails only its own task and is replaced`, async () => {
      await using pool = new mp.Pool(2);
      const before = await pool.map(ref<typeof Tasks.pidOf>("pidOf"), [1, 2], 1);
      const others = Array.from({ length: 20 }, (_, i) => pool.applyAsync(sleepTask, [i]));
      const dying = pool.applyAsync(ref<(...a: unknown[]) => void>(name), [...args]);
      const error = await dying.get().catch((e) => e);
      assert.ok(error instanceof mp.WorkerExitError, String(error));
      assert.match(error.message, /ended with exit code \d+.* while running this task/);
      if (name === "exitWith") assert.equal(error.exitCode, 3);
      assert.deepEqual(
        await Promise.all(others.map((r) => r.get())),
        Array.from({ length: 20 }, (_, i) => i),
      );
      const after = await pool.map(ref<typeof Tasks.pidOf>("pidOf"), [1, 2, 3, 4], 1);
      assert.ok(
        after.some((pid) => !before.includes(pid)),
        "a new worker took the dead one's place",
      );
    });
  }
});

describe("Pool (mod.ts): chunks behind a task whose worker dies", () => {
  test("map chunks of numbers, strings and objects sent to a worker that dies before running them run elsewhere with every item", async () => {
    // Packed chunks move to their worker; the pool must read them again. A task the pool has
    // timed as short goes in one batch with those behind it.
    await using pool = new mp.Pool(1);
    const fn = ref<typeof Tasks.exitBelowZero>("exitBelowZero");
    await pool.map(fn, [1, 2, 3], 1);
    const xs = Array.from(
      { length: 1000 },
      (_, i) => i % 7 === 0 ? -0 : i % 11 === 0 ? NaN : i / 3,
    );
    const strings = xs.map((x, i) => i % 5 === 0 ? `é${x}` : `item-${x}`);
    const ascii = xs.map((x) => `item-${x}`);
    const objects = xs.map((x, i) => ({ x, tag: `t${i}` }));
    const dying = pool.applyAsync(fn, [-5]);
    const mapped = pool.mapAsync(fn, xs, { chunksize: 100 });
    const others = [strings, ascii, objects].map((items) =>
      pool.mapAsync(fn as unknown as (x: unknown) => unknown, items, { chunksize: 100 })
    );
    const error = await dying.get().catch((e) => e);
    assert.ok(error instanceof mp.WorkerExitError, String(error));
    assert.equal(error.exitCode, 5);
    const got = await mapped.get();
    assert.equal(got.length, xs.length);
    for (let i = 0; i < xs.length; i++) assert.ok(Object.is(got[i], xs[i]), `item ${i}`);
    assert.deepStrictEqual(await others[0].get(), strings);
    assert.deepStrictEqual(await others[1].get(), ascii);
    assert.deepStrictEqual(await others[2].get(), objects);
  });
});

describe("Pool (mod.ts): idle workers", () => {
  test("a worker that dies while idle fails nothing and is replaced", async () => {
    await using pool = new mp.Pool(1);
    const dead = await pool.apply(ref<typeof Tasks.throwWhenIdle>("throwWhenIdle"), []);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const pids = await pool.map(ref<typeof Tasks.pidOf>("pidOf"), [1, 2, 3], 1);
    assert.equal(new Set(pids).size, 1);
    assert.notEqual(pids[0], dead, "the dead worker was replaced");
  });
});

describe("Pool (dummy.ts): the calling thread", () => {
  test("sync tasks run one at a time, on the calling thread", async () => {
    await using pool = new dummy.Pool(4);
    const log: string[] = [];
    const task = (i: number) => {
      log.push(`enter ${i}`);
      for (let s = 0, t = Date.now(); Date.now() - t < 2;) s++;
      log.push(`leave ${i}`);
      return i;
    };
    await pool.map(task, [0, 1, 2, 3], 1);
    for (let i = 0; i < log.length; i += 2) {
      assert.equal(log[i].replace("enter", "leave"), log[i + 1]);
    }
  });

  test("closures and built-in functions work, as on one thread they can", async () => {
    await using pool = new dummy.Pool(2);
    const offset = 10;
    assert.deepEqual(await pool.map((x: number) => x + offset, [1, 2]), [11, 12]);
    assert.deepEqual(await pool.map(Math.sqrt, [4, 9]), [2, 3]);
  });
});
