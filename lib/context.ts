/**
 * Who is running: the CPU count and the identity of the current "process" (the main thread
 * or a worker) and of its parent, as CPython's `multiprocessing.context` and `process` tell.
 *
 * Workers are threads of one OS process, so a worker's `pid` is not an OS pid: it is the OS
 * pid plus a number drawn from a counter that the whole tree of workers shares, which makes
 * it unique among every worker the program starts, at any depth.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { setTimeout } from "node:timers";
import type { Identity } from "./_protocol.ts";
import { runtime } from "./runtime/mod.ts";

/**
 * A process as {@linkcode currentProcess} and {@linkcode parentProcess} return it (Python's
 * process objects there): the main program or one of its workers. It travels (returned from a
 * task, say) as its `name` and `pid`.
 */
export interface ProcessInfo {
  /**
   * `"MainProcess"` for the main program, `"PoolWorker-1"` and so on for pool workers
   * (`"DummyWorker-1"` in `dummy.ts`), `"Process-1"` and so on for processes.
   */
  readonly name: string;
  /** Unique among the program's processes; the OS pid for the main program. */
  readonly pid: number;
  /**
   * Whether it is a daemon: a daemon `Process` (which may start no children), or a pool
   * worker (as Python's are; here one may still start processes and pools).
   */
  readonly daemon: boolean;
  /** `null` while it runs (as Python's, always `null` for a parent process). */
  readonly exitcode: number | null;
  /**
   * Whether it is still running: `true` for the current process; for a parent process,
   * `false` once it has ended.
   */
  isAlive(): boolean;
}

/** The process that started the current one, as {@linkcode parentProcess} returns it. */
export interface ParentProcessInfo extends ProcessInfo {
  /**
   * Waits until the parent has ended, or until `timeout` milliseconds have passed (Python's
   * `parent_process().join(timeout)`); check {@linkcode ProcessInfo.isAlive} to tell which.
   * A Worker ends with the thread that started it, so in `mod.ts` a child never outlives
   * its parent and this waits until the time is up; a same-thread process of `dummy.ts` can
   * outlive the process that started it, and this returns once that one has ended.
   *
   * @param timeout Milliseconds to wait at most; `undefined` waits as long as it takes, and
   *   a negative one does not wait.
   * @returns A promise that resolves when the parent has ended or the time is up.
   * @throws {TypeError} If `timeout` is neither a number nor `undefined`.
   */
  join(timeout?: number): Promise<void>;
}

// How often a join() of the parent looks whether it has ended (its end is marked in shared
// memory, ENDED_GRACE after it, with no notification to wait for).
const PARENT_POLL_MS = 20;

/**
 * The process object of the code that runs: its name and pid travel as own properties, the
 * rest stays behind (not enumerable), so that a task returning it sends `{ name, pid }`.
 */
function currentView(name: string, pid: number, daemon: boolean): ProcessInfo {
  const view = { name, pid } as ProcessInfo;
  Object.defineProperties(view, {
    daemon: { value: daemon },
    exitcode: { value: null },
    isAlive: { value: () => true },
  });
  return Object.freeze(view);
}

function parentView(name: string, pid: number, daemon: boolean): ParentProcessInfo {
  const view = { name, pid } as ParentProcessInfo;
  const isAlive = () => !hasEnded(pid);
  Object.defineProperties(view, {
    daemon: { value: daemon },
    exitcode: { value: null },
    isAlive: { value: isAlive },
    join: {
      value: (timeout?: number): Promise<void> => {
        if (timeout !== undefined && (typeof timeout !== "number" || Number.isNaN(timeout))) {
          return Promise.reject(
            new TypeError(
              `Cannot join the parent process ${name} as 'timeout' must be a number of milliseconds or undefined: received ${
                typeof timeout === "number" ? timeout : typeof timeout
              }`,
            ),
          );
        }
        const deadline = performance.now() + Math.max(0, timeout ?? Infinity);
        return new Promise<void>((resolve) => {
          const look = () => {
            const left = deadline - performance.now();
            if (!isAlive() || left <= 0) resolve();
            else setTimeout(look, Math.min(PARENT_POLL_MS, left));
          };
          look();
        });
      },
    },
  });
  return Object.freeze(view);
}

let current: ProcessInfo | undefined;
let parent: ParentProcessInfo | null | undefined;
// Whether this thread is a daemon Process, which may start no children (as Python's).
let daemonProcess = false;
let pidCounter: Int32Array | undefined;

let identity: number[] = [];
let children = 0;

/**
 * A process of `dummy.ts`: an async task of this thread with an identity of its own, as
 * Python's dummy processes are threads with their own `current_process()`. RLock owners are
 * these identities, so two same-thread processes exclude each other as two threads would.
 */
interface TaskIdentity {
  readonly info: ProcessInfo;
  readonly parent: ParentProcessInfo;
  /** A daemon Process, which may start no children. */
  readonly daemonProcess: boolean;
  readonly identity: number[];
  children: number;
}

