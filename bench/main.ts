/**
 * The benchmark harness (`deno task bench`, `npm run bench`): the seeds' timing experiments on
 * this runtime, each in a file of its own, then every ratio against its target.
 *
 * 1. `exp_cpu.ts`: the seed's job sequentially, on the dummy pool and on the worker pool.
 * 2. `exp_processes.ts`: 100 short tasks as 100 `Process` objects vs `Pool(4)`.
 * 3. `exp_chunksize.ts`: `map` over 100,000 items by chunksize.
 * 4. `exp_pi.ts`: Monte Carlo π on `Pool(4)` vs sequential.
 * 5. `exp_io.ts`: 20 tasks waiting 100 ms: sequential, dummy `Pool(5)`, worker `Pool(5)`.
 * 6. `exp_overhead.ts`: `applyAsync`, `map` and `imap` of a tiny task; a pool's start.
 * 7. `primitives.ts`: queues, locks, shared values and pipes.
 *
 * Flags:
 * - `--quick`: small sizes and few samples, for a smoke test (under a minute).
 * - `--compare`: also runs the same workloads in Python's `multiprocessing`
 *   (`bench/python/`, with `python3` when present) and in the JavaScript pools this runtime
 *   runs (piscina, tinypool, workerpool, poolifier; poolifier-web-worker), one after the
 *   other, so that both sides see the same machine.
 * - `--runtimes`: runs the harness on Deno, Bun and Node in turn, and prints one table.
 * - `--only=cpu,io`: only these experiments (cpu, processes, chunksize, pi, io, overhead,
 *   primitives).
 *
 * Writes `bench/results/<runtime>.json` (every figure, and the machine) and
 * `bench/results/<runtime>.svg` (the speed-ups, as a chart).
 *
 * ```sh
 * deno run -A bench/main.ts [--quick] [--compare] [--runtimes]
 * bun bench/main.ts [--quick] [--compare]
 * node bench/main.ts [--quick] [--compare]
 * ```
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { arch, cpus, platform, totalmem } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type Figures, python, runtimeName } from "./_common.ts";
import { type Budget, columns, perSecond, report, type Result } from "./_harness.ts";
import { chunksize } from "./exp_chunksize.ts";
import { cpu } from "./exp_cpu.ts";
import { io } from "./exp_io.ts";
import { overhead } from "./exp_overhead.ts";
import { pi } from "./exp_pi.ts";
import { processes } from "./exp_processes.ts";
import { measurePools } from "./js_pools.ts";
import { measurePrimitives, PRIMITIVE_TARGETS } from "./primitives.ts";

const args = process.argv.slice(2);
const QUICK = args.includes("--quick");
const COMPARE = args.includes("--compare");
const ONLY = args.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",");
const RESULTS = new URL("./results/", import.meta.url);
/**
 * Where a run's figures go: `<runtime>.json` and `.svg` for a full run (the published chart);
 * a quick or partial run writes `<runtime>.partial.json` and `.svg` (ignored by git), so that a
 * smoke test never replaces the published figures.
 */
const resultFile = (runtime: string, ext: "json" | "svg") =>
  new URL(`${runtime}${QUICK || ONLY !== undefined ? ".partial" : ""}.${ext}`, RESULTS);

const EXPERIMENTS: Record<string, (budget: Budget) => Promise<Result>> = {
  cpu,
  processes,
  chunksize,
  pi,
  io,
  overhead,
};

/** Everything one run measured, as bench/results/<runtime>.json holds it. */
export interface Run {
  runtime: string;
  version: string;
  quick: boolean;
  date: string;
  machine: { cpus: number; model: string; memoryGiB: number; os: string };
  ours: Figures;
  python: Figures | undefined;
  pools: Record<string, Figures> | undefined;
  ratios: Ratio[];
}

/** A ratio against its target: `value ≥ target` (or `≤` where `atMost`). */
export interface Ratio {
  name: string;
  value: number | undefined;
  target: number | undefined;
  atMost?: boolean;
  /** How the value reads: a ratio (`x`, the default) or an absolute rate in `M/s`. */
  unit?: string;
}

function version(): string {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  return g.Deno?.version.deno ?? g.Bun?.version ?? process.version;
}

