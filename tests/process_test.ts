import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import { endNextHandedSpare, endSpare, hasSpare } from "../lib/process.ts";
import { runChild } from "./_child.ts";
import type * as Fixtures from "./fixtures/processes.ts";
import { Homeless, Recorder } from "./fixtures/processes.ts";

const fixtures = new URL("./fixtures/processes.ts", import.meta.url).href;
const program = new URL("./fixtures/process_program.ts", import.meta.url);
const slow = { timeout: 60_000 };
const cells = () => new Int32Array(new SharedArrayBuffer(16));

/** Starts a Process named `name` that checks it runs on a spare Worker as itself. */
async function runsOnSpare(name: string): Promise<void> {
  const out = cells();
  const p = new mp.Process({
    name,
    target: mp.fromModule<typeof Fixtures.checkSpare>(fixtures, "checkSpare"),
    args: [name, out],
  });
  p.start();
  await p.join();
  assert.equal(p.exitcode, 0);
  assert.equal(out[0], p.pid);
}
/** A process whose target stores `value` in the first of `out`, with `out`. */
function storing(value: number): [mp.Process, Int32Array] {
  const out = cells();
  const target = (c: Int32Array, v: number) => void Atomics.store(c, 0, v);
  return [new mp.Process({ target, args: [out, value] }), out];
}

/** Starts a process that stores `value`, and checks that it ran and ended with exit code 0. */
async function startsAndStores(value: number): Promise<void> {
  const [p, out] = storing(value);
  p.start();
  await p.join(20_000);
  assert.equal(p.exitcode, 0);
  assert.equal(out[0], value);
}
// Runs until stopped: a worker needs a timer to stay alive; on the calling thread a promise
// that never settles holds nothing, so an abandoned one cannot keep the tests running.
const forever = () => new Promise(() => setInterval(() => {}, 1000));
const neverSettles = () => new Promise(() => {});
const entries = [["mod.ts", mp, forever], ["dummy.ts", dummy, neverSettles]] as const;

