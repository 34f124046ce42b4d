// Start-up: a module that a worker imports and that starts a Pool, Process or manager at its
// top level is refused at once (Python's bootstrapping check), and a worker that cannot load
// reports why. Programs that could nest without end, or that use a broken copy of the
// library, run as child programs with a time limit.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import { type ChildResult, runChild, runCommand, runtimeCommand } from "./_child.ts";

const slow = { timeout: 120_000 };
const program = new URL("./fixtures/startup_program.ts", import.meta.url);
const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const isDeno = "Deno" in globalThis;

/** The refusal's message for a start of `what` while importing the fixture `file`. */
function refusal(what: string, file: string): RegExp {
  return new RegExp(
    `Cannot start ${what} while a worker is importing file:///\\S*/tests/fixtures/${
      file.replace(".", "\\.")
    }, as that module \\(or one it imports\\) starts it at its top level: put the program's entry code under if \\(import\\.meta\\.main\\)`,
  );
}

function report(result: ChildResult): string {
  return `\n--- code ${result.code}, timed out ${result.timedOut}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
}

describe("start-up: a module a worker imports may not start pools at its top level", () => {
  for (const entry of ["mod", "dummy"]) {
    test(
      `Pool.map() of a fromModule() task whose module starts a Pool fails with how to guard it (${entry}.ts)`,
      slow,
      async () => {
        const result = await runChild(program, [entry, "task"], 60_000);
        assert.equal(result.timedOut, false, report(result));
        assert.match(result.stdout, refusal("a Pool", "unguarded_tasks.ts"), report(result));
        assert.match(result.stdout, /^then 2$/m, report(result));
      },
    );

    test(
      `Pool({ initializer }) from a module that starts a Pool fails the tasks with how to guard it (${entry}.ts)`,
      slow,
      async () => {
        const result = await runChild(program, [entry, "initializer"], 60_000);
        assert.equal(result.timedOut, false, report(result));
        assert.match(result.stdout, /initializer failed/, report(result));
        assert.match(result.stdout, refusal("a Pool", "unguarded_tasks.ts"), report(result));
      },
    );

    test(
      `a Process whose fromModule() target's module starts a Pool exits with code 1 and prints why (${entry}.ts)`,
      slow,
      async () => {
        const result = await runChild(program, [entry, "process-target"], 60_000);
        assert.equal(result.timedOut, false, report(result));
        assert.match(result.stdout, /^exitcode 1$/m, report(result));
        assert.match(result.stderr, /^Process Process-1:\n/m, report(result));
        assert.match(result.stderr, refusal("a Pool", "unguarded_tasks.ts"), report(result));
      },
    );

    test(
      `Manager() started at the top level of a task's module rejects with how to guard it (${entry}.ts)`,
      slow,
      async () => {
        const result = await runChild(program, [entry, "manager-task"], 60_000);
        assert.equal(result.timedOut, false, report(result));
        assert.match(
          result.stdout,
          refusal("a manager", "unguarded_manager_tasks.ts"),
          report(result),
        );
      },
    );
  }

  test(
    "a program without a guard fails at once instead of starting pools inside pools",
    slow,
    async () => {
      const result = await runChild(fixture("unguarded_tasks.ts"), [], 60_000);
      assert.equal(result.timedOut, false, report(result));
      assert.notEqual(result.code, 0, report(result));
      assert.match(result.stderr, refusal("a Pool", "unguarded_tasks.ts"), report(result));
    },
  );

  test(
    "a program that calls an async main() without a guard or await fails at once",
    slow,
    async () => {
      const result = await runChild(fixture("unguarded_async_main.ts"), [], 60_000);
      assert.equal(result.timedOut, false, report(result));
      assert.notEqual(result.code, 0, report(result));
      assert.match(result.stderr, refusal("a Pool", "unguarded_async_main.ts"), report(result));
    },
  );

  test(
    "a Process subclass whose module starts one at its top level exits with code 1 and prints why",
    slow,
    async () => {
      const result = await runChild(fixture("unguarded_process.ts"), [], 60_000);
      assert.equal(result.timedOut, false, report(result));
      assert.match(result.stdout, /^exitcode 1$/m, report(result));
      assert.doesNotMatch(result.stdout, /hello from/, report(result));
      assert.match(result.stderr, /^Process Process-1:\n/m, report(result));
      assert.match(result.stderr, refusal("Process-1:1", "unguarded_process.ts"), report(result));
    },
  );

  test(
    "BaseManager.start(): a registered callable whose module starts the manager fails create() with why",
    slow,
    async () => {
      const result = await runChild(fixture("unguarded_manager.ts"), [], 60_000);
      assert.equal(result.timedOut, false, report(result));
      assert.notEqual(result.code, 0, report(result));
      assert.match(result.stderr, refusal("a manager", "unguarded_manager.ts"), report(result));
    },
  );
});

