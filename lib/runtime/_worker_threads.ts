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
    post: (message, transfer) => worker.postMessage(message, transfer),
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
    post: (message, transfer) => port.postMessage(message, transfer),
    onMessage: (listener) => {
      port.on("message", listener);
    },
    nextMessage: () =>
      new Promise((resolve) => {
        port.once("message", (message) => {
          // With no listener left the port must not keep the thread alive.
          port.unref();
          resolve(message);
        });
      }),
  };
}

/** The current thread's id, `0` on the main thread. */
export function currentThreadId(): number {
  return wt.threadId;
}

// The data a spare worker (started before it had a job) adopts when its job arrives. On
// globalThis under a registered symbol, so that a second copy of this library in the worker
// (the user's module importing it from another specifier) sees it too.
const ADOPTED = Symbol.for("@mp/multiprocessing.workerData");

/** What the worker was started with, or the data it adopted since. */
export function currentWorkerData(): unknown {
  if (wt.isMainThread) return undefined;
  const adopted = (globalThis as Record<symbol, unknown>)[ADOPTED];
  return adopted === undefined ? wt.workerData : adopted;
}

/** Makes {@linkcode currentWorkerData} return `data` from now on, in this worker. */
export function adoptWorkerData(data: unknown): void {
  (globalThis as Record<symbol, unknown>)[ADOPTED] = data;
}