// Created by the first same-thread process, so that a program without any pays nothing.
let tasks: AsyncLocalStorage<TaskIdentity> | undefined;

function isIdentity(data: unknown): data is Identity {
  return typeof data === "object" && data !== null &&
    (data as Identity).pidCounter instanceof SharedArrayBuffer;
}

let osPid = 0;

function identify(): void {
  osPid = runtime().osPid();
  const data = runtime().workerData();
  if (isIdentity(data)) {
    // A pool worker's data says where it reports progress; a Process's, whether it is a daemon.
    const poolWorker = "progress" in data;
    const daemon = poolWorker || (data as { daemon?: unknown }).daemon === true;
    daemonProcess = daemon && !poolWorker;
    current = currentView(data.name, data.pid, daemon);
    parent = parentView(data.parent.name, data.parent.pid, data.parent.daemon === true);
    pidCounter = new Int32Array(data.pidCounter);
    identity = data.identity;
  } else {
    current = currentView("MainProcess", runtime().osPid(), false);
    parent = null;
    pidCounter = new Int32Array(new SharedArrayBuffer(4 + ENDED_WORDS * 4));
  }
}

// After the counter, the shared buffer holds one bit per worker pid the counter handed out:
// set once that worker has ended, by the thread that started it (which sees it end). A lock
// word or a stream in shared memory holds its owner's pid, and a thread that finds it held
// by a worker that ended takes it over instead of waiting for ever. Pids past the first
// `ENDED_WORDS * 32` are not tracked, and count as alive.
const ENDED_WORDS = 2048;

/**
 * The number of logical CPUs this process may use: the default size of a `Pool`.
 *
 * @returns A positive integer.
 *
 * @example Usage
 * ```ts
 * import { cpuCount } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * assert.ok(cpuCount() >= 1);
 * ```
 */
export function cpuCount(): number {
  return Math.max(1, runtime().cpuCount() | 0);
}

/**
 * The process running the code that calls it (Python's `current_process()`): the main
 * program (`"MainProcess"`), the worker running a task, or in `dummy.ts` the same-thread
 * process or pool worker running it. While that code runs, `isAlive()` is `true` and
 * `exitcode` `null`.
 *
 * @returns The current process: `name`, `pid`, `daemon`, `exitcode` and `isAlive()`.
 *
 * @example Usage
 * ```ts
 * import { currentProcess } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * // In a task exported from a module and run with fromModule(), it names the worker.
 * const me = currentProcess();
 * assert.equal(me.name, "MainProcess");
 * assert.ok(Number.isInteger(me.pid));
 * assert.equal(me.daemon, false);
 * assert.equal(me.exitcode, null);
 * assert.ok(me.isAlive());
 * ```
 */
export function currentProcess(): ProcessInfo {
  const task = tasks?.getStore();
  if (task !== undefined) return task.info;
  if (current === undefined) identify();
  return current!;
}

/**
 * The process that started the current one (Python's `parent_process()`), or `null` in the
 * main program. It can be tested for life and joined.
 *
 * @returns The parent: `name`, `pid`, `daemon`, `exitcode`, `isAlive()` and `join(timeout)`;
 *   or `null`.
 *
 * @example Usage
 * ```ts
 * import { parentProcess, Process } from "@mp/multiprocessing/dummy";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parentProcess(), null); // the main program has no parent
 * const seen: string[] = [];
 * const child = new Process({
 *   target: async () => {
 *     const parent = parentProcess()!;
 *     seen.push(`${parent.name} alive: ${parent.isAlive()}`);
 *     await parent.join(10); // the main program runs on: the time runs out
 *   },
 * });
 * child.start();
 * await child.join();
 * assert.deepEqual(seen, ["MainProcess alive: true"]);
 * ```
 */
export function parentProcess(): ParentProcessInfo | null {
  const task = tasks?.getStore();
  if (task !== undefined) return task.parent;
  if (parent === undefined) identify();
  return parent!;
}

/**
 * Throws if the current process is a daemon `Process`, which may start no children (as
 * Python's: they would be left running when it is stopped).
 *
 * @param what What is being started, for the message: `"a Pool"`, `"Process-1:1"`.
 * @throws {Error} In a daemon process.
 */
export function checkMayHaveChildren(what: string): void {
  const task = tasks?.getStore();
  if (task === undefined && current === undefined) identify();
  if (!(task?.daemonProcess ?? daemonProcess)) return;
  throw new Error(
    `Cannot start ${what} in ${currentProcess().name} as daemonic processes are not allowed to have children: start it from the parent, or create ${currentProcess().name} with daemon: false`,
  );
}

let threadPid = 0;

/**
 * The pid of the running thread or same-thread process: who owns an RLock it acquires.
 * Cheap when no same-thread process exists, as it is called on every acquire and release.
 */
export function ownerPid(): number {
  if (tasks !== undefined) return currentProcess().pid;
  return threadPid || (threadPid = currentProcess().pid);
}