describe("start-up: a module that cannot be loaded is named", () => {
  for (const [label, m] of [["mod.ts", mp], ["dummy.ts", dummy]] as const) {
    test(`Pool.apply() of fromModule() naming a missing module says which and what to check (${label})`, async () => {
      await using pool = new m.Pool(1);
      const missing = new URL("./fixtures/nope.ts", import.meta.url).href;
      const error = await pool.apply(mp.fromModule(missing, "f"), []).catch((e) => e);
      assert.ok(error instanceof Error, String(error));
      assert.match(
        error.message,
        /^Cannot import module file:\/\/\/\S*\/tests\/fixtures\/nope\.ts for the function 'f' as it was not found: check that the file exists at that URL/,
      );
      assert.doesNotMatch(error.message, /reduction\.ts/);
      // The pool is still usable.
      assert.equal(await pool.apply((x: number) => x + 1, [1]), 2);
    });

    test(`Pool.apply() of fromModule() naming a module with a syntax error says which (${label})`, async () => {
      const temp = fs.mkdtempSync(path.join(os.tmpdir(), "mp-startup-"));
      const bad = path.join(temp, "bad_syntax.ts");
      fs.writeFileSync(bad, "export function f(: number {\n  return 1;\n}\n");
      await using pool = new m.Pool(1);
      const error = await pool.apply(mp.fromModule(pathToFileURL(bad), "f"), []).catch((e) => e);
      fs.rmSync(temp, { recursive: true, force: true });
      assert.ok(error instanceof SyntaxError, String(error));
      assert.match(
        error.message,
        /^Cannot import module file:\/\/\/\S*bad_syntax\.ts for the function 'f' as it, or a module it imports, has a syntax error: fix the module/,
      );
      assert.doesNotMatch(error.message, /reduction\.ts/);
    });
  }

  for (const entry of ["mod", "dummy"]) {
    test(
      `a Process whose fromModule() target's module is missing exits with code 1 and prints which (${entry}.ts)`,
      slow,
      async () => {
        const result = await runChild(program, [entry, "missing-target"], 60_000);
        assert.equal(result.timedOut, false, report(result));
        assert.match(result.stdout, /^exitcode 1$/m, report(result));
        assert.match(
          result.stderr,
          /^Process Process-1:\n\w*Error: Cannot import module file:\/\/\/\S*\/tests\/fixtures\/nope\.ts for the function 'f' as it was not found/m,
          report(result),
        );
      },
    );
  }
});

// ---- A broken copy of the library ---------------------------------------------------------

const root = fileURLToPath(new URL("..", import.meta.url));

