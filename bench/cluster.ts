/**
 * The cluster experiment (issue 13): the cluster `Pool` against a real `redis-server` on this
 * machine and 2 worker programs of this runtime, each with a local pool of 2.
 *
 * - Tasks a second: `applyAsync` of a tiny task, one task a chunk, against BullMQ (the
 *   JavaScript ecosystem's standard Redis job queue) running the same task with the same
 *   workers: 2 worker processes of concurrency 2, the caller adding the jobs in bulk and
 *   taking each result from `QueueEvents`, as `job.waitUntilFinished()` does. Where BullMQ
 *   does not run on this runtime, its row says why.
 * - `map` of `sizes.map` numbers (10⁶ in a full run) through the cluster, beside Python's local
 *   `Pool(2).map` of the same numbers (`map_items_per_s` of `bench/python/experiments.py`).
 *
 * `bench/main.ts --only=cluster` runs it in rounds with Python; without `--only`, it runs when
 * `redis-server` is installed. On its own (`deno run -A bench/cluster.ts [--quick]`) it prints
 * one round's table.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Pool } from "../cluster.ts";
import { currentRuntime, startRedis, startWorker, type WorkerProcess } from "../tests/_redis.ts";
import { type Budget, budgetOf, rate, report, type Result, type Row, time } from "./_harness.ts";
import { count } from "./_sizes.ts";

/** Programs and concurrency on both sides. */
const PROGRAMS = 2;
const CONCURRENCY = 2;
/**
 * The cluster pool's slots: the worker programs times two, as its `processes` option advises
 * (two chunks each on the broker). Measured here against 8 slots, in alternating rounds: the
 * map of 10⁶ took 7-14 % less time, and 10,000 tasks 19 % less.
 */
const SLOTS = PROGRAMS * 2;
const QUEUE = "mp-bench";
/** The longest one BullMQ run may take (a run of 10,000 jobs takes about 1.5 s). */
const BULL_RUN_LIMIT_MS = 60_000;
/**
 * How long a run may go without a completion event before the queue is asked whether any job is
 * left; when none is, the events were lost and the run is timed again (LostEvents).
 */
const BULL_QUIET_MS = 1000;
/** How many times the BullMQ row is timed again after lost completion events. */
const BULL_ATTEMPTS = 3;

/**
 * BullMQ's QueueEvents did not report every completion of a run although no job was left in its
 * queue: on Deno, in 11 of 77 rounds of the default tier's 3,333 jobs (1 to 68 completions never
 * came, not even late; none in 12 rounds of the full tier's 10,000), and before this check each
 * such round waited out BULL_RUN_LIMIT_MS. Such a run is not a measurement: the row is timed
 * again.
 */
class LostEvents extends Error {}

/** Python's figures the ratios use (bench/python/experiments.py). */
export const CLUSTER_PYTHON: string[] = ["map_items_per_s"];

