// The `node:worker_threads` API, which Node implements natively and Deno and Bun implement
// on top of their own Workers. Each runtime's adapter builds on this and adds its quirks.
import * as wt from "node:worker_threads";
import type { HostPort, SpawnOptions, WorkerHandle } from "./types.ts";

/** Wraps a `node:worker_threads` Worker as a {@linkcode WorkerHandle}. */
export function spawnThread(url: URL, options: SpawnOptions): WorkerHandle {
  const worker = new wt.Worker(url, {
    name: options.name,
    workerData: options.data,
    // Bun accepts and ignores it.
    resourceLimits: options.maxHeapMB === undefined
      ? undefined
      : { maxOldGenerationSizeMb: options.maxHeapMB },
  });
  let lastError: unknown = undefined;
  // Without an "error" listener an uncaught error in the worker would be rethrown here.
  worker.on("error", (error) => {
    lastError = error;
  });
  return {
    id: worker.threadId,
    post: (message) => worker.postMessage(message),
    onMessage: (listener) => {
      worker.on("message", listener);
    },
    onExit: (listener) => {
      worker.once("exit", (code) => listener(code, lastError));
    },
    terminate: async () => {
      await worker.terminate();
    },
    ref: () => worker.ref(),
    unref: () => worker.unref(),
  };
}

/** The channel to the creator, inside a worker. */
export function threadHostPort(): HostPort | null {
  const port = wt.parentPort;
  if (port === null) return null;
  return {
    post: (message) => port.postMessage(message),
    onMessage: (listener) => {
      port.on("message", listener);
    },
  };
}

/** The current thread's id, `0` on the main thread. */
export function currentThreadId(): number {
  return wt.threadId;
}

/** What the worker was started with. */
export function currentWorkerData(): unknown {
  return wt.isMainThread ? undefined : wt.workerData;
}
