// What the bench programs share: the runtime's name, and running a Python script of
// bench/python/ that prints one JSON object of figures.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Figures by experiment: operations or items per second. */
export type Figures = Record<string, number>;

/** Which runtime runs this: `"deno"`, `"bun"` or `"node"`. */
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
