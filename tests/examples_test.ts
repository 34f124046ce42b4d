// Smoke test for examples/: runs each example as a program of its own, with the runtime that
// runs this test (deno test, bun test or node --test), and checks its exit code and output.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runChild } from "./_child.ts";

// An example ends in a few seconds; a hang fails its test instead of the whole run.
const RUN_TIMEOUT_MS = 30_000;
// Above the child's own limit, and above bun's default of 5 s per test.
const TEST_OPTIONS = { timeout: RUN_TIMEOUT_MS + 10_000 };

/** Runs an example and asserts that it ended by itself with exit code 0. */
async function run(name: string): Promise<string> {
  const result = await runChild(
    new URL(`../examples/${name}`, import.meta.url),
    [],
    RUN_TIMEOUT_MS,
  );
  const report = `\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
  assert.ok(!result.timedOut, `examples/${name} did not end within ${RUN_TIMEOUT_MS} ms${report}`);
  assert.equal(
    result.code,
    0,
    `examples/${name} exited with code ${result.code} (signal ${result.signal})${report}`,
  );
  return result.stdout;
}

/** The lines of `stdout`, checked to appear in this order (other lines may come between). */
function assertInOrder(stdout: string, patterns: RegExp[]): void {
  const lines = stdout.split("\n");
  let at = 0;
  for (const pattern of patterns) {
    const found = lines.findIndex((line, i) => i >= at && pattern.test(line));
    assert.ok(found >= 0, `expected a line matching ${pattern} after line ${at} in:\n${stdout}`);
    at = found + 1;
  }
}

function count(stdout: string, pattern: RegExp): number {
  return stdout.split("\n").filter((line) => pattern.test(line)).length;
}

const SQUARES = "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]";
const TESTED = [
  "class_instances.ts",
  "dummy_switch.ts",
  "lock_ticket.ts",
  "manager_countdown.ts",
  "manager_namespace.ts",
  "manager_nested.ts",
  "module_function.ts",
  "monte_carlo_pi.ts",
  "pipe_hello.ts",
  "pool_chunksize.ts",
  "pool_crawler_callback.ts",
  "pool_error_callback.ts",
  "pool_initializer.ts",
  "pool_prepare.ts",
  "pool_long_task.ts",
  "pool_squares.ts",
  "process_args.ts",
  "process_daemon.ts",
  "process_prepare.ts",
  "process_send_mail.ts",
  "process_subclass.ts",
  "queue_joinable.ts",
  "queue_producer_consumer.ts",
  "shared_array.ts",
  "shared_value.ts",
];

describe("examples", () => {
  test("every example in examples/ has a smoke test here", () => {
    const dir = fileURLToPath(new URL("../examples/", import.meta.url));
    const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
    assert.deepEqual(files, TESTED);
  });

  test(
    "examples/class_instances.ts runs and instances keep their class both ways",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("class_instances.ts");
      assertInOrder(stdout, [
        /^instances of Point: true$/,
        /^norms: \[10,20\]$/,
        /^norm in a worker: 13$/,
        /^caught OutOfRange: 500 is too far \(limit 100\)$/,
        /^refused: Cannot send an instance of Sketch .*registerClass\(Sketch, import\.meta\.url\)/,
      ]);
    },
  );

  test("examples/pool_squares.ts runs and prints the squares", TEST_OPTIONS, async () => {
    const stdout = await run("pool_squares.ts");
    assert.equal(stdout, `${SQUARES}\n4\n${SQUARES}\n`);
  });

  test(
    "examples/pool_crawler_callback.ts runs and its callback receives every page size",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("pool_crawler_callback.ts");
      const sizes = Array.from({ length: 20 }, (_, i) => 5 * i);
      assert.match(
        stdout,
        new RegExp(`^callback received \\(sorted\\): \\[${sizes.join(", ")}\\]$`, "m"),
      );
      // The callback printed each size once, on a line of its own.
      const printed = stdout.split("\n").filter((l) => /^\d+$/.test(l)).map(Number);
      assert.deepEqual(printed.sort((a, b) => a - b), sizes);
      assert.equal(count(stdout, /^crawled page \d+$/), 20);
    },
  );

  test(
    "examples/pool_error_callback.ts runs and hands the error to errorCallback",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("pool_error_callback.ts");
      assert.equal(
        stdout,
        [
          "error: RangeError: special value 3",
          "results: [0, 1, 4, 16, 25]",
          "errors: [RangeError: special value 3]",
          "ready: true, successful: false",
          "get() rejected with RangeError: special value 3 (cause: RemoteTraceback)",
          "",
        ].join("\n"),
      );
    },
  );

  test("examples/monte_carlo_pi.ts runs and prints π ≈ 3.14", TEST_OPTIONS, async () => {
    const stdout = await run("monte_carlo_pi.ts");
    assert.match(stdout, /^estimates: \[(3\.\d+, ){3}3\.\d+\]$/m);
    // 4 million points: the estimate is within 0.003 of π but for a one-in-a-million draw.
    const pi = Number(/^π ≈ (\d+\.\d+)$/m.exec(stdout)?.[1]);
    assert.ok(Math.abs(pi - Math.PI) < 0.01, `π estimate too far off: ${pi}\n${stdout}`);
  });

  test(
    "examples/pool_chunksize.ts runs and prints the same sum for every chunksize",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("pool_chunksize.ts");
      const result = "10000 results, first \\[0, 1, 4, 9, 16\\], sum 333283335000 \\([\\d.]+ ms\\)";
      assertInOrder(stdout, [
        new RegExp(`^chunksize=100: ${result}$`),
        new RegExp(`^chunksize=1: ${result}$`),
        new RegExp(`^chunksize=default: ${result}$`),
        /^all three lists are equal$/,
      ]);
    },
  );

  test(
    "examples/pool_long_task.ts runs and finishes the short tasks while the long one runs",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("pool_long_task.ts");
      assertInOrder(stdout, [
        /^\[\d+ ms\] main: starmap returned \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\]$/,
        /^main: starmap finished while the long task was running: ready\(\) = false$/,
        /^main: the long task returned 10$/,
        /^\[\d+ ms\] main process$/,
      ]);
      assertInOrder(stdout, [/^\[\d+ ms\] long task 10 starts$/, /^\[\d+ ms\] long task 10 ends$/]);
      assert.equal(count(stdout, /^\[\d+ ms\] short task \d done$/), 10);
    },
  );

  test(
    "examples/dummy_switch.ts runs the same program on both entry points",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("dummy_switch.ts");
      const pages = "\\[0, 5, 10, 15, 20, 25, 30, 35, 40, 45\\] in \\d+ ms";
      const counts = "\\[1714285, 1714285, 1714285, 1714285\\] in \\d+ ms";
      assertInOrder(stdout, [
        new RegExp(`^mod\\.ts +I/O-bound: ${pages}$`),
        new RegExp(`^mod\\.ts +CPU-bound: ${counts}$`),
        new RegExp(`^dummy\\.ts I/O-bound: ${pages}$`),
        new RegExp(`^dummy\\.ts CPU-bound: ${counts}$`),
      ]);
    },
  );

  test(
    "examples/module_function.ts runs and hashes in workers with fromModule()",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("module_function.ts");
      assert.match(
        stdout,
        /^passed as it is: ReferenceError: .*uses 'createHash'.*fromModule\(import\.meta\.url, "sha256"\)/m,
      );
      assertInOrder(stdout, [
        /^hello: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 \(PoolWorker-\d+\)$/,
        /^world: 486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7 \(PoolWorker-\d+\)$/,
        /^multiprocessing: 2fef1a96570ca23c62a2a523362a03bcf6b5fb11234abaa93a88fbdc0c3f6e6c \(PoolWorker-\d+\)$/,
        /^main program: MainProcess$/,
      ]);
    },
  );
  test(
    "examples/process_args.ts runs its target and reports exitcode 0",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("process_args.ts");
      assertInOrder(stdout, [
        /^child 1 is running$/,
        /^child 1 is done$/,
        /^Process-1 \(pid \d+\) ended with exitcode 0$/,
        /^main \(pid \d+\)$/,
      ]);
    },
  );

  test(
    "examples/pool_prepare.ts gets a first result from a pool of prepared workers",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("pool_prepare.ts");
      assertInOrder(stdout, [
        /^workers started by the pool: first result after [\d.]+ ms$/,
        new RegExp(`^${SQUARES.replace(/[[\]]/g, "\\$&")}$`),
        /^prepared workers: first result after [\d.]+ ms$/,
      ]);
    },
  );

  test(
    "examples/process_prepare.ts runs its processes on spares prepared ahead",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("process_prepare.ts");
      assertInOrder(stdout, [
        /^job 0 running, [\d.]+ ms after start\(\)$/,
        /^Process-1 ended with exitcode 0$/,
        /^job 1 running, [\d.]+ ms after start\(\)$/,
        /^Process-2 ended with exitcode 0$/,
        /^job 2 running, [\d.]+ ms after start\(\)$/,
        /^Process-3 ended with exitcode 0$/,
      ]);
    },
  );

  test("examples/process_subclass.ts runs the subclass's run()", TEST_OPTIONS, async () => {
    const stdout = await run("process_subclass.ts");
    assertInOrder(stdout, [/^child 1 is running!$/, /^child 1 is done!$/, /^exitcode 0$/]);
    assert.match(stdout, /^main process!$/m);
  });

  test("examples/process_send_mail.ts joins all ten processes", TEST_OPTIONS, async () => {
    const stdout = await run("process_send_mail.ts");
    assert.equal(count(stdout, /^send mail \d$/), 10);
    assertInOrder(stdout, [/^send mail \d$/, /^all mail sent: exit codes \[0(,0){9}\]$/]);
  });

  test("examples/process_daemon.ts ends while its daemon still runs", TEST_OPTIONS, async () => {
    const stdout = await run("process_daemon.ts");
    assertInOrder(stdout, [
      /^SERVER, I am fine!$/,
      /^process 2 is done$/,
      /^watchdog still alive at the end: true; the program now ends with it$/,
    ]);
  });
  test(
    "examples/shared_value.ts loses updates without the lock, none with it",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("shared_value.ts");
      assertInOrder(stdout, [
        /^value1: 0, value2: 3\.14$/,
        /^without lock: \d+$/,
        /^with lock: 40$/,
        /^race without lock: \d+ of 2000000$/,
        /^race with getLock\(\): 2000000 of 2000000$/,
      ]);
    },
  );

  test("examples/shared_array.ts shares an Array between two processes", TEST_OPTIONS, async () => {
    const stdout = await run("shared_array.ts");
    assertInOrder(stdout, [
      /^array: \[1, 2, 3, 4\] \(Int32Array over a SharedArrayBuffer: true\)$/,
      /^without lock: \[\d+, \d+, \d+, \d+\]$/,
      /^with lock: \[41, 42, 43, 44\]$/,
      /^with Atomics\.add\(\): \[41, 42, 43, 44\]$/,
    ]);
  });
  test("examples/lock_ticket.ts sells each of the 3 tickets once", TEST_OPTIONS, async () => {
    const stdout = await run("lock_ticket.ts");
    assert.equal(count(stdout, /^buyer \d sees \d ticket\(s\) left$/), 10);
    assert.equal(count(stdout, /^buyer \d bought a ticket$/), 3);
    assert.equal(count(stdout, /^buyer \d found no ticket left$/), 7);
    assert.match(stdout, /^tickets left: 0$/m);
    assert.match(stdout, /^exit codes: \[0(,0){9}\]$/m);
  });
  test("examples/pipe_hello.ts receives hello through a Pipe", TEST_OPTIONS, async () => {
    assert.equal(await run("pipe_hello.ts"), '["hello"]\n');
  });

  test("examples/queue_producer_consumer.ts eats every bun once", TEST_OPTIONS, async () => {
    const stdout = await run("queue_producer_consumer.ts");
    assertInOrder(
      stdout,
      Array.from({ length: 20 }, (_, i) => new RegExp(`^producer made bun ${i}$`)),
    );
    const eaten = [...stdout.matchAll(/^glutton [12] ate bun (\d+)$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(eaten.sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
    assert.match(stdout, /^all 20 buns eaten$/m);
  });

  test(
    "examples/queue_joinable.ts returns from join() once every bun is eaten",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("queue_joinable.ts");
      for (const kind of ["bun", "char siu bun"]) {
        assertInOrder(
          stdout,
          Array.from({ length: 10 }, (_, i) => new RegExp(`^producer made ${kind} ${i}$`)),
        );
        const eaten = [...stdout.matchAll(new RegExp(`^glutton [12] ate ${kind} (\\d+)$`, "gm"))]
          .map((m) => Number(m[1]));
        assert.deepEqual(eaten.sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i));
      }
      assert.match(stdout, /^every bun eaten: the producers' join\(\) returned$/m);
    },
  );
});

// ---- Examples that run as several programs, a manager server and its clients over TCP ----------
import { Program } from "./fixtures/tcp_programs.ts";

TESTED.push(
  "distributed_master.ts",
  "distributed_worker.ts",
  "remote_manager_client.ts",
  "remote_manager_server.ts",
);
TESTED.sort();

describe("examples over TCP", () => {
  const example = (name: string) => new URL(`../examples/${name}`, import.meta.url);

  test(
    "examples/remote_manager_server.ts serves its list to each run of examples/remote_manager_client.ts",
    TEST_OPTIONS,
    async () => {
      const server = new Program("current", example("remote_manager_server.ts"), ["0"]);
      try {
        const [, port] = await server.line(/^serving getList on 127\.0\.0\.1:(\d+)$/);
        for (const expected of ["[]\n[1]\n", "[1]\n[1,1]\n"]) {
          const client = new Program("current", example("remote_manager_client.ts"), [port]);
          const { code, stdout } = await client.ended(RUN_TIMEOUT_MS);
          assert.equal(code, 0, client.report);
          assert.equal(stdout, expected);
        }
      } finally {
        await server.kill();
      }
    },
  );

  test(
    "examples/distributed_master.ts collects each result of examples/distributed_worker.ts once",
    TEST_OPTIONS,
    async () => {
      const master = new Program("current", example("distributed_master.ts"), ["0", "6", "1"]);
      let worker: Program | undefined;
      try {
        const [, port] = await master.line(/^master: serving on 127\.0\.0\.1:(\d+)$/);
        worker = new Program("current", example("distributed_worker.ts"), [port]);
        const done = await worker.ended(RUN_TIMEOUT_MS);
        assert.equal(done.code, 0, worker.report);
        assert.match(done.stdout, /^worker \w+ \d+: exit after 6 tasks$/m);
        const { code, stdout } = await master.ended(RUN_TIMEOUT_MS);
        assert.equal(code, 0, master.report);
        assertInOrder(stdout, [
          /^master: waiting for 1 worker$/,
          /^master: worker \w+ \d+ is ready$/,
          /^master: put 6 tasks and 1 sentinel$/,
          ...Array.from({ length: 6 }, (_, i) => new RegExp(`^result: ${i + 1} \\* ${i + 1} = `)),
          /^master: worker \w+ \d+ finished after 6 tasks$/,
          /^summary: 6 of 6 tasks done exactly once by 1 worker$/,
        ]);
      } finally {
        await worker?.kill();
        await master.kill();
      }
    },
  );
});

describe("examples of Manager()", () => {
  test(
    "examples/manager_namespace.ts shows the child's changes to the namespace, list and dict",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("manager_namespace.ts");
      assert.match(
        stdout,
        /^PID: \d+\nns\.a: 9\nlproxy: \["a","b","c"\]\ndproxy: \{"b":0\}\n$/,
      );
    },
  );

  test(
    "examples/manager_nested.ts reads the lists and queue a manager dict holds, in a pool task and here",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("manager_nested.ts");
      assert.equal(
        stdout,
        "red: ann, cy\nblue: bob, di\nfirst in red: ann\nann joined red\nbob joined blue\ncy joined red\ndi joined blue\n",
      );
    },
  );

  test(
    "examples/pool_initializer.ts hands a Namespace and a Lock to every worker as it starts",
    TEST_OPTIONS,
    async () => {
      const stdout = await run("pool_initializer.ts");
      const results = [0, 1, 4, 9].map((x) => `"${x} by a worker of MainProcess"`).join(",");
      assert.equal(stdout, `[${results}]\nworkers started: 3, tasks done: 4\n`);
    },
  );

  // With 20 processes instead of its 100 (each a worker of its own, up to 0.4 s on Node here):
  // tests/managers_test.ts counts 100 down.
  test(
    "examples/manager_countdown.ts counts 20 processes down to exactly 0 under the lock",
    TEST_OPTIONS,
    async () => {
      const result = await runChild(
        new URL("../examples/manager_countdown.ts", import.meta.url),
        ["20"],
        RUN_TIMEOUT_MS,
      );
      const report = `\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
      assert.ok(!result.timedOut, `examples/manager_countdown.ts did not end in time${report}`);
      assert.equal(result.code, 0, report);
      assert.equal(result.stdout, "20 processes each took 1 from 20 under the lock\ncount: 0\n");
    },
  );
});

// ---- The cluster example: a redis-server and a worker program, then the example ------------------
import process from "node:process";
import { haveRedis, startRedis, startWorker } from "./_redis.ts";

TESTED.push("cluster_scale_out.ts");
TESTED.sort();

describe(
  "examples on a Redis broker",
  { skip: !haveRedis() && "redis-server is not installed" },
  () => {
    test(
      "examples/cluster_scale_out.ts runs its tasks on a worker program through MP_BROKER",
      TEST_OPTIONS,
      async () => {
        const redis = await startRedis();
        const worker = await startWorker(redis.url);
        const saved = process.env.MP_BROKER;
        process.env.MP_BROKER = redis.url;
        try {
          const stdout = await run("cluster_scale_out.ts");
          assertInOrder(stdout, [
            new RegExp(`^squares: \\${SQUARES}$`),
            /^sum of the squares below 1000: 332833500$/,
            /^callback: 42$/,
          ]);
        } finally {
          if (saved === undefined) delete process.env.MP_BROKER;
          else process.env.MP_BROKER = saved;
          await worker.stop();
          await redis.stop();
        }
      },
    );
  },
);
