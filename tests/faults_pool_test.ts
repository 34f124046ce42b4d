// Faults a pool or a process must contain: a task that runs out of memory, arguments that
// cannot be cloned, a function Bun prints without its name, and callbacks a Process's target
// leaves behind. Programs a fault could kill run as child programs with a time limit.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import { runChild } from "./_child.ts";

const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;
const program = new URL("./fixtures/faults_pool_program.ts", import.meta.url);
const isBun = "Bun" in globalThis;
/** For tests that start programs (Bun's default limit is 5 s). */
const slow = { timeout: 90_000 };

describe("faults: out of memory", () => {
  test(
    "Pool({ maxHeapMB }) fails a task that runs out of memory alone, with WorkerExitError",
    // Bun's workers have no heap limit (README, "Memory"): such a task would grow the whole
    // program by gigabytes on a shared machine.
    { ...slow, skip: isBun ? "Bun cannot bound a worker's heap (see README)" : false },
    async () => {
      const { code, stdout, stderr, timedOut } = await runChild(program, ["oom"], 60_000);
      assert.equal(timedOut, false, `timed out: ${stdout}\n${stderr}`);
      assert.equal(code, 0, `the program died (exit code ${code}): ${stdout}\n${stderr}`);
      assert.match(stdout, /^hog failed: WorkerExitError: .*ran out of memory.*64 MB/m);
      assert.match(stdout, /^other \[2,3,4\]$/m);
      assert.match(stdout, /^async hog failed: WorkerExitError: .*ran out of memory.*64 MB/m);
      assert.match(stdout, /^after \[2,4,6\]$/m);
    },
  );

  test("Pool() refuses a 'maxHeapMB' that is not a positive integer", () => {
    for (const [value, kind] of [[0, RangeError], [1.5, RangeError], ["64", TypeError]] as const) {
      assert.throws(
        () => new mp.Pool({ processes: 1, maxHeapMB: value as number }),
        (error: unknown) =>
          error instanceof kind && /'maxHeapMB' must be a positive integer/.test(error.message),
      );
    }
  });
});

