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
import { execFile, execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, relative } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { childEnv } from "./_child.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CONSUMER = join(ROOT, "tests", "consumer");
/** Installs and program runs start workers and npm: Bun's default limit is 5 s. */
const slow = { timeout: 240_000 };

type RuntimeName = "deno" | "bun" | "node";
const current: RuntimeName = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

/** The outcome of a command. */
interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to its end, or kills it after `timeout` ms. */
function run(
  command: string,
  args: string[],
  cwd: string,
  timeout = 120_000,
): Promise<Outcome> {
  const start = performance.now();
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: childEnv(), timeout, killSignal: "SIGKILL", maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: unknown }) | null;
        resolve({
          code: failure === null ? 0 : typeof failure.code === "number" ? failure.code : null,
          stdout: String(stdout),
          stderr: String(stderr),
          ms: performance.now() - start,
        });
      },
    );
  });
}

async function mustRun(command: string, args: string[], cwd: string): Promise<Outcome> {
  const outcome = await run(command, args, cwd);
  assert.equal(
    outcome.code,
    0,
    `${command} ${args.join(" ")} failed:\n${outcome.stdout}\n${outcome.stderr}`,
  );
  return outcome;
}

/** Memoizes an async step, so that tests share one build or one program run. */
function once<T>(step: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => promise ??= step();
}

const workspace = mkdtempSync(join(tmpdir(), "mp-installed-"));
process.on("exit", () => rmSync(workspace, { recursive: true, force: true }));

/** `npm run build` (tsc into dist/), as `npm pack` and `npm publish` run it. */
const built = once(async () => {
  await mustRun(process.platform === "win32" ? "npm.cmd" : "npm", ["run", "build"], ROOT);
  return join(ROOT, "dist");
});

/** The tarball `npm pack` makes from the build. */
const tarball = once(async () => {
  await built();
  const out = join(workspace, "pack");
  mkdirSync(out);
  const { stdout } = await mustRun(
    "npm",
    ["pack", "--ignore-scripts", "--silent", "--pack-destination", out],
    ROOT,
  );
  return join(out, stdout.trim().split("\n").at(-1)!);
});

/**
 * A new user project: the program (importing `library`), its task modules, and a package.json
 * (npm's projects) or a deno.json (a Deno project).
 */
function userProject(
  name: string,
  library: string,
  manifest: "package.json" | "deno.json",
): string {
  const dir = join(workspace, name);
  mkdirSync(dir);
  writeFileSync(
    join(dir, manifest),
    JSON.stringify(
      manifest === "deno.json" ? {} : { name: `user-${name}`, private: true, type: "module" },
    ),
  );
  const program = readFileSync(join(CONSUMER, "program.mjs"), "utf8");
  writeFileSync(join(dir, "program.mjs"), program.replace('"LIBRARY"', JSON.stringify(library)));
  for (const file of ["tasks.mjs", "tasks.ts"]) cpSync(join(CONSUMER, file), join(dir, file));
  return dir;
}

/** A project with the `npm pack` tarball installed by npm. */
const npmProject = once(async () => {
  const dir = userProject("npm", "@mp/multiprocessing", "package.json");
  await mustRun(
    "npm",
    ["install", "--no-audit", "--no-fund", "--prefer-offline", await tarball()],
    dir,
  );
  return dir;
});

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

/**
 * A project with the library laid out as JSR's npm layer has it: each module's `.js` at its
 * source path, declarations under `_dist/`, the npm dependencies installed beside it.
 */
const jsrProject = once(async () => {
  const dist = await built();
  const dir = userProject("jsr", "@jsr/mp__multiprocessing", "package.json");
  const pkg = join(dir, "node_modules", "@jsr", "mp__multiprocessing");
  for (const file of filesUnder(dist)) {
    const target = file.endsWith(".d.ts") ? join(pkg, "_dist", file) : join(pkg, file);
    mkdirSync(dirname(target), { recursive: true });
    cpSync(join(dist, file), target);
  }
  const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  writeFileSync(
    join(pkg, "package.json"),
    JSON.stringify({
      name: "@jsr/mp__multiprocessing",
      version: manifest.version,
      type: "module",
      dependencies: manifest.dependencies,
      exports: {
        ".": { types: "./_dist/mod.d.ts", default: "./mod.js" },
        "./dummy": { types: "./_dist/dummy.d.ts", default: "./dummy.js" },
      },
    }),
  );
  for (const dependency of Object.keys(manifest.dependencies)) {
    cpSync(join(ROOT, "node_modules", dependency), join(dir, "node_modules", dependency), {
      recursive: true,
    });
  }
  return dir;
});

/** Serves the published files as JSR does: bare specifiers of deno.json's imports rewritten. */
const jsrServer = once(async () => {
  const imports: Record<string, string> =
    JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")).imports ?? {};
  const server: Server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname);
    const file = join(ROOT, path);
    const published = path === "/mod.ts" || path === "/dummy.ts" || path.startsWith("/lib/");
    let text: string;
    try {
      if (!published || relative(ROOT, file).startsWith("..")) throw new Error("not published");
      text = readFileSync(file, "utf8");
    } catch {
      response.writeHead(404).end("not found");
      return;
    }
    for (const [bare, target] of Object.entries(imports)) {
      text = text.replaceAll(`from "${bare}"`, `from "${target}"`);
    }
    const type = extname(file) === ".ts" ? "application/typescript" : "text/javascript";
    response.writeHead(200, { "content-type": type }).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.unref();
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

const urlProject = once(async () => {
  const host = await jsrServer();
  return { dir: userProject("url", `http://${host}/mod.ts`, "deno.json"), host };
});

/** What the program prints for each feature, and the test that names it. */
const FEATURES: Array<[string, string, unknown]> = [
  ["Pool, inline function", "pool-inline", [1, 4, 9, 16]],
  ["Pool, fromModule function of the user's module", "pool-module", [1, 4, 9, 16]],
  ["Process", "process", { exitcode: 0, name: "adder" }],
  ["Queue between a Process and the program", "queue", [0, 10, 20, 30, 40]],
  ["Lock + Value across two processes", "lock-value", { value: 1000, exitcodes: [0, 0] }],
  ["Manager(), never shut down", "manager", { k: [1, 2], list: [1, 2] }],
  ["BaseManager over TCP", "base-manager", ["from-client"]],
];

/** The `ok <feature> <json>` lines of a program's output. */
function parseReport(stdout: string): Map<string, unknown> {
  const report = new Map<string, unknown>();
  for (const line of stdout.split("\n")) {
    const match = /^ok (\S+) (.*)$/.exec(line);
    if (match !== null) report.set(match[1], JSON.parse(match[2]));
  }
  return report;
}

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
  scenario("Bun, the npm tarball (tasks.mjs)", async () => {
    return {
      command: process.execPath,
      args: ["program.mjs", "tasks.mjs"],
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

if (current === "node") {
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
    scenario(`${label}, the npm tarball (tasks.mjs)`, async () => {
      return { command: binary, args: ["program.mjs", "tasks.mjs"], dir: await npmProject() };
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