for (const [label, m, endless] of entries) {
  describe(`Process (${label})`, () => {
    test("Process runs target with args and ends with exitcode 0", async () => {
      const out = cells();
      const p = new m.Process({
        target: (c: Int32Array, n: number) => void Atomics.store(c, 0, n * 2),
        args: [out, 21],
      });
      assert.equal(p.exitcode, null);
      assert.equal(p.pid, null);
      p.start();
      await p.join();
      assert.equal(p.exitcode, 0);
      assert.equal(out[0], 42);
    });

    test("Process.exitcode is 1 after an uncaught error, printed with its name", slow, async () => {
      const entry = label === "dummy.ts" ? "dummy" : "mod";
      const { code, stdout, stderr } = await runChild(program, [entry, "uncaught"]);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /exitcode 1/);
      assert.match(stderr, /^Process Process-1:\n.*TypeError: boom in child/ms);
    });

    test("Process.exitcode is -15 after terminate(), -9 after kill()", async () => {
      const terminated = new m.Process({ target: endless });
      terminated.start();
      terminated.terminate();
      await terminated.join();
      assert.equal(terminated.exitcode, -15);
      const killed = new m.Process({ target: endless });
      killed.start();
      killed.kill();
      await killed.join();
      assert.equal(killed.exitcode, -9);
    });

    test("Process.join(timeout) returns after the timeout with the process alive", async () => {
      const p = new m.Process({ target: endless });
      p.start();
      await p.join(30);
      assert.equal(p.isAlive(), true);
      assert.equal(p.exitcode, null);
      p.terminate();
      await p.join();
      assert.equal(p.isAlive(), false);
    });

    test("isAlive() and activeChildren() follow start, end and join", async () => {
      const release = cells();
      const p = new m.Process({
        target: async (c: Int32Array) => {
          while (Atomics.load(c, 0) === 0) await new Promise((r) => setTimeout(r, 2));
        },
        args: [release],
      });
      assert.equal(p.isAlive(), false);
      assert.ok(!m.activeChildren().includes(p));
      p.start();
      assert.equal(p.isAlive(), true);
      assert.ok(m.activeChildren().includes(p));
      Atomics.store(release, 0, 1);
      await p.join();
      assert.equal(p.isAlive(), false);
      assert.ok(!m.activeChildren().includes(p));
    });

    test("isAlive() turns false and activeChildren() drops the process when it ends, before join()", async () => {
      const done = cells();
      const p = new m.Process({
        target: (c: Int32Array) => void Atomics.store(c, 0, 1),
        args: [done],
      });
      p.start();
      const deadline = Date.now() + 10_000;
      while ((Atomics.load(done, 0) === 0 || p.isAlive()) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(done[0], 1);
      assert.equal(p.isAlive(), false);
      assert.equal(p.exitcode, 0);
      assert.ok(!m.activeChildren().includes(p));
      await p.join();
    });

    test("Process.pid is unique and what the child sees; parentProcess() names the parent", async () => {
      const seen = [cells(), cells()];
      const ps = seen.map((c) =>
        new m.Process({
          target: mp.fromModule<typeof Fixtures.recordPids>(fixtures, "recordPids"),
          args: [c],
        })
      );
      for (const p of ps) p.start();
      for (const p of ps) await p.join();
      assert.notEqual(ps[0].pid, ps[1].pid);
      for (let i = 0; i < 2; i++) {
        assert.equal(seen[i][0], ps[i].pid);
        assert.equal(seen[i][1], m.currentProcess().pid);
        assert.notEqual(ps[i].pid, m.currentProcess().pid);
      }
    });

    test("Process names go Process-N, or the name given", () => {
      const a = new m.Process();
      const b = new m.Process();
      const [na, nb] = [a.name, b.name].map((n) => Number(/^Process-(\d+)$/.exec(n)?.[1]));
      assert.equal(nb, na + 1);
      assert.equal(new m.Process({ name: "mine" }).name, "mine");
    });

    test("a Pool can be used inside a Process", slow, async () => {
      const out = cells();
      const target = label === "dummy.ts"
        ? async (c: Int32Array) => {
          await using pool = new dummy.Pool(2);
          const xs = Array.from({ length: 10 }, (_, i) => i);
          const squares = await pool.map((x: number) => x * x, xs);
          Atomics.store(c, 0, squares.reduce((a, b) => a + b, 0));
        }
        : mp.fromModule<typeof Fixtures.poolInside>(fixtures, "poolInside");
      const p = new m.Process({ target, args: [out] });
      p.start();
      await p.join();
      assert.equal(p.exitcode, 0);
      assert.equal(out[0], 285);
    });

    test("Process misuse is a clear error", async () => {
      const p = new m.Process({ target: () => {} });
      await assert.rejects(
        p.join(),
        /Cannot join Process-\d+ as it has not started: call start\(\) first/,
      );
      p.start();
      assert.throws(() => p.start(), /Cannot start Process-\d+ twice/);
      assert.throws(() => (p.daemon = true), /Cannot set daemon of Process-\d+ after start\(\)/);
      await p.join();
      p.close();
      assert.throws(() => p.start(), /process is closed/);
      assert.throws(() => p.isAlive(), /process is closed/);
      assert.throws(() => p.exitcode, /process is closed/);
      await assert.rejects(p.join(), /process is closed/);
      assert.throws(() => p.terminate(), /process is closed/);
      assert.throws(() => p.kill(), /process is closed/);
      assert.throws(() => p.pid, /process is closed/);
      const running = new m.Process({ target: endless });
      running.start();
      assert.throws(() => running.close(), /still running: join\(\) or terminate\(\) it first/);
      running.kill();
      await running.join();
      assert.throws(() => new m.Process({ args: 3 as unknown as [] }), TypeError);
      assert.throws(() => new m.Process({ target: 3 as unknown as () => void }), TypeError);
      assert.throws(() => new m.Process({ daemon: "yes" as unknown as boolean }), TypeError);
    });
  });
}

