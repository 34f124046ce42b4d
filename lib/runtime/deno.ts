// Deno: its web `Worker` has no `unref()` (an idle pool would keep the program alive) and
// reports nothing when a worker exits (a dead worker would go unnoticed), so this adapter uses
// Deno's `node:worker_threads`, built on the same Deno workers, which has both. It is also the
// faster of the two for batched messages on Deno.
import {
  currentThreadId,
  currentWorkerData,
  spawnThread,
  threadHostPort,
} from "./_worker_threads.ts";
import type { Runtime } from "./types.ts";

interface DenoGlobal {
  pid: number;
}

const deno = (globalThis as unknown as { Deno: DenoGlobal }).Deno;

/** The adapter for Deno 2. */
export const denoRuntime: Runtime = {
  name: "deno",
  spawn: (url, options) => spawnThread(url, options),
  cpuCount: () => navigator.hardwareConcurrency,
  osPid: () => deno.pid,
  threadId: currentThreadId,
  workerData: currentWorkerData,
  hostPort: threadHostPort,
};
