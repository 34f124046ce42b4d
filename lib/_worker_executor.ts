// The pool back end that runs tasks in Workers, one per slot, through lib/runtime/.
import type { Executor, Job, Slot, SlotHooks, SlotInit } from "./_executor.ts";
import {
  type Chunk,
  chunkMoved,
  Op,
  packChunk,
  packChunkOf,
  packedBuffers,
  RESULT_STRIDE,
  type RunMessage,
  TASK_STRIDE,
  type WorkerInit,
  type WorkerMessage,
} from "./_protocol.ts";
import type { SpareInit } from "./_bootstrap.ts";
import { allocatePid, currentProcess, markEnded } from "./context.ts";
import {
  decodeError,
  decodeShared,
  encodeShared,
  type FunctionDef,
  functionDef,
  loadRevivers,
  mayHoldShared,
  reduce,
  type WireError,
} from "./reduction.ts";
import { endWorker, entryModule, runtime, type WorkerHandle } from "./runtime/mod.ts";

const workerMain = entryModule("_worker_main", import.meta.url);

// The progress of a prepared worker handed its WorkerInit that has not read it yet.
const UNREAD = -1;

class WorkerSlot implements Slot {
  readonly pid: number;
  readonly name: string;
  #handle: WorkerHandle;
  #progress: Int32Array;
  #prepared: boolean;
  // Functions this worker has compiled or imported: each is sent once per worker.
  #known = new Set<number>();

  constructor(hooks: SlotHooks, init: SlotInit) {
    const { pid, counter } = allocatePid();
    this.pid = pid;
    this.name = `PoolWorker-${init.number}`;
    const progress = new SharedArrayBuffer(4);
    this.#progress = new Int32Array(progress);
    const me = currentProcess();
    const data: WorkerInit = {
      name: this.name,
      pid,
      parent: { name: me.name, pid: me.pid, daemon: me.daemon },
      pidCounter: counter,
      identity: [],
      progress,
      initializer: init.initializer as FunctionDef | undefined,
      initargs: encodeShared(init.initargs) as unknown[],
    };
    // A prepared worker has no heap limit: a pool that sets one starts its own. It marks its
    // progress 0 once it has read its WorkerInit (lib/_worker_main.ts).
    Atomics.store(this.#progress, 0, UNREAD);
    let handle = init.maxHeapMB === undefined ? takePrepared(data) : undefined;
    this.#prepared = handle !== undefined;
    if (handle === undefined) {
      Atomics.store(this.#progress, 0, 0);
      handle = runtime().spawn(workerMain, { name: this.name, data, maxHeapMB: init.maxHeapMB });
    }
    this.#handle = handle;
    let outOfMemory = false;
    // Results that hold instances of classes this thread has not imported wait for their
    // modules; the worker's later results and its exit wait behind them, in order.
    let behind: Promise<void> | undefined;
    const inOrder = (fn: () => void, loading?: Promise<void>) => {
      if (behind === undefined && loading === undefined) return fn();
      const next = Promise.all([behind, loading]).then(fn);
      behind = next;
      void next.then(() => {
        if (behind === next) behind = undefined;
      });
    };
    handle.onMessage((raw) => {
      const message = raw as WorkerMessage;
      if (message.kind === "results") {
        const results = message.results;
        const loading = message.shared ? loadRevivers(results) : undefined;
        inOrder(() => {
          // Packed chunks (ok 2) go to the pool as they are: it unpacks them into their list.
          for (let i = 1; i < results.length; i += RESULT_STRIDE) {
            if (results[i] === 0) results[i + 1] = decodeError(results[i + 1] as WireError);
            else if (results[i] === 1 && message.shared) decodeResult(results, i);
          }
          hooks.results(this, results, message.busy);
        }, loading);
      } else if (message.kind === "ready") {
        hooks.ready(this);
      } else if (message.kind === "out-of-memory") {
        outOfMemory = true;
        void handle.terminate();
      } else if (message.kind === "init-error") {
        hooks.initError(this, decodeError(message.error));
      }
    });
    handle.onExit((code, error) => {
      inOrder(() => {
        markEnded(pid);
        hooks.exit(this, code, outOfMemory ? outOfMemoryError() : error);
      });
    });
  }

  send(jobs: Job[]): Array<[Job, unknown]> | undefined {
    // Locks, queues, shared values and instances of registered classes travel as tagged
    // records; an instance of another class is refused. Encoding can fail (a closed
    // Connection, a class not registered): that fails its own job, and the others go. The
    // walk visits objects only: a payload of plain numbers costs one typeof each.
    let shared = false;
    let refused: Array<[Job, unknown]> | undefined;
    // The buffers of chunks the pool packed move to the worker instead of being copied (on
    // Node, a map of 10^6 numbers took 17 ms with copies). The pool keeps where each was read
    // from, and a chunk whose buffer has moved is read again from the list if it must go once
    // more: its worker ended before running it, or a send failed (which on Deno detaches the
    // buffers all the same).
    let transfer: ArrayBuffer[] | undefined;
    const payloads: unknown[] = new Array(jobs.length);
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i];
      const source = job.source;
      if (source !== undefined) {
        if (chunkMoved(job.payload as Exclude<Chunk, unknown[]>)) {
          const { list, from, to } = source;
          const again = packChunkOf(list, from, to);
          job.payload = again ?? list.slice(from, to);
          if (again === undefined) job.source = undefined; // no longer packable: as it is
        }
        if (job.source !== undefined) {
          const packed = job.payload as Exclude<Chunk, unknown[]>;
          packedBuffers(packed, transfer ??= []);
          payloads[i] = packed;
          continue;
        }
      }
      const payload = job.payload;
      // A map's chunk of numbers, strings or plain objects of one shape travels packed, and
      // holds nothing shared by construction.
      if (jobs[i].op === Op.map && (payloads[i] = packChunk(payload as unknown[])) !== payload) {
        // Made here from the job's items, which stay: a send again packs them again.
        packedBuffers(payloads[i] as Chunk, transfer ??= []);
        continue;
      }
      try {
        if ((payloads[i] = encodeShared(payload)) !== payload) shared = true;
      } catch (error) {
        (refused ??= []).push([jobs[i], error]);
      }
    }
    if (refused !== undefined) {
      const out = refused;
      const kept = jobs.filter((job) => !out.some(([f]) => f === job));
      const rest = kept.length > 0 ? this.send(kept) : undefined;
      return rest === undefined ? out : [...out, ...rest];
    }
    let defs: FunctionDef[] | undefined;
    const tasks = new Array(jobs.length * TASK_STRIDE);
    for (let i = 0, t = 0; i < jobs.length; i++, t += TASK_STRIDE) {
      const job = jobs[i];
      const def = job.fn as FunctionDef;
      if (!this.#known.has(def.id)) {
        (defs ??= []).push(def);
        this.#known.add(def.id);
      }
      tasks[t] = job.seq;
      tasks[t + 1] = def.id;
      tasks[t + 2] = job.op;
      tasks[t + 3] = payloads[i];
    }
    const message: RunMessage = { kind: "run", defs, tasks, shared };
    try {
      this.#handle.post(message, transfer);
      return undefined;
    } catch (error) {
      // Nothing reached the worker: it has not seen these functions after all.
      for (const def of defs ?? []) this.#known.delete(def.id);
      if (jobs.length === 1) return [[jobs[0], cloneFailure(jobs[0], error)]];
    }
    // Send one at a time to find the jobs whose arguments cannot be cloned.
    const failed: Array<[Job, unknown]> = [];
    for (const job of jobs) {
      const rejected = this.send([job]);
      if (rejected !== undefined) failed.push(...rejected);
    }
    return failed;
  }