/** Whether `redis-server` is installed: without it, a default run leaves the experiment out. */
export function haveRedisServer(): boolean {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

/** The ratios of the experiment, in `bench/main.ts`'s terms. */
export function clusterRatios(sizes: { map: number }): Array<{
  name: string;
  of: (o: Record<string, number>, py: Record<string, number> | undefined) => number | undefined;
  target: number;
}> {
  const divide = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? undefined : a / b;
  return [
    {
      name: "cluster tasks vs BullMQ",
      of: (o) => divide(o.cluster_tasks_per_s, o.bullmq_tasks_per_s),
      target: 3,
    },
    {
      name: `cluster map ${count(sizes.map)} vs Python local`,
      of: (o, py) => divide(o.cluster_map_items_per_s, py?.map_items_per_s),
      target: 1,
    },
  ];
}

/** BullMQ's side: 2 worker processes, a queue, and the caller's QueueEvents; runs of `jobs`. */
interface BullSide {
  run(n: number): Promise<void>;
  close(): Promise<void>;
}

async function startBull(port: number, jobs: number): Promise<BullSide> {
  const { Queue, QueueEvents } = await import("bullmq");
  const connection = { host: "127.0.0.1", port };
  const here = fileURLToPath(import.meta.url);
  const runtime = currentRuntime();
  const bin = fileURLToPath(new URL(`../node_modules/.bin/${runtime}`, import.meta.url));
  const workers: ChildProcess[] = [];
  try {
    for (let i = 0; i < PROGRAMS; i++) {
      const args = runtime === "deno" ? ["run", "-A", here] : [here];
      const child = spawn(bin, [...args, "--bullmq-worker", String(port)], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      workers.push(child);
    }
    // Side by side, as the cluster's worker programs start.
    await Promise.all(workers.map((child) =>
      new Promise<void>((resolve, reject) => {
        let out = "";
        child.stdout!.on("data", (chunk) => {
          out += chunk;
          if (out.includes("ready")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`the BullMQ worker exited with ${code}`)));
      })
    ));
    // The caller counts completions from the queue's events stream, which Redis trims to
    // `maxLen` entries (BullMQ's default: 10,000), and a run adds about four events per job
    // (added, waiting, active, completed): a reader that falls behind by more than `maxLen`
    // loses completions (on Node, with a `maxLen` of 500, 3,099 of 3,333 came).
    const queue = new Queue(QUEUE, {
      connection,
      streams: { events: { maxLen: Math.max(10_000, 10 * jobs) } },
    });
    const events = new QueueEvents(QUEUE, { connection });
    await events.waitUntilReady();
    let waiting: { left: number; resolve: () => void; last: number } | undefined;
    // Job ids count up from 1 in a queue: a run counts only its own jobs' completions, not one of
    // an earlier run's that came late.
    let before = 0;
    events.on("completed", ({ jobId }) => {
      if (waiting === undefined || Number(jobId) <= before) return;
      waiting.last = performance.now();
      if (--waiting.left === 0) waiting.resolve();
    });
    return {
      async run(n: number) {
        const done = new Promise<void>((resolve) => (waiting = { left: n, resolve, last: 0 }));
        const jobs = Array.from({ length: n }, (_, i) => ({
          name: "inc",
          data: i,
          opts: { removeOnComplete: true },
        }));
        // Bounded: a run whose completion events stop coming ends, as LostEvents when its queue
        // is empty, else after BULL_RUN_LIMIT_MS.
        let last = before;
        let timer: ReturnType<typeof setTimeout> | undefined;
        let watch: ReturnType<typeof setInterval> | undefined;
        const late = new Promise<never>((_, reject) => {
          const started = performance.now();
          watch = setInterval(async () => {
            const w = waiting;
            if (w === undefined || performance.now() - Math.max(started, w.last) < BULL_QUIET_MS) {
              return;
            }
            // A broker that stopped answering must not throw out of a timer: the run's own
            // bound (BULL_RUN_LIMIT_MS) still ends it.
            const counts = await queue
              .getJobCounts("waiting", "active", "delayed", "prioritized")
              .catch(() => undefined);
            if (counts === undefined) return;
            const left = Object.values(counts).reduce((a, b) => a + b, 0);
            if (left === 0 && waiting === w && w.left > 0) {
              reject(
                new LostEvents(
                  `BullMQ's QueueEvents reported ${
                    n - w.left
                  } of ${n} completions, and no job is left in its queue`,
                ),
              );
            }
          }, BULL_QUIET_MS / 4);
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `BullMQ reported ${n - waiting!.left} of ${n} jobs completed within ${
                    BULL_RUN_LIMIT_MS / 1000
                  } s`,
                ),
              ),
            BULL_RUN_LIMIT_MS,
          );
        });
        try {
          for (let i = 0; i < n; i += 1000) {
            for (const job of await queue.addBulk(jobs.slice(i, i + 1000))) {
              last = Math.max(last, Number(job.id));
            }
          }
          await Promise.race([done, late]);
        } finally {
          clearTimeout(timer);
          clearInterval(watch);
          waiting = undefined;
          before = last;
        }
      },
      async close() {
        await events.close();
        await queue.obliterate({ force: true });
        await queue.close();
        // Their exit is awaited: a worker program still closing would run into the next
        // experiment's timing.
        await Promise.all(workers.map((w) => {
          if (w.exitCode !== null || w.signalCode !== null) return;
          const exited = new Promise((resolve) => w.once("exit", resolve));
          w.kill("SIGTERM");
          const timer = setTimeout(() => w.kill("SIGKILL"), 5000);
          return exited.finally(() => clearTimeout(timer));
        }));
      },
    };
  } catch (error) {
    for (const w of workers) w.kill("SIGKILL");
    throw error;
  }
}

