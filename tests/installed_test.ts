// The library as users get it, not as this checkout holds it: a user project outside the tree
// (made here, in the system's temporary folder) runs tests/consumer/program.mjs against
//   - the tree served over HTTP as JSR serves it (Deno imports it from a URL),
//   - JSR's npm layer: compiled .js at the sources' paths, .d.ts apart, bare npm specifiers
//     (Node 22, Node 24 and Bun, as `@jsr/mp__multiprocessing`),
//   - the tarball that `npm pack` makes, installed by npm (Node 22, Node 24, Bun, and Deno
//     through the project's node_modules), as `@mp/multiprocessing`.
// Each runtime's run tests the forms that serve that runtime (Node 22 is started from Node's
// run, from scripts/node22, which scripts/test_all.sh installs). Each feature of the program
// is a test of its own; the program runs once per form and task-module kind.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import {
  built,
  jsrProject,
  mustRun,
  npmProject,
  once,
  parseReport,
  ROOT,
  run,
  urlProject,
} from "./consumer/_projects.ts";

/** Installs and program runs start workers and npm: Bun's default limit is 5 s. */
const slow = { timeout: 240_000 };

type RuntimeName = "deno" | "bun" | "node";
const current: RuntimeName = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

/** What the program prints for each feature, and the test that names it. */
const FEATURES: Array<[string, string, unknown]> = [
  ["Pool, inline function", "pool-inline", [1, 4, 9, 16]],
  ["Pool, fromModule function of the user's module", "pool-module", [1, 4, 9, 16]],
  [
    "a task module without the import.meta.main guard is refused, with the fix",
    "startup-safety",
    "refused",
  ],
  [
    "a class registered by the user's task module travels both ways",
    "registered-class",
    { norms: [5], back: [true, 1, 2] },
  ],
  [
    "an error the library throws in a worker is an instance of the class the user imports",
    "library-errors",
    { inWorker: "Empty: Empty", here: true },
  ],
  ["the dummy entry point's Pool", "dummy-pool", [3, 6, 9]],
  ["Process", "process", { exitcode: 0, name: "adder" }],
  ["Queue between a Process and the program", "queue", [0, 10, 20, 30, 40]],
  ["Lock + Value across two processes", "lock-value", { value: 1000, exitcodes: [0, 0] }],
  ["Manager(), never shut down", "manager", { k: [1, 2], list: [1, 2] }],
  ["BaseManager over TCP", "base-manager", ["from-client"]],
];

/**
 * One form on one runtime: the program runs once (it must end by itself, exit code 0), and
 * each feature's line is a test.
 */
function scenario(
  title: string,
  program: () => Promise<{ command: string; args: string[]; dir: string }>,
): void {
  const outcome = once(async () => {
    const { command, args, dir } = await program();
    return await run(command, args, dir, 90_000);
  });
  describe(title, () => {
    test("the program ends by itself with exit code 0", slow, async () => {
      const { code, stdout, stderr } = await outcome();
      assert.equal(code, 0, `exit code ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
    });
    for (const [name, key, expected] of FEATURES) {
      test(name, slow, async () => {
        const { stdout, stderr } = await outcome();
        const report = parseReport(stdout);
        assert.ok(
          report.has(key),
          `no '${key}' line\n--- stdout\n${stdout}\n--- stderr\n${stderr}`,
        );
        assert.deepEqual(report.get(key), expected);
      });
    }
    test("Pool(2) gives its first result", slow, async () => {
      const { stdout } = await outcome();
      const first = parseReport(stdout).get("first-result-ms") as { value: number; ms: number };
      assert.equal(first?.value, 2);
    });
  });
}

describe("what is published", () => {
  test(
    "the npm tarball holds the library only: compiled modules, declarations, the README's chart",
    slow,
    async () => {
      await built();
      const { stdout } = await mustRun(
        "npm",
        ["pack", "--dry-run", "--json", "--ignore-scripts", "--silent"],
        ROOT,
      );
      const files = (JSON.parse(stdout)[0].files as Array<{ path: string }>).map((f) => f.path);
      for (const file of ["dist/mod.js", "dist/mod.d.ts", "dist/dummy.js", "dist/dummy.d.ts"]) {
        assert.ok(files.includes(file), `${file} is missing from ${files.join(", ")}`);
      }
      const library =
        /^(dist\/.*\.(js|d\.ts)|package\.json|README\.md|LICENSE|bench\/results\/node\.svg)$/;
      assert.deepEqual(files.filter((file) => !library.test(file)), []);
      const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
      assert.equal(manifest.private, undefined);
      assert.deepEqual(Object.keys(manifest.exports).filter((key) => key !== "./package.json"), [
        ".",
        "./dummy",
        "./cluster",
        "./cluster/worker",
      ]);
    },
  );

  test("every image of the README is a file published to JSR and npm", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
    assert.ok(images.length > 0);
    const deno = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
    const npm = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    for (const image of images) {
      if (/^[a-z]+:/.test(image)) continue;
      assert.ok(existsSync(join(ROOT, image)), `${image} does not exist`);
      assert.ok(
        deno.publish.include.includes(image),
        `${image} is not in deno.json's publish.include`,
      );
      assert.ok(npm.files.includes(image), `${image} is not in package.json's files`);
    }
  });
});

