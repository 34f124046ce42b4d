/**
 * Processes (CPython's `multiprocessing.process`): {@linkcode Process} runs a function, or a
 * subclass's `run()`, in a Worker of its own, with Python's names, exit codes and daemons.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { BackendRegistry } from "./_backends.ts";
import { checkNotBootstrapping, errorText, type SpareInit } from "./_bootstrap.ts";
import { checkTimeout } from "./_validate.ts";
import type { ProcessInit } from "./_protocol.ts";
import {
  allocatePid,
  checkMayHaveChildren,
  currentProcess,
  markEnded,
  nextChildIdentity,
} from "./context.ts";
import {
  describe,
  encodeShared,
  functionDef,
  loadFunction,
  type TaskFunction,
} from "./reduction.ts";
import {
  endWorker,
  entryModule,
  type Handover,
  runtime,
  type WorkerHandle,
} from "./runtime/mod.ts";

const processMain = entryModule("_process_main", import.meta.url);

/** Options for {@linkcode Process}'s constructor, as Python's keyword arguments. */
export interface ProcessOptions {
  /**
   * The function to run: self-contained, or a `fromModule()` reference. A subclass that
   * overrides `run()` needs none.
   *
   * @default {undefined}
   */
  target?: TaskFunction<never[], unknown>;
  /**
   * The arguments of `target`. Locks, queues and shared values in them work in the process
   * as they do here.
   *
   * @default {[]}
   */
  args?: unknown[];
  /**
   * The process's name.
   *
   * @default {"Process-N"}
   */
  name?: string;
  /**
   * A daemon process does not keep the program alive: it ends when the program ends. It may
   * not start processes or pools of its own (Python: "daemonic processes are not allowed to
   * have children").
   *
   * @default {false}
   */
  daemon?: boolean;
}

// The processes of this thread that have started and not yet ended.
const live = new Set<BaseProcess>();

// Set while the child rebuilds its Process object, so that the constructor takes the identity
// the parent gave it instead of numbering a new child.
let rebuilding: ProcessInit | undefined;

type State = "initial" | "started" | "closed";

/** A started process, as its back end runs it. Internal. */
export interface ProcessHandle {
  /** Calls `listener` once, with the exit code, when the process has ended. */
  onExit(listener: (exitCode: number) => void): void;
  /** Stops the process at once (or, on the calling thread, stops waiting for it). */
  stop(): void;
  ref(): void;
  unref(): void;
  /**
   * Lets the process begin, where the back end waits for it: called last in `start()`, once
   * the `Process` has recorded it, so that its Worker does not wait for the CPU meanwhile.
   */
  begin?(): void;
}

/** What a back end needs to start a process. Internal. */
export interface ProcessSpec {
  name: string;
  pid: number;
  pidCounter: SharedArrayBuffer;
  identity: number[];
  daemon: boolean;
  target: unknown;
  args: unknown[];
}

/** Where a `BaseProcess` subclass runs: in a Worker, or on the calling thread. Internal. */
export interface ProcessBackend {
  start(process: BaseProcess, spec: ProcessSpec): ProcessHandle;
  /** Makes the next start() faster, where the back end can (see BaseProcess.prepare). */
  prepare?(): void;
}

const backends = new BackendRegistry<ProcessBackend>(
  "Cannot create a BaseProcess directly: create a Process",
);

/** Sets the back end of a `BaseProcess` subclass. Internal: not exported by the entry points. */
export function registerProcessBackend(
  cls: abstract new (...args: never[]) => BaseProcess,
  backend: ProcessBackend,
): void {
  backends.register(cls, backend);
}

