/**
 * Checks that the published figures reproduce: for each experiment behind a "vs" ratio (vs
 * Python, vs the best JavaScript pool) in `bench/results/<runtime>.json`, runs that experiment
 * alone (`--full --only=<experiment>`, in rounds as the full run does) and compares each ratio's
 * rounds with the full run's. A ratio reproduces when the two ranges of rounds overlap.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/reproduce.ts [--rounds=3]
 * bun bench/reproduce.ts
 * node --expose-gc bench/reproduce.ts
 * ```
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runtimeName } from "./_common.ts";
import { columns, runtimeArgs } from "./_harness.ts";
import type { Ratio, Run } from "./main.ts";

/** Which experiment gives each "vs" ratio (by the start of its name). */
const SOURCES: Array<[RegExp, string]> = [
  [/^applyAsync vs /, "overhead"],
  [/^map .* vs Python$/, "overhead"],
  [/^imap chunksize 1 vs Python$/, "overhead"],
  [/^Pool\(2\) start vs Python$/, "overhead"],
  [/^prepared Pool\(2\) start \/ Python's/, "overhead"],
  [/^chunksize 1 vs Python$/, "chunksize"],
  [/^\d+ processes vs Python$/, "processes"],
  [/^Manager\(\) dict calls vs Python$/, "managers"],
  [/^TCP BaseManager calls vs Python$/, "managers"],
  [/^Manager\(\) .* vs Python/, "managers"],
  [/^TCP \d+ calls in flight vs Python/, "managers"],
  [/^cluster /, "cluster"],
];

const rt = runtimeName();
const rounds = process.argv.find((a) => a.startsWith("--rounds="))?.slice(9) ?? "3";
const results = new URL("./results/", import.meta.url);
const full = JSON.parse(readFileSync(new URL(`${rt}.json`, results), "utf8")) as Run;
if (full.tier !== "full") {
  console.error(
    `Cannot check bench/results/${rt}.json as it is not from a full run (tier '${full.tier}'): run the bench with --full first`,
  );
  process.exit(2);
}
const wanted = new Map<string, Ratio[]>();
for (const ratio of full.ratios) {
  if (ratio.value === undefined) continue;
  const source = SOURCES.find(([pattern]) => pattern.test(ratio.name))?.[1];
  if (source === undefined) continue;
  wanted.set(source, [...(wanted.get(source) ?? []), ratio]);
}
const main = fileURLToPath(new URL("./main.ts", import.meta.url));
const argv = (only: string) => [
  ...runtimeArgs(rt),
  main,
  "--full",
  `--only=${only}`,
  `--rounds=${rounds}`,
];
const rows: string[][] = [];
let failed = 0;
for (const [experiment, ratios] of wanted) {
  console.log(`running ${experiment} alone (${rounds} rounds)…`);
  const child = spawnSync(process.execPath, argv(experiment), { stdio: "ignore" });
  if (child.status !== 0) {
    console.error(`(${experiment} failed with status ${child.status})`);
    failed += ratios.length;
    continue;
  }
  const alone = JSON.parse(
    readFileSync(new URL(`${rt}.full.json`, results), "utf8"),
  ) as Run;
  for (const ratio of ratios) {
    const again = alone.ratios.find((r) => r.name === ratio.name);
    const overlap = again?.lo !== undefined && again.hi !== undefined &&
      again.lo <= ratio.hi! && ratio.lo! <= again.hi;
    if (!overlap) failed++;
    const range = (r: Ratio | undefined) =>
      r?.value === undefined
        ? "-"
        : `${r.value.toFixed(2)}x (${r.lo!.toFixed(2)}–${r.hi!.toFixed(2)})`;
    rows.push([ratio.name, range(ratio), range(again), overlap ? "reproduced" : "NOT reproduced"]);
  }
}
console.log(`\n${rt}: each "vs" ratio of the full run, and the same experiment run alone`);
console.log(columns(["ratio", "full run", "alone", ""], rows));
process.exit(failed === 0 ? 0 : 1);