for (const [label, m] of entries) {
  describe(`faults: a chunk of results longer than one string can be (${label})`, () => {
    test(
      "Pool.map() returns every string when a chunk's strings hold more text than a runtime's longest string",
      slow,
      async () => {
        // 260 strings of 2.07 million characters: 538.2 million in all, past V8's longest
        // string (2^29 - 24), while each string alone is fine. A chunk's text packed as one
        // string could not be read back: such a chunk goes as it is, and every string arrives.
        // More than 256 distinct strings: fewer travel as codes, with no joined text.
        await using pool = new m.Pool(1);
        const make = (i: number) =>
          String.fromCharCode(97 + (i % 26)).repeat(2_069_997) + String(i).padStart(3, "0");
        const out = await pool.map(make, [...Array(260).keys()], 260);
        assert.equal(out.length, 260);
        for (let i = 0; i < 260; i++) {
          assert.equal(out[i].length, 2_070_000, `item ${i}`);
          assert.equal(out[i][0], String.fromCharCode(97 + (i % 26)), `item ${i}`);
          assert.equal(out[i].slice(-3), String(i).padStart(3, "0"), `item ${i}`);
        }
      },
    );
  });

  describe(`faults: values that cannot be cloned (${label})`, () => {
    test("Pool.map() over uncloneable values rejects, and the pool goes on", slow, async () => {
      await using pool = new m.Pool(2);
      // 1 to 8 chunks of one item each that cannot be sent, then a mix.
      for (let bad = 1; bad <= 8; bad++) {
        const items = Array.from({ length: bad }, () => () => 1);
        if (label === "mod.ts") {
          await assert.rejects(pool.map((x: unknown) => typeof x, items, 1), /cannot be cloned/);
        } else {
          // The dummy pool clones nothing: the same call succeeds.
          assert.deepEqual(
            await pool.map((x: unknown) => typeof x, items, 1),
            items.map(() => "function"),
          );
        }
        assert.deepEqual(await pool.map((x: number) => x * 2, [1, 2, 3]), [2, 4, 6]);
      }
      const mixed = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? () => i : i));
      if (label === "mod.ts") {
        await assert.rejects(pool.map((x: unknown) => typeof x, mixed, 2), /cannot be cloned/);
        const it = pool.imap((x: unknown) => typeof x, mixed, 1);
        const seen: string[] = [];
        await assert.rejects(async () => {
          for await (const value of it) seen.push(value as string);
        }, /cannot be cloned/);
      }
      assert.deepEqual(await pool.map((x: number) => x + 1, [1, 2, 3]), [2, 3, 4]);
    });
  });

  describe(`faults: functions as Bun prints them (${label})`, () => {
    test("a recursive function declared inside a block runs as a task", async () => {
      await using pool = new m.Pool(2);
      if (label.length > 0) {
        // Bun prints a function declared in a block as `function(n) { ... }`, without its name.
        // deno-lint-ignore no-inner-declarations -- the block is the point of the test
        function fact(n: number): number {
          return n <= 1 ? 1 : n * fact(n - 1);
        }
        const fib = (n: number): number => (n < 2 ? n : fib(n - 1) + fib(n - 2));
        assert.deepEqual(await pool.map(fact, [1, 5, 10]), [1, 120, 3628800]);
        assert.deepEqual(await pool.map(fib, [10, 20]), [55, 6765]);
      }
    });

    test("a recursive arrow with a non-ASCII name, or a name with a digit, calls itself", async () => {
      await using pool = new m.Pool(2);
      const fakultät = (n: number): number => (n <= 1 ? 1 : n * fakultät(n - 1));
      const $sum2 = (n: number): number => (n <= 0 ? 0 : n + $sum2(n - 1));
      assert.deepEqual(await pool.map(fakultät, [1, 5, 10]), [1, 120, 3628800]);
      assert.deepEqual(await pool.map($sum2, [3, 100]), [6, 5050]);
    });

    test("a function named like a global still means the global inside", async () => {
      await using pool = new m.Pool(1);
      const tasks = { parseInt: (s: string) => parseInt(s, 16) };
      assert.equal(await pool.apply(tasks.parseInt, ["ff"]), 255);
    });
  });
}

describe("faults: a Process's callbacks after its target returned", () => {
  test("Process runs the callbacks its target left, as a program would", slow, async () => {
    const done = mp.Value("i", 0);
    const p = new mp.Process({
      target: (flag: { value: number }) => {
        setTimeout(() => {
          flag.value = 1;
        }, 100);
        Promise.resolve().then(() => new Promise((r) => setTimeout(r, 150))).then(() => {
          flag.value += 10;
        });
      },
      args: [done],
    });
    p.start();
    await p.join(30_000);
    assert.equal(p.exitcode, 0);
    assert.equal(done.value, 11);
  });

  test("Process.terminate() still ends a process whose target left an interval", slow, async () => {
    const p = new mp.Process({
      target: () => {
        setInterval(() => {}, 1000);
      },
    });
    p.start();
    await p.join(1000);
    // A program with an interval runs on: so does the process, until it is stopped.
    assert.equal(p.isAlive(), true);
    p.terminate();
    await p.join(30_000);
    assert.equal(p.exitcode, -15);
  });

  for (const scenario of ["late-error", "late-rejection"]) {
    test(
      `Process gives exitcode 1 and prints an error thrown after its target (${scenario})`,
      slow,
      async () => {
        const { code, stdout, stderr, timedOut } = await runChild(program, [scenario], 60_000);
        assert.equal(timedOut, false, `timed out: ${stdout}\n${stderr}`);
        assert.equal(code, 0, stderr);
        assert.match(stdout, /^exitcode 1$/m, stderr);
        const what = scenario === "late-error"
          ? "RangeError: late boom"
          : "TypeError: late rejection";
        assert.match(stderr, new RegExp(`^Process Process-1:\\n(.*\\n)*.*${what}`, "m"));
      },
    );
  }
});
