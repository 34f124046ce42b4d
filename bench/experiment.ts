/**
 * Runs one experiment of `bench/main.ts` in a program of its own and prints what it measured
 * as one line of JSON (an experiment's table and figures; the primitives' figures). The
 * harness runs every experiment so, in every round, as Python's side runs
 * `bench/python/experiments.py` once per experiment: a figure then does not depend on which
 * experiments ran before it in the same program. In one program, the later experiments ran in
 * a heap the earlier ones had grown (hundreds of MB of garbage on Bun), with the runtime's
 * background threads (its compiler, its collector) busy beside them on two cores; there the
 * full runs' `map` of 10⁶ short strings read 9.44× Python on Node and 6.49× on Deno, against
 * 11.90× and 12.89× for the same experiment run alone with `--only=overhead`.
 *
 * ```sh
 * node --expose-gc bench/experiment.ts --name=overhead --tier=quick
 * bun bench/experiment.ts --name=cpu --tier=default
 * deno run -A --v8-flags=--expose-gc bench/experiment.ts --name=primitives --tier=full
 * ```
 *
 * @module
 */
import process from "node:process";
import { setTimeout } from "node:timers";
import { flag } from "./_common.ts";
import { budgetOf, type Result } from "./_harness.ts";
import type { Tier } from "./_sizes.ts";

/** The experiments it runs, by the names `--only` takes. */
const EXPERIMENTS: Record<string, () => Promise<(tier: Tier) => Promise<unknown>>> = {
  cpu: async () => run((await import("./exp_cpu.ts")).cpu),
  processes: async () => run((await import("./exp_processes.ts")).processes),
  chunksize: async () => run((await import("./exp_chunksize.ts")).chunksize),
  pi: async () => run((await import("./exp_pi.ts")).pi),
  io: async () => run((await import("./exp_io.ts")).io),
  overhead: async () => run((await import("./exp_overhead.ts")).overhead),
  cluster: async () => run((await import("./cluster.ts")).cluster),
  primitives: async () => {
    const { measurePrimitives } = await import("./primitives.ts");
    return (tier) => measurePrimitives(tier !== "full");
  },
};

function run(
  experiment: (budget: ReturnType<typeof budgetOf>) => Promise<Result>,
): (tier: Tier) => Promise<Result> {
  return (tier) => experiment(budgetOf(tier));
}

const name = flag("name") ?? "";
const tier = (flag("tier") ?? "default") as Tier;
if (!(name in EXPERIMENTS) || !["quick", "default", "full"].includes(tier)) {
  console.error(
    `Cannot run the experiment as --name=${name} --tier=${tier} names none: the names are ${
      Object.keys(EXPERIMENTS).join(", ")
    }, the tiers quick, default and full`,
  );
  process.exit(2);
}
const measured = await (await EXPERIMENTS[name]())(tier);
console.log(JSON.stringify(measured));
// An experiment that failed half-way may have left workers behind: don't let them keep the
// program alive. Unreferenced, so that a clean run exits at once.
setTimeout(() => process.exit(), 5_000).unref();