/**
 * The logic every process shares: the worker {@linkcode Process} of `mod.ts` and the
 * same-thread `Process` of `dummy.ts` differ only in where `run()` runs. Create processes
 * with `new Process()`.
 *
 * @example Usage
 * ```ts
 * import { type BaseProcess, Process } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * async function runAll(processes: BaseProcess[]): Promise<(number | null)[]> {
 *   for (const p of processes) p.start();
 *   for (const p of processes) await p.join();
 *   return processes.map((p) => p.exitcode);
 * }
 * assert.deepEqual(await runAll([new Process({ target: () => {} })]), [0]);
 * ```
 */
export abstract class BaseProcess {
  /**
   * Where a subclass is defined: set it to `import.meta.url` in a subclass that overrides
   * `run()`, so that the process's Worker can import the class.
   */
  static module: string | undefined = undefined;

  /**
   * Boots a spare Worker now, so that the next {@linkcode Process.start} hands it its target
   * instead of waiting for a Worker to start (a Worker's start costs milliseconds to tens of
   * milliseconds; a spare, which waits blocked and reads its process at once when woken,
   * begins the target about one millisecond after `start()`). Python's `forkserver` start
   * method, likewise, forks a server ahead of need. After a process has started, the library
   * makes the next spare by itself (once a process handed to a spare has ended, or 20 ms after
   * the spare read it, so that it gets going first); call `prepare()` to have one for the
   * first process too.
   *
   * The spare never keeps the program alive and ends with it: a program that does not start
   * the process pays one idle Worker, and a program that never calls `start()` or
   * `prepare()` pays nothing. A second call while a spare waits does nothing. On the calling
   * thread (`dummy.ts`) it does nothing, as nothing needs starting.
   *
   * @example Usage
   * ```ts
   * import { Process } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * Process.prepare(); // at start-up, ahead of need
   * // … later: this process begins at once, on the spare.
   * const p = new Process({ target: () => {} });
   * p.start();
   * await p.join();
   * assert.equal(p.exitcode, 0);
   * ```
   */
  static prepare(): void {
    backends.find(this).prepare?.();
  }

  #target: unknown;
  #args: unknown[];
  #name: string;
  #daemon: boolean;
  #identity: number[];
  #state: State = "initial";
  #backend: ProcessBackend;
  #handle: ProcessHandle | undefined = undefined;
  #pid: number | null = null;
  #exitcode: number | null = null;
  #stopCode: number | undefined = undefined;
  #ended: Promise<void> | undefined = undefined;

