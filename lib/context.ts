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

/** The identity of a process: the main program or one of its workers. */
export interface ProcessInfo {
  /**
   * `"MainProcess"` for the main program, `"PoolWorker-1"` and so on for pool workers
   * (`"DummyWorker-1"` in `dummy.ts`), `"Process-1"` and so on for processes.
   */
  readonly name: string;
  /** Unique among the program's processes; the OS pid for the main program. */
  readonly pid: number;
}

let current: ProcessInfo | undefined;
let parent: ProcessInfo | null | undefined;
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
  readonly parent: ProcessInfo;
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
    current = Object.freeze({ name: data.name, pid: data.pid });
    parent = Object.freeze({ ...data.parent });
    pidCounter = new Int32Array(data.pidCounter);
    identity = data.identity;
  } else {
    current = Object.freeze({ name: "MainProcess", pid: runtime().osPid() });
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
 * The identity of the code that calls it: the main program (`"MainProcess"`), the worker
 * running a task, or in `dummy.ts` the same-thread process or pool worker running it.
 *
 * @returns The current process's name and pid.
 *
 * @example Usage
 * ```ts
 * import { currentProcess } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * // In a task exported from a module and run with fromModule(), it names the worker.
 * assert.equal(currentProcess().name, "MainProcess");
 * assert.ok(Number.isInteger(currentProcess().pid));
 * ```
 */
export function currentProcess(): ProcessInfo {
  const task = tasks?.getStore();
  if (task !== undefined) return task.info;
  if (current === undefined) identify();
  return current!;
}

/**
 * The identity of the process that started the current one, or `null` in the main program.
 *
 * @returns The parent's name and pid, or `null`.
 *
 * @example Usage
 * ```ts
 * import { parentProcess } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parentProcess(), null);
 * ```
 */
export function parentProcess(): ProcessInfo | null {
  const task = tasks?.getStore();
  if (task !== undefined) return task.parent;
  if (parent === undefined) identify();
  return parent!;
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

/**
 * Runs `fn` as a same-thread process (`dummy.ts`) named `name` with `pid`: in it and in
 * everything it starts or awaits, {@linkcode currentProcess} returns that identity and
 * {@linkcode parentProcess} the one that called this.
 *
 * @param info The process's name and pid.
 * @param identity Its place in the process tree, from {@linkcode nextChildIdentity}.
 * @param fn What it runs.
 * @returns What `fn` returns.
 */
export function runAsProcess<T>(info: ProcessInfo, identity: number[], fn: () => T): T {
  tasks ??= new AsyncLocalStorage<TaskIdentity>();
  const parent = currentProcess();
  return tasks.run({ info: Object.freeze({ ...info }), parent, identity, children: 0 }, fn);
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
