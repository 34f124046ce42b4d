// Deno: a worker that passes its heap limit inside a promise job (code after an `await`) is
// not ended. V8 stops that job, Deno raises the worker's heap limit to let it go on, and the
// job's promise never settles; no event tells the creator. The raised limit is the one trace
// left, so while such a job may be running, the worker looks for it every few milliseconds.
//
// Every pool worker imports this module, and watches only on Deno: `node:v8` loads when
// watching starts, as a `node:` module imported costs every worker's start (lib/runtime/node.ts).

const CHECK_EVERY_MS = 25;

let limit = 0;
let waiting = 0;
let timer: ReturnType<typeof setInterval> | undefined;
let onExceeded: (() => void) | undefined;
let getHeapStatistics: typeof import("node:v8").getHeapStatistics;

/** Starts watching: `handler` runs once, when a promise job has passed the heap limit. */
export function watchHeap(handler: () => void): void {
  const v8 = globalThis.process.getBuiltinModule("node:v8") as typeof import("node:v8");
  getHeapStatistics = v8.getHeapStatistics;
  limit = getHeapStatistics().heap_size_limit;
  onExceeded = handler;
}

/** Awaits `value`, looking for a heap-limit stop while it is pending. */
export async function awaitWatched<T>(value: PromiseLike<T>): Promise<T> {
  waiting++;
  timer ??= setInterval(check, CHECK_EVERY_MS);
  try {
    return await value;
  } finally {
    waiting--;
  }
}

/** Whether this worker has passed its heap limit and gone on. */
export function heapLimitPassed(): boolean {
  return onExceeded !== undefined && getHeapStatistics().heap_size_limit > limit;
}

function check(): void {
  if (heapLimitPassed()) {
    clearInterval(timer);
    const handler = onExceeded!;
    onExceeded = undefined;
    handler();
  } else if (waiting === 0) {
    clearInterval(timer);
    timer = undefined;
  }
}
