// A user's program, as a user writes it against the installed library: the consumer tests copy
// it into a project outside this repository, with LIBRARY replaced by the specifier that form
// installs (a URL, `@jsr/mp__multiprocessing`, `@mp/multiprocessing`), and LIBRARY_DUMMY by
// its `dummy` entry point. Plain JavaScript, so
// that every runtime and version runs it as it is. It prints one line per feature,
// `ok <feature> <result>`, and ends by itself: nothing is shut down at the end on purpose.
//
// Usage: <runtime> program.mjs <task module file beside it, e.g. tasks.mjs>
import process from "node:process";
import * as mp from "LIBRARY";
import * as dummy from "LIBRARY_DUMMY";

const tasksUrl = new URL(`./${process.argv[2] ?? "tasks.mjs"}`, import.meta.url).href;

function report(feature, value) {
  console.log(`ok ${feature} ${JSON.stringify(value)}`);
}

// The workers import only tasks.mjs, so this module needs no `if (import.meta.main)` guard.
{
  const started = performance.now();
  const pool = new mp.Pool(2);
  const first = await pool.apply((x) => x + 1, [1]);
  report("first-result-ms", { value: first, ms: Math.round(performance.now() - started) });
  report("pool-inline", await pool.map((x) => x * x, [1, 2, 3, 4]));
  const square = mp.fromModule(tasksUrl, "square");
  report("pool-module", await pool.map(square, [1, 2, 3, 4], 2));
  // A module without the import.meta.main guard: refused in the worker, not pools in pools.
  const unguarded = mp.fromModule(new URL("./unguarded.mjs", import.meta.url).href, "identity");
  const refusal = await pool.map(unguarded, [1]).then(String, (error) => error.message);
  report(
    "startup-safety",
    /^Cannot start a Pool while a worker is importing .*unguarded\.mjs.*if \(import\.meta\.main\)/
        .test(refusal)
      ? "refused"
      : refusal,
  );
  // The task module imports the library as this program does: the workers' copy of it and
  // the library's own entry module must share one class registry and one set of error classes.
  const tasks = await import(tasksUrl);
  const norms = await pool.map(mp.fromModule(tasksUrl, "norm"), [new tasks.Point(3, 4)]);
  const back = await pool.apply(mp.fromModule(tasksUrl, "point"), [1]);
  report("registered-class", { norms, back: [back instanceof tasks.Point, back.x, back.y] });
  const empty = new mp.Queue();
  const inWorker = await pool.apply(mp.fromModule(tasksUrl, "emptyGet"), [empty]);
  const here = await empty.get({ timeout: 10 }).catch((error) => error instanceof mp.Empty);
  report("library-errors", { inWorker, here });
  await pool.terminate();

  const threads = new dummy.Pool(2);
  report("dummy-pool", await threads.map((x) => x * 3, [1, 2, 3]));
  await threads.terminate();

  const proc = new mp.Process({ target: (a, b) => a + b, args: [1, 2], name: "adder" });
  proc.start();
  await proc.join(30_000);
  report("process", { exitcode: proc.exitcode, name: proc.name });

  const queue = new mp.Queue();
  const producer = new mp.Process({
    target: async (q, n) => {
      for (let i = 0; i < n; i++) await q.put(i * 10);
    },
    args: [queue, 5],
  });
  producer.start();
  const got = [];
  for (let i = 0; i < 5; i++) got.push(await queue.get({ timeout: 30_000 }));
  await producer.join(30_000);
  report("queue", got);

  const lock = new mp.Lock();
  const value = mp.Value("i", 0, { lock: false });
  const add = async (v, l, n) => {
    for (let i = 0; i < n; i++) {
      await l.withLock(() => {
        const seen = v.value;
        for (let spin = 0; spin < 200; spin++);
        v.value = seen + 1;
      });
    }
  };
  const adders = [1, 2].map(() => new mp.Process({ target: add, args: [value, lock, 500] }));
  for (const p of adders) p.start();
  for (const p of adders) await p.join(30_000);
  report("lock-value", { value: value.value, exitcodes: adders.map((p) => p.exitcode) });

  // Never shut down: the program must end all the same, as Python's does.
  const manager = await mp.Manager();
  const dict = await manager.dict();
  await dict.set("k", [1, 2]);
  const list = await manager.list([1]);
  await list.append(2);
  report("manager", { k: await dict.getItem("k"), list: await list.copy() });

  class Remote extends mp.BaseManager {}
  Remote.register("getList", mp.fromModule(tasksUrl, "sharedList"));
  const server = new Remote({ address: ["127.0.0.1", 0], authkey: "secret" });
  await server.start();
  const client = new Remote({ address: server.address, authkey: "secret" });
  await client.connect();
  const remote = await client.create("getList");
  await remote.push("from-client");
  const again = await server.create("getList");
  report("base-manager", await again.slice());
  await client.shutdown();
  await server.shutdown();
}
