// How a pool runs its tasks: the one seam between the shared pool logic (lib/pool.ts) and its
// two back ends, workers (lib/_worker_executor.ts) and the calling thread (lib/dummy/pool.ts),
// as CPython's ThreadPool re-uses Pool and overrides only how a worker is made.

import type { Op, Packed, SpareNumbers } from "./_protocol.ts";

/** Receives the outcome of jobs: an AsyncResult, a map's chunk collector, an imap iterator. */
export interface Sink {
  /** `index` is the job's position within its sink; `value` is the result or the error. */
  settle(index: number, ok: boolean, value: unknown): void;
  /**
   * A chunk of results that arrived packed (`ok` 2, see `packChunk`), unpacked straight into
   * the sink's own list; a sink without it is given `unpackChunk(chunk)`.
   */
  settlePacked?(index: number, chunk: Packed): void;
}

/** One unit of work: a single call, or one chunk of a map. */
export interface Job {
  /** What {@linkcode Executor.prepare} returned for the task function. */
  fn: unknown;
  /** What {@linkcode Executor.costKey} returned for it. */
  key: unknown;
  op: Op;
  /** The argument list (apply) or the chunk of items (map, starmap). */
  payload: unknown;
  sink: Sink;
  index: number;
  /** Set when the job is sent to a slot: its number within that slot, from 1. */
  seq: number;
  /** Set when the job is sent to a slot: its expected milliseconds, counted in the backlog. */
  cost: number;
  /**
   * For a map chunk that {@linkcode Executor.chunk} packed: the items it was read from, so
   * that a slot may move the packed buffer to its worker and pack the chunk again if it must
   * be sent once more (its worker ended, or the send failed). `undefined` otherwise.
   */
  source: ChunkSource | undefined;
}

/** Where a packed map chunk was read from: `list[from]` to `list[to - 1]`. */
export interface ChunkSource {
  list: unknown[];
  from: number;
  to: number;
}

/** What a slot tells its pool. Results arrive in the order the jobs were sent. */
export interface SlotHooks {
  /** The initializer has run; jobs sent before this are run after it. */
  ready(slot: Slot): void;
  /** The initializer failed: the slot will run no job. */
  initError(slot: Slot, error: unknown): void;
  /**
   * Flat `seq, ok, value` triples (`ok` 1 or 0, or 2 for a chunk of results still packed);
   * `busy` is the milliseconds spent running them.
   */
  results(slot: Slot, results: unknown[], busy: number): void;
  /** The slot has ended, for whatever reason. */
  exit(slot: Slot, exitCode: number, error: unknown): void;
}

/** One worker of a pool. */
export interface Slot {
  /** The worker's pid, as `currentProcess().pid` reports it inside. */
  readonly pid: number;
  /** The worker's name, as `currentProcess().name` reports it inside. */
  readonly name: string;
  /**
   * Starts `jobs` (their `seq` already set), to run one at a time in order. Returns the
   * jobs that could not be sent (their arguments could not be cloned), each with its error.
   */
  send(jobs: Job[]): Array<[Job, unknown]> | undefined;
  /** The `seq` of the job running now, or 0. */
  running(): number;
  /**
   * Whether the slot's worker was started ahead of need and ended (killed, or crashed) before
   * it read what the slot handed it: nothing of the pool ran there, and its jobs ran nowhere.
   */
  unread?(): boolean;
  /** Stops the slot at once; resolves when it has ended. */
  terminate(): Promise<void>;
  ref(): void;
  unref(): void;
}

/** What a slot starts with. */
export interface SlotInit {
  /** The pool-local worker number, for the name. */
  number: number;
  /** What {@linkcode Executor.prepare} returned for the initializer, if any. */
  initializer: unknown;
  initargs: unknown[];
  /** The most megabytes a worker's heap may hold; `undefined` for the runtime's default. */
  maxHeapMB: number | undefined;
}

/** A pool back end. */
export interface Executor {
  /**
   * Checks a task function and returns the form the back end runs.
   *
   * @throws {TypeError} For a value that cannot be run there.
   */
  prepare(fn: unknown, role: string): unknown;
  /**
   * Checks that the initializer's arguments can reach a worker.
   *
   * @throws {TypeError} If they cannot.
   */
  checkInitargs(initargs: unknown[]): void;
  /** What the pool learns a task's cost under: the same for functions of one source text. */
  costKey(prepared: unknown): unknown;
  /** Starts a slot. */
  spawn(hooks: SlotHooks, init: SlotInit): Slot;
  /**
   * The payload of a map's chunk, items `from` to `to` of `list`, when the back end has a
   * form that travels faster than a slice of the list (see `packChunkOf`), numbers packed into
   * one of `spares` when it has one of that length.
   */
  chunk?(list: unknown[], from: number, to: number, spares: SpareNumbers): unknown;
  /**
   * Starts workers ahead of need until `count` wait, which the next slots take instead of
   * starting their own; resolves when each has loaded (or ended). Absent where slots need no
   * start (the calling thread).
   */
  prepareWorkers?(count: number): Promise<void>;
}
