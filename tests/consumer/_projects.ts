// User projects outside the tree, each with the library installed in one of the forms users
// get it, and tests/consumer/program.mjs in it: shared by tests/installed_test.ts and
// bench/installed.ts. Each step runs once per process; the projects live in a temporary folder
// removed at exit.
import assert from "node:assert/strict";
import {
  cpSync,
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
import { fileURLToPath, pathToFileURL } from "node:url";
import { runCommand } from "../_child.ts";

/** The repository's root. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CONSUMER = join(ROOT, "tests", "consumer");

/** Runs a command to its end, or kills it after `timeout` ms (default 2 minutes). */
export function run(
  command: string,
  args: string[],
  cwd: string,
  timeout = 120_000,
): ReturnType<typeof runCommand> {
  return runCommand(command, args, cwd, timeout);
}

export async function mustRun(
  command: string,
  args: string[],
  cwd: string,
): ReturnType<typeof run> {
  const outcome = await run(command, args, cwd);
  assert.equal(
    outcome.code,
    0,
    `${command} ${args.join(" ")} failed:\n${outcome.stdout}\n${outcome.stderr}`,
  );
  return outcome;
}

/** Memoizes an async step, so that tests share one build or one program run. */
export function once<T>(step: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => promise ??= step();
}

const workspace = mkdtempSync(join(tmpdir(), "mp-installed-"));
process.on("exit", () => rmSync(workspace, { recursive: true, force: true }));

/** `npm run build` (scripts/build.mjs into dist/), as `npm pack` and `npm publish` run it. */
export const built = once(async () => {
  await mustRun("npm", ["run", "build"], ROOT);
  return join(ROOT, "dist");
});

/** Each source file compiled to its own `.js` beside its `.d.ts`, as JSR's npm layer has it. */
export const builtPerFile = once(async () => {
  const out = join(workspace, "per-file");
  await mustRun("node", [join(ROOT, "scripts", "build.mjs"), "--per-file", out], ROOT);
  return out;
});

/** The tarball `npm pack` makes from the build. */
export const tarball = once(async () => {
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
 * A new user project: the program (importing `library` and `dummy`, the library's two entry
 * points), its task modules, and a package.json
 * (npm's projects) or a deno.json (a Deno project).
 */
function userProject(
  name: string,
  library: string,
  dummy: string,
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
  // tasks.js: tasks.mjs as plain .js, which package.json's "type": "module" makes an ES module.
  const files: Array<[string, string]> = [
    ["program.mjs", "program.mjs"],
    ["unguarded.mjs", "unguarded.mjs"],
    ["typed.mts", "typed.mts"],
    ["tasks.mjs", "tasks.mjs"],
    ["tasks.ts", "tasks.ts"],
    ["tasks.mjs", "tasks.js"],
  ];
  for (const [source, target] of files) {
    const text = readFileSync(join(CONSUMER, source), "utf8");
    writeFileSync(
      join(dir, target),
      text.replace('"LIBRARY"', JSON.stringify(library))
        .replaceAll('"../../mod.ts"', JSON.stringify(library))
        .replace('"LIBRARY_DUMMY"', JSON.stringify(dummy)),
    );
  }
  return dir;
}

/** A project whose program imports this checkout's sources (mod.ts), for comparisons. */
export const sourceProject = once(() =>
  Promise.resolve(
    userProject(
      "source",
      pathToFileURL(join(ROOT, "mod.ts")).href,
      pathToFileURL(join(ROOT, "dummy.ts")).href,
      "package.json",
    ),
  )
);

/** A project with the `npm pack` tarball installed by npm. */
export const npmProject = once(async () => {
  const dir = userProject(
    "npm",
    "@mp/multiprocessing",
    "@mp/multiprocessing/dummy",
    "package.json",
  );
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
export const jsrProject = once(async () => {
  const dist = await builtPerFile();
  const dir = userProject(
    "jsr",
    "@jsr/mp__multiprocessing",
    "@jsr/mp__multiprocessing/dummy",
    "package.json",
  );
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
export const jsrServer = once(async () => {
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

export const urlProject = once(async () => {
  const host = await jsrServer();
  return {
    dir: userProject("url", `http://${host}/mod.ts`, `http://${host}/dummy.ts`, "deno.json"),
    host,
  };
});

/** The `ok <feature> <json>` lines of a program's output. */
export function parseReport(stdout: string): Map<string, unknown> {
  const report = new Map<string, unknown>();
  for (const line of stdout.split("\n")) {
    const match = /^ok (\S+) (.*)$/.exec(line);
    if (match !== null) report.set(match[1], JSON.parse(match[2]));
  }
  return report;
}