  /**
   * Creates a process; {@linkcode Process.start} starts it.
   *
   * @param options `target`, `args`, `name` and `daemon`.
   * @throws {TypeError} If `target` is not a function, `args` not an array, `name` not a
   *   string or `daemon` not a boolean.
   */
  constructor(options: ProcessOptions = {}) {
    this.#backend = backends.find(new.target);
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        `Cannot create process as 'options' must be an object with target, args, name and daemon: received ${
          describe(options)
        }`,
      );
    }
    const { target, args = [], name, daemon = false } = options;
    if (target !== undefined) functionDef(target, "process target");
    if (!Array.isArray(args)) {
      throw new TypeError(
        `Cannot create process as 'args' must be an array of arguments: received ${
          describe(args)
        }. Wrap a single argument in an array, as in [x]`,
      );
    }
    if (name !== undefined && typeof name !== "string") {
      throw new TypeError(
        `Cannot create process as 'name' must be a string: received ${describe(name)}`,
      );
    }
    if (typeof daemon !== "boolean") {
      throw new TypeError(
        `Cannot create process as 'daemon' must be a boolean: received ${describe(daemon)}`,
      );
    }
    this.#target = target;
    this.#args = [...args]; // Python keeps a tuple of them
    this.#daemon = daemon;
    if (rebuilding !== undefined) {
      // The child's own Process object: it is the process that is running.
      this.#identity = rebuilding.identity;
      this.#name = rebuilding.name;
      this.#daemon = rebuilding.daemon;
      this.#pid = rebuilding.pid;
      this.#state = "started";
    } else {
      this.#identity = nextChildIdentity();
      this.#name = name ?? `Process-${this.#identity.join(":")}`;
    }
  }

  /**
   * What the process does: calls `target(...args)`. Subclasses override it.
   *
   * @returns What `target` returns (awaited by the process before it ends).
   */
  run(): unknown {
    const target = this.#target;
    if (target === undefined) return undefined;
    if (typeof target === "function") return target(...this.#args);
    return loadFunction(functionDef(target)).then((fn) => fn(...this.#args));
  }

  #checkOpen(what: string): void {
    if (this.#state === "closed") {
      throw new Error(`Cannot ${what} as the process is closed: create a new Process`);
    }
  }

  /**
   * Starts the process in a Worker of its own.
   *
   * @throws {Error} If it was started before, or closed, or if the current process is a
   *   daemon (daemonic processes are not allowed to have children).
   * @throws {TypeError} If a subclass does not say where it is defined, or the arguments
   *   cannot be cloned.
   */
  start(): void {
    this.#checkOpen("start it");
    if (this.#state === "started") {
      throw new Error(
        `Cannot start ${this.#name} twice: a process runs once, so create a new Process`,
      );
    }
    checkNotBootstrapping(this.#name);
    checkMayHaveChildren(this.#name);
    const { pid, counter } = allocatePid();
    const handle = this.#backend.start(this, {
      name: this.#name,
      pid,
      pidCounter: counter,
      identity: this.#identity,
      daemon: this.#daemon,
      target: this.#target,
      args: this.#args,
    });
    this.#handle = handle;
    this.#pid = pid;
    this.#state = "started";
    live.add(this);
    this.#ended = new Promise((resolve) => {
      handle.onExit((code) => {
        markEnded(pid);
        this.#exitcode = this.#stopCode ?? code;
        live.delete(this);
        resolve();
      });
    });
    // Python's daemons end with the program; here, a daemon does not keep it alive.
    if (this.#daemon) handle.unref();
    handle.begin?.();
  }

  /**
   * Waits until the process has ended, or until `timeout` milliseconds have passed; check
   * {@linkcode Process.exitcode} or {@linkcode Process.isAlive} to tell which.
   *
   * @param timeout Milliseconds to wait at most; `undefined` waits as long as it takes.
   * @returns A promise that resolves when the process has ended or the time is up.
   * @throws {Error} If the process has not started, or is closed.
   */
  async join(timeout?: number): Promise<void> {
    this.#checkOpen("join it");
    if (this.#state === "initial" || this.#ended === undefined) {
      throw new Error(`Cannot join ${this.#name} as it has not started: call start() first`);
    }
    const ms = checkTimeout(timeout, `join ${this.#name}`);
    if (this.#exitcode !== null) return;
    // Whoever waits for a daemon keeps the program alive meanwhile.
    const handle = this.#handle!;
    handle.ref();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await (ms === Infinity ? this.#ended : Promise.race([
        this.#ended,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
      ]));
    } finally {
      clearTimeout(timer);
      if (this.#daemon && this.#exitcode === null) handle.unref();
    }
  }

  /**
   * Whether the process has started and not yet ended.
   *
   * @returns `true` while it runs.
   * @throws {Error} If the process is closed.
   */
  isAlive(): boolean {
    this.#checkOpen("ask whether it is alive");
    if (this.#handle === undefined) return this.#state === "started"; // the child itself
    return this.#exitcode === null;
  }

  /**
   * Stops the process at once; its `exitcode` becomes `-15` (Python's SIGTERM).
   *
   * @throws {Error} If the process is closed.
   */
  terminate(): void {
    this.#stop(-15);
  }

  /**
   * Stops the process at once; its `exitcode` becomes `-9` (Python's SIGKILL).
   *
   * @throws {Error} If the process is closed.
   */
  kill(): void {
    this.#stop(-9);
  }

  #stop(code: number): void {
    this.#checkOpen("stop it");
    if (this.#handle === undefined || this.#exitcode !== null) return;
    this.#stopCode ??= code;
    this.#handle.stop();
  }

  /**
   * Releases the process's resources; after it, every other method is an error.
   *
   * @throws {Error} If the process is still running.
   */
  close(): void {
    if (this.#state === "started" && this.#exitcode === null && this.#handle !== undefined) {
      throw new Error(
        `Cannot close ${this.#name} while it is still running: join() or terminate() it first`,
      );
    }
    this.#state = "closed";
    this.#handle = undefined;
  }

  /** The process's name: `Process-1` and so on unless given. */
  get name(): string {
    return this.#name;
  }

  set name(name: string) {
    if (typeof name !== "string") {
      throw new TypeError(`Cannot set name as it must be a string: received ${describe(name)}`);
    }
    this.#name = name;
  }

  /** Whether the process is a daemon; set it before {@linkcode Process.start}. */
  get daemon(): boolean {
    return this.#daemon;
  }

  set daemon(daemon: boolean) {
    if (this.#state !== "initial") {
      throw new Error(`Cannot set daemon of ${this.#name} after start(): set it before`);
    }
    if (typeof daemon !== "boolean") {
      throw new TypeError(
        `Cannot set daemon as it must be a boolean: received ${describe(daemon)}`,
      );
    }
    this.#daemon = daemon;
  }

  /**
   * The pid, unique among the program's processes (the child sees the same value as
   * `currentProcess().pid`); `null` before {@linkcode Process.start}.
   *
   * @throws {Error} If the process is closed.
   */
  get pid(): number | null {
    this.#checkOpen("read its pid");
    return this.#pid;
  }

  /**
   * `null` until the process ends; then `0` after a normal end, `1` after an uncaught
   * error, `n` after `process.exit(n)`, `-15` after `terminate()`, `-9` after `kill()`.
   *
   * @throws {Error} If the process is closed.
   */
  get exitcode(): number | null {
    this.#checkOpen("read its exit code");
    return this.#exitcode;
  }
}

