// Python parity of pools and processes (issue 11, points 2, 6, 10 and 11): a Pool runs its
// initializer when it is made, with any shareable initargs; imap fails the chunk an input error
// falls in as a whole; daemon processes may not have children; currentProcess() and
// parentProcess() are process objects.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import { runChild } from "./_child.ts";
import type * as Tasks from "./fixtures/parity_pool_tasks.ts";

const tasks = new URL("./fixtures/parity_pool_tasks.ts", import.meta.url).href;
const ref = <F extends (...args: never[]) => unknown>(name: string) =>
  mp.fromModule<F>(tasks, name);

const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;

const DAEMONIC = /daemonic processes are not allowed to have children/;

/** Waits until `check()` holds, for 30 s at most. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Items 0 to 6, then an error where item 7 would be (Python's test_imap_handle_iterable_exception). */
function* failsAtSeven(): Generator<number> {
  for (let i = 0; i < 7; i++) yield i;
  throw new URIError("input broke at item 7");
}

async function* failsAtSevenAsync(): AsyncGenerator<number> {
  yield* failsAtSeven();
}

/** The results an imap yields before it throws, and what it threw. */
async function collect(
  iterator: AsyncIterable<number>,
): Promise<{ out: number[]; error: unknown }> {
  const out: number[] = [];
  try {
    for await (const x of iterator) out.push(x);
  } catch (error) {
    return { out, error };
  }
  return { out, error: undefined };
}

/** The main process as a child reports its parent: alive, joined within the time given. */
function mainAsParent(pid: number) {
  return { name: "MainProcess", pid, daemon: false, exitcode: null, alive: true, joined: true };
}