const NODE22 = join(ROOT, "scripts", "node22", "node_modules", ".bin", "node");

if (current === "deno") {
  const deno = (globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath();
  for (const tasks of ["tasks.mjs", "tasks.ts"]) {
    scenario(`Deno, imported from a URL (${tasks})`, async () => {
      const { dir, host } = await urlProject();
      return {
        command: deno,
        // The permissions the README names: imports from the library's host, reads of the
        // user's task modules, and the loopback for managers.
        args: [
          "run",
          `--reload=http://${host}/`,
          `--allow-import=${host}`,
          `--allow-read=${dir}`,
          "--allow-net=127.0.0.1",
          "program.mjs",
          tasks,
        ],
        dir,
      };
    });
  }
  scenario("Deno, the npm tarball from node_modules (tasks.ts)", async () => {
    const dir = await npmProject();
    return { command: deno, args: ["run", "-A", "program.mjs", "tasks.ts"], dir };
  });
}

if (current === "bun") {
  for (const tasks of ["tasks.mjs", "tasks.ts"]) {
    scenario(`Bun, JSR's npm layer (${tasks})`, async () => {
      return { command: process.execPath, args: ["program.mjs", tasks], dir: await jsrProject() };
    });
  }
  scenario("Bun, the npm tarball (tasks.js)", async () => {
    return {
      command: process.execPath,
      args: ["program.mjs", "tasks.js"],
      dir: await npmProject(),
    };
  });
}

/** The machine's own Node, outside this project, when it is older than 22 (Node 20 here). */
function olderNode(): [string, string] | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const binary = join(dir, "node");
    if (dir === "" || !relative(ROOT, dir).startsWith("..") || !existsSync(binary)) continue;
    const version = execFileSync(binary, ["--version"], { encoding: "utf8" }).trim();
    return Number(version.slice(1).split(".")[0]) < 22 ? [version, binary] : undefined;
  }
  return undefined;
}

/** Type-checks consumer/typed.mts in `dir` with TypeScript, against the installed declarations. */
async function typeCheck(dir: string): Promise<void> {
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "esnext",
        module: "nodenext",
        moduleResolution: "nodenext",
        strict: true,
        noEmit: true,
        types: ["node"],
        typeRoots: [join(ROOT, "node_modules", "@types")],
      },
      files: ["typed.mts"],
    }),
  );
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const { code, stdout, stderr } = await run(process.execPath, [tsc, "-p", dir], dir);
  assert.equal(code, 0, `tsc found errors:\n${stdout}${stderr}`);
}

if (current === "node") {
  test("the npm tarball's declarations type-check a user's TypeScript program", slow, async () => {
    await typeCheck(await npmProject());
  });
  test("JSR's npm layer's declarations type-check a user's TypeScript program", slow, async () => {
    await typeCheck(await jsrProject());
  });
  test("scripts/node22 holds Node 22", async () => {
    const { stdout } = await mustRun(NODE22, ["--version"], ROOT);
    assert.match(stdout, /^v22\./);
  });
  const nodes: Array<[string, string]> = [["Node 24", process.execPath], ["Node 22", NODE22]];
  for (const [label, binary] of nodes) {
    for (const tasks of ["tasks.mjs", "tasks.ts"]) {
      scenario(`${label}, JSR's npm layer (${tasks})`, async () => {
        return { command: binary, args: ["program.mjs", tasks], dir: await jsrProject() };
      });
    }
    scenario(`${label}, the npm tarball (tasks.js)`, async () => {
      return { command: binary, args: ["program.mjs", "tasks.js"], dir: await npmProject() };
    });
  }
  // Older than supported, yet it works: the compiled library needs nothing newer.
  const older = olderNode();
  if (older !== undefined) {
    const [version, binary] = older;
    scenario(`Node ${version}, the machine's own, the npm tarball (tasks.mjs)`, async () => {
      return { command: binary, args: ["program.mjs", "tasks.mjs"], dir: await npmProject() };
    });
  }
}
