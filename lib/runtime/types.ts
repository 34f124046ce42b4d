/**
 * The one interface between the library and a JavaScript runtime's threads. Everything
 * outside `lib/runtime/` talks to workers through it and never asks which runtime it is on.
 *
 * @module
 */

/** A message handed over to a worker ({@linkcode WorkerHandle.handOver}). */
export interface Handover {
  /**
   * Wakes the worker to read the message. The promise resolves once it has read it, and
   * never if it ends first.
   */
  wake(): Promise<void>;
  /**
   * Whether the worker has read the message: a worker that ended and had not read it never
   * saw it, and its creator may give it to another.
   */
  read(): boolean;
}

/** A worker as its creator sees it. */
export interface WorkerHandle {
  /** The worker's thread id, unique within this OS process. */
  readonly id: number;
  /**
   * Sends a message, moving the buffers in `transfer` (detached here); throws a
   * `DataCloneError` at once for a value that cannot be cloned (Deno may have detached the
   * buffers all the same).
   */
  post(message: unknown, transfer?: ArrayBuffer[]): void;
  /**
   * Puts `message` where a worker spawned with {@linkcode SpawnOptions.handover} reads it
   * ({@linkcode HostPort.handedOver}), and returns the {@linkcode Handover} that wakes the
   * worker; throws as {@linkcode WorkerHandle.post} does, before anything reaches the worker.
   * The worker reads nothing until woken, so that the caller can finish its own work first: a
   * woken thread waited for the CPU of a waker still busy. Any other worker is sent the
   * message as `post()` sends it, at once, and counts as having read it.
   */
  handOver(message: unknown): Handover;
  /** Calls `listener` for each message the worker sends. */
  onMessage(listener: (message: unknown) => void): void;
  /**
   * Calls `listener` once when the worker has ended, with its exit code and, after an
   * uncaught error, that error (`code` `ERR_WORKER_OUT_OF_MEMORY` when it passed its heap
   * limit). A listener added after the worker ended (or after `terminate()` was called) is
   * called too, in a microtask.
   */
  onExit(listener: (exitCode: number, error: unknown) => void): void;
  /** Stops the worker at once; resolves when it has ended. */
  terminate(): Promise<void>;
  /** Lets the worker keep the process alive (the default). */
  ref(): void;
  /** Lets the process end while the worker is still running. */
  unref(): void;
}

/** What a worker is started with. */
export interface SpawnOptions {
  /** A name for debuggers and error messages. */
  name: string;
  /** A structured-cloneable value the worker reads with {@linkcode Runtime.workerData}. */
  data: unknown;
  /**
   * The most megabytes the worker's heap may hold. A worker that needs more ends alone, and
   * {@linkcode WorkerHandle.onExit} gets an error whose `code` is `ERR_WORKER_OUT_OF_MEMORY`.
   * `undefined` leaves the runtime's default: V8's limit for the process on Node and Deno, none
   * on Bun, which cannot bound a worker's heap.
   */
  maxHeapMB?: number;
  /**
   * Whether the worker takes its first message through {@linkcode HostPort.handedOver}: it
   * waits blocked on a shared word, and reads the message at once when woken, without a turn
   * of its event loop. A worker that waits for one message before all else (a spare) gets it
   * sooner so: a message to an idle worker took 0.4-0.7 ms on Node, 0.5-1.0 ms on Bun and
   * 1.4-1.9 ms on Deno to arrive, a handover 0.1-0.3 ms (bare workers, one machine).
   */
  handover?: boolean;
}

/** The end of the channel a worker uses to talk to its creator. */
export interface HostPort {
  /**
   * Sends a message to the creator, moving the buffers in `transfer` instead of copying
   * them (they are detached here, even if the send fails).
   */
  post(message: unknown, transfer?: ArrayBuffer[]): void;
  /** Calls `listener` for each message from the creator. */
  onMessage(listener: (message: unknown) => void): void;
  /**
   * Resolves with the next message from the creator, then stops listening, so that the
   * channel no longer keeps the worker alive.
   */
  nextMessage(): Promise<unknown>;
  /**
   * Inside a worker spawned with {@linkcode SpawnOptions.handover}, blocks the thread until
   * its creator hands it a message ({@linkcode WorkerHandle.handOver}) and returns it, or a
   * promise of it if it must still come as a message; in any other worker,
   * {@linkcode HostPort.nextMessage}. The message must not be a promise itself.
   *
   * @param rehearsal A message like the one to come, which a worker spawned with a handover
   * clones and reads once before it waits, so that the code that reads the real one has run
   * (the first read in a Worker took 0.1-0.2 ms more).
   */
  handedOver(rehearsal?: unknown): unknown;
}

/** One runtime's adapter. */
export interface Runtime {
  /** Which runtime this is, for reports only: no code may branch on it. */
  readonly name: "deno" | "bun" | "node";
  /** Starts a worker running the ES module at `url`. */
  spawn(url: URL, options: SpawnOptions): WorkerHandle;
  /** The number of logical CPUs this process may use. */
  cpuCount(): number;
  /** The OS process id. */
  osPid(): number;
  /** The id of the current thread: `0` on the main thread. */
  threadId(): number;
  /**
   * Inside a worker, the value it was started with, or the one it adopted since; `undefined`
   * on the main thread.
   */
  workerData(): unknown;
  /**
   * Inside a worker started before its job was known (a spare), makes `workerData()` return
   * the job's data from now on.
   */
  adoptWorkerData(data: unknown): void;
  /** Inside a worker, the channel to its creator; `null` on the main thread. */
  hostPort(): HostPort | null;
  /**
   * Whether a worker that passes its heap limit inside a promise job (a message listener, code
   * after an `await`) stops without being reported as ended, so that a worker must start its
   * tasks from a macrotask (`setImmediate`) for their running out of memory to be seen. Deno:
   * true. Catch: a macrotask per batch; measured on Deno (2,000 `apply` round trips, 200,000
   * `applyAsync`), within the machine's noise.
   */
  readonly heapLimitNeedsMacrotask: boolean;
}