/** A BullMQ worker program: the same tiny task, concurrency 2, until SIGTERM. */
async function bullWorker(port: number): Promise<void> {
  const { Worker } = await import("bullmq");
  const worker = new Worker(QUEUE, (job) => Promise.resolve((job.data as number) + 1), {
    connection: { host: "127.0.0.1", port, maxRetriesPerRequest: null },
    concurrency: CONCURRENCY,
  });
  await worker.waitUntilReady();
  console.log("ready");
  process.on("SIGTERM", () => {
    worker.close().then(() => process.exit(0));
  });
}

function failedRow(name: string, reason: string): Row {
  console.log(`(${name}: ${reason})`);
  return { name: `${name}: ${reason}`, avg: NaN, min: NaN, max: NaN, samples: 0, items: 0 };
}

/** Runs the experiment once: its rows, and the figures the ratios use. */
export async function cluster(budget: Budget): Promise<Result> {
  const sizes = budget.sizes;
  const tasks = Math.max(1000, Math.round(sizes.poolTasks / 3));
  const redis = await startRedis();
  const workers: WorkerProcess[] = [];
  const rows: Row[] = [];
  const figures: Record<string, number> = {};
  try {
    // Started side by side (not timed): one after the other took 0.75 s each on Deno.
    const started = await Promise.allSettled(
      Array.from({ length: PROGRAMS }, () => startWorker(redis.url, { processes: CONCURRENCY })),
    );
    for (const s of started) if (s.status === "fulfilled") workers.push(s.value);
    for (const s of started) if (s.status === "rejected") throw s.reason;
    {
      await using pool = new Pool({ broker: redis.url, processes: SLOTS });
      const inc = (x: number) => x + 1;
      const row = await time(
        `cluster applyAsync ×${count(tasks)} (${PROGRAMS} programs × ${CONCURRENCY})`,
        () => Promise.all(Array.from({ length: tasks }, (_, i) => pool.apply(inc, [i]))),
        budget,
        tasks,
      );
      rows.push(row);
      figures.cluster_tasks_per_s = rate(row);
      // The list is made once, as for the local map (exp_overhead.ts).
      const xs = Array.from({ length: sizes.map }, (_, i) => i);
      const map = await time(
        `cluster map ${count(sizes.map)}`,
        () => pool.map(inc, xs),
        budget,
        sizes.map,
      );
      rows.push(map);
      figures.cluster_map_items_per_s = rate(map);
    }
    // BullMQ after the cluster's workers are gone: each side has the machine to itself.
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    let bull: BullSide | undefined;
    try {
      bull = await startBull(redis.port, tasks);
    } catch (error) {
      rows.push(failedRow("BullMQ", `does not run on ${currentRuntime()}: ${message(error)}`));
    }
    if (bull !== undefined) {
      const side = bull;
      try {
        for (let attempt = 1;; attempt++) {
          try {
            const row = await time(
              `BullMQ jobs ×${count(tasks)} (${PROGRAMS} workers × concurrency ${CONCURRENCY})`,
              () => side.run(tasks),
              budget,
              tasks,
            );
            rows.push(row);
            figures.bullmq_tasks_per_s = rate(row);
            break;
          } catch (error) {
            if (!(error instanceof LostEvents) || attempt === BULL_ATTEMPTS) throw error;
            console.error(`(${message(error)}: BullMQ's row is timed again)`);
          }
        }
      } catch (error) {
        rows.push(failedRow("BullMQ", `failed on ${currentRuntime()}: ${message(error)}`));
      } finally {
        await bull.close().catch(() => {});
      }
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await redis.stop();
  }
  return {
    title: `cluster: ${PROGRAMS} worker programs × ${CONCURRENCY} on this machine, redis-server`,
    rows,
    figures,
    comparable: false,
  };
}

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}

if (import.meta.main) {
  const at = process.argv.indexOf("--bullmq-worker");
  if (at >= 0) await bullWorker(Number(process.argv[at + 1]));
  else {
    const result = await cluster(budgetOf(process.argv.includes("--quick") ? "quick" : "default"));
    report(result);
    console.log(result.figures);
  }
}
