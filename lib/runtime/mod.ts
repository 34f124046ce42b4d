/**
 * Picks the adapter for the runtime this code runs on, by feature detection at call time.
 *
 * @module
 */
import { bun } from "./bun.ts";
import { denoRuntime } from "./deno.ts";
import { node } from "./node.ts";
import type { Runtime, WorkerHandle } from "./types.ts";

export type { Handover, HostPort, Runtime, SpawnOptions, WorkerHandle } from "./types.ts";

let detected: Runtime | undefined;

/** The adapter for the current runtime. */
/**
 * Ends `worker`, as a worker that crashed or was killed ends, and resolves once its exit
 * listeners have been called. Internal: for the tests' faults.
 */
export async function endWorker(worker: WorkerHandle): Promise<void> {
  const ended = new Promise<void>((resolve) => worker.onExit(() => resolve()));
  await worker.terminate();
  await ended;
}

export function runtime(): Runtime {
  if (detected === undefined) {
    const g = globalThis as Record<string, unknown>;
    detected = "Deno" in g ? denoRuntime : "Bun" in g ? bun : node;
  }
  return detected;
}

/**
 * The URL of the worker entry module `name` beside `base` (the caller's `import.meta.url`),
 * with `base`'s own extension: `.ts` where the library runs from source (a checkout, a URL),
 * `.js` where it was compiled (JSR's npm layer, the npm package), whose build rewrites
 * imports but not URLs.
 */
export function entryModule(name: string, base: string): URL {
  const path = new URL(base).pathname;
  const dot = path.lastIndexOf(".");
  const ext = dot > path.lastIndexOf("/") ? path.slice(dot) : ".js";
  return new URL(`./${name}${ext}`, base);
}
