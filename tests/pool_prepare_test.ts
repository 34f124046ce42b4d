// Pool.prepare(): pool workers started ahead of need, which the next pools take (issue 12,
// "the first result of a pool whose workers were prepared ahead").
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import { preparedWorkers } from "../lib/_worker_executor.ts";
import * as mp from "../mod.ts";
import { runChild } from "./_child.ts";
import type * as Tasks from "./fixtures/tasks.ts";

const tasks = new URL("./fixtures/tasks.ts", import.meta.url).href;
const ref = <F extends (...args: never[]) => unknown>(name: string) =>
  mp.fromModule<F>(tasks, name);
const program = new URL("./fixtures/pool_prepare_program.ts", import.meta.url);
const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;
const slow = { timeout: 60_000 };

/** When this thread's clock began, as the workers' clocks count: a Worker's starts later. */
const now = () => performance.timeOrigin + performance.now();

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
    const before = now();
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
    // The workers' clocks began before the pool was made: they are the prepared ones.
    const origins = await pool.map(() => performance.timeOrigin, [1, 2, 3, 4, 5, 6, 7, 8], 1);
    for (const origin of origins) assert.ok(origin < before, `${origin} < ${before}`);
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
    const before = now();
    const second = await pool.apply(ref<typeof Tasks.pidOf>("pidOf"), [0]);
    assert.notEqual(second, first);
    assert.equal(preparedWorkers(), 0);
    // Its clock began before the replacement was needed: it is the prepared one.
    assert.ok((await pool.apply(() => performance.timeOrigin, [])) < before);
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
