// The `node:worker_threads` API, which Node implements natively and Deno and Bun implement
// on top of their own Workers. Each runtime's adapter builds on this and adds its quirks.
import * as wt from "node:worker_threads";
import type { Handover, HostPort, SpawnOptions, WorkerHandle } from "./types.ts";

// A worker spawned with `handover` starts with its data wrapped together with what its first
// message comes through: a shared word it waits on, and its end of a MessageChannel, from
// which it reads the message at once when woken (receiveMessageOnPort), no event loop turn.
const HANDOVER = "@mp/multiprocessing.handover";

interface HandoverData {
  wake: SharedArrayBuffer;
  port: wt.MessagePort;
}

function handoverOf(data: unknown): HandoverData | undefined {
  return typeof data === "object" && data !== null && HANDOVER in data
    ? (data as Record<string, HandoverData>)[HANDOVER]
    : undefined;
}

/** Wraps a `node:worker_threads` Worker as a {@linkcode WorkerHandle}. */
export function spawnThread(url: URL, options: SpawnOptions): WorkerHandle {
  let workerData = options.data;
  let transferList: wt.MessagePort[] | undefined;
  let handOver: ((message: unknown) => Handover) | undefined;
  if (options.handover) {
    const wake = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new wt.MessageChannel();
    workerData = { [HANDOVER]: { wake: wake.buffer, port: port2 }, data: options.data };
    transferList = [port2];
    handOver = (message) => {
      port1.postMessage(message);
      return {
        wake: () => {
          Atomics.store(wake, 0, 1);
          Atomics.notify(wake, 0);
          const read = Atomics.waitAsync(wake, 0, 1);
          return read.async ? read.value.then(() => {}) : Promise.resolve();
        },
        // The worker marks the word 2 once it has read the message.
        read: () => Atomics.load(wake, 0) === 2,
      };
    };
  }
  const worker = new wt.Worker(url, {
    name: options.name,
    workerData,
    transferList,
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
  // The exit code once the worker has ended, for a listener added after that: Deno emits
  // "exit" within terminate(), so a listener added after terminate() was called would never
  // be called there (Node and Bun emit it in a later turn).
  let exitCode: number | undefined;
  worker.once("exit", (code) => {
    exitCode = code;
  });
  return {
    id: worker.threadId,
    post: (message, transfer) => worker.postMessage(message, transfer),
    handOver: handOver ?? ((message) => {
      worker.postMessage(message);
      return { wake: () => Promise.resolve(), read: () => true };
    }),
    onMessage: (listener) => {
      worker.on("message", listener);
    },
    onExit: (listener) => {
      if (exitCode === undefined) {
        worker.once("exit", (code) => listener(code, lastError));
      } else {
        const code = exitCode;
        queueMicrotask(() => listener(code, lastError));
      }
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
  const nextMessage = () =>
    new Promise((resolve) => {
      port.once("message", (message) => {
        // With no listener left the port must not keep the thread alive.
        port.unref();
        resolve(message);
      });
    });
  return {
    post: (message, transfer) => port.postMessage(message, transfer),
    onMessage: (listener) => {
      port.on("message", listener);
    },
    nextMessage,
    handedOver: (rehearsal) => {
      const handover = handoverOf(wt.workerData);
      if (handover === undefined) return nextMessage();
      const channel = handover.port;
      const word = new Int32Array(handover.wake);
      if (rehearsal !== undefined) rehearse(rehearsal);
      Atomics.wait(word, 0, 0);
      const got = wt.receiveMessageOnPort(channel);
      Atomics.store(word, 0, 2);
      Atomics.notify(word, 0);
      if (got !== undefined) {
        // Closed once the worker has begun with the message (0.04-0.18 ms).
        queueMicrotask(() => channel.close());
        return got.message;
      }
      // Woken with no message to read (not seen): it comes as a message.
      return new Promise((resolve) => {
        channel.once("message", (message) => {
          channel.close();
          resolve(message);
        });
      });
    },
  };
}

/** Sends `message` through a channel of its own and reads it, as a handover is read. */
function rehearse(message: unknown): void {
  const { port1, port2 } = new wt.MessageChannel();
  try {
    port1.postMessage(message);
    wt.receiveMessageOnPort(port2);
  } catch {
    // Only a rehearsal: the real message says what is wrong with it.
  } finally {
    port1.close();
    port2.close();
  }
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
  if (adopted !== undefined) return adopted;
  return handoverOf(wt.workerData) === undefined
    ? wt.workerData
    : (wt.workerData as { data: unknown }).data;
}

/** Makes {@linkcode currentWorkerData} return `data` from now on, in this worker. */
export function adoptWorkerData(data: unknown): void {
  (globalThis as Record<symbol, unknown>)[ADOPTED] = data;
}
