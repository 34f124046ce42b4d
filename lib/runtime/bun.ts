// Bun: `node:worker_threads` reports a worker's exit code, which Bun's web `Worker` ("close"
// event) does not, and moved batched messages faster in our measurements.
import {
  adoptWorkerData,
  currentThreadId,
  currentWorkerData,
  spawnThread,
  threadHostPort,
} from "./_worker_threads.ts";
import type { Runtime } from "./types.ts";

/** The adapter for Bun. */
export const bun: Runtime = {
  name: "bun",
  spawn: (url, options) => {
    const handle = spawnThread(url, options);
    return {
      ...handle,
      // Bun reports exit code 0 after an uncaught error; Node and Deno report 1.
      onExit: (listener) =>
        handle.onExit((code, error) =>
          listener(code === 0 && error !== undefined ? 1 : code, error)
        ),
    };
  },
  cpuCount: () => navigator.hardwareConcurrency,
  osPid: () => globalThis.process.pid,
  threadId: currentThreadId,
  workerData: currentWorkerData,
  adoptWorkerData,
  hostPort: threadHostPort,
  // No heap limit to pass.
  heapLimitNeedsMacrotask: false,
};
