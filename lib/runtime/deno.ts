// Deno: its web `Worker` has no `unref()` (an idle pool would keep the program alive) and
// reports nothing when a worker exits (a dead worker would go unnoticed), so this adapter uses
// Deno's `node:worker_threads`, built on the same Deno workers, which has both. It is also the
// faster of the two for batched messages on Deno.
import {
  adoptWorkerData,
  currentThreadId,
  currentWorkerData,
  spawnThread,
  threadHostPort,
} from "./_worker_threads.ts";
import type { Runtime } from "./types.ts";

/** What a Deno worker's global scope has for its incoming messages. */
interface WorkerScope {
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
}

interface DenoGlobal {
  pid: number;
}

const deno = (globalThis as unknown as { Deno: DenoGlobal }).Deno;

let heapMB: number | undefined;

function defaultHeapMB(): number {
  // `node:v8` loaded here, not imported by the module: every worker on every runtime imports
  // this adapter, and a `node:` module costs a worker's start (see node.ts).
  if (heapMB === undefined) {
    const v8 = globalThis.process.getBuiltinModule("node:v8") as typeof import("node:v8");
    heapMB = Math.max(64, Math.floor(v8.getHeapStatistics().heap_size_limit / 2 ** 20));
  }
  return heapMB;
}

/** The adapter for Deno 2. */
export const denoRuntime: Runtime = {
  name: "deno",
  // Deno's `node:worker_threads` starts only `file:` and `data:` modules: a module served
  // from elsewhere (the library imported from a URL, as JSR serves it) starts from a one-line
  // `data:` module that imports it.
  spawn: (url, options) =>
    spawnThread(
      url.protocol === "file:" || url.protocol === "data:"
        ? url
        : new URL(`data:text/javascript,import ${encodeURIComponent(JSON.stringify(url.href))};`),
      // A Deno worker without a heap limit that runs out of memory ends the whole program
      // ("Fatal JavaScript out of memory", exit code 133); one with a limit ends alone, as on
      // Node. So every worker gets one: by default V8's limit for this process, as Node's have.
      { ...options, maxHeapMB: options.maxHeapMB ?? defaultHeapMB() },
    ),
  cpuCount: () => navigator.hardwareConcurrency,
  osPid: () => deno.pid,
  threadId: currentThreadId,
  workerData: currentWorkerData,
  adoptWorkerData,
  hostPort: () => {
    const port = threadHostPort();
    if (port === null) return null;
    return {
      ...port,
      // Deno's `parentPort.on("message")` walks every message it delivers, property by
      // property, looking for MessagePorts to convert (none travel here): a map chunk of
      // 125,000 numbers cost 125,000 steps of that walk. The worker's own "message" event
      // carries the same data without it.
      onMessage: (listener) => {
        (globalThis as unknown as WorkerScope).addEventListener(
          "message",
          (event) => listener(event.data),
        );
      },
    };
  },
  heapLimitNeedsMacrotask: true,
};
