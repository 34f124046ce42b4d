// What every experiment of bench/ uses: mitata's measurement, one table per experiment with
// a summary in mitata's words ("1.95x faster than …"), and the record each experiment returns.
import { measure } from "mitata";
import { collector } from "./_common.ts";
import { SIZES, type Sizes, type Tier } from "./_sizes.ts";

/** One variant of an experiment, as measured. */
export interface Row {
  /** What ran. */
  name: string;
  /** Mean time of one sample, in milliseconds. */
  avg: number;
  /** Best time of one sample, in milliseconds: what rates and ratios use. */
  min: number;
  /** Worst time, in milliseconds. */
  max: number;
  /** How many samples mitata took. */
  samples: number;
  /** Items (tasks, messages) one sample handles, for a rate; 0 for a plain time. */
  items: number;
}

/** What an experiment reports: its rows, and named figures for the ratio table. */
export interface Result {
  /** The experiment's title. */
  title: string;
  /** The variants. */
  rows: Row[];
  /** Figures other tables refer to: times in ms (`…_ms`) and rates (`…_per_s`). */
  figures: Record<string, number>;
  /** Whether the rows are variants of one workload, so that comparing them means something. */
  comparable?: boolean;
}

/** How long to measure, and at what sizes: the run's tier (see `_sizes.ts`). */
export interface Budget {
  /** The smoke test: one or two samples. */
  quick: boolean;
  tier: Tier;
  sizes: Sizes;
}

/** The budget of a tier. */
export function budgetOf(tier: Tier): Budget {
  return { quick: tier === "quick", tier, sizes: SIZES[tier] };
}

// mitata collects garbage once, after its warm-up and before its samples (its inner_gc option, off
// here, would collect before each sample too), so that the samples do not pay for the garbage of
// what ran before them (a map of 10^6 strings leaves 10^6 of them). A collection before each sample
// was tried and not kept: a forced collection gives the heap's free memory back to the system, and
// the next sample paid to fault it in again. The overhead experiment alone, each way twice,
// alternated: the map of 10^6 numbers read Deno 28-32M/s against 200-247M/s and Bun 34-36M/s
// against 281-336M/s (Node 32-33M/s against 32-36M/s), short strings Node 8.1-8.5M/s against
// 5.7-6.7M/s but Bun 3.3-3.8 against 4.2-4.6, and Deno's one-thread floor of short strings took
// 269-282 ms against 93-156 ms. Where no collector is exposed mitata's fallback allocates 1 GiB
// instead, which made the next samples up to twice as slow and noisy in trials: use a real
// collector, or none. Bun has one (Bun.gc); Node and Deno expose theirs to a program started with
// --expose-gc, which the bench's commands pass (runtimeArgs below). Switching the flag on at run
// time instead made Deno's later samples up to twice as slow in trials. Without a collector, Node's
// map of 10^6 short strings read 3.2-4.1M/s in one --only=overhead run, and 5.4-8.0M/s with one.
// The collector is bench/_common.ts's, which the figures timed outside mitata use too.

/**
 * The arguments that run a script of bench/ on runtime `rt` (before the script's path):
 * Deno's permissions, and on Deno and Node the flag that exposes the collector.
 */
export function runtimeArgs(rt: string): string[] {
  if (rt === "deno") return ["run", "-A", "--v8-flags=--expose-gc"];
  return rt === "node" ? ["--expose-gc"] : [];
}

/**
 * Times `fn` with mitata: one warm-up call, then samples until the budget is spent.
 *
 * @param name The variant's name.
 * @param fn What one sample runs.
 * @param budget The run's tier.
 * @param items How many items one sample handles (for a rate), or 0.
 * @param seconds The CPU time to spend in a full run.
 */
export async function time(
  name: string,
  fn: () => unknown,
  budget: Budget,
  items = 0,
  seconds = 1,
): Promise<Row> {
  // Each round measures again, so a round's best needs only a few samples; `full` takes many.
  const options = budget.tier === "quick"
    ? { min_samples: 1, max_samples: 2, min_cpu_time: 0, gc: collector }
    : budget.tier === "default"
    ? { min_samples: 2, max_samples: 10, min_cpu_time: seconds * 0.25e9, gc: collector }
    : { min_samples: 3, max_samples: 20, min_cpu_time: seconds * 0.5e9, gc: collector };
  const stats = await measure(fn, options);
  return {
    name,
    avg: stats.avg / 1e6,
    min: stats.min / 1e6,
    max: stats.max / 1e6,
    samples: stats.samples.length,
    items,
  };
}

/** A row from samples timed by hand (in milliseconds), where mitata cannot time the step. */
export function rowOf(name: string, times: number[]): Row {
  return {
    name,
    avg: times.reduce((a, b) => a + b, 0) / times.length,
    min: Math.min(...times),
    max: Math.max(...times),
    samples: times.length,
    items: 0,
  };
}

/** Items a second of a row, from its best sample. */
export function rate(row: Row): number {
  return row.items / (row.min / 1000);
}

/** A time for a table: `812.3 ms`, `41.2 µs`. */
export function ms(value: number): string {
  return value >= 1 ? `${value.toFixed(1)} ms` : `${(value * 1000).toFixed(1)} µs`;
}

/** A rate for a table: `3.21M/s`, `412k/s`, `950/s`. */
export function perSecond(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "-";
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M/s`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k/s`;
  return `${value.toFixed(0)}/s`;
}

/** Lays out rows of cells in aligned columns, the first to the left. */
export function columns(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/**
 * Prints an experiment's table and a summary in mitata's words: the fastest variant (by best
 * sample) and how many times faster than each other one it is.
 */
export function report(result: Result): void {
  const rows = result.rows.map((r) => [
    r.name,
    ms(r.avg),
    ms(r.min),
    ms(r.max),
    String(r.samples),
    r.items > 0 ? perSecond(rate(r)) : "",
  ]);
  console.log(`\n${result.title}`);
  console.log(columns(["variant", "avg", "min", "max", "samples", "rate"], rows));
  if (result.rows.length < 2 || result.comparable === false) return;
  const [fastest, ...others] = [...result.rows].sort((a, b) => a.min - b.min);
  console.log("\nsummary");
  console.log(`  ${fastest.name}`);
  for (const r of others) {
    console.log(`   ${(r.min / fastest.min).toFixed(2)}x faster than ${r.name}`);
  }
}