for (const [label, m] of entries) {
  describe(`Pool parity (${label})`, () => {
    test("Pool({ initializer }) runs it in every worker when made, before close() and join() end", async () => {
      const cells = new Int32Array(new SharedArrayBuffer(4));
      const pool = new m.Pool({
        processes: 2,
        // Slow, so that close() comes long before it ends.
        initializer: async (c: Int32Array) => {
          await new Promise((resolve) => setTimeout(resolve, 200));
          Atomics.add(c, 0, 1);
        },
        initargs: [cells],
      });
      pool.close();
      await pool.join();
      assert.equal(Atomics.load(cells, 0), 2);
    });

    test("Pool({ initializer }) runs it in a pool that is given no task", async () => {
      const cells = new Int32Array(new SharedArrayBuffer(4));
      await using _pool = new m.Pool({
        processes: 2,
        initializer: ref<typeof Tasks.countInit>("countInit"),
        initargs: [cells],
      });
      await until(() => Atomics.load(cells, 0) === 2, "both workers ran the initializer");
    });

    test("Pool({ initargs }) may hold a Lock, a Queue, a Value and a manager's NamespaceProxy", async () => {
      await using manager = await m.Manager();
      const ns = await manager.Namespace();
      await ns.set("test", 0);
      const lock = new m.Lock();
      const names = new m.Queue<string>();
      const value = m.Value("i", 0);
      const pool = new m.Pool({
        processes: 2,
        initializer: ref<typeof Tasks.initShared>("initShared"),
        initargs: [ns, lock, names, value],
      });
      pool.close();
      await pool.join();
      assert.equal(await ns.get("test"), 2);
      assert.equal(value.value, 2);
      const seen = [await names.get({ timeout: 10_000 }), await names.get({ timeout: 10_000 })];
      const prefix = label === "mod.ts" ? "PoolWorker" : "DummyWorker";
      assert.deepEqual(seen.sort(), [`${prefix}-1`, `${prefix}-2`]);
    });

    test("Pool.imap() with an input that throws mid-chunk fails that chunk as a whole", async () => {
      await using pool = new m.Pool(2);
      for (const input of [failsAtSeven, failsAtSevenAsync]) {
        const what = input.name;
        // chunksize 2: chunk [6, 7] is where the input broke: 6 results, then the error.
        const ordered = await collect(pool.imap((x: number) => x * 10, input(), 2));
        assert.deepEqual(ordered.out, [0, 10, 20, 30, 40, 50], what);
        assert.ok(ordered.error instanceof URIError, what);
        assert.equal(ordered.error.message, "input broke at item 7", what);
        const unordered = await collect(pool.imapUnordered((x: number) => x * 10, input(), 2));
        assert.deepEqual(unordered.out.sort((a, b) => a - b), [0, 10, 20, 30, 40, 50], what);
        assert.ok(unordered.error instanceof URIError, what);
        // chunksize 1: every item read before the failure has its result.
        const single = await collect(pool.imap((x: number) => x * 10, input(), 1));
        assert.deepEqual(single.out, [0, 10, 20, 30, 40, 50, 60], what);
        assert.ok(single.error instanceof URIError, what);
        // chunksize 3: [6, 7, 8] fails as a whole.
        const three = await collect(pool.imap((x: number) => x * 10, input(), 3));
        assert.deepEqual(three.out, [0, 10, 20, 30, 40, 50], what);
        assert.ok(three.error instanceof URIError, what);
      }
      assert.deepEqual(await pool.map((x: number) => x, [7]), [7], "the pool still works");
    });

    test("Pool.map() with an input that throws runs no task and rejects with the input's error", async () => {
      const cells = new Int32Array(new SharedArrayBuffer(4));
      await using pool = new m.Pool(2);
      const count = (c: Int32Array) => void Atomics.add(c, 0, 1);
      function* broken(): Generator<Int32Array> {
        for (let i = 0; i < 7; i++) yield cells;
        throw new URIError("input broke at item 7");
      }
      // As Python's map reads an input without a length whole before it submits anything.
      await assert.rejects(pool.map(count, broken(), 2), URIError);
      assert.throws(() => pool.mapAsync(count, broken(), { chunksize: 2 }), URIError);
      await pool.map(count, [cells]);
      assert.equal(Atomics.load(cells, 0), 1);
    });

    test("currentProcess() on the main thread is the main process; parentProcess() is null", () => {
      const me = m.currentProcess();
      assert.equal(me.name, "MainProcess");
      assert.equal(me.daemon, false);
      assert.equal(me.exitcode, null);
      assert.equal(me.isAlive(), true);
      assert.equal(m.parentProcess(), null);
    });

    test("currentProcess() and parentProcess() in a pool worker are process objects", async () => {
      await using pool = new m.Pool(1);
      const seen = await pool.apply(ref<typeof Tasks.report>("report"), []);
      const main = m.currentProcess();
      const prefix = label === "mod.ts" ? "PoolWorker" : "DummyWorker";
      assert.equal(seen.name, `${prefix}-1`);
      assert.notEqual(seen.pid, main.pid);
      // Python's pool workers are daemons.
      assert.equal(seen.daemon, true);
      assert.equal(seen.exitcode, null);
      assert.equal(seen.alive, true);
      assert.deepEqual(seen.parent, mainAsParent(main.pid));
    });

    test("currentProcess() and parentProcess() in a Process are process objects", async () => {
      const out = new m.Queue<Tasks.ProcessReport>();
      const plain = new m.Process({
        target: ref<typeof Tasks.reportInto>("reportInto"),
        args: [out],
      });
      const daemonic = new m.Process({
        target: ref<typeof Tasks.reportInto>("reportInto"),
        args: [out],
        daemon: true,
        name: "watcher",
      });
      plain.start();
      const first = await out.get({ timeout: 20_000 });
      daemonic.start();
      const second = await out.get({ timeout: 20_000 });
      await plain.join();
      await daemonic.join(20_000);
      const main = m.currentProcess();
      const parent = mainAsParent(main.pid);
      assert.deepEqual(first, {
        name: plain.name,
        pid: plain.pid,
        daemon: false,
        exitcode: null,
        alive: true,
        parent,
      });
      assert.deepEqual(second, {
        name: "watcher",
        pid: daemonic.pid,
        daemon: true,
        exitcode: null,
        alive: true,
        parent,
      });
    });
  });
}

describe("Pool parity (mod.ts): start", () => {
  test(
    "a program that makes a Pool and never uses it ends at once, its workers initialized or not",
    {
      timeout: 90_000,
    },
    async () => {
      const program = new URL("./fixtures/parity_pool_program.ts", import.meta.url);
      const { code, stdout, stderr, timedOut } = await runChild(program, [], 60_000);
      assert.ok(!timedOut, `the program did not end:\n${stderr}`);
      assert.equal(code, 0, stderr);
      assert.equal(stdout, "done\n");
    },
  );
});

describe("Pool parity (mod.ts): initargs", () => {
  test("Pool({ initargs }) may hold a pipe's end; closed by every holder, it ends the other", async () => {
    const [reader, writer] = mp.Pipe<string>(false);
    const pool = new mp.Pool({
      processes: 2,
      initializer: async (conn: typeof writer) => {
        await conn.send("hello");
        conn.close();
      },
      initargs: [writer],
    });
    writer.close(); // the workers hold the only open copies
    pool.close();
    await pool.join();
    assert.deepEqual([await reader.recv(), await reader.recv()], ["hello", "hello"]);
    assert.equal(await reader.poll(20_000), true, "the end of the pipe was not seen");
    await assert.rejects(reader.recv(), mp.EOFError);
  });
});