/**
 * The processes this thread started that are still running (Python's `active_children`).
 *
 * @returns The live child processes, in the order they started.
 *
 * @example Usage
 * ```ts
 * import { activeChildren, Process } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const p = new Process({ target: () => new Promise((r) => setTimeout(r, 100)) });
 * p.start();
 * assert.deepEqual(activeChildren(), [p]);
 * await p.join();
 * assert.deepEqual(activeChildren(), []);
 * ```
 */
export function activeChildren(): BaseProcess[] {
  return [...live];
}

/**
 * Rebuilds, inside a process's Worker, the object whose `run()` it runs: the subclass's
 * prototype and own fields, with the identity the parent gave it. Internal.
 */
export function rebuildProcess(
  cls: typeof Process,
  init: ProcessInit,
  fields: Record<string, unknown>,
): Process {
  rebuilding = init;
  try {
    const process = Reflect.construct(BaseProcess, [], cls) as Process;
    Object.assign(process, fields);
    return process;
  } finally {
    rebuilding = undefined;
  }
}

// One spare Worker, booted ahead of need by Process.prepare() or after a start(), that the
// next start() hands its ProcessInit to (lib/_process_main.ts waits for it): that start skips
// the Worker's own start-up. Unref'd while it waits, so it never keeps the program alive.
let spare: WorkerHandle | undefined;
let spareScheduled = false;

function prepareSpare(): void {
  if (spare !== undefined) return;
  const worker = runtime().spawn(processMain, {
    name: "spare Process",
    data: { spare: true } satisfies SpareInit,
    handover: true,
  });
  worker.unref();
  worker.onExit(() => {
    if (spare === worker) spare = undefined;
  });
  spare = worker;
}