describe("Process (mod.ts): workers", () => {
  test("Process.exitcode is n after process.exit(n)", async () => {
    const exits = new mp.Process({ target: () => process.exit(7) });
    exits.start();
    await exits.join();
    assert.equal(exits.exitcode, 7);
  });

  test("Process names nest: Process-1:1 is started inside Process-1", slow, async () => {
    const { code, stdout, stderr } = await runChild(program, ["mod", "nested"]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^child Process-1$/m);
    assert.match(stdout, /^grandchild Process-1:1 of Process-1$/m);
    assert.match(stdout, /^exitcode 0$/m);
  });

  test(
    "daemons end with the program; non-daemons keep it running until they finish",
    slow,
    async () => {
      const { code, stdout, stderr } = await runChild(program, ["mod", "daemons"], 20_000);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /main done\n(.|\n)*non-daemon done/);
    },
  );

  test("a Process subclass overriding run() runs with its fields and name", async () => {
    const out = cells();
    const p = new Recorder(99, out);
    p.start();
    await p.join();
    assert.equal(p.exitcode, 0);
    assert.deepEqual([...out.slice(0, 3)], [99, 1, 1]);
    assert.throws(
      () => new Homeless().start(),
      /does not say where it is defined.*static override module = import\.meta\.url/,
    );
  });

  test("Process.prepare() has the next start() run on a spare Worker, as that process", async () => {
    mp.Process.prepare();
    mp.Process.prepare(); // a second call while one waits does nothing
    await runsOnSpare("on-spare");
  });

  test("after a start(), the next start() runs on a spare Worker", async () => {
    const first = new mp.Process({ target: () => {} });
    first.start();
    await first.join();
    assert.equal(hasSpare(), true);
    await runsOnSpare("after-start");
  });

  test("a spare Worker that ended while it waited is not handed a process", async () => {
    mp.Process.prepare();
    await endSpare();
    assert.equal(hasSpare(), false);
    await startsAndStores(7);
    // And the next start() finds a spare again.
    assert.equal(hasSpare(), true);
    await runsOnSpare("after-a-dead-spare");
  });

  test("a process handed to a spare Worker that ends before reading it still runs", async () => {
    mp.Process.prepare();
    assert.equal(hasSpare(), true);
    endNextHandedSpare();
    await startsAndStores(9);
    assert.equal(hasSpare(), true);
    await runsOnSpare("after-a-spare-ended-with-a-process");
  });

  test("terminate() before a spare Worker read its process ends it there", async () => {
    mp.Process.prepare();
    endNextHandedSpare();
    const [p, out] = storing(9);
    p.start();
    p.terminate();
    await p.join(20_000);
    assert.equal(p.exitcode, -15);
    // It was not started again on a Worker of its own.
    assert.equal(out[0], 0);
  });

  test("a program with a spare Worker waiting still ends by itself", slow, async () => {
    const { code, stdout, stderr } = await runChild(program, ["mod", "spare"], 30_000);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^on a spare true$/m);
    assert.match(stdout, /^exitcode 0$/m);
    assert.match(stdout, /^spare waiting at the end true$/m);
    // A spare runs a process of its own while it waits: it shows nothing of it.
    assert.equal(stderr, "");
  });

  test("a program that never starts a Process makes no spare Worker", slow, async () => {
    const { code, stdout, stderr } = await runChild(program, ["mod", "no-spare"], 30_000);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^got 2$/m);
    assert.match(stdout, /^spare made false$/m);
  });

  test("Process.start() refuses arguments that cannot be cloned", () => {
    assert.throws(
      () => new mp.Process({ target: () => {}, args: [() => 1] }).start(),
      /arguments cannot be cloned/,
    );
  });

  test("a Process target that uses an outer variable fails", async () => {
    // Not a literal: Bun's transpiler inlines `const x = 3` into the function that uses it.
    const offset = cells().length;
    const p = new mp.Process({
      target: (c: Int32Array) => void Atomics.store(c, 0, offset),
      args: [cells()],
    });
    p.start();
    await p.join();
    assert.equal(p.exitcode, 1);
  });
});

describe("Process (dummy.ts): the calling thread", () => {
  test("Process.prepare() makes no Worker on the calling thread", async () => {
    const had = hasSpare();
    dummy.Process.prepare();
    assert.equal(hasSpare(), had);
    const p = new dummy.Process({ target: () => {} });
    p.start();
    await p.join();
    assert.equal(p.exitcode, 0);
  });

  test("currentProcess() in a dummy.ts Process names it; parentProcess() names its starter", async () => {
    const seen: string[] = [];
    const p = new dummy.Process({
      target: async () => {
        await null;
        const me = dummy.currentProcess();
        seen.push(`${me.name} ${me.pid} of ${dummy.parentProcess()?.name}`);
        const child = new dummy.Process({
          target: () => {
            seen.push(`${dummy.currentProcess().name} of ${dummy.parentProcess()?.name}`);
          },
        });
        child.start();
        await child.join();
      },
    });
    p.start();
    await p.join();
    assert.match(p.name, /^Process-\d+$/);
    assert.deepEqual(seen, [`${p.name} ${p.pid} of MainProcess`, `${p.name}:1 of ${p.name}`]);
    assert.notEqual(p.pid, dummy.currentProcess().pid);
    assert.equal(dummy.currentProcess().name, "MainProcess");
  });

  test("a subclass overriding run() needs no module, and closures work", async () => {
    const seen: string[] = [];
    class Greeter extends dummy.Process {
      override run(): void {
        seen.push(this.name);
      }
    }
    const p = new Greeter({ name: "greeter" });
    p.start();
    await p.join();
    assert.deepEqual(seen, ["greeter"]);
    assert.equal(p.exitcode, 0);
  });
});
