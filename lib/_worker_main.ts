// The module every pool worker starts with: it runs the initializer, then runs the tasks its
// pool sends, one at a time and in order, and sends their results back in batches. It uses the
// global setImmediate: a `node:` module imported costs every worker's start (lib/runtime/node.ts).
import { isSpare } from "./_bootstrap.ts";
import { compileFunction, explainFreeVariable } from "./_compile.ts";
import { awaitWatched, watchHeap } from "./_heap_watch.ts";
import { isThenable } from "./_thenable.ts";
import {
  type Chunk,
  eachString,
  Op,
  PACK_FROM,
  packChunk,
  packedBuffers,
  packedLength,
  type PackedStrings,
  RESULT_STRIDE,
  type RunMessage,
  StringPacker,
  TASK_STRIDE,
  unpackChunk,
  unpackInto,
  type WorkerInit,
  type WorkerMessage,
} from "./_protocol.ts";
import {
  cloneable,
  decodeShared,
  encodeError,
  encodeShared,
  type FunctionDef,
  loadFunction,
  loadRevivers,
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
const functions = new Map<number, Loaded>();
const inbox: RunMessage[] = [];
let draining = false;
let started = false;

// A worker started ahead of its pool (Pool.prepare()) takes its WorkerInit as its first
// message. The listener that takes it stays for the tasks: on Bun and Deno a worker whose
// channel was unref'd once (HostPort.nextMessage) would end when its pool leaves it idle.
let adopt: ((message: unknown) => void) | undefined;
const adopted = isSpare(runtime().workerData())
  ? new Promise<unknown>((resolve) => (adopt = resolve))
  : undefined;
port.onMessage((message) => {
  if (adopt !== undefined) {
    adopt(message);
    adopt = undefined;
    return;
  }
  inbox.push(message as RunMessage);
  if (started && !draining) schedule();
});
if (adopted !== undefined) {
  // Node loads the `performance` global on its first use in a Worker, which took 1.5–2 ms;
  // the first batch uses it.
  performance.now();
  // Says that it has loaded, and waits for the pool that takes it.
  post({ kind: "spare-ready" });
  runtime().adoptWorkerData(await adopted);
}
const init = runtime().workerData() as WorkerInit;
const progress = new Int32Array(init.progress);
// A prepared worker tells its slot that it has read its WorkerInit (lib/_worker_executor.ts).
if (adopted !== undefined) Atomics.store(progress, 0, 0);

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
async function runChunk(
  fn: AnyFunction,
  op: Op,
  items: unknown[] | Float64Array,
): Promise<unknown[]> {
  const out = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    let value = op === Op.starmap ? fn(...(items[i] as unknown[])) : fn(items[i]);
    if (isThenable(value)) value = await value;
    out[i] = value;
  }
  return out;
}

// The list that a map's packed chunk is unpacked into, and the list its results are mapped
// into, are kept for the next chunk once the results are packed (a chunk of strings is
// unpacked one string at a time instead, and its results packed as they come: see mapText).
// A list of 125,000 is 1 MB, which V8 places in its space for large objects, in fresh memory
// each time: 245 page faults, 3-4 ms on Node on the machine the bench ran on (14 us a page).
// A list is taken while its chunk runs, so a second chunk at the same time makes its own, and
// it is kept emptied.
const SPARE_FROM = 4096;
let spareItems: unknown[] | undefined;
let spareResults: unknown[] | undefined;

/** A list of `n` items, the spare one when it has that length. */
function listOf(n: number, spare: unknown[] | undefined): unknown[] {
  return spare !== undefined && spare.length === n ? spare : new Array<unknown>(n);
}

/**
 * Empties a list this worker made for a chunk and keeps it as the spare of its kind, unless
 * it is short or the spare is longer; returns the spare to keep.
 */
function giveBack(list: unknown[], spare: unknown[] | undefined): unknown[] | undefined {
  if (list.length < SPARE_FROM || (spare !== undefined && spare.length > list.length)) {
    return spare;
  }
  list.fill(undefined);
  return list;
}

/** Starts a task; returns its value, or a promise of it when the function is async. */
function start(loaded: Loaded, op: Op, payload: unknown): unknown {
  if (loaded.fn === undefined) throw loaded.error;
  if (op === Op.apply) return loaded.fn(...(payload as unknown[]));
  // The common case, a sync function: no promise per chunk.
  if (op === Op.map) return mapChunk(loaded.fn, payload as Chunk);
  return runChunk(loaded.fn, op, payload as unknown[]);
}

