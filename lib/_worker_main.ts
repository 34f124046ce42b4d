// The module every pool worker starts with: it runs the initializer, then runs the tasks its
// pool sends, one at a time and in order, and sends their results back in batches.
import { isThenable } from "./_thenable.ts";
import {
  Op,
  packNumbers,
  RESULT_STRIDE,
  type RunMessage,
  TASK_STRIDE,
  type WorkerInit,
  type WorkerMessage,
} from "./_protocol.ts";
import {
  cloneable,
  decodeShared,
  encodeError,
  encodeShared,
  explainFreeVariable,
  type FunctionDef,
  loadFunction,
  loadRevivers,
  mayHoldShared,
} from "./reduction.ts";
import { runtime } from "./runtime/mod.ts";
// Revivers of shared objects load when a batch holds one (loadRevivers): a worker that never
// receives one starts without them.

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

/** A function as this worker runs it, or why it cannot. */
interface Loaded {
  def: FunctionDef;
  fn: AnyFunction | undefined;
  error: unknown;
}

// Results go back when a batch ends, or sooner once this many milliseconds of work have
// passed since the last send, so that a long batch does not hold finished results back.
const FLUSH_AFTER_MS = 1;

const port = runtime().hostPort()!;
const init = runtime().workerData() as WorkerInit;
const progress = new Int32Array(init.progress);
const functions = new Map<number, Loaded>();
const inbox: RunMessage[] = [];
let draining = false;
let started = false;

function post(message: WorkerMessage): void {
  port.post(message);
}

async function load(def: FunctionDef): Promise<Loaded> {
  try {
    return { def, fn: await loadFunction(def), error: undefined };
  } catch (error) {
    return { def, fn: undefined, error };
  }
}

/** Runs one map or starmap chunk, one item at a time, awaiting each async result. */
async function runChunk(fn: AnyFunction, op: Op, items: unknown[]): Promise<unknown[]> {
  const out = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    let value = op === Op.starmap ? fn(...(items[i] as unknown[])) : fn(items[i]);
    if (isThenable(value)) value = await value;
    out[i] = value;
  }
  return out;
}

/** Starts a task; returns its value, or a promise of it when the function is async. */
function start(loaded: Loaded, op: Op, payload: unknown): unknown {
  if (loaded.fn === undefined) throw loaded.error;
  if (op === Op.apply) return loaded.fn(...(payload as unknown[]));
  const items = payload as unknown[];
  // The common case, a sync function: no promise per chunk.
  if (op === Op.map) {
    const out = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const value = loaded.fn(items[i]);
      if (isThenable(value)) {
        return value.then((first) => {
          out[i] = first;
          return runChunk(loaded.fn!, op, items.slice(i + 1)).then((rest) => {
            for (let j = 0; j < rest.length; j++) out[i + 1 + j] = rest[j];
            return out;
          });
        });
      }
      out[i] = value;
    }
    return out;
  }
  return runChunk(loaded.fn, op, items);
}

/** Sends results; a result that cannot be cloned fails its own task with a clear error. */
function flush(results: unknown[], busy: number, names: string[]): void {
  if (results.length === 0) return;
  const shared = mayHoldShared();
  if (shared) {
    for (let i = 1; i < results.length; i += RESULT_STRIDE) {
      if (results[i] === 1) results[i + 1] = encodeShared(results[i + 1]);
    }
  }
  try {
    post({ kind: "results", results, busy, shared });
    return;
  } catch {
    // Find the values that cannot travel; the rest go as they are.
  }
  for (let i = 0; i < results.length; i += RESULT_STRIDE) {
    if (cloneable(results[i + 2])) continue;
    let reason = "";
    try {
      structuredClone(results[i + 2]);
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
    results[i + 1] = 0;
    results[i + 2] = encodeError(
      new TypeError(
        `Cannot send the result of '${
          names[i / RESULT_STRIDE]
        }' back from the worker as it cannot be cloned: ${reason}. Results travel by structured clone: return plain data (numbers, strings, arrays, plain objects, Maps, typed arrays), not functions or objects that hold them`,
      ),
    );
  }
  post({ kind: "results", results, busy, shared });
}

async function runBatch(message: RunMessage): Promise<void> {
  if (message.defs !== undefined) {
    for (const def of message.defs) functions.set(def.id, await load(def));
  }
  const tasks = message.tasks;
  if (message.shared) await loadRevivers(tasks);
  let results: unknown[] = [];
  let names: string[] = [];
  let mark = performance.now();
  let lastSend = mark;
  let busy = 0;
  for (let t = 0; t < tasks.length; t += TASK_STRIDE) {
    const seq = tasks[t] as number;
    const loaded = functions.get(tasks[t + 1] as number)!;
    Atomics.store(progress, 0, seq);
    let ok = 1;
    let value: unknown;
    try {
      const payload = message.shared ? decodeShared(tasks[t + 3]) : tasks[t + 3];
      const op = tasks[t + 2] as Op;
      value = start(loaded, op, payload);
      if (isThenable(value)) value = await value;
      if (op !== Op.apply) value = packNumbers(value as unknown[]);
    } catch (error) {
      ok = 0;
      value = encodeError(explainFreeVariable(error, loaded.def) ?? error);
    }
    results.push(seq, ok, value);
    names.push(loaded.def.name);
    const now = performance.now();
    busy += now - mark;
    mark = now;
    if (now - lastSend >= FLUSH_AFTER_MS) {
      flush(results, busy, names);
      results = [];
      names = [];
      busy = 0;
      lastSend = now;
    }
  }
  Atomics.store(progress, 0, 0);
  flush(results, busy, names);
}

async function drain(): Promise<void> {
  draining = true;
  while (inbox.length > 0) await runBatch(inbox.shift()!);
  draining = false;
}

port.onMessage((message) => {
  inbox.push(message as RunMessage);
  if (started && !draining) void drain();
});

/** Runs the initializer; false when it failed and this worker must take no task. */
async function initialize(): Promise<boolean> {
  if (init.initializer === undefined) return true;
  try {
    const fn = await loadFunction(init.initializer);
    await loadRevivers(init.initargs);
    const value = fn(...decodeShared(init.initargs) as unknown[]);
    if (isThenable(value)) await value;
    return true;
  } catch (error) {
    // The pool ends this worker and fails the tasks it had sent here.
    post({
      kind: "init-error",
      error: encodeError(explainFreeVariable(error, init.initializer) ?? error),
    });
    return false;
  }
}

if (await initialize()) {
  started = true;
  post({ kind: "ready" });
  if (!draining) void drain();
}