// The process objects of same-thread processes, by the info they were made from, and the
// parent objects of processes: made once, as a dummy pool runs every task as its worker.
const views = new WeakMap<object, ProcessInfo>();
const parents = new WeakMap<ProcessInfo, ParentProcessInfo>();

/**
 * Runs `fn` as a same-thread process (`dummy.ts`) named `name` with `pid`: in it and in
 * everything it starts or awaits, {@linkcode currentProcess} returns that identity and
 * {@linkcode parentProcess} the one that called this.
 *
 * @param info The process's name and pid, and whether it is a daemon (a pool worker is).
 * @param identity Its place in the process tree, from {@linkcode nextChildIdentity}.
 * @param fn What it runs.
 * @param kind `"process"` for a `Process`, whose `daemon` forbids it children.
 * @returns What `fn` returns.
 */
export function runAsProcess<T>(
  info: { readonly name: string; readonly pid: number; readonly daemon?: boolean },
  identity: number[],
  fn: () => T,
  kind: "process" | "worker" = "worker",
): T {
  tasks ??= new AsyncLocalStorage<TaskIdentity>();
  let view = views.get(info);
  if (view === undefined) {
    views.set(info, view = currentView(info.name, info.pid, info.daemon === true));
  }
  const starter = currentProcess();
  let parent = parents.get(starter);
  if (parent === undefined) {
    parents.set(starter, parent = parentView(starter.name, starter.pid, starter.daemon));
  }
  const daemonProcess = kind === "process" && view.daemon;
  return tasks.run({ info: view, parent, daemonProcess, identity, children: 0 }, fn);
}

/**
 * Whether this code runs as the same-thread process {@linkcode runAsProcess} made of `info`
 * (as everything it started or awaited does): a caller that may have lost that context sets
 * it again only when it did, since setting it costs an allocation.
 *
 * @param info What was passed to `runAsProcess`.
 * @returns Whether `currentProcess()` is that process now.
 */
export function runningAs(info: object): boolean {
  const view = views.get(info);
  return view !== undefined && tasks?.getStore()?.info === view;
}

/**
 * The pid of the running thread, whichever same-thread process runs: the owner of the
 * connection and barrier locks it takes, as {@linkcode markEnded} names a thread.
 */
export function threadOwnerPid(): number {
  if (current === undefined) identify();
  return current!.pid;
}

/**
 * Records that the worker with `pid`, started by this thread, has ended (its thread stopped),
 * so that the locks and streams it held can be taken over by the threads that wait for them.
 *
 * @param pid The worker's pid, from {@linkcode allocatePid}.
 */
export function markEnded(pid: number): void {
  if (pidCounter === undefined) identify();
  const offset = pid - osPid;
  if (offset <= 0 || offset >= ENDED_WORDS * 32) return;
  const words = pidCounter!;
  // A lock taken over from a thread that still writes would corrupt what it guards, and
  // Deno reports a worker's "exit" as soon as terminate() is called, before its thread
  // stops: so the mark comes a while after the end. (Deno was seen to stop a worker only
  // between two tasks of its event loop, so never inside a lock, which guards synchronous
  // code only; but a worker that never returns to its event loop, looping over settled
  // promises, runs on after terminate() there, and must not use these primitives.)
  setTimeout(() => Atomics.or(words, 1 + (offset >> 5), 1 << (offset & 31)), ENDED_GRACE)
    .unref();
}

/** How long after a worker's end its locks may be taken over, in ms (see markEnded). */
const ENDED_GRACE = 250;

/**
 * Whether the worker with `pid` is known to have ended (see {@linkcode markEnded}); `false`
 * for the main thread, a live worker, and pids not tracked.
 *
 * @param pid A pid, as a lock word holds it.
 * @returns Whether its thread has ended.
 */
export function hasEnded(pid: number): boolean {
  if (pidCounter === undefined) identify();
  const offset = pid - osPid;
  if (offset <= 0 || offset >= ENDED_WORDS * 32) return false;
  return (Atomics.load(pidCounter!, 1 + (offset >> 5)) & (1 << (offset & 31))) !== 0;
}

/** Takes a new pid for a worker about to start, and the buffer to hand down to it. */
export function allocatePid(): { pid: number; counter: SharedArrayBuffer } {
  if (pidCounter === undefined) identify();
  const counter = pidCounter!;
  return {
    pid: runtime().osPid() + Atomics.add(counter, 0, 1) + 1,
    counter: counter.buffer as SharedArrayBuffer,
  };
}

/**
 * The place in the process tree of the next `Process` this thread starts, as Python numbers
 * them: `[3]` (`Process-3`) in the main program, `[1, 2]` (`Process-1:2`) inside `Process-1`.
 */
export function nextChildIdentity(): number[] {
  const task = tasks?.getStore();
  if (task !== undefined) return [...task.identity, ++task.children];
  if (current === undefined) identify();
  return [...identity, ++children];
}