/** Maps a chunk as it came: a list, numbers, or packed. */
function mapChunk(fn: AnyFunction, chunk: Chunk): unknown {
  if (Array.isArray(chunk) || chunk instanceof Float64Array) return mapSync(fn, chunk);
  if ("text" in chunk) return mapText(fn, chunk);
  const items = listOf(packedLength(chunk), spareItems);
  if (items === spareItems) spareItems = undefined;
  unpackInto(chunk, items, 0);
  let value: unknown;
  try {
    value = mapSync(fn, items);
  } finally {
    // An async function reads the items after this returns.
    if (!isThenable(value)) spareItems = giveBack(items, spareItems);
  }
  return value;
}

/**
 * Maps packed strings, each string made as its turn comes, and packs the results as they come
 * while they are strings ({@linkcode StringPacker}), else lists them; if a result is a
 * promise, the rest of the chunk is awaited as {@linkcode mapSync} does.
 */
function mapText(fn: AnyFunction, packed: PackedStrings): unknown {
  const n = packed.lengths.length;
  // Room for results a character longer than their items, before the packer grows.
  const packer = new StringPacker(n, packed.text.length + n);
  let out: unknown[] | undefined;
  let at = -1;
  let first: unknown;
  eachString(packed, (s, i) => {
    const value = fn(s);
    if (out === undefined) {
      if (packer.add(value)) return true;
      out = takeResults(n);
      packer.listInto(out);
    }
    if (isThenable(value)) {
      at = i;
      first = value;
      return false;
    }
    out[i] = value;
    return true;
  });
  if (out === undefined) return packer.packed();
  return at < 0 ? out : mapRest(fn, unpackChunk(packed), out, at, first);
}

/**
 * Maps a chunk with a function that is sync so far: into a Float64Array while every result
 * is a number (the form numbers travel back in: no array of boxed values built and packed
 * after), else into an array. If a result is a promise, the rest of the chunk is awaited.
 * A chunk of numbers, which came as this worker's own Float64Array, takes its results in
 * place (each item is read before its result is written): no fresh memory, and the pool
 * packs its next map into the same buffer (see SpareNumbers).
 */
function mapSync(fn: AnyFunction, items: unknown[] | Float64Array): unknown {
  const n = items.length;
  if (n >= PACK_FROM) {
    const numbers = items instanceof Float64Array ? items : new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const value = fn(items[i]);
      if (typeof value !== "number") {
        // The rest goes into an array, after the numbers so far.
        const out = takeResults(n);
        for (let j = 0; j < i; j++) out[j] = numbers[j];
        return mapRest(fn, items, out, i, value);
      }
      numbers[i] = value;
    }
    return numbers;
  }
  return n === 0 ? [] : mapRest(fn, items, takeResults(n), 0, fn(items[0]));
}

/** A list for `n` results: the spare one when it has that length. */
function takeResults(n: number): unknown[] {
  const out = listOf(n, spareResults);
  if (out === spareResults) spareResults = undefined;
  return out;
}

/** Goes on mapping into `out` from item `i`, whose result is `value`. */
function mapRest(
  fn: AnyFunction,
  items: unknown[] | Float64Array,
  out: unknown[],
  i: number,
  value: unknown,
): unknown {
  for (;;) {
    if (isThenable(value)) {
      const at = i;
      return value.then((first) => {
        out[at] = first;
        return runChunk(fn, Op.map, items.slice(at + 1)).then((rest) => {
          for (let j = 0; j < rest.length; j++) out[at + 1 + j] = rest[j];
          return out;
        });
      });
    }
    out[i] = value;
    if (++i >= items.length) return out;
    value = fn(items[i]);
  }
}

