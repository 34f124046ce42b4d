// The sizes of every experiment, by tier. Python's side (bench/python/experiments.py) is given
// the same numbers, so that both sides of a comparison do the same work and every label says
// the size that ran.

/** How much a run measures: `quick` is a smoke test, `default` answers in about three minutes
 * with every comparison, `full` uses the seeds' sizes and more rounds. */
export type Tier = "quick" | "default" | "full";

/** The sizes of one tier. */
export interface Sizes {
  /** 1. the seed's `job(n)`. */
  job: number;
  /** 2. short tasks, as that many `Process` objects and as `Pool(4).map`. */
  tasks: number;
  /** 3. items of the chunksize experiment. */
  chunks: number;
  /** 4. points per task of Monte Carlo π (4 tasks). */
  pi: number;
  /** 5. tasks that wait, and how many milliseconds each waits. */
  ioTasks: number;
  ioMs: number;
  /** 6. `applyAsync` calls, `map` items and `imap` (chunksize 1) items. */
  apply: number;
  map: number;
  imap: number;
  /** Dict proxy set+get pairs through `Manager()` and a TCP `BaseManager`. */
  managerCalls: number;
  /** How long each side makes those calls untimed first (see bench/managers.ts). */
  managerWarmUpMs: number;
  /** JavaScript pools: tasks per throughput run. */
  poolTasks: number;
  /** Rounds: each side runs once per round, in turn. */
  rounds: number;
}

/** Every tier's sizes. */
export const SIZES: Record<Tier, Sizes> = {
  quick: {
    job: 10 ** 6,
    tasks: 20,
    chunks: 10_000,
    pi: 10 ** 5,
    ioTasks: 10,
    ioMs: 50,
    apply: 10_000,
    map: 100_000,
    imap: 10_000,
    managerCalls: 1_000,
    managerWarmUpMs: 500,
    poolTasks: 10_000,
    rounds: 1,
  },
  // Timed on 2 cores, one round on Deno at the sizes before these (50 processes, map of 10^6,
  // 30k pool tasks, 1 s warm-ups): 75 s ours and 27 s Python's, so 5.4 min a run. These take
  // 53-61 s a round there (Deno's Workers start slowest: 20 bare ones, started and ended, took
  // 1 s), and whole runs on Deno took 2m45s-2m55s once BullMQ's lost completion events stopped
  // costing a minute each (bench/cluster.ts, LostEvents); each round's steps are timed in the
  // JSON (rounds[].seconds).
  default: {
    job: 2 * 10 ** 6,
    tasks: 10,
    chunks: 20_000,
    pi: 5 * 10 ** 5,
    ioTasks: 20,
    ioMs: 20,
    apply: 10_000,
    map: 300_000,
    imap: 20_000,
    managerCalls: 5_000,
    // 500 ms left the JIT cold: Manager() calls read 27-41k/s on Bun and 110-166k/s on Deno,
    // and 106-201k/s and 184-225k/s after 1,000-2,000 ms (one program each, alternated).
    managerWarmUpMs: 1_500,
    poolTasks: 10_000,
    rounds: 3,
  },
  full: {
    job: 10 ** 7,
    tasks: 100,
    chunks: 100_000,
    pi: 10 ** 6,
    ioTasks: 20,
    ioMs: 100,
    apply: 100_000,
    map: 1_000_000,
    imap: 100_000,
    managerCalls: 20_000,
    managerWarmUpMs: 2_000,
    poolTasks: 30_000,
    rounds: 3,
  },
};

/** A count for a label: `1,000,000` reads as `10⁶`, `30,000` as `30k`. */
export function count(n: number): string {
  const exp = Math.log10(n);
  if (Number.isInteger(exp) && exp >= 6) {
    return `10${String(exp).split("").map((d) => "⁰¹²³⁴⁵⁶⁷⁸⁹"[Number(d)]).join("")}`;
  }
  if (n >= 1e6 && n % 1e6 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 1e3 === 0) return `${n / 1e3}k`;
  return String(n);
}