// After a start, the next spare is made: a loop of start() calls does not wait for a spare to
// be made between two of them, and the program's next start finds one ready. After a start on
// a fresh Worker, from a macrotask of its own; after one on a spare, when its process ends or
// 20 ms after the spare read it, whichever comes first, so that the process gets going first.
// A Worker made in the next macrotask took the CPU from it: its start() to its target, median
// of 20 each, interleaved, went 1.56 -> 1.05 ms on Bun and 1.32 -> 1.21 ms on Node with the
// spare made 20 ms later. The timer does not keep a program alive.
const SPARE_AFTER_MS = 20;

function scheduleSpare(taken?: Promise<void>, worker?: WorkerHandle): void {
  if (spare !== undefined || spareScheduled) return;
  spareScheduled = true;
  const make = () => {
    if (!spareScheduled) return;
    spareScheduled = false;
    prepareSpare();
  };
  if (taken === undefined) {
    setImmediate(make);
    return;
  }
  void taken.then(() => {
    const timer = setTimeout(make, SPARE_AFTER_MS);
    (timer as { unref?: () => void }).unref?.();
  });
  // A program that joins a short process finds the next spare made: the join goes on in a
  // promise job, after every exit listener. A spare that ends before it read its process
  // comes here too.
  worker?.onExit(make);
}

/**
 * Ends the waiting spare Worker, as a spare that crashed or was killed ends, and resolves
 * once it has ended. Internal: for the tests.
 */
export async function endSpare(): Promise<void> {
  if (spare !== undefined) await endWorker(spare);
}

/** Whether a spare Worker waits, or is about to be made. Internal: for the tests. */
export function hasSpare(): boolean {
  return spare !== undefined || spareScheduled;
}

/**
 * Hands `init` to the spare Worker, if one waits, and returns it with the {@linkcode Handover}
 * that wakes it to read it; `undefined` otherwise.
 */
function takeSpare(init: ProcessInit): [WorkerHandle, Handover] | undefined {
  const worker = spare;
  if (worker === undefined) return undefined;
  let handover: Handover;
  try {
    handover = worker.handOver(init);
  } catch {
    // Arguments that cannot be cloned: the spare stays, and spawning reports them as usual
    // (runtimes word a clone error of a message and of workerData differently).
    return undefined;
  }
  spare = undefined;
  worker.ref();
  return [worker, handover];
}

// Internal, for the tests: the next spare handed a process ends instead of being woken, as a
// spare killed or crashed between the two would.
let endHandedSpare = false;

/**
 * Has the next spare Worker handed a process end before it reads it, as a spare that crashed
 * or was killed then would. Internal: for the tests.
 */
export function endNextHandedSpare(): void {
  endHandedSpare = true;
}

/** The error of a process whose arguments could not be cloned, or `error` itself. */
function cloneError(name: string, error: unknown): unknown {
  // Anything else (Deno's NotCapable, without read access to the worker's module) says its
  // own cause.
  if ((error as { name?: unknown } | null)?.name !== "DataCloneError") return error;
  return new TypeError(
    `Cannot start ${name} as its arguments cannot be cloned: ${
      error instanceof Error ? error.message : String(error)
    }. Pass plain data, or locks, queues and shared values from this library`,
    { cause: error },
  );
}

