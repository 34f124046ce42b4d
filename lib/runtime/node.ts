// Node: `node:worker_threads` is the native API. No other `node:` module: each one a worker
// imports costs its start about half a millisecond or more (bench/exp_processes.ts), so the
// globals stand in for `node:os` and `node:process`.
import {
  adoptWorkerData,
  currentThreadId,
  currentWorkerData,
  spawnThread,
  threadHostPort,
} from "./_worker_threads.ts";
import type { Runtime } from "./types.ts";

/** The adapter for Node (22.18 or later, which runs TypeScript modules in workers as is). */
export const node: Runtime = {
  name: "node",
  spawn: (url, options) => spawnThread(url, options),
  // Node's is os.availableParallelism().
  cpuCount: () => navigator.hardwareConcurrency,
  osPid: () => globalThis.process.pid,
  threadId: currentThreadId,
  workerData: currentWorkerData,
  adoptWorkerData,
  hostPort: threadHostPort,
  heapLimitNeedsMacrotask: false,
};
