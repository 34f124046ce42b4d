// Pool.prepare(): pool workers started ahead of need, which the next pools take (issue 12,
// "the first result of a pool whose workers were prepared ahead").
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import {
  endNextTakenPrepared,
  endPrepared,
  preparedIds,
  preparedWorkers,
} from "../lib/_worker_executor.ts";
import * as mp from "../mod.ts";
import { runChild } from "./_child.ts";
import type * as Tasks from "./fixtures/tasks.ts";

const tasks = new URL("./fixtures/tasks.ts", import.meta.url).href;
const ref = <F extends (...args: never[]) => unknown>(name: string) =>
  mp.fromModule<F>(tasks, name);
const program = new URL("./fixtures/pool_prepare_program.ts", import.meta.url);
const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;
const slow = { timeout: 60_000 };

/** The thread ids of the workers that run `n` tasks of `pool`, one at a time. */
async function threadIds(pool: mp.Pool, n: number): Promise<Set<number>> {
  return new Set(await pool.map(ref<typeof Tasks.threadIdOf>("threadIdOf"), Array(n).fill(0), 1));
}

/** Takes and ends the prepared workers a test left, so that the next test starts with none. */
async function takeLeftovers(): Promise<void> {
  const left = preparedWorkers();
  if (left > 0) await new mp.Pool(left).terminate();
  assert.equal(preparedWorkers(), 0);
}

