/**
 * Picks the adapter for the runtime this code runs on, by feature detection at call time.
 *
 * @module
 */
import { bun } from "./bun.ts";
import { denoRuntime } from "./deno.ts";
import { node } from "./node.ts";
import type { Runtime } from "./types.ts";

export type { HostPort, Runtime, SpawnOptions, WorkerHandle } from "./types.ts";

let detected: Runtime | undefined;

/** The adapter for the current runtime. */
export function runtime(): Runtime {
  if (detected === undefined) {
    const g = globalThis as Record<string, unknown>;
    detected = "Deno" in g ? denoRuntime : "Bun" in g ? bun : node;
  }
  return detected;
}