/** Runs `program` beside a broken copy of the library (see brokenCopy), then removes both. */
async function runBroken(brk: (lib: string) => void, program: string): Promise<ChildResult> {
  const file = brokenCopy(brk, program);
  try {
    return await runChild(pathToFileURL(file), [], 60_000);
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

/** Copies the library into a new temporary directory, breaks it there, and adds `program`. */
function brokenCopy(brk: (lib: string) => void, program: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-broken-"));
  for (const name of ["mod.ts", "dummy.ts", "deno.json"]) {
    fs.copyFileSync(path.join(root, name), path.join(dir, name));
  }
  fs.cpSync(path.join(root, "lib"), path.join(dir, "lib"), { recursive: true });
  fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir");
  brk(path.join(dir, "lib"));
  fs.writeFileSync(path.join(dir, "program.ts"), program);
  return path.join(dir, "program.ts");
}

const PROGRAMS = {
  pool: `import { Pool } from "./mod.ts";
const pool = new Pool(2);
for (let round = 1; round <= 2; round++) {
  try {
    await pool.map((x: number) => x, [1, 2, 3, 4, 5, 6, 7, 8], 1);
    console.log("no error");
  } catch (error) {
    console.log(\`round \${round}: \${(error as Error).message}\`);
  }
}
await pool.terminate();
`,
  process: `import { Process } from "./mod.ts";
const p = new Process({ target: () => {} });
p.start();
await p.join();
console.log(\`exitcode \${p.exitcode}\`);
`,
  queue: `import process from "node:process";
import { Process, Queue } from "./mod.ts";
const q = new Queue<number>();
const p = new Process({ target: (q: Queue<number>) => q.put(1), args: [q] });
p.start();
console.log(\`got \${await Promise.race([q.get(), p.join().then(() => "nothing")])}\`);
console.log(\`exitcode \${p.exitcode}\`);
process.exit(0);
`,
  manager: `import { Manager } from "./mod.ts";
try {
  await Manager();
  console.log("no error");
} catch (error) {
  console.log(\`error: \${(error as Error).message}\`);
}
`,
};

function remove(file: string): (lib: string) => void {
  return (lib) => fs.rmSync(path.join(lib, file));
}

function garble(file: string): (lib: string) => void {
  return (lib) => fs.appendFileSync(path.join(lib, file), "\nexport const = ;\n");
}

describe("start-up: a worker that cannot load says why", () => {
  for (const [how, brk] of [["is missing", remove], ["has a syntax error", garble]] as const) {
    const cause = how === "is missing"
      ? (file: string) => new RegExp(`${file.replace(".", "\\.")}`)
      : () => /SyntaxError|errors building/;

    test(
      `a Pool whose worker module ${how} fails its tasks with the cause, and starts no more workers`,
      slow,
      async () => {
        const result = await runBroken(brk("_worker_main.ts"), PROGRAMS.pool);
        assert.equal(result.timedOut, false, report(result));
        assert.match(
          result.stdout,
          /^round 1: Cannot run the task as the pool's worker PoolWorker-\d+ \(pid \d+\) could not start: it ended with exit code 1 after an uncaught /m,
          report(result),
        );
        assert.match(result.stdout, /^round 2: Cannot run the task .* could not start/m);
        for (const round of result.stdout.split(/^(?=round )/m)) {
          assert.match(round, cause("_worker_main.ts"), report(result));
        }
        // Two workers were started, and none after them.
        assert.doesNotMatch(result.stdout, /PoolWorker-[3-9]/, report(result));
      },
    );

    test(
      `a Process whose worker module ${how} exits with code 1 and prints the cause`,
      slow,
      async () => {
        const result = await runBroken(brk("_process_main.ts"), PROGRAMS.process);
        assert.equal(result.timedOut, false, report(result));
        assert.match(result.stdout, /^exitcode 1$/m, report(result));
        assert.match(result.stderr, /^Process Process-1:\n/m, report(result));
        assert.match(result.stderr, cause("_process_main.ts"), report(result));
      },
    );

    test(`Manager() whose worker module ${how} rejects with the cause`, slow, async () => {
      const result = await runBroken(brk("_manager_main.ts"), PROGRAMS.manager);
      assert.equal(result.timedOut, false, report(result));
      assert.match(
        result.stdout,
        /^error: Cannot start the manager's server as its worker ended with code 1 after an uncaught /m,
        report(result),
      );
      assert.match(result.stdout, cause("_manager_main.ts"), report(result));
    });
  }

  test(
    "a Queue + Process program whose Process cannot load prints the cause and can end",
    slow,
    async () => {
      const result = await runBroken(remove("_process_main.ts"), PROGRAMS.queue);
      assert.equal(result.timedOut, false, report(result));
      assert.match(result.stdout, /^got nothing\nexitcode 1$/m, report(result));
      assert.match(result.stderr, /^Process Process-1:\n(.|\n)*_process_main\.ts/m, report(result));
    },
  );

  test(
    "Process.start() without read access to the worker module says so (Deno --allow-read)",
    { ...slow, skip: !isDeno },
    async () => {
      const file = brokenCopy(() => {}, PROGRAMS.process);
      const [command] = runtimeCommand(file);
      const result = await runCommand(
        command,
        ["run", "--no-prompt", `--allow-read=${file}`, file],
        path.dirname(file),
        60_000,
      );
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
      assert.equal(result.timedOut, false, report(result));
      assert.notEqual(result.code, 0, report(result));
      assert.match(result.stderr, /Requires read access to "\S*_process_main\.ts"/, report(result));
      assert.doesNotMatch(result.stderr, /cannot be cloned/, report(result));
    },
  );
});

describe("start-up: a pool whose worker could not start", () => {
  test(
    "fails its work with the cause, then starts workers again once a while has passed",
    slow,
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-flaky-"));
      const tasks = fixture("flaky_start.ts").href;
      try {
        await using pool = new mp.Pool({
          processes: 1,
          initializer: mp.fromModule<(flag: string) => void>(tasks, "exitOnce"),
          initargs: [path.join(dir, "flag")],
        });
        const double = mp.fromModule<(x: number) => number>(tasks, "double");
        await assert.rejects(
          pool.apply(double, [1]),
          /could not start: it ended with exit code 3/,
        );
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        assert.equal(await pool.apply(double, [2]), 4);
        assert.deepEqual(await pool.map(double, [1, 2, 3]), [2, 4, 6]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
