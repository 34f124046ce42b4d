// What the bench programs share: the runtime's name, and running a Python script of
// bench/python/ that prints one JSON object of figures.
import { execFile } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** Figures by experiment: operations or items per second. */
export type Figures = Record<string, number>;

const host = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };

/**
 * The runtime's garbage collector, or false where none is exposed: Bun's, and Node's and
 * Deno's in a program started with --expose-gc (bench/_harness.ts's runtimeArgs()).
 */
export const collector: (() => void) | false = host.Bun !== undefined
  ? () => host.Bun!.gc(true)
  : typeof host.gc === "function"
  ? host.gc
  : false;

/**
 * Collects garbage, where a collector is exposed, before a timed run, so that the run does not
 * pay for the garbage of what ran before it (mitata does so once, before its samples).
 */
export function collectGarbage(): void {
  if (collector !== false) collector();
}

/** Which runtime runs this: `"deno"`, `"bun"` or `"node"`. */
/** The value given as `--name=value` on the command line, if any. */
export function flag(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

export function runtimeName(): "deno" | "bun" | "node" {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno !== undefined ? "deno" : g.Bun !== undefined ? "bun" : "node";
}

/**
 * Runs `bench/python/<name>` with `python3` and resolves with the figures it prints, or
 * `undefined` when there is no Python or the script failed.
 */
export function python(name: string, args: string[] = []): Promise<Figures | undefined> {
  const script = fileURLToPath(new URL(`./python/${name}`, import.meta.url));
  return new Promise((resolve) => {
    execFile("python3", [script, ...args], { timeout: 300_000 }, (error, out) => {
      resolve(error === null ? JSON.parse(out) as Figures : undefined);
    });
  });
}
