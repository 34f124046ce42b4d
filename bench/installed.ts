/**
 * How long `new Pool(2)` takes to its first result in each form the library is installed in,
 * on Node: from this checkout's TypeScript sources (Node strips the types as it loads them),
 * from JSR's npm layer and from the `npm pack` tarball (both compiled JavaScript). Each round
 * runs tests/consumer/program.mjs once in every form, in turn, so the forms share the
 * machine's state; the table gives the median and the spread (min–max) over the rounds.
 *
 * ```sh
 * node bench/installed.ts [rounds]      # default 15
 * ```
 *
 * @module
 */
import process from "node:process";
import {
  jsrProject,
  npmProject,
  parseReport,
  run,
  sourceProject,
} from "../tests/consumer/_projects.ts";

const rounds = Number(process.argv[2] ?? 15);
const forms: Array<[string, () => Promise<string>]> = [
  ["source (.ts, types stripped)", sourceProject],
  ["JSR's npm layer (.js)", jsrProject],
  ["npm tarball (.js)", npmProject],
];
const dirs = await Promise.all(forms.map(([, project]) => project()));
const firstResult: number[][] = forms.map(() => []);
const wall: number[][] = forms.map(() => []);
for (let round = 0; round < rounds + 1; round++) {
  for (let i = 0; i < forms.length; i++) {
    const outcome = await run(process.execPath, ["program.mjs", "tasks.mjs"], dirs[i]);
    if (outcome.code !== 0) throw new Error(`${forms[i][0]} failed:\n${outcome.stderr}`);
    if (round === 0) continue; // warm-up: disk caches
    const first = parseReport(outcome.stdout).get("first-result-ms") as { ms: number };
    firstResult[i].push(first.ms);
    wall[i].push(outcome.ms);
  }
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return `${median.toFixed(0)} ms (${sorted[0].toFixed(0)}–${sorted.at(-1)!.toFixed(0)})`;
}

console.log(`Node ${process.version}, ${rounds} rounds, forms interleaved in each round`);
console.log("form".padEnd(32) + "Pool(2) to first result".padEnd(28) + "whole program");
for (let i = 0; i < forms.length; i++) {
  console.log(forms[i][0].padEnd(32) + stats(firstResult[i]).padEnd(28) + stats(wall[i]));
}