/** Sends results; a result that cannot be cloned fails its own task with a clear error. */
function flush(
  results: unknown[],
  busy: number,
  names: string[],
  transfer: ArrayBuffer[] | undefined,
): void {
  if (results.length === 0) return;
  // Shared objects and instances of registered classes travel as tagged records; an
  // instance of another class fails its task. Plain values cost one typeof each.
  let shared = false;
  for (let i = 1; i < results.length; i += RESULT_STRIDE) {
    if (results[i] !== 1 || typeof results[i + 1] !== "object") continue;
    try {
      const value = encodeShared(results[i + 1]);
      if (value !== results[i + 1]) shared = true;
      results[i + 1] = value;
    } catch (error) {
      results[i] = 0;
      results[i + 1] = encodeError(error);
    }
  }
  if (transfer !== undefined && transfer.length > 0 && !shared) {
    // Only packed chunks and errors: plain data, which always clones.
    port.post({ kind: "results", results, busy, shared } satisfies WorkerMessage, transfer);
    return;
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

/**
 * Compiles the batch's new functions; when a module must be imported first, a promise of
 * whether every import succeeded.
 */
function prepare(message: RunMessage): Promise<boolean> | undefined {
  const imports: Promise<boolean>[] = [];
  for (const def of message.defs ?? []) {
    if (def.source === undefined) {
      imports.push(
        load(def).then((loaded) => {
          functions.set(def.id, loaded);
          return loaded.error === undefined;
        }),
      );
      continue;
    }
    try {
      functions.set(def.id, { def, fn: compileFunction(def), error: undefined });
    } catch (error) {
      functions.set(def.id, { def, fn: undefined, error });
    }
  }
  const revivers = message.shared ? loadRevivers(message.tasks) : undefined;
  if (revivers !== undefined) imports.push(revivers.then(() => true));
  return imports.length === 0
    ? undefined
    : Promise.all(imports).then((loaded) => loaded.every(Boolean));
}

async function runBatch(message: RunMessage): Promise<void> {
  const tasks = message.tasks;
  let results: unknown[] = [];
  let names: string[] = [];
  let mark = performance.now();
  let lastSend = mark;
  let busy = 0;
  // The buffers of the packed chunks among the results, which move to the pool instead of
  // being copied; undefined once a result may not be cloneable (then a failed send, which
  // detaches the buffers on Deno, is retried without them).
  let transfer: ArrayBuffer[] | undefined = [];
  for (let t = 0; t < tasks.length; t += TASK_STRIDE) {
    const seq = tasks[t] as number;
    const loaded = functions.get(tasks[t + 1] as number)!;
    Atomics.store(progress, 0, seq);
    let ok = 1;
    let value: unknown;
    try {
      const op = tasks[t + 2] as Op;
      const payload = message.shared ? decodeShared(tasks[t + 3]) : tasks[t + 3];
      value = start(loaded, op, payload);
      if (isThenable(value)) value = await (needsMacrotask ? awaitWatched(value) : value);
      if (op !== Op.apply) {
        // A list, numbers, or packed already (strings mapped by mapText).
        const packed = Array.isArray(value) ? packChunk(value) : value as Chunk;
        // Packed, the results are in buffers: their list is free for the next chunk.
        if (packed !== value) spareResults = giveBack(value as unknown[], spareResults);
        // 2 marks a packed chunk that the pool unpacks; numbers it reads as they are.
        if (!Array.isArray(packed) && !(packed instanceof Float64Array)) ok = 2;
        // A packed chunk is this worker's own, made here: its buffers move, not copied.
        if (transfer !== undefined && !packedBuffers(packed, transfer)) transfer = undefined;
        value = packed;
      } else if (
        transfer !== undefined && value !== null &&
        (typeof value === "object" || typeof value === "function" || typeof value === "symbol")
      ) {
        // Not known to clone.
        transfer = undefined;
      }
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
      flush(results, busy, names, transfer);
      results = [];
      names = [];
      busy = 0;
      lastSend = now;
      transfer = [];
    }
  }
  Atomics.store(progress, 0, 0);
  flush(results, busy, names, transfer);
}

// Where the runtime needs it (Deno), each batch starts in a macrotask of its own and its sync
// tasks run in it: a worker that passes its heap limit inside a promise job (a message
// listener, code after an `await`) stops without ever being reported as ended, and its task
// would never settle; inside a macrotask it ends with ERR_WORKER_OUT_OF_MEMORY, as on Node.
// Catch: one setImmediate per batch (within the noise on Deno's round trip), so only there.
// An async task that passes the limit after an `await` is stopped, and the worker goes on
// unseen: while one is pending the worker watches for it (lib/_heap_watch.ts) and asks to be
// ended.
const needsMacrotask = runtime().heapLimitNeedsMacrotask;
if (needsMacrotask) watchHeap(() => post({ kind: "out-of-memory" }));

function schedule(): void {
  draining = true;
  if (needsMacrotask) setImmediate(drain);
  else drain();
}

function drain(): void {
  const message = inbox.shift();
  if (message === undefined) {
    draining = false;
    return;
  }
  const pending = prepare(message);
  const run = () => void runBatch(message).then(schedule, schedule);
  if (pending === undefined) run();
  else {
    // A module that failed to load fails its tasks at once: its own top-level code may be
    // about to end this worker (an unguarded main() that rejects).
    pending.then((loaded) => loaded && needsMacrotask ? setImmediate(run) : run());
  }
}

/** Runs the initializer; false when it failed and this worker must take no task. */
async function initialize(): Promise<boolean> {
  if (init.initializer === undefined) return true;
  try {
    const fn = await loadFunction(init.initializer);
    await loadRevivers(init.initargs);
    const value = fn(...decodeShared(init.initargs) as unknown[]);
    if (isThenable(value)) await (needsMacrotask ? awaitWatched(value) : value);
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
  if (!draining) schedule();
}
