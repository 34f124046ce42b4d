// The library as the bench measures it: as its users get it. On Node and Bun that is the
// npm package's JavaScript (bundled by scripts/build.mjs), built into dist/ when it is missing
// or older than the sources; on Deno, the .ts sources (JSR serves them to Deno, which
// caches their transpiled form). Measuring the sources on Node would add type stripping of the
// whole module graph to every Worker's start, a cost no installed user pays. `--source` (or
// MP_BENCH_SOURCE=1) measures the sources everywhere. Workers see the same environment, so a
// bench module that a worker imports (bench/managers.ts) gets the same copy.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { isMainThread } from "node:worker_threads";
import { runtimeName } from "./_common.ts";

type Lib = typeof import("../mod.ts");
type DummyLib = typeof import("../dummy.ts");

if (process.argv.includes("--source")) process.env.MP_BENCH_SOURCE = "1";
const compiled = runtimeName() !== "deno" && process.env.MP_BENCH_SOURCE !== "1";

/** Which form of the library runs, for the bench's header and results. */
export const form: string = compiled ? "compiled .js (dist/)" : ".ts sources";

const root = new URL("../", import.meta.url);

function newest(dir: URL): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const url = new URL(entry.name + (entry.isDirectory() ? "/" : ""), dir);
    if (entry.isDirectory()) latest = Math.max(latest, newest(url));
    else if (entry.name.endsWith(".ts")) latest = Math.max(latest, statSync(url).mtimeMs);
  }
  return latest;
}

function builtAt(): number {
  try {
    return statSync(new URL("dist/mod.js", root)).mtimeMs;
  } catch {
    return 0;
  }
}

if (compiled && isMainThread) {
  const sources = Math.max(
    newest(new URL("lib/", root)),
    statSync(new URL("mod.ts", root)).mtimeMs,
    statSync(new URL("dummy.ts", root)).mtimeMs,
  );
  if (builtAt() < sources) {
    console.error("bench: building dist/ (npm run build) to measure the compiled form…");
    const built = spawnSync(process.execPath, [fileURLToPath(new URL("scripts/build.mjs", root))], {
      stdio: "inherit",
    });
    if (built.status !== 0) {
      throw new Error(
        `Cannot build dist/ for the bench (scripts/build.mjs exited with ${built.status}): fix the build, or pass --source to measure the .ts sources`,
      );
    }
  }
}

const lib = await import(new URL(compiled ? "dist/mod.js" : "mod.ts", root).href) as Lib;

/** The pool's chunk packing, in the same form, for the bench's floors (exp_overhead.ts). */
export const protocol = await import(
  new URL(compiled ? "dist/lib/_protocol.js" : "lib/_protocol.ts", root).href
) as typeof import("../lib/_protocol.ts");

/**
 * The modules a pool's worker imports at its start, in the same form (the static imports of
 * its entry module, lib/_worker_main), for the floor of a pool's start (exp_overhead.ts).
 */
export function poolWorkerImports(): string[] {
  return staticImports("_worker_main");
}

/**
 * The modules a Process's worker imports at its start (the static imports of
 * lib/_process_main), for the floor of one process per task (exp_processes.ts).
 */
export function processWorkerImports(): string[] {
  return staticImports("_process_main");
}

function staticImports(name: string): string[] {
  const entry = new URL(compiled ? `dist/lib/${name}.js` : `lib/${name}.ts`, root);
  const text = readFileSync(entry, "utf8");
  return [...text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+"(\.[^"]+)"/gm)]
    .map((match) => new URL(match[1], entry).href);
}

/** The same-thread entry point, in the same form. */
export const dummy = await import(
  new URL(compiled ? "dist/dummy.js" : "dummy.ts", root).href
) as DummyLib;

export const { BaseManager, fromModule, Lock, Manager, Pipe, Pool, Process, Queue, Value } = lib;
export type Pool = import("../mod.ts").Pool;
export type Lock = import("../mod.ts").Lock;
export type Queue<T = unknown> = import("../mod.ts").Queue<T>;
export type Connection<T = unknown> = import("../mod.ts").Connection<T>;
