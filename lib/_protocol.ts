// The one message protocol between a pool and its workers, imported by both sides.
//
// Tasks and results travel in flat arrays (a fixed number of slots per entry) rather than one
// object per entry: structured clone is several times faster on a flat array of primitives
// than on an array of small objects, and a batch can hold hundreds of tiny tasks.

import type { FunctionDef, WireError } from "./reduction.ts";

/** What a task entry asks the worker to do with its payload. */
export const Op = {
  /** `fn(...payload)`: the payload is the argument list. */
  apply: 0,
  /** `payload.map((x) => fn(x))`: the payload is a chunk of items. */
  map: 1,
  /** `payload.map((args) => fn(...args))`: the payload is a chunk of argument lists. */
  starmap: 2,
} as const;
/** One of {@linkcode Op}'s values. */
export type Op = typeof Op[keyof typeof Op];

/** Slots per task entry in {@linkcode RunMessage.tasks}: `seq, fnId, op, payload`. */
export const TASK_STRIDE = 4;
/** Slots per result entry in {@linkcode ResultsMessage.results}: `seq, ok, value`. */
export const RESULT_STRIDE = 3;

/** Main → worker: run these tasks, in order, one at a time. */
export interface RunMessage {
  kind: "run";
  /** Functions the worker has not seen yet; it compiles or imports each once and keeps it. */
  defs: FunctionDef[] | undefined;
  /** `TASK_STRIDE` slots per task. */
  tasks: unknown[];
  /** The payloads may hold shared objects as tagged records (see `encodeShared`). */
  shared: boolean;
}

/** Worker → main: the initializer has run and tasks can start. */
export interface ReadyMessage {
  kind: "ready";
}

/** Worker → main: the initializer failed; the worker will take no tasks. */
export interface InitErrorMessage {
  kind: "init-error";
  error: WireError;
}

/** Worker → main: results of finished tasks, in the order the tasks were sent. */
export interface ResultsMessage {
  kind: "results";
  /** `RESULT_STRIDE` slots per result; `ok` is 1, or 0 when `value` is a {@linkcode WireError}. */
  results: unknown[];
  /** Milliseconds the worker spent running these tasks, for the pool's batch sizing. */
  busy: number;
  /** The values may hold shared objects as tagged records (see `encodeShared`). */
  shared: boolean;
}

/**
 * Worker → main: a task passed the worker's heap limit inside a promise job, where the
 * runtime (Deno) stops the job without ending the worker (see `lib/_heap_watch.ts`). The
 * pool ends the worker and reports it as having run out of memory.
 */
export interface OutOfMemoryMessage {
  kind: "out-of-memory";
}

/** Every message a worker sends. */
export type WorkerMessage = ReadyMessage | InitErrorMessage | ResultsMessage | OutOfMemoryMessage;

/** Who a worker is: part of every worker's `workerData`, read by `lib/context.ts`. */
export interface Identity {
  /** The name `currentProcess()` reports inside the worker. */
  name: string;
  /** The pid `currentProcess()` reports inside the worker. */
  pid: number;
  /** The creator's name, pid and daemon flag, for `parentProcess()`. */
  parent: { name: string; pid: number; daemon?: boolean };
  /** One counter shared by the whole process tree, from which every new worker takes its pid. */
  pidCounter: SharedArrayBuffer;
  /** A `Process`'s place in the tree (`[1, 2]` is `Process-1:2`); empty for pool workers. */
  identity: number[];
}

/** How a pool worker was started (its `workerData`). */
export interface WorkerInit extends Identity {
  /** `Int32Array[0]` = the `seq` of the task running now, 0 when idle; read when a worker dies. */
  progress: SharedArrayBuffer;
  /** Runs once before the first task. */
  initializer: FunctionDef | undefined;
  initargs: unknown[];
}

/**
 * What a spare Process worker is started with (Process.prepare()): it has no process yet, and
 * waits for its {@linkcode ProcessInit} as its first message.
 */
export interface SpareInit {
  spare: true;
}

/** Whether a worker's data says it started as a spare. */
export function isSpare(data: unknown): data is SpareInit {
  return typeof data === "object" && data !== null && (data as SpareInit).spare === true;
}

/** How a `Process` worker was started (its `workerData`, or a spare's first message). */
export interface ProcessInit extends Identity {
  /** `target`, when the process runs a function. */
  target: FunctionDef | undefined;
  /** The arguments, with shared objects as tagged records. */
  args: unknown[];
  /** A `Process` subclass to rebuild and `run()`: its module, export name and own fields. */
  subclass: { module: string; name: string; fields: Record<string, unknown> } | undefined;
  /** Whether it is a daemon, for the `Process` object the child rebuilds. */
  daemon: boolean;
}

// Chunks of numbers travel as a Float64Array, which structured clone copies as one block of
// bytes instead of element by element (measured: a million numbers clone in 55 ms as an array,
// in about 2 ms as a Float64Array). Exact: every JavaScript number is a double. Only chunks,
// which the pool reads by index and never hands out as they are.
const PACK_FROM = 64;

/** A map chunk (or a chunk's results) as a Float64Array when every item is a number. */
export function packNumbers(items: unknown[]): unknown[] | Float64Array {
  const n = items.length;
  if (n < PACK_FROM) return items;
  // One pass, by hand: `new Float64Array(array)` goes through the iterator, 30 times slower.
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = items[i];
    if (typeof v !== "number") return items;
    out[i] = v;
  }
  return out;
}