describe("Pool.prepare() (mod.ts): workers started ahead of need", () => {
  test("the next Pool takes the prepared workers, with its own initializer and names", async () => {
    await takeLeftovers();
    await mp.Pool.prepare(2);
    assert.equal(preparedWorkers(), 2);
    await mp.Pool.prepare(2); // those waiting count: no more start
    await mp.Pool.prepare(1);
    assert.equal(preparedWorkers(), 2);
    const ids = preparedIds();
    await using pool = new mp.Pool({
      processes: 2,
      initializer: ref<typeof Tasks.init>("init"),
      initargs: ["prepared"],
    });
    assert.equal(preparedWorkers(), 0);
    const inits = await pool.map(ref<typeof Tasks.readInit>("readInit"), [1, 2, 3, 4], 1);
    for (const { count, tag } of inits) {
      assert.deepEqual({ count, tag }, { count: 1, tag: "prepared" });
    }
    const seen = await pool.map(ref<typeof Tasks.whoami>("whoami"), [1, 2, 3, 4], 1);
    const me = mp.currentProcess();
    for (const { self, parent } of seen) {
      assert.match(self.name, /^PoolWorker-[12]$/);
      assert.notEqual(self.pid, me.pid);
      assert.deepEqual(parent, { name: "MainProcess", pid: me.pid });
    }
    // The workers are the prepared ones.
    for (const id of await threadIds(pool, 8)) assert.ok(ids.includes(id), `${id} in ${ids}`);
    assert.deepEqual(await pool.map((x: number) => x * x, [1, 2, 3]), [1, 4, 9]);
  });

  test("a bigger pool takes those waiting and starts the rest; one with maxHeapMB takes none", async () => {
    await takeLeftovers();
    await mp.Pool.prepare(1);
    {
      await using pool = new mp.Pool(3);
      assert.equal(preparedWorkers(), 0);
      assert.deepEqual(await pool.map((x: number) => x + 1, [1, 2, 3, 4, 5, 6], 1), [
        2,
        3,
        4,
        5,
        6,
        7,
      ]);
    }
    await mp.Pool.prepare(2);
    {
      await using pool = new mp.Pool({ processes: 2, maxHeapMB: 256 });
      assert.equal(preparedWorkers(), 2);
      assert.equal(await pool.apply((x: number) => x + 1, [1]), 2);
    }
    await takeLeftovers();
  });

  test("a worker that replaces one that ended takes a prepared worker", async () => {
    await takeLeftovers();
    await using pool = new mp.Pool({ processes: 1, maxtasksperchild: 1 });
    const first = await pool.apply(ref<typeof Tasks.pidOf>("pidOf"), [0]);
    await mp.Pool.prepare(1);
    const ids = preparedIds();
    const second = await pool.apply(ref<typeof Tasks.pidOf>("pidOf"), [0]);
    assert.notEqual(second, first);
    assert.equal(preparedWorkers(), 0);
    // The replacement is the prepared worker (whose one task ends it in turn).
    assert.deepEqual([...await threadIds(pool, 1)], ids);
  });

  test("a task that fails or ends its prepared worker fails alone, and the pool goes on", async () => {
    await takeLeftovers();
    await mp.Pool.prepare(2);
    await using pool = new mp.Pool(2);
    const error = await pool.apply(ref<typeof Tasks.exitWith>("exitWith"), [3]).catch((e) => e);
    assert.ok(error instanceof mp.WorkerExitError, String(error));
    assert.equal(error.exitCode, 3);
    await assert.rejects(
      pool.apply(() => {
        throw new RangeError("task refused");
      }, []),
      { name: "RangeError", message: "task refused" },
    );
    assert.deepEqual(await pool.map((x: number) => x - 1, [1, 2, 3], 1), [0, 1, 2]);
  });

  test("a prepared worker that ended while it waited is not taken", async () => {
    await takeLeftovers();
    await mp.Pool.prepare(2);
    const ids = preparedIds();
    await endPrepared();
    assert.equal(preparedWorkers(), 1);
    await endPrepared();
    assert.equal(preparedWorkers(), 0);
    await using pool = new mp.Pool(1);
    assert.deepEqual(await pool.map((x: number) => x * 2, [1, 2, 3, 4], 1), [2, 4, 6, 8]);
    // A worker of the pool's own.
    for (const id of await threadIds(pool, 2)) assert.ok(!ids.includes(id), `${id} in ${ids}`);
  });

  test("a prepared worker that ends before it reads its pool's start is replaced", async () => {
    await takeLeftovers();
    await mp.Pool.prepare(1);
    const ids = preparedIds();
    endNextTakenPrepared();
    await using pool = new mp.Pool({
      processes: 1,
      initializer: ref<typeof Tasks.init>("init"),
      initargs: ["replaced"],
    });
    assert.equal(preparedWorkers(), 0);
    const [{ count, tag }] = await pool.map(ref<typeof Tasks.readInit>("readInit"), [1], 1);
    assert.deepEqual({ count, tag }, { count: 1, tag: "replaced" });
    assert.deepEqual(await pool.map((x: number) => x + 1, [1, 2, 3], 1), [2, 3, 4]);
    for (const id of await threadIds(pool, 2)) assert.ok(!ids.includes(id), `${id} in ${ids}`);
  });

  test("a prepared worker that its pool's initializer ends fails the work with the cause", async () => {
    await takeLeftovers();
    await mp.Pool.prepare(1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-prepared-"));
    const flaky = new URL("./fixtures/flaky_start.ts", import.meta.url).href;
    try {
      // The initializer ends the first worker that runs it, and lets any later one start.
      await using pool = new mp.Pool({
        processes: 1,
        initializer: mp.fromModule<(flag: string) => void>(flaky, "exitOnce"),
        initargs: [path.join(dir, "flag")],
      });
      assert.equal(preparedWorkers(), 0);
      // Not taken for a prepared worker that ended before it began: no other worker runs it.
      await assert.rejects(
        pool.apply(mp.fromModule<(x: number) => number>(flaky, "double"), [1]),
        /could not start: it ended with exit code 3/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a program with prepared workers waiting ends by itself", slow, async () => {
    for (
      const [scenario, expect] of [
        ["waiting", /^waiting at the end 2$/m],
        ["unawaited", /^started 2$/m],
        ["taken", /^result 42\nwaiting at the end 1$/m],
      ] as const
    ) {
      const { code, timedOut, stdout, stderr } = await runChild(program, [scenario], 30_000);
      assert.equal(timedOut, false, `${scenario} did not end by itself`);
      assert.equal(code, 0, `${scenario}: ${stderr}`);
      assert.match(stdout, expect);
    }
  });
});

describe("Pool.prepare() (dummy.ts): the calling thread", () => {
  test("Pool.prepare() starts no Worker, and pools work as before", async () => {
    const had = preparedWorkers();
    assert.equal(await dummy.Pool.prepare(2), undefined);
    assert.equal(preparedWorkers(), had);
    await using pool = new dummy.Pool(2);
    assert.deepEqual(await pool.map((x: number) => x * 2, [1, 2]), [2, 4]);
  });
});

for (const [label, m] of entries) {
  describe(`Pool.prepare() (${label}): bad counts`, () => {
    test("Pool.prepare() refuses a count that is not a positive integer, naming it", () => {
      assert.throws(
        () => m.Pool.prepare("2" as unknown as number),
        {
          name: "TypeError",
          message:
            "Cannot prepare pool workers as 'processes' must be a positive integer: received \"2\"",
        },
      );
      for (const bad of [0, -1, 1.5, NaN]) {
        assert.throws(() => m.Pool.prepare(bad), {
          name: "RangeError",
          message:
            `Cannot prepare pool workers as 'processes' must be a positive integer: received ${bad}`,
        });
      }
    });
  });
}
