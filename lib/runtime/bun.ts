// Bun: `node:worker_threads` reports a worker's exit code, which Bun's web `Worker` ("close"
// event) does not, and moved batched messages faster in our measurements.
import process from "node:process";
import {
  currentThreadId,
  currentWorkerData,
  spawnThread,
  threadHostPort,
} from "./_worker_threads.ts";
import type { Runtime } from "./types.ts";

/** The adapter for Bun. */
export const bun: Runtime = {
  name: "bun",
  spawn: (url, options) => spawnThread(url, options),
  cpuCount: () => navigator.hardwareConcurrency,
  osPid: () => process.pid,
  threadId: currentThreadId,
  workerData: currentWorkerData,
  hostPort: threadHostPort,
};
