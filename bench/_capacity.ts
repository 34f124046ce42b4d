/**
 * How much of the machine the bench has right now: a fixed piece of busy work timed on this
 * thread alone, then on this thread and one pool worker at once. On 2 free cores both take the
 * same time; when something else runs (another program, or the host's other guests, which this
 * machine's /proc/stat does not report as steal time) the work takes longer alone, or longer
 * side by side. Measured before and after each round of `bench/main.ts`; a full run waits for a
 * busy machine and times a round again when the machine was busy at its end (see main.ts).
 *
 * @module
 */
import { Pool } from "./_lib.ts";

/** What {@linkcode probe} measured, in milliseconds of the same work. */
export interface Capacity {
  /** The work on this thread alone. */
  oneMs: number;
  /** The slower of this thread and a pool worker doing the work at once. */
  twoMs: number;
}

/**
 * Iterations of the work: about 100-160 ms on this machine's cores, long enough for the
 * scheduler to share the cores fairly (a best of 20 ms pieces read a free machine while two other
 * programs spun on its two cores).
 */
const WORK = 5_000_000;

/** Busy work of `n` steps; returns its own milliseconds. */
function spin(n: number): number {
  const start = performance.now();
  let x = 0;
  for (let i = 0; i < n; i++) x = (x + i * i) % 1_000_003;
  // Uses x, so that the loop cannot be dropped.
  return x < 0 ? -1 : performance.now() - start;
}

/** Measures the machine now: about 0.4 s, a pool worker started and ended included. */
export async function probe(): Promise<Capacity> {
  spin(WORK / 10);
  const oneMs = spin(WORK);
  await using pool = new Pool(1);
  await pool.apply(spin, [WORK / 10]);
  const there = pool.apply(spin, [WORK]);
  // The task leaves once this thread's loop turns: spinning at once would run the two in turn.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const here = spin(WORK);
  return { oneMs: round(oneMs), twoMs: round(Math.max(here, await there)) };
}

/** How far `now` is from a machine with two free cores as fast as `best`: 1 when it is so. */
export function slowdown(now: Capacity, bestOneMs: number): number {
  return Math.max(now.oneMs / bestOneMs, now.twoMs / bestOneMs);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
