/**
 * The benchmark harness (`deno task bench`, `npm run bench`): the seeds' timing experiments on
 * this runtime, each in a file of its own, side by side with Python's `multiprocessing` and the
 * JavaScript pools of this runtime, then every ratio against its target.
 *
 * 1. `exp_cpu.ts`: the seed's job sequentially, on the dummy pool and on the worker pool.
 * 2. `exp_processes.ts`: short tasks as one `Process` each vs `Pool(4)`.
 * 3. `exp_chunksize.ts`: `map` by chunksize.
 * 4. `exp_pi.ts`: Monte Carlo π on `Pool(4)` vs sequential.
 * 5. `exp_io.ts`: tasks that wait: sequential, dummy `Pool(5)`, worker `Pool(5)`.
 * 6. `exp_overhead.ts`: `applyAsync`, `map` and `imap` of a tiny task; a pool's start.
 * 7. `primitives.ts`: queues, locks, shared values and pipes.
 * 8. `managers.ts`: dict proxy calls through `Manager()` and a TCP `BaseManager`.
 *
 * The machines it runs on are shared and noisy, so the sides of every comparison run in
 * rounds, in turn (ours, Python, the JS pools; then Python, the JS pools, ours; …), with the
 * load average recorded before each round. Each figure is the median of its rounds, printed
 * with its spread (lowest–highest); each ratio is computed within each round, and a ratio whose
 * rounds fall on both sides of its target is "undecided", never "met". Before each round the
 * harness times a fixed piece of work on one thread and on two at once (`_capacity.ts`), and
 * records it; a full run also waits (up to a minute) while the machine's cores are taken, times
 * the work again after each round, and times a round again (at most twice) that ended so.
 *
 * Flags:
 * - (none): every experiment at sizes that answer within about three minutes on 2 cores,
 *   3 rounds, with Python (when `python3` is present) and the JavaScript pools.
 * - `--full`: the seeds' sizes (10⁷ for the job, 100 processes, …) and 3 rounds.
 * - `--quick`: small sizes and one round, for a smoke test; labels say the sizes used.
 * - `--rounds=N`: this many rounds instead.
 * - `--ours-only`: no Python and no JavaScript pools.
 * - `--runtimes`: runs the harness on Deno, Bun and Node in turn, and prints one table.
 * - `--source`: measures the `.ts` sources on Node and Bun too (by default they measure the
 *   compiled `.js` in `dist/`, built when stale, as npm and JSR give it to their users).
 * - `--only=cpu,io`: only these experiments (cpu, processes, chunksize, pi, io, overhead,
 *   primitives, managers, cluster).
 *
 * A full run writes `bench/results/<runtime>.json` (every round's figures, the load before
 * each, the medians and the machine) and `bench/results/<runtime>.svg` (the ratios, as a
 * chart); any other run writes `<runtime>.<tier>.json` and `.svg` beside them (ignored by git),
 * so that it never replaces the published figures.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/main.ts [--quick | --full] [--only=…] [--runtimes]
 * bun bench/main.ts [--quick | --full] [--only=…]
 * node --expose-gc bench/main.ts [--quick | --full] [--only=…]
 * ```
 *
 * `--expose-gc` lets the harness collect garbage before each row's samples, as mitata does
 * (see `_harness.ts`); `npm run bench` and `deno task bench` pass it.
 *
 * @module
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { arch, cpus, loadavg, platform, totalmem } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type Figures, flag, python, runtimeName } from "./_common.ts";
import { columns, perSecond, report, type Result, runtimeArgs } from "./_harness.ts";
import { count, SIZES, type Sizes, type Tier } from "./_sizes.ts";
import { form } from "./_lib.ts";
import { type Capacity, probe, slowdown } from "./_capacity.ts";
import { CONCURRENT } from "./managers.ts";
import { IN_FLIGHT } from "./floors_managers.ts";
import { PRIMITIVE_TARGETS } from "./primitives.ts";

const args = process.argv.slice(2);
const TIER: Tier = args.includes("--quick")
  ? "quick"
  : args.includes("--full")
  ? "full"
  : "default";
const COMPARE = !args.includes("--ours-only");
const ONLY = flag("only")?.split(",");
const ROUNDS = Number(flag("rounds") ?? SIZES[TIER].rounds);
/**
 * A full run's test of a busy machine: the probe's work (bench/_capacity.ts) took this many times
 * its best of the run, on one thread or on two at once. On 2 cores, one other program spinning
 * made it 1.6x on two, two programs 2.1-2.3x. A full run on Deno without it timed the seed's job
 * at 398 ms sequentially in one round and 235-242 ms in the two others, and its worker pool at
 * 195-210 ms in all three (half the sequential time on two free cores): those rounds did not
 * have the machine's two cores.
 */
const BUSY = 1.25;
/** How long a full run waits for a busy machine before a round, at most. */
const BUSY_WAIT_S = 60;
/** How many rounds a full run times again, at most, when they ended on a busy machine. */
const BUSY_ROUNDS = 2;
const RESULTS = new URL("./results/", import.meta.url);
/**
 * Where a run's figures go: `<runtime>.json` and `.svg` for a full run of everything (the
 * published chart); any other run writes `<runtime>.<tier>.json` and `.svg` (ignored by git),
 * so that a smoke test never replaces the published figures.
 */