describe("Pool parity (initargs that cannot travel)", () => {
  test("new Pool() of mod.ts refuses initargs that cannot reach a worker, saying what can", () => {
    assert.throws(() => new mp.Pool({ processes: 1, initargs: [() => 1] }), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(
        error.message,
        /^Cannot create pool as 'initargs' cannot be sent to the workers/,
      );
      assert.match(error.message, /manager proxies/);
      return true;
    });
  });

  test("the Pool of dummy.ts hands initargs to the initializer as they are, as a thread pool", async () => {
    const box = {
      hits: 0,
      bump(): void {
        this.hits++;
      },
    };
    const pool = new dummy.Pool({
      processes: 2,
      initializer: (b: typeof box) => b.bump(),
      initargs: [box],
    });
    pool.close();
    await pool.join();
    assert.equal(box.hits, 2);
  });
});

describe("Process parity (mod.ts)", () => {
  test("a daemon Process may not start a Process, a Pool or pool workers; a non-daemon one may", async () => {
    const out = new mp.Queue<string>();
    for (const daemon of [true, false]) {
      const p = new mp.Process({
        target: ref<typeof Tasks.startChildren>("startChildren"),
        args: [out],
        daemon,
      });
      p.start();
      const child = await out.get({ timeout: 20_000 });
      const pool = await out.get({ timeout: 20_000 });
      const prepared = await out.get({ timeout: 20_000 });
      await p.join(20_000);
      assert.equal(p.exitcode, 0);
      if (daemon) {
        assert.match(child, DAEMONIC);
        assert.match(child, new RegExp(`Cannot start Process-[\\d:]+ in ${p.name} as`));
        assert.match(pool, DAEMONIC);
        assert.match(pool, /Cannot start a Pool in/);
        assert.match(prepared, DAEMONIC);
        assert.match(prepared, /Cannot start pool workers in/);
      } else {
        assert.deepEqual([child, pool, prepared], ["started", "started", "started"]);
      }
    }
  });
});

describe("Process parity (dummy.ts)", () => {
  test("a daemon Process may not start a Process, a Pool or pool workers; a non-daemon one may", async () => {
    for (const daemon of [true, false]) {
      const seen: string[] = [];
      const p = new dummy.Process({
        target: async () => {
          try {
            const child = new dummy.Process({ target: () => {} });
            child.start();
            await child.join();
            seen.push("started");
          } catch (error) {
            seen.push((error as Error).message);
          }
          try {
            await new dummy.Pool(1).terminate();
            seen.push("started");
          } catch (error) {
            seen.push((error as Error).message);
          }
          try {
            await dummy.Pool.prepare(1);
            seen.push("started");
          } catch (error) {
            seen.push((error as Error).message);
          }
        },
        daemon,
      });
      p.start();
      await p.join(20_000);
      assert.equal(seen.length, 3);
      if (daemon) {
        for (const message of seen) assert.match(message, DAEMONIC);
      } else {
        assert.deepEqual(seen, ["started", "started", "started"]);
      }
    }
  });

  test("parentProcess().join() resolves when the parent ends, and isAlive() turns false", async () => {
    const seen: string[] = [];
    let grandchild: dummy.Process | undefined;
    const child = new dummy.Process({
      name: "starter",
      target: () => {
        // Started by "starter", which ends at once and leaves it running.
        grandchild = new dummy.Process({
          target: async () => {
            const parent = dummy.parentProcess()!;
            seen.push(`${parent.name} ${parent.isAlive()}`);
            await parent.join(20_000);
            seen.push(`${parent.name} ${parent.isAlive()}`);
          },
        });
        grandchild.start();
      },
    });
    child.start();
    await child.join();
    await until(() => grandchild !== undefined, "the grandchild exists");
    await grandchild!.join(30_000);
    assert.deepEqual(seen, ["starter true", "starter false"]);
  });

  test("parentProcess().join(timeout) of a live parent returns once the time is up", async () => {
    const seen: unknown[] = [];
    const p = new dummy.Process({
      target: async () => {
        const parent = dummy.parentProcess()!;
        await parent.join(30);
        await parent.join(-1); // does not wait, as Python's
        seen.push(parent.name, parent.isAlive());
        await assert.rejects(parent.join("1" as unknown as number), TypeError);
      },
    });
    p.start();
    await p.join(20_000);
    assert.equal(p.exitcode, 0);
    assert.deepEqual(seen, ["MainProcess", true]);
  });
});