  running(): number {
    return Atomics.load(this.#progress, 0);
  }

  unread(): boolean {
    return this.#prepared && Atomics.load(this.#progress, 0) === UNREAD;
  }

  terminate(): Promise<void> {
    return this.#handle.terminate();
  }

  ref(): void {
    this.#handle.ref();
  }

  unref(): void {
    this.#handle.unref();
  }
}

// Pool workers started ahead of need by Pool.prepare(), which the next slots take: each has
// loaded lib/_worker_main.ts and waits for its WorkerInit as its first message. Unref'd once
// loaded, so that they never keep the program alive while they wait.
interface Prepared {
  handle: WorkerHandle;
  /** Settles when the worker has loaded, or has ended. */
  ready: Promise<void>;
}
const prepared: Prepared[] = [];

/** Starts pool workers until `count` wait; resolves when each of them has loaded or ended. */
function prepareWorkers(count: number): Promise<void> {
  while (prepared.length < count) prepared.push(prepareWorker());
  return Promise.all(prepared.slice(0, count).map((p) => p.ready)).then(() => {});
}

function prepareWorker(): Prepared {
  const handle = runtime().spawn(workerMain, {
    name: "prepared PoolWorker",
    data: { spare: true } satisfies SpareInit,
  });
  let loaded!: () => void;
  const ready = new Promise<void>((resolve) => (loaded = resolve));
  // Until a slot takes the worker, its messages come here; after, to the slot's listener.
  let listener: (message: unknown) => void = () => {};
  handle.onMessage((message) => {
    if ((message as WorkerMessage).kind !== "spare-ready") return listener(message);
    loaded();
    // Kept alive while it loads, so that a program awaiting prepare() does not end first; a
    // pool that took it sooner refs and unrefs it as its own.
    if (prepared.includes(entry)) handle.unref();
  });
  const entry: Prepared = {
    ready,
    handle: { ...handle, onMessage: (next) => void (listener = next) },
  };
  handle.onExit(() => {
    const at = prepared.indexOf(entry);
    if (at >= 0) prepared.splice(at, 1);
    loaded();
  });
  return entry;
}

/** Hands `data` to a prepared worker, if one waits, and returns it; `undefined` otherwise. */
function takePrepared(data: WorkerInit): WorkerHandle | undefined {
  const entry = prepared[0];
  if (entry === undefined) return undefined;
  if (endTaken) {
    // Ended unread.
    endTaken = false;
    void entry.handle.terminate();
  } else {
    try {
      entry.handle.post(data);
    } catch {
      // Initargs that cannot be cloned: spawning reports them as usual.
      return undefined;
    }
  }
  prepared.shift();
  entry.handle.ref();
  return entry.handle;
}

// Internal, for the tests: the next prepared worker taken ends before it reads its WorkerInit,
// as one killed or crashed then would.
let endTaken = false;

/**
 * Has the next prepared worker a pool takes end before it reads what it was handed, as one
 * that crashed or was killed then would. Internal: for the tests.
 */
export function endNextTakenPrepared(): void {
  endTaken = true;
}

/**
 * Ends the first prepared worker waiting, as one that crashed or was killed ends, and resolves
 * once it has ended. Internal: for the tests.
 */
export async function endPrepared(): Promise<void> {
  if (prepared.length > 0) await endWorker(prepared[0].handle);
}

/** The thread ids of the prepared pool workers that wait. Internal: for the tests. */
export function preparedIds(): number[] {
  return prepared.map((entry) => entry.handle.id);
}

/** How many prepared pool workers wait. Internal: for the tests. */
export function preparedWorkers(): number {
  return prepared.length;
}

/** Revives a result's shared objects and instances; one that cannot be fails its own task. */
function decodeResult(results: unknown[], i: number): void {
  try {
    results[i + 1] = decodeShared(results[i + 1]);
  } catch (error) {
    results[i] = 0;
    results[i + 1] = error;
  }
}

/** The error a worker reports when it passed its heap limit without being ended by it. */
function outOfMemoryError(): Error {
  return Object.assign(
    new Error("The worker passed its heap limit inside a promise job and was ended"),
    { code: "ERR_WORKER_OUT_OF_MEMORY" },
  );
}

function cloneFailure(job: Job, error: unknown): TypeError {
  const name = (job.fn as FunctionDef).name;
  const reason = error instanceof Error ? error.message : String(error);
  return new TypeError(
    `Cannot send the arguments of '${name}' to a worker as they cannot be cloned: ${reason}. Arguments travel by structured clone: pass plain data (numbers, strings, arrays, plain objects, Maps, typed arrays), not functions or objects that hold them`,
    { cause: error },
  );
}

/**
 * Checks that a pool's `initargs` can reach its workers: plain data, and the shared objects
 * (locks, queues, shared values, manager proxies) that travel as tasks' arguments do.
 */
function checkInitargs(initargs: unknown[]): void {
  try {
    structuredClone(mayHoldShared() ? withoutShared(initargs, new Set()) : initargs);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TypeError(
      `Cannot create pool as 'initargs' cannot be sent to the workers: ${reason}. Pass plain data (numbers, strings, arrays, plain objects, Maps, typed arrays), or locks, queues, shared values and manager proxies of this library, not functions or objects that hold them`,
      { cause: error },
    );
  }
}

/**
 * `value` with its shareable objects replaced by `null`, walked as `encodeShared` walks it, for
 * a check that must not reduce them: each reduced Connection counts one more open copy of its
 * end, and the check sends nothing.
 */
function withoutShared(value: unknown, seen: Set<object>): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (typeof (value as { [reduce]?: unknown })[reduce] === "function") return null;
  if (seen.has(value)) return null;
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => withoutShared(item, seen));
  if (value instanceof Map) {
    return new Map([...value].map(([k, v]) => [withoutShared(k, seen), withoutShared(v, seen)]));
  }
  if (value instanceof Set) return new Set([...value].map((v) => withoutShared(v, seen)));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, withoutShared(v, seen)]),
  );
}

/** Runs each slot's tasks in its own Worker. */
export const workerExecutor: Executor = {
  prepare: (fn, role) => functionDef(fn, role),
  checkInitargs,
  // Definitions are already shared by functions of one source text.
  costKey: (prepared) => prepared,
  chunk: packChunkOf,
  spawn: (hooks, init) => new WorkerSlot(hooks, init),
  prepareWorkers,
};