const resultFile = (runtime: string, ext: "json" | "svg") =>
  new URL(
    `${runtime}${TIER === "full" && ONLY === undefined ? "" : `.${TIER}`}.${ext}`,
    RESULTS,
  );

/** The experiments with a table of their own, in the order they run (see bench/experiment.ts). */
const EXPERIMENTS = ["cpu", "processes", "chunksize", "pi", "io", "overhead"];

/** Python's figures for each experiment (bench/python/experiments.py). */
const PYTHON_FIGURES: Record<string, string[]> = {
  cpu: ["cpu_sequential_ms", "cpu_dummy_ms", "cpu_pool_ms"],
  processes: ["processes_ms", "pool4_map_ms"],
  chunksize: [
    "chunks_1_items_per_s",
    "chunks_10_items_per_s",
    "chunks_100_items_per_s",
    "chunks_default_items_per_s",
  ],
  pi: ["pi_sequential_ms", "pi_pool4_ms"],
  io: ["io_sequential_ms", "io_dummy5_ms", "io_pool5_ms"],
  overhead: [
    "apply_async_per_s",
    "map_items_per_s",
    "imap1_items_per_s",
    "map_strings_per_s",
    "map_objects_per_s",
    "pool_start_ms",
  ],
};

const selected = (name: string) => ONLY === undefined || ONLY.includes(name);

// The cluster experiment (bench/cluster.ts): asked for by --only=cluster, or by default where
// redis-server is installed. Its ratios come from clusterRatios() in ratioDefs().
const clusterBench = await import("./cluster.ts");
if (ONLY?.includes("cluster") || (ONLY === undefined && clusterBench.haveRedisServer())) {
  EXPERIMENTS.push("cluster");
  PYTHON_FIGURES.cluster = clusterBench.CLUSTER_PYTHON;
}

/** One round: every side once, in the order given, after the load average was read. */
export interface Round {
  /** The load average (1, 5 and 15 minutes) just before the round. */
  load: number[];
  order: string[];
  ours: Figures;
  python: Figures | undefined;
  pools: Record<string, Figures> | undefined;
  /** Wall seconds of each step of the round (a program of its own each), in the order run. */
  seconds: Record<string, number>;
  /**
   * The machine just before the round and, in a full run, just after it (bench/_capacity.ts),
   * and the seconds a full run waited for it to be free before the round.
   */
  capacity?: { before: Capacity; after?: Capacity; waitedS: number };
}

/** A figure's median over the rounds, with the lowest and highest round. */
export interface Spread {
  median: number;
  lo: number;
  hi: number;
}

/** Everything one run measured, as bench/results/<runtime>.json holds it. */
export interface Run {
  runtime: string;
  version: string;
  /** The library's form: the compiled .js on Node and Bun, the .ts sources on Deno. */
  form: string;
  tier: Tier;
  sizes: Sizes;
  date: string;
  machine: { cpus: number; model: string; memoryGiB: number; os: string };
  rounds: Round[];
  /**
   * Rounds of a full run that ended on a busy machine and were timed again: kept to be read,
   * left out of every figure and ratio.
   */
  busyRounds?: Round[];
  /** Medians of the rounds, with their spread. */
  ours: Record<string, Spread>;
  python: Record<string, Spread> | undefined;
  pools: Record<string, Record<string, Spread>> | undefined;
  ratios: Ratio[];
}

/** A ratio against its target: `value ≥ target` (a floor), or `≤` where `atMost` (a ceiling). */
export interface Ratio {
  name: string;
  /** The median of the rounds' ratios, and the lowest and highest. */
  value: number | undefined;
  lo: number | undefined;
  hi: number | undefined;
  target: number | undefined;
  atMost?: boolean;
  /** How the value reads: a ratio (`x`, the default) or an absolute rate in `M/s`. */
  unit?: string;
  /** "met", "missed", "undecided" (rounds on both sides of the target), or "" (no target). */
  verdict: string;
}

function version(): string {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  return g.Deno?.version.deno ?? g.Bun?.version ?? process.version;
}

