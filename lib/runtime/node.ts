// Node: `node:worker_threads` is the native API.
import * as os from "node:os";
import process from "node:process";
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
  cpuCount: () => os.availableParallelism(),
  osPid: () => process.pid,
  threadId: currentThreadId,
  workerData: currentWorkerData,
  adoptWorkerData,
  hostPort: threadHostPort,
  heapLimitNeedsMacrotask: false,
};
