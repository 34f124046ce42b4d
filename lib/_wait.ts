// Waiting on a word of shared memory without blocking the thread: `Atomics.waitAsync`, made
// to keep the program alive, preceded by a short spin, and never longer than `MAX_WAIT`.
//
// Deno and Node do not count a pending `Atomics.waitAsync` as work (Bun neither, once it has a
// timeout): a program whose only task is awaiting one exits, even after another thread has
// notified it and before the promise settles. Python's thread blocked in `get()` keeps its
// process alive, so while any wait started here is pending, one referenced timer keeps this
// thread's event loop running; it goes away with the last wait.
//
// All three runtimes now and then lose a notification (measured: a ping-pong between two
// threads with `waitAsync` and `notify` hangs after some 50,000 to 100,000 round trips on
// Deno, Bun and Node alike, with the word changed and the waiter never woken). So no wait
// lasts longer than `MAX_WAIT`: a waiter whose notification was lost finds the change when
// it looks again, a few milliseconds late instead of never.

/** How a wait ended, as `Atomics.waitAsync` reports it. */
export type WaitResult = "ok" | "not-equal" | "timed-out";

function noop(): void {}

let pending = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;

function settled(result: WaitResult): WaitResult {
  if (--pending === 0) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
  return result;
}

// Already settled, so the synchronous outcomes allocate nothing.
const NOT_EQUAL: Promise<WaitResult> = Promise.resolve("not-equal");
const TIMED_OUT: Promise<WaitResult> = Promise.resolve("timed-out");

const pause: () => void = (Atomics as { pause?: () => void }).pause ?? noop;

/**
 * How many times {@linkcode waitFor} reads the word before it waits: about 30 µs, as one
 * read with `Atomics.pause()` takes some 30 ns on all three runtimes. Another worker usually
 * writes within microseconds, and a wait costs a round trip through the event loop (20 µs or
 * more), so the spin often saves it: measured, it takes a Pipe's round trips to a worker from
 * 50,000 to 240,000 a second on Bun, and from 170,000 to 240,000 on Node.
 */
export const SPINS = 1000;

/** The longest a single wait lasts before its caller checks again (see above). */
export const MAX_WAIT = 20;

/**
 * Checks `int32[index]` up to `spins` times; returns `true` as soon as it no longer holds
 * `expected`.
 *
 * @param int32 The shared words.
 * @param index The word to read.
 * @param expected The value it holds while there is nothing new.
 * @param spins How many times to read it.
 * @returns Whether it changed.
 */
export function spin(int32: Int32Array, index: number, expected: number, spins = SPINS): boolean {
  for (let i = 0; i < spins; i++) {
    if (Atomics.load(int32, index) !== expected) return true;
    pause();
  }
  return false;
}

/**
 * Waits until `int32[index]` is notified, no longer holds `expected`, or `timeout`
 * milliseconds have passed, without blocking the thread. Spins briefly first; keeps the
 * program alive while the wait is pending.
 *
 * Whoever changes the word must `Atomics.notify` it for a waiter to wake at once. Callers
 * check their condition again after every result and wait again as needed: wake-ups may be
 * spurious, and a wait ends (as `"timed-out"`) after at most {@linkcode MAX_WAIT} ms.
 *
 * @param int32 Shared words (an `Int32Array` over a `SharedArrayBuffer`).
 * @param index The word to wait on.
 * @param expected The value the word holds while the caller must wait.
 * @param timeout The most milliseconds to wait; `Infinity` (the default) for no limit
 *   (but see {@linkcode MAX_WAIT}).
 * @param spins How many times to read the word before waiting; 0 for callers that spin
 *   their own way.
 * @returns `"ok"` when notified, `"not-equal"` when the word had already changed,
 *   `"timed-out"` when the time ran out.
 */
export function waitFor(
  int32: Int32Array,
  index: number,
  expected: number,
  timeout = Infinity,
  spins = SPINS,
): Promise<WaitResult> {
  if (spins > 0 && spin(int32, index, expected, spins)) return NOT_EQUAL;
  const result = Atomics.waitAsync(int32, index, expected, Math.min(timeout, MAX_WAIT));
  if (!result.async) return result.value === "timed-out" ? TIMED_OUT : NOT_EQUAL;
  if (pending++ === 0) keepAlive = setInterval(noop, 1 << 30);
  return result.value.then(settled);
}