function divide(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

function multiply(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a * b;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function spread(values: number[]): Spread {
  return { median: median(values), lo: Math.min(...values), hi: Math.max(...values) };
}

/** Per key, the spread of the rounds' values (rounds without the key are left out). */
function spreads(list: (Figures | undefined)[]): Record<string, Spread> | undefined {
  const present = list.filter((f): f is Figures => f !== undefined);
  if (present.length === 0) return undefined;
  const keys = new Set(present.flatMap((f) => Object.keys(f)));
  const out: Record<string, Spread> = {};
  for (const key of keys) {
    const values = present.map((f) => f[key]).filter((v) => v !== undefined && Number.isFinite(v));
    if (values.length > 0) out[key] = spread(values);
  }
  return out;
}

function bestPoolRate(pools: Record<string, Figures> | undefined): number | undefined {
  const rates = pools === undefined
    ? []
    : Object.values(pools).map((p) => p.tasks_per_s).filter((v) => v !== undefined);
  return rates.length > 0 ? Math.max(...rates) : undefined;
}

/** A ratio's definition: its name, how one round gives it, and its target. */
interface RatioDef {
  name: string;
  of: (ours: Figures, py: Figures | undefined, pools: Record<string, Figures> | undefined) =>
    | number
    | undefined;
  target: number | undefined;
  atMost?: boolean;
  unit?: string;
}

function ratioDefs(sizes: Sizes): RatioDef[] {
  const defs: RatioDef[] = [
    {
      name: "applyAsync vs best JS pool",
      of: (o, _, pools) => divide(o.apply_async_per_s, bestPoolRate(pools)),
      target: 10,
    },
    {
      name: "applyAsync vs Python",
      of: (o, py) => divide(o.apply_async_per_s, py?.apply_async_per_s),
      target: 20,
    },
    {
      name: `map ${count(sizes.map)} vs Python`,
      of: (o, py) => divide(o.map_items_per_s, py?.map_items_per_s),
      target: 10,
    },
    {
      name: `map ${count(sizes.map)} short strings vs Python`,
      of: (o, py) => divide(o.map_strings_per_s, py?.map_strings_per_s),
      target: 10,
    },
    {
      name: `map ${count(sizes.map)} small objects vs Python`,
      of: (o, py) => divide(o.map_objects_per_s, py?.map_objects_per_s),
      target: 10,
    },
    ...(["", "strings", "objects"] as const).flatMap((kind): RatioDef[] => {
      const key = kind === "" ? "map" : `map_${kind}`;
      const what = kind === "" ? "numbers" : kind === "strings" ? "short strings" : "small objects";
      const perS = (o: Figures) => o[kind === "" ? "map_items_per_s" : `${key}_per_s`];
      return [
        {
          name: `map ${count(sizes.map)} ${what}: time / one-thread floor`,
          of: (o) => divide(divide(sizes.map * 1000, perS(o)), o[`${key}_floor_ms`]),
          target: undefined,
        },
        {
          name: `map ${count(sizes.map)} ${what}: time / memory-copy floor`,
          of: (o) => divide(divide(sizes.map * 1000, perS(o)), o[`${key}_copy_ms`]),
          target: undefined,
        },
        {
          name: `map ${count(sizes.map)} ${what}: one-thread floor vs Python`,
          of: (o, py) => divide(divide(sizes.map * 1000, o[`${key}_floor_ms`]), py && perS(py)),
          target: undefined,
        },
        {
          // Past 1, threads ran at once; at the number of cores, the map kept every one busy
          // and only less work would make it faster.
          name: `map ${count(sizes.map)} ${what}: CPU time (all threads) / time`,
          of: (o) => divide(o[`${key}_cpu_ms`], divide(sizes.map * 1000, perS(o))),
          target: undefined,
          // Cores kept busy, not a speed-up: the table has it, the chart does not.
          unit: "x",
        },
        {
          name: `map ${count(sizes.map)} ${what}: page faults (all threads)`,
          of: (o) => divide(o[`${key}_faults`], 1e3),
          target: undefined,
          unit: "k",
        },
        {
          name: `map ${count(sizes.map)} ${what}: one-thread floor's page faults`,
          of: (o) => divide(o[`${key}_floor_faults`], 1e3),
          target: undefined,
          unit: "k",
        },
        {
          name: `map ${count(sizes.map)} ${what}: page faults' cost / time`,
          of: (o) =>
            divide(
              multiply(o[`${key}_faults`], o.page_fault_ms),
              divide(sizes.map * 1000, perS(o)),
            ),
          target: undefined,
          // A share of the time, not a speed-up: the table has it, the chart does not.
          unit: "x",
        },
      ];
    }),
    {
      name: "floor: a page of fresh memory faulted in and written",
      of: (o) => multiply(o.page_fault_ms, 1e3),
      target: undefined,
      unit: "µs",
    },
    {
      name: "Manager() dict calls vs Python",
      of: (o, py) => divide(o.manager_dict_calls, py?.manager_dict_calls),
      target: 10,
    },
    {
      name: "TCP BaseManager calls vs Python",
      of: (o, py) => divide(o.tcp_dict_calls, py?.tcp_dict_calls),
      target: 2,
    },
    // Calls in flight on one connection, against Python's calls one at a time (its proxy
    // waits for each reply), and the floors under a sequential call (bench/floors_managers.ts).
    {
      name: `Manager() ${2 * CONCURRENT} calls in flight vs Python (sequential)`,
      of: (o, py) => divide(o.manager_dict_calls_concurrent, py?.manager_dict_calls),
      target: undefined,
    },
    {
      name: `TCP ${2 * CONCURRENT} calls in flight vs Python (sequential)`,
      of: (o, py) => divide(o.tcp_dict_calls_concurrent, py?.tcp_dict_calls),
      target: undefined,
    },
    ...([
      ["floor: MessagePort round trips", "floor_port_rtt"],
      ["floor: waitAsync round trips", "floor_atomics_rtt"],
      ["floor: Atomics.wait round trips", "floor_atomics_blocking_rtt"],
      ["floor: TCP round trips", "floor_tcp_rtt"],
      [`floor: TCP, ${IN_FLIGHT} in flight`, "floor_tcp_pipelined"],
    ] as const).map(([name, key]): RatioDef => ({
      name,
      of: (o) => divide(o[key], 1e3),
      target: undefined,
      unit: "k/s",
    })),
    {
      name: `${sizes.tasks} processes / ${sizes.tasks} bare Workers`,
      of: (o) => divide(o.processes_ms, o.bare_workers_ms),
      target: 1.1,
      atMost: true,
    },
    // Its floor: as many Workers importing a Process's modules, each answering a message
    // (bench/exp_processes.ts).
    {
      name: `floor: ${sizes.tasks} Workers importing a Process's modules / bare Workers`,
      of: (o) => divide(o.process_loads_ms, o.bare_workers_ms),
      target: undefined,
    },
    {
      name: `${sizes.tasks} processes / that floor`,
      of: (o) => divide(o.processes_ms, o.process_loads_ms),
      target: undefined,
    },
    {
      name: "imap chunksize 1 vs Python",
      of: (o, py) => divide(o.imap1_items_per_s, py?.imap1_items_per_s),
      target: 4,
    },
    {
      name: "worker pool vs sequential (job)",
      of: (o) => divide(o.cpu_sequential_ms, o.cpu_pool_ms),
      target: 1.9,
    },
    {
      name: "dummy pool vs sequential (job)",
      of: (o) => divide(o.cpu_sequential_ms, o.cpu_dummy_ms),
      target: 1.05,
      atMost: true,
    },
    {
      name: "Pool(2) start / two bare Workers",
      of: (o) => divide(o.pool_start_ms, o.bare_two_workers_ms),
      target: 1.1,
      atMost: true,
    },
    // Its floor in two parts: a message in and an answer out, then the modules the pool's
    // worker imports (bench/exp_overhead.ts).
    ...([
      ["floor: two Workers answering a message / two bare Workers", "bare_two_answers_ms"],
      [
        "floor: the same, importing the pool worker's modules / two bare Workers",
        "bare_two_loads_ms",
      ],
      ["Pool(2) start / that floor", "pool_start_ms", "bare_two_loads_ms"],
    ] as const).map(([name, key, over = "bare_two_workers_ms"]): RatioDef => ({
      name,
      of: (o) => divide(o[key], o[over]),
      target: undefined,
    })),
    {
      name: `${sizes.tasks} processes / Pool(4)`,
      of: (o) => divide(o.processes_ms, o.pool4_map_ms),
      target: undefined,
    },
    {
      name: `${sizes.tasks} processes vs Python`,
      of: (o, py) => divide(py?.processes_ms, o.processes_ms),
      target: undefined,
    },
    {
      name: "π: sequential / Pool(4)",
      of: (o) => divide(o.pi_sequential_ms, o.pi_pool4_ms),
      target: undefined,
    },
    {
      name: "I/O: sequential / worker Pool(5)",
      of: (o) => divide(o.io_sequential_ms, o.io_pool5_ms),
      target: undefined,
    },
    {
      name: "chunksize 1 vs Python",
      of: (o, py) => divide(o.chunks_1_items_per_s, py?.chunks_1_items_per_s),
      target: undefined,
    },
    {
      name: "Pool(2) start vs Python",
      of: (o, py) => divide(py?.pool_start_ms, o.pool_start_ms),
      target: undefined,
    },
    {
      name: "prepared Pool(2) start / Python's Pool(2) start",
      of: (o, py) => divide(o.prepared_pool_start_ms, py?.pool_start_ms),
      target: 2,
      atMost: true,
    },
  ];
  defs.push(...clusterBench.clusterRatios(sizes));
  for (const [key, target] of Object.entries(PRIMITIVE_TARGETS)) {
    defs.push({ name: key, of: (o) => divide(o[key], 1e6), target: target / 1e6, unit: "M/s" });
  }
  // The lock's floor (bench/primitives.ts): two atomic writes and an await, with no Lock.
  defs.push(
    {
      name: "floor: two atomics and an await, in a worker",
      of: (o) => divide(o.floor_lock_pairs, 1e6),
      target: undefined,
      unit: "M/s",
    },
    {
      name: "lock_pairs / that floor",
      of: (o) => divide(o.lock_pairs, o.floor_lock_pairs),
      target: undefined,
    },
  );
  return defs;
}

/** Each ratio over the rounds: the median of the rounds' values, their spread, a verdict. */
function ratios(rounds: Round[], sizes: Sizes): Ratio[] {
  return ratioDefs(sizes).map((def) => {
    const values = rounds
      .map((r) => def.of(r.ours, r.python, r.pools))
      .filter((v): v is number => v !== undefined && Number.isFinite(v));
    const s = values.length > 0 ? spread(values) : undefined;
    const ratio: Ratio = {
      name: def.name,
      value: s?.median,
      lo: s?.lo,
      hi: s?.hi,
      target: def.target,
      atMost: def.atMost,
      unit: def.unit,
      verdict: "",
    };
    ratio.verdict = verdict(ratio);
    return ratio;
  });
}

/** Met when every round meets the target, missed when none does, otherwise undecided. */
function verdict(r: Pick<Ratio, "target" | "lo" | "hi" | "atMost">): string {
  if (r.target === undefined || r.lo === undefined || r.hi === undefined) return "";
  const meets = (v: number) => r.atMost ? v <= r.target! : v >= r.target!;
  if (meets(r.lo) && meets(r.hi)) return "met";
  if (!meets(r.lo) && !meets(r.hi)) return "missed";
  return "undecided";
}

function fixed(v: number | undefined, unit = "x"): string {
  return v === undefined ? "-" : `${v.toFixed(2)}${unit}`;
}

function withSpread(r: Ratio): string {
  if (r.value === undefined) return "-";
  const unit = r.unit ?? "x";
  return r.lo === r.hi
    ? fixed(r.value, unit)
    : `${fixed(r.value, unit)} (${r.lo!.toFixed(2)}–${r.hi!.toFixed(2)})`;
}

function printRatios(list: Ratio[], rounds: number): void {
  console.log(
    `\nratios against their targets (median of ${rounds} round${
      rounds === 1 ? "" : "s"
    }, lowest–highest round)`,
  );
  console.log(
    columns(
      ["ratio", "value", "target", "verdict"],
      list.map((r) => [
        r.name,
        withSpread(r),
        r.target === undefined ? "" : `${r.atMost ? "≤" : "≥"} ${r.target}${r.unit ?? "x"}`,
        r.verdict,
      ]),
    ),
  );
}

/** Shows which round and side runs, on a terminal only (CI logs stay quiet). */
function progress(text: string): void {
  if (!process.stderr.isTTY || process.env.CI) return;
  process.stderr.write(text === "" ? "\r\x1b[K" : `\r\x1b[K${text}`);
}

/** The wall seconds of the running round's steps, filled by step(). */
let stepSeconds: Record<string, number> = {};

/**
 * Runs one step of round `round` (a side's experiment, in a program of its own), showing it in
 * progress() and recording its wall time under `label` in the round's `seconds`: where a run's
 * time goes, waits included.
 */
async function step<T>(round: number, label: string, run: () => Promise<T>): Promise<T> {
  progress(`round ${round}/${ROUNDS}: ${label}`);
  const start = performance.now();
  try {
    return await run();
  } finally {
    stepSeconds[label] = Math.round(performance.now() - start) / 1000;
    progress("");
  }
}
/**
 * A bar chart of the ratios, written as SVG by hand, on a log scale so that 0.5× and 60× both
 * read. Each bar starts at 1×: to the right a gain, to the left a loss. A whisker shows the
 * rounds' spread, a dashed mark the target (▶ a floor to reach, ◀ a ceiling to stay under).
 */
export function chart(run: Run): string {
  // Speed-ups only: the primitives' absolute rates are in the table.
  const bars = run.ratios.filter((r) => r.value !== undefined && r.unit === undefined);
  const values = bars.flatMap((r) => [r.lo!, r.hi!, r.target ?? 1]);
  const ticks = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
  const lowest = Math.min(0.5, ...values) / 1.3;
  const highest = Math.max(2, ...values) * 1.3;
  const min = [...ticks].reverse().find((t) => t <= lowest) ?? 0.01;
  const max = ticks.find((t) => t >= highest) ?? 1000;
  // Labels are 12px sans-serif: about 6.6px a character leaves the longest one room.
  const longest = Math.max(...bars.map((r) => r.name.length));
  const left = Math.max(300, Math.ceil(longest * 6.6) + 24), width = 460, rowH = 26, top = 62;
  const right = 150;
  const x = (v: number) =>
    left + (Math.log(Math.min(Math.max(v, min), max) / min) / Math.log(max / min)) * width;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const colors: Record<string, string> = {
    met: "#4cae4c",
    missed: "#d9534f",
    undecided: "#f0ad4e",
    "": "#5b8def",
  };
  const bottom = top + bars.length * rowH;
  // Every decade; the 2s and 5s too when the scale spans three decades or fewer.
  const decades = Math.log10(max / min);
  const shown = ticks.filter((t) =>
    t >= min && t <= max && (decades <= 3 || Number.isInteger(Math.log10(t)))
  );
  const axis = shown.map((t) =>
    `<line x1="${x(t)}" y1="${top - 4}" x2="${x(t)}" y2="${bottom}" stroke="${
      t === 1 ? "#555" : "#e3e3e3"
    }"/>` +
    `<text x="${x(t)}" y="${bottom + 16}" text-anchor="middle" fill="#444">${t}×</text>`
  ).join("");
  const rows = bars.map((r, i) => {
    const y = top + i * rowH;
    const v = r.value!;
    const from = Math.min(x(1), x(v)), to = Math.max(x(1), x(v));
    const mid = y + (rowH - 8) / 2;
    const whisker = r.lo === r.hi
      ? ""
      : `<line x1="${x(r.lo!)}" y1="${mid}" x2="${
        x(r.hi!)
      }" y2="${mid}" stroke="#222" stroke-width="1.5"/>`;
    const target = r.target === undefined
      ? ""
      : `<line x1="${x(r.target)}" y1="${y - 2}" x2="${x(r.target)}" y2="${
        y + rowH - 6
      }" stroke="#222" stroke-width="2" stroke-dasharray="3,2"/>`;
    const label = `${v.toFixed(2)}×${
      r.target === undefined
        ? ""
        : `  (target ${r.atMost ? "≤" : "≥"} ${r.target}×${
          r.verdict === "" ? "" : `, ${r.verdict}`
        })`
    }`;
    return `<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(r.name)}</text>` +
      `<rect x="${from}" y="${y}" width="${Math.max(1, to - from)}" height="${rowH - 8}" fill="${
        colors[r.verdict]
      }"/>${whisker}${target}` +
      `<text x="${left + width + 8}" y="${y + 13}">${esc(label)}</text>`;
  });
  const legend = [
    ["met", "target met in every round"],
    ["missed", "missed in every round"],
    ["undecided", "rounds on both sides of the target"],
    ["", "no target"],
  ].map(([key, text], i, all) => {
    // Each entry as wide as its text (about 6.5 px a character at 12 px) and a gap.
    const at = 10 + all.slice(0, i).reduce((w, [, t]) => w + 40 + t.length * 6.5, 0);
    return `<rect x="${at}" y="${bottom + 30}" width="12" height="12" fill="${
      colors[key]
    }"/><text x="${at + 18}" y="${bottom + 40}">${esc(text)}</text>`;
  }).join("");
  const notes = `<text x="10" y="${bottom + 62}" fill="#444">${
    esc(
      "Bars start at 1× (right: faster, left: slower). Whiskers: lowest–highest round. Dashed: the target; ≥ is a floor to reach, ≤ a ceiling to stay under.",
    )
  }</text>`;
  const height = bottom + 76;
  const sizes = run.sizes;
  const title =
    `@mp/multiprocessing (${run.form}) on ${run.runtime} ${run.version}: ratios, log scale`;
  const subtitle = `${run.tier} run, ${run.rounds.length} round${
    run.rounds.length === 1 ? "" : "s"
  } (median shown); job ${count(sizes.job)}, ${sizes.tasks} processes, map ${
    count(sizes.map)
  }, ${run.machine.cpus} CPUs, ${run.date.slice(0, 10)}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${
    left + width + right + 220
  }" height="${height}" font-family="sans-serif" font-size="12">` +
    `<rect width="100%" height="100%" fill="white"/>` +
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>` +
    `<text x="10" y="38" fill="#444">${esc(subtitle)}</text>` +
    `${axis}${rows.join("")}${legend}${notes}</svg>\n`;
}

/**
 * Runs our experiments once, for one round, each in a program of its own (bench/experiment.ts,
 * whose doc says why); prints their tables when `show`.
 */
async function runOurs(round: number, show: boolean): Promise<Figures> {
  const ours: Figures = {};
  for (const name of EXPERIMENTS) {
    if (!selected(name)) continue;
    const result = await step(
      round,
      `ours, ${name}`,
      () => ownProgram<Result>("experiment.ts", [`--name=${name}`, `--tier=${TIER}`]),
    );
    if (show) report(result);
    else {
      // Only the last round's tables are shown: a row that failed in another round says so here.
      for (const row of result.rows) {
        if (row.samples === 0) console.log(`(round ${round}, failed: ${row.name})`);
      }
    }
    Object.assign(ours, result.figures);
  }
  if (selected("primitives")) {
    const figures = await step(
      round,
      "ours, primitives",
      () => ownProgram<Figures>("experiment.ts", ["--name=primitives", `--tier=${TIER}`]),
    );
    if (show) {
      console.log("\n7. primitives (best of runs)");
      console.log(
        columns(
          ["experiment", "rate"],
          Object.entries(figures).map(([k, v]) => [k, perSecond(v)]),
        ),
      );
    }
    Object.assign(ours, figures);
  }
  if (selected("managers")) {
    const figures = await step(round, "ours, managers", () =>
      ownProgram<Figures>("managers.ts", [
        "--json",
        `--n=${SIZES[TIER].managerCalls}`,
        "--repeats=1",
        `--warm-up-ms=${SIZES[TIER].managerWarmUpMs}`,
      ]));
    if (show) {
      console.log("\n8. managers: dict proxy calls (a set and a get count as two)");
      console.log(
        columns(
          ["experiment", "rate"],
          Object.entries(figures).map(([k, v]) => [k, perSecond(v)]),
        ),
      );
    }
    Object.assign(ours, figures);
  }
  return ours;
}

/**
 * Runs `bench/<module>` with this runtime and its flags, in a program of its own, and returns
 * what it prints on its last line, as JSON. Every experiment runs so, on every side (Python's
 * are bench/python/experiments.py, once per experiment, and managers.py): run one after the
 * other in one program, a late experiment paid for the heap the earlier ones had grown. On
 * Bun, after the other experiments, JSC's background threads (its JIT, its collector, and a
 * thread named JSCWarmUp that `BUN_JSC_useWarmUpMarkedBlocks=0` removes; seen in /proc's CPU
 * times of each thread) ran beside a manager's two threads on two cores, and runs of 20,000
 * set+get pairs read 130k and 193k calls/s right after the overhead experiment, against
 * 229-322k in a program of their own.
 */
function ownProgram<T>(module: string, args: string[]): Promise<T> {
  const script = fileURLToPath(new URL(`./${module}`, import.meta.url));
  const argv = [...runtimeArgs(runtimeName()), script, ...args];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      argv,
      { timeout: 1_800_000, maxBuffer: 64 * 2 ** 20 },
      (error, out, err) => {
        if (error !== null) {
          reject(new Error(`Cannot run bench/${module}: ${error.message}\n${err}`));
        } else {
          // What it said on the side (a JavaScript pool skipped, and why) stays in sight.
          if (err !== "") process.stderr.write(err);
          resolve(JSON.parse(out.trim().split("\n").at(-1)!) as T);
        }
      },
    );
  });
}

/**
 * Runs Python's side once, for one round: the selected experiments at our sizes, each in a
 * program of its own, as ours run.
 */
async function runPython(round: number): Promise<Figures | undefined> {
  const figures: Figures = {};
  let any = false;
  for (const [name, keys] of Object.entries(PYTHON_FIGURES)) {
    if (!selected(name)) continue;
    const got = await step(round, `Python, ${name}`, () =>
      python("experiments.py", [
        `--sizes=${JSON.stringify(SIZES[TIER])}`,
        "--repeats=1",
        `--only=${keys.join(",")}`,
      ]));
    if (got !== undefined) any = true;
    Object.assign(figures, got);
  }
  if (selected("primitives")) {
    const got = await step(
      round,
      "Python, primitives",
      () => python("primitives.py", TIER === "full" ? [] : ["--quick"]),
    );
    if (got !== undefined) any = true;
    Object.assign(figures, got);
  }
  if (selected("managers")) {
    const got = await step(round, "Python, managers", () =>
      python("managers.py", [
        `--n=${SIZES[TIER].managerCalls}`,
        "--repeats=1",
        `--warm-up-ms=${SIZES[TIER].managerWarmUpMs}`,
      ]));
    if (got !== undefined) any = true;
    Object.assign(figures, got);
  }
  return any ? figures : undefined;
}

/** Runs the JavaScript pools once, for one round, in a program of their own. */
async function runPools(round: number): Promise<Record<string, Figures> | undefined> {
  if (!selected("overhead")) return undefined;
  return await step(
    round,
    "JavaScript pools",
    () =>
      ownProgram<Record<string, Figures>>("js_pools_main.ts", [
        `--tasks=${SIZES[TIER].poolTasks}`,
        "--runs=1",
      ]),
  );
}

async function runHere(): Promise<Run> {
  const sizes = SIZES[TIER];
  console.log(
    `@mp/multiprocessing (${form}) bench on ${runtimeName()} ${version()}, ${cpus().length} CPUs, ${TIER} run, ${ROUNDS} round${
      ROUNDS === 1 ? "" : "s"
    }${COMPARE ? ", with Python and the JavaScript pools" : ", ours only"}`,
  );
  const rounds: Round[] = [];
  const busyRounds: Round[] = [];
  let noPython = false;
  let bestOneMs = Infinity;
  for (let r = 1; r <= ROUNDS; r++) {
    let before = await probe();
    bestOneMs = Math.min(bestOneMs, before.oneMs);
    let waited = 0;
    // A full run waits, a while, for a machine whose cores are taken by something else.
    while (
      TIER === "full" && slowdown(before, bestOneMs) > BUSY && waited < BUSY_WAIT_S
    ) {
      await new Promise((resolve) => setTimeout(resolve, 5000));
      waited += 5;
      before = await probe();
      bestOneMs = Math.min(bestOneMs, before.oneMs);
    }
    // Turn about, so that a drift in the machine's load favours neither side.
    const order = !COMPARE ? ["ours"] : r % 2 === 1 ? ["ours", "python", "pools"] : [
      "python",
      "pools",
      "ours",
    ];
    const round: Round = {
      load: loadavg().map((l) => Math.round(l * 100) / 100),
      order,
      ours: {},
      python: undefined,
      pools: undefined,
      seconds: {},
    };
    stepSeconds = round.seconds;
    for (const side of order) {
      if (side === "ours") round.ours = await runOurs(r, r === ROUNDS);
      else if (side === "python") {
        round.python = await runPython(r);
        noPython ||= round.python === undefined;
      } else round.pools = await runPools(r);
    }
    // Only a full run, which can afford it, looks again after the round and times it again.
    const after = TIER === "full" ? await probe() : undefined;
    round.capacity = { before, after, waitedS: waited };
    if (
      after !== undefined && slowdown(after, bestOneMs) > BUSY &&
      busyRounds.length < BUSY_ROUNDS
    ) {
      busyRounds.push(round);
      console.log(
        `(round ${r} is timed again: at its end, work of ${bestOneMs.toFixed(0)} ms took ${
          after.oneMs.toFixed(0)
        } ms on one thread, ${after.twoMs.toFixed(0)} ms on two at once)`,
      );
      r--;
      continue;
    }
    rounds.push(round);
  }
  if (COMPARE && noPython) console.log("\n(python3 not found or failed: no Python figures)");
  const c = cpus();
  const run: Run = {
    runtime: runtimeName(),
    version: version(),
    form,
    tier: TIER,
    sizes,
    date: new Date().toISOString(),
    machine: {
      cpus: c.length,
      model: c[0]?.model ?? "unknown",
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      os: `${platform()} ${arch()}`,
    },
    rounds,
    busyRounds,
    ours: spreads(rounds.map((r) => r.ours))!,
    python: spreads(rounds.map((r) => r.python)),
    pools: poolSpreads(rounds),
    ratios: ratios(rounds, sizes),
  };
  console.log(
    `\nload average before each round: ${rounds.map((r) => r.load[0].toFixed(2)).join(", ")}`,
  );
  const machine = (c: Capacity) => `${c.oneMs.toFixed(0)}/${c.twoMs.toFixed(0)}`;
  console.log(
    `ms of the same work on one thread / on two at once, before each round (→ after it, in a full run): ${
      rounds.map(({ capacity }) =>
        machine(capacity!.before) +
        (capacity!.after === undefined ? "" : ` → ${machine(capacity!.after)}`)
      ).join(", ")
    }`,
  );
  console.log(
    `wall seconds of each round: ${
      rounds.map((r) => Object.values(r.seconds).reduce((a, b) => a + b, 0).toFixed(0)).join(", ")
    } (each step's in the JSON's rounds[].seconds)`,
  );
  if (COMPARE) printComparison(run);
  printRatios(run.ratios, rounds.length);
  mkdirSync(RESULTS, { recursive: true });
  const json = resultFile(run.runtime, "json");
  const svg = resultFile(run.runtime, "svg");
  writeFileSync(json, JSON.stringify(run, null, 2) + "\n");
  writeFileSync(svg, chart(run));
  console.log(`\nwrote ${fileURLToPath(json)} and ${fileURLToPath(svg)}`);
  return run;
}

function poolSpreads(rounds: Round[]): Record<string, Record<string, Spread>> | undefined {
  const names = new Set(rounds.flatMap((r) => Object.keys(r.pools ?? {})));
  if (names.size === 0) return undefined;
  const out: Record<string, Record<string, Spread>> = {};
  for (const name of names) {
    const s = spreads(rounds.map((r) => r.pools?.[name]));
    if (s !== undefined) out[name] = s;
  }
  return out;
}

function showSpread(key: string, s: Spread | undefined): string {
  if (s === undefined) return "-";
  const one = (v: number) => key.endsWith("_ms") ? `${v.toFixed(1)} ms` : perSecond(v);
  return s.lo === s.hi ? one(s.median) : `${one(s.median)} (${one(s.lo)}–${one(s.hi)})`;
}

function printComparison(run: Run): void {
  const { ours, python: py, pools } = run;
  console.log("\nside by side (same machine, same run; median, lowest–highest round)");
  const keys = Object.keys(ours).filter((k) => py?.[k] !== undefined);
  if (keys.length > 0) {
    console.log(
      columns(
        ["figure", "ours", "python", "ours/python"],
        keys.map((k) => [
          k,
          showSpread(k, ours[k]),
          showSpread(k, py![k]),
          k.endsWith("_ms")
            ? fixed(divide(py![k].median, ours[k].median))
            : fixed(divide(ours[k].median, py![k].median)),
        ]),
      ),
    );
  }
  if (pools === undefined) return;
  console.log("\nJavaScript pools, 2 workers (single tasks; start to first result)");
  console.log(
    columns(
      ["pool", "tasks", "start"],
      [
        [
          "@mp/multiprocessing",
          showSpread("apply_async_per_s", ours.apply_async_per_s),
          showSpread("pool_start_ms", ours.pool_start_ms),
        ],
        ...Object.entries(pools).map(([name, f]) => [
          name,
          showSpread("tasks_per_s", f.tasks_per_s),
          showSpread("start_ms", f.start_ms),
        ]),
      ],
    ),
  );
}

/** Runs this harness on each runtime, one after the other, and prints one table. */
function runEverywhere(): void {
  const here = fileURLToPath(import.meta.url);
  const bin = (name: string) =>
    fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));
  const passOn = args.filter((a) => a !== "--runtimes");
  const runs: Run[] = [];
  for (const rt of ["deno", "bun", "node"]) {
    const argv = [...runtimeArgs(rt), here, ...passOn];
    console.log(`\n======== ${rt} ========`);
    const child = spawnSync(bin(rt), argv, { stdio: "inherit" });
    if (child.status !== 0) {
      console.log(`(${rt} failed with status ${child.status})`);
      continue;
    }
    runs.push(JSON.parse(readFileSync(resultFile(rt, "json"), "utf8")) as Run);
  }
  console.log("\nratios on every runtime (median of the rounds)");
  const names = runs[0]?.ratios.map((r) => r.name) ?? [];
  console.log(
    columns(
      ["ratio", ...runs.map((r) => r.runtime), "target"],
      names.map((name) => {
        const cells = runs.map((run) => {
          const r = run.ratios.find((x) => x.name === name);
          if (r === undefined) return "-";
          return `${fixed(r.value, r.unit)}${r.verdict === "" ? "" : ` ${r.verdict}`}`;
        });
        const t = runs[0].ratios.find((x) => x.name === name)!;
        return [
          name,
          ...cells,
          t.target === undefined ? "" : `${t.atMost ? "≤" : "≥"} ${t.target}`,
        ];
      }),
    ),
  );
}

if (import.meta.main) {
  // A mistyped flag (--fulll) would otherwise run the default sizes as if it were not there.
  const flags = ["--quick", "--full", "--ours-only", "--runtimes", "--source"];
  const valued = ["--only=", "--rounds="];
  const strange = args.filter((a) => !flags.includes(a) && !valued.some((v) => a.startsWith(v)));
  if (strange.length > 0) {
    console.error(
      `Cannot run the bench as it takes no ${strange.join(", ")}: its flags are ${
        [...flags, "--only=a,b", "--rounds=N"].join(", ")
      }`,
    );
    process.exit(2);
  }
  if (!Number.isInteger(ROUNDS) || ROUNDS < 1) {
    console.error(
      `Cannot run the bench as --rounds must be a positive integer: received ${flag("rounds")}`,
    );
    process.exit(2);
  }
  // A name that is no experiment would otherwise run nothing and print an empty table.
  const known = [...new Set([...EXPERIMENTS, "primitives", "managers", "cluster"])];
  const unknown = ONLY?.filter((name) => !known.includes(name)) ?? [];
  if (unknown.length > 0) {
    console.error(
      `Cannot run the bench as --only names no experiment: received ${
        unknown.join(", ")
      }; the experiments are ${known.join(", ")}`,
    );
    process.exit(2);
  }
  if (args.includes("--runtimes")) runEverywhere();
  else await runHere();
}