function divide(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

function ratios(
  ours: Figures,
  py: Figures | undefined,
  pools: Record<string, Figures> | undefined,
) {
  const poolRates = pools === undefined
    ? []
    : Object.values(pools).map((p) => p.tasks_per_s).filter((v) => v !== undefined);
  const bestPool = poolRates.length > 0 ? Math.max(...poolRates) : undefined;
  const list: Ratio[] = [
    {
      name: "applyAsync vs best JS pool",
      value: divide(ours.apply_async_per_s, bestPool),
      target: 5,
    },
    {
      name: "applyAsync vs Python",
      value: divide(ours.apply_async_per_s, py?.apply_async_per_s),
      target: 8,
    },
    {
      name: "map 10⁶ vs Python",
      value: divide(ours.map_items_per_s, py?.map_items_per_s),
      target: 5,
    },
    {
      name: "imap chunksize 1 vs Python",
      value: divide(ours.imap1_items_per_s, py?.imap1_items_per_s),
      target: 4,
    },
    {
      name: "worker pool vs sequential (job)",
      value: divide(ours.cpu_sequential_ms, ours.cpu_pool_ms),
      target: 1.9,
    },
    {
      name: "dummy pool vs sequential (job)",
      value: divide(ours.cpu_sequential_ms, ours.cpu_dummy_ms),
      target: 1.05,
      atMost: true,
    },
    {
      name: "Pool(2) start / two bare Workers",
      value: divide(ours.pool_start_ms, ours.bare_two_workers_ms),
      target: 1.2,
      atMost: true,
    },
    {
      name: "100 processes / Pool(4)",
      value: divide(ours.processes_100_ms, ours.pool4_100_ms),
      target: undefined,
    },
    {
      name: "π: sequential / Pool(4)",
      value: divide(ours.pi_sequential_ms, ours.pi_pool4_ms),
      target: undefined,
    },
    {
      name: "I/O: sequential / worker Pool(5)",
      value: divide(ours.io_sequential_ms, ours.io_pool5_ms),
      target: undefined,
    },
    {
      name: "chunksize 1 vs Python",
      value: divide(ours.chunks_1_items_per_s, py?.chunks_1_items_per_s),
      target: undefined,
    },
    {
      name: "Pool(2) start vs Python",
      value: divide(py?.pool_start_ms, ours.pool_start_ms),
      target: undefined,
    },
  ];
  for (const [name, target] of Object.entries(PRIMITIVE_TARGETS)) {
    list.push({ name, value: divide(ours[name], 1e6), target: target / 1e6, unit: "M/s" });
  }
  return list;
}

function verdict(r: Ratio): string {
  if (r.target === undefined || r.value === undefined) return "";
  const met = r.atMost ? r.value <= r.target : r.value >= r.target;
  return met ? "met" : "missed";
}

function fixed(v: number | undefined, unit = "x"): string {
  return v === undefined ? "-" : `${v.toFixed(2)}${unit}`;
}

function printRatios(list: Ratio[]): void {
  console.log("\nratios against their targets");
  console.log(
    columns(
      ["ratio", "value", "target", "verdict"],
      list.map((r) => [
        r.name,
        fixed(r.value, r.unit),
        r.target === undefined ? "" : `${r.atMost ? "≤" : "≥"} ${r.target}${r.unit ?? "x"}`,
        verdict(r),
      ]),
    ),
  );
}

/**
 * A bar chart of the ratios, written as SVG by hand: one bar a ratio, a dashed line at its
 * target, on a log scale so that 1.2× and 60× both read.
 */
export function chart(run: Run): string {
  // Speed-ups only: the primitives' absolute rates are in the table.
  const bars = run.ratios.filter((r) => r.value !== undefined && r.unit === undefined);
  const max = Math.max(2, ...bars.map((r) => Math.max(r.value!, r.target ?? 0))) * 1.2;
  const min = 0.25;
  const left = 290, width = 420, rowH = 24, top = 40;
  const x = (v: number) => left + (Math.log(Math.max(v, min) / min) / Math.log(max / min)) * width;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const rows = bars.map((r, i) => {
    const y = top + i * rowH;
    const color = verdict(r) === "missed"
      ? "#d9534f"
      : verdict(r) === "met"
      ? "#5cb85c"
      : "#5b8def";
    const target = r.target === undefined
      ? ""
      : `<line x1="${x(r.target)}" y1="${y}" x2="${x(r.target)}" y2="${
        y + rowH - 6
      }" stroke="#333" stroke-dasharray="3,2"/>`;
    return `<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(r.name)}</text>` +
      `<rect x="${left}" y="${y}" width="${x(r.value!) - left}" height="${
        rowH - 6
      }" fill="${color}"/>` +
      `<text x="${x(r.value!) + 4}" y="${y + 13}">${r.value!.toFixed(2)}${
        r.unit === undefined ? "×" : ` ${r.unit}`
      }</text>${target}`;
  });
  // The 1× line: below it, slower.
  const one = `<line x1="${x(1)}" y1="${top - 6}" x2="${x(1)}" y2="${
    top + bars.length * rowH
  }" stroke="#999"/><text x="${x(1)}" y="${top - 8}" text-anchor="middle" fill="#666">1×</text>`;
  const height = top + bars.length * rowH + 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${
    left + width + 80
  }" height="${height}" font-family="sans-serif" font-size="12">` +
    `<text x="10" y="20" font-size="14" font-weight="bold">${
      esc(
        `@mp/multiprocessing on ${run.runtime} ${run.version}: ratios, log scale (dashed: target; green met, red missed)`,
      )
    }</text>${one}${rows.join("")}</svg>\n`;
}

async function runHere(): Promise<Run> {
  const budget = { quick: QUICK };
  const ours: Figures = {};
  console.log(
    `@mp/multiprocessing bench on ${runtimeName()} ${version()}, ${cpus().length} CPUs, ${
      QUICK ? "--quick" : "full"
    } run${COMPARE ? ", with --compare" : ""}`,
  );
  for (const [name, experiment] of Object.entries(EXPERIMENTS)) {
    if (ONLY !== undefined && !ONLY.includes(name)) continue;
    const result = await experiment(budget);
    report(result);
    Object.assign(ours, result.figures);
  }
  if (ONLY === undefined || ONLY.includes("primitives")) {
    const figures = await measurePrimitives(QUICK);
    console.log("\n7. primitives (best of runs)");
    console.log(
      columns(["experiment", "rate"], Object.entries(figures).map(([k, v]) => [k, perSecond(v)])),
    );
    Object.assign(ours, figures);
  }
  let py: Figures | undefined;
  let pools: Record<string, Figures> | undefined;
  if (COMPARE) {
    // One side after the other: at the same time they would share the two cores.
    const quick = QUICK ? ["--quick"] : [];
    const main = await python("experiments.py", quick);
    const prims = await python("primitives.py", quick);
    py = main === undefined && prims === undefined ? undefined : { ...main, ...prims };
    if (py === undefined) console.log("\n(python3 not found or failed: no Python figures)");
    pools = await measurePools({ quick: QUICK });
    printComparison(ours, py, pools);
  }
  const c = cpus();
  const run: Run = {
    runtime: runtimeName(),
    version: version(),
    quick: QUICK,
    date: new Date().toISOString(),
    machine: {
      cpus: c.length,
      model: c[0]?.model ?? "unknown",
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      os: `${platform()} ${arch()}`,
    },
    ours,
    python: py,
    pools,
    ratios: ratios(ours, py, pools),
  };
  printRatios(run.ratios);
  mkdirSync(RESULTS, { recursive: true });
  const json = resultFile(run.runtime, "json");
  const svg = resultFile(run.runtime, "svg");
  writeFileSync(json, JSON.stringify(run, null, 2) + "\n");
  writeFileSync(svg, chart(run));
  console.log(`\nwrote ${fileURLToPath(json)} and ${fileURLToPath(svg)}`);
  return run;
}

function printComparison(ours: Figures, py: Figures | undefined, pools: Record<string, Figures>) {
  console.log("\nside by side (same machine, same run)");
  const keys = Object.keys(ours).filter((k) => py?.[k] !== undefined);
  const show = (k: string, v: number | undefined) =>
    v === undefined ? "-" : k.endsWith("_ms") ? `${v.toFixed(1)} ms` : perSecond(v);
  console.log(
    columns(
      ["figure", "ours", "python", "ours/python"],
      keys.map((k) => [
        k,
        show(k, ours[k]),
        show(k, py![k]),
        k.endsWith("_ms") ? fixed(divide(py![k], ours[k])) : fixed(divide(ours[k], py![k])),
      ]),
    ),
  );
  console.log("\nJavaScript pools, 2 workers (single tasks; start to first result)");
  console.log(
    columns(
      ["pool", "tasks", "start"],
      [
        [
          "@mp/multiprocessing",
          perSecond(ours.apply_async_per_s),
          `${ours.pool_start_ms?.toFixed(1)} ms`,
        ],
        ...Object.entries(pools).map(([name, f]) => [
          name,
          perSecond(f.tasks_per_s),
          f.start_ms === undefined ? "-" : `${f.start_ms.toFixed(1)} ms`,
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
    const argv = rt === "deno" ? ["run", "-A", here, ...passOn] : [here, ...passOn];
    console.log(`\n======== ${rt} ========`);
    const child = spawnSync(bin(rt), argv, { stdio: "inherit" });
    if (child.status !== 0) {
      console.log(`(${rt} failed with status ${child.status})`);
      continue;
    }
    runs.push(JSON.parse(readFileSync(resultFile(rt, "json"), "utf8")) as Run);
  }
  console.log("\nratios on every runtime");
  const names = runs[0]?.ratios.map((r) => r.name) ?? [];
  console.log(
    columns(
      ["ratio", ...runs.map((r) => r.runtime), "target"],
      names.map((name) => {
        const cells = runs.map((run) => {
          const r = run.ratios.find((x) => x.name === name)!;
          const v = verdict(r);
          return `${fixed(r.value, r.unit)}${v === "" ? "" : ` ${v}`}`;
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
  if (args.includes("--runtimes")) runEverywhere();
  else await runHere();
}