/** Runs each process in a Worker of its own, through lib/runtime/. */
const workerBackend: ProcessBackend = {
  prepare: prepareSpare,
  start(process, spec) {
    const ctor = process.constructor as typeof BaseProcess;
    let subclass: ProcessInit["subclass"];
    if (ctor !== Process) {
      if (typeof ctor.module !== "string") {
        throw new TypeError(
          `Cannot start ${spec.name} as its class ${ctor.name} does not say where it is defined: export the class from a module and add 'static override module = import.meta.url' to it`,
        );
      }
      const fields = encodeShared({ ...process }) as Record<string, unknown>;
      subclass = { module: ctor.module, name: ctor.name, fields };
    }
    const me = currentProcess();
    const args = encodeShared(spec.args) as unknown[];
    const init: ProcessInit = {
      name: spec.name,
      pid: spec.pid,
      parent: { name: me.name, pid: me.pid, daemon: me.daemon },
      pidCounter: spec.pidCounter,
      identity: spec.identity,
      daemon: spec.daemon,
      target: spec.target === undefined || subclass !== undefined
        ? undefined
        : functionDef(spec.target, "process target"),
      args,
      // encodeShared returns the arguments themselves when they hold nothing to revive.
      shared: args !== spec.args,
      subclass,
    };
    const spawn = () => runtime().spawn(processMain, { name: spec.name, data: init });
    let worker: WorkerHandle;
    let handover: Handover | undefined;
    try {
      [worker, handover] = takeSpare(init) ?? [spawn(), undefined];
    } catch (error) {
      throw cloneError(spec.name, error);
    }
    let stopped = false;
    let refed = true;
    const begin = () => {
      if (handover === undefined) return scheduleSpare();
      if (endHandedSpare) {
        endHandedSpare = false;
        void worker.terminate();
        return scheduleSpare(new Promise(() => {}), worker);
      }
      scheduleSpare(handover.wake(), worker);
    };
    return {
      // A spare is woken last: its process waits for nothing of this thread's then.
      begin,
      onExit: (listener) => {
        const follow = (from: WorkerHandle, spared: boolean) =>
          from.onExit((code, error) => {
            if (spared && !stopped && !handover!.read()) {
              // The spare ended (killed, or crashed) before it read its process, which has
              // not begun: it runs on a Worker of its own, as it would have without a spare.
              try {
                worker = spawn();
                if (!refed) worker.unref();
                follow(worker, false);
                return;
              } catch (spawnError) {
                error = spawnError;
              }
            }
            // An error the child could not print itself, such as a module of it that failed
            // to load: printed as the child prints a run()'s error, as Python prints its
            // traceback.
            if (error !== undefined) console.error(`Process ${spec.name}:\n${errorText(error)}`);
            listener(code);
          });
        follow(worker, handover !== undefined);
      },
      stop: () => {
        stopped = true;
        void worker.terminate();
      },
      ref: () => {
        refed = true;
        worker.ref();
      },
      unref: () => {
        refed = false;
        worker.unref();
      },
    };
  },
};

/**
 * A process (Python's `multiprocessing.Process`): `target(...args)`, or the `run()` of a
 * subclass, run in a Worker of its own, in parallel with the program.
 *
 * `exitcode` is `null` until the process ends, then `0` after a normal end, `1` after an
 * uncaught error (whose stack the process prints to stderr after a `Process Process-1:` line),
 * `n` after `process.exit(n)`, `-15` after {@linkcode Process.terminate} and `-9` after
 * {@linkcode Process.kill}. Names go `Process-1`, `Process-2`…, and `Process-1:1` for the
 * first process started inside `Process-1`.
 *
 * A subclass that overrides `run()` must be exported from a module and say where that is,
 * with `static module = import.meta.url`, so that the Worker can import it; the child
 * rebuilds the object from its own fields, without running its constructor again (as Python
 * unpickles it), so give the fields `run()` needs their values in the constructor.
 *
 * @example Usage
 * ```ts
 * import { Process } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const p = new Process({ target: (who: string) => console.log(`hello ${who}`), args: ["bob"] });
 * p.start();
 * await p.join();
 * assert.equal(p.exitcode, 0);
 * ```
 *
 * @example A subclass, in a module of its own
 * ```ts ignore
 * import { Process } from "@mp/multiprocessing";
 *
 * export class Greeter extends Process {
 *   static override module = import.meta.url;
 *   who: string;
 *   constructor(who: string) {
 *     super();
 *     this.who = who;
 *   }
 *   override run(): void {
 *     console.log(`${this.name} greets ${this.who}`);
 *   }
 * }
 *
 * if (import.meta.main) {
 *   const p = new Greeter("alice");
 *   p.start();
 *   await p.join();
 * }
 * ```
 */
export class Process extends BaseProcess {}

registerProcessBackend(Process, workerBackend);
