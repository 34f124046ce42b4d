/**
 * The cluster Pool's fault table (issue 13): runs each fault `--trials=N` times (default 3)
 * against a real `redis-server` and worker programs of this runtime, as the fault tests do
 * (`tests/cluster_faults_test.ts`, whose helpers it uses), and prints, per fault, in how many
 * trials every result arrived exactly once and in order (or, for `terminate()`, the pool
 * ended cleanly).
 *
 * ```sh
 * deno run -A bench/cluster_faults.ts [--trials=3]
 * node bench/cluster_faults.ts [--trials=3]
 * ```
 *
 * @module
 */
import process from "node:process";
import { createClient } from "@redis/client";
import { fromModule, Pool } from "../cluster.ts";
import {
  currentRuntime,
  haveRedis,
  type RedisServer,
  startRedis,
  startWorker,
  type WorkerProcess,
} from "../tests/_redis.ts";
import { columns } from "./_harness.ts";

const TASKS = new URL("../tests/fixtures/cluster_tasks.ts", import.meta.url).href;
const pause = fromModule<(x: number) => Promise<number>>(TASKS, "pause");
const lag = fromModule<(x: number) => Promise<number>>(TASKS, "lag");
const crash = fromModule<() => never>(TASKS, "crash");
const VISIBILITY = 3000;
const TRIAL_MS = 120_000;

/** A trial's verdict: right or not, and why not. */
type Outcome = { ok: true } | { ok: false; why: string };

const right: Outcome = { ok: true };

/** Whether `out` is exactly `0, 1, …, n - 1`: every result, once, in order. */
function inOrder(out: number[], n: number): Outcome {
  if (out.length !== n) return { ok: false, why: `${out.length} results of ${n}` };
  for (let i = 0; i < n; i++) {
    if (out[i] !== i) return { ok: false, why: `result ${i} is ${out[i]}` };
  }
  return right;
}

async function keys(url: string, pattern: string): Promise<string[]> {
  const client = await createClient({ url }).connect();
  try {
    return await client.keys(pattern);
  } finally {
    client.destroy();
  }
}

/** Runs `fn` with a redis-server and stops both it and the workers `fn` registers. */
async function withBroker(
  fn: (redis: { current: RedisServer }, workers: WorkerProcess[]) => Promise<Outcome>,
  appendonly = false,
): Promise<Outcome> {
  const redis = { current: await startRedis({ appendonly }) };
  const workers: WorkerProcess[] = [];
  try {
    return await fn(redis, workers);
  } finally {
    await Promise.all(workers.map((w) => w.stop("SIGKILL")));
    await redis.current.stop();
  }
}

const FAULTS: Record<string, () => Promise<Outcome>> = {
  "worker SIGKILL mid-map, another joins": () =>
    withBroker(async ({ current: redis }, workers) => {
      workers.push(await startWorker(redis.url));
      await using pool = new Pool({
        broker: redis.url,
        processes: 2,
        visibilityTimeout: VISIBILITY,
      });
      const n = 20_000;
      const out: number[] = [];
      for await (const x of pool.imap(lag, Array.from({ length: n }, (_, i) => i), 500)) {
        out.push(x);
        if (out.length === 2000) {
          await workers[0].stop("SIGKILL");
          workers.push(await startWorker(redis.url));
        }
      }
      return inOrder(out, n);
    }),
  "late join (no worker at the start)": () =>
    withBroker(async ({ current: redis }, workers) => {
      await using pool = new Pool({ broker: redis.url, processes: 4 });
      const n = 20_000;
      const result = pool.map(lag, Array.from({ length: n }, (_, i) => i), 500);
      await new Promise((r) => setTimeout(r, 1000));
      workers.push(await startWorker(redis.url));
      const first = await Promise.race([
        result,
        new Promise<"late">((r) => setTimeout(() => r("late"), 2000)),
      ]);
      workers.push(await startWorker(redis.url));
      return inOrder(first === "late" ? await result : first, n);
    }),
  "poison task (kills its worker)": () =>
    withBroker(async ({ current: redis }, workers) => {
      workers.push(await startWorker(redis.url));
      let settled = false;
      let deaths = 0;
      // A supervisor, as systemd would be: each worker the task kills is replaced.
      const supervise = (async () => {
        while (!settled) {
          const last = workers[workers.length - 1];
          const ended = await Promise.race([
            last.exited.then(() => true),
            new Promise<false>((r) => setTimeout(() => r(false), 200)),
          ]);
          if (ended && !settled) {
            deaths++;
            workers.push(await startWorker(redis.url));
          }
        }
      })();
      try {
        await using pool = new Pool({
          broker: redis.url,
          visibilityTimeout: VISIBILITY,
          maxDeliveries: 2,
        });
        const poison = await pool.apply(crash, []).then(
          () => "resolved",
          (e: Error) => e.message,
        );
        if (!/maxDeliveries \(2\)/.test(poison)) return { ok: false, why: poison.slice(0, 80) };
        if (deaths !== 2) return { ok: false, why: `${deaths} workers died, not 2` };
        const n = 1000;
        return inOrder(await pool.map((x: number) => x, Array.from({ length: n }, (_, i) => i)), n);
      } finally {
        settled = true;
        await supervise;
      }
    }),
  "terminate() mid-map": () =>
    withBroker(async ({ current: redis }, workers) => {
      workers.push(await startWorker(redis.url));
      const pool = new Pool({ broker: redis.url, processes: 2 });
      const n = 400;
      const results = pool.imap(pause, Array.from({ length: n }, (_, i) => i), 10);
      const out: number[] = [];
      const first = await results.next();
      if (first.done) return { ok: false, why: "no result" };
      out.push(first.value);
      await pool.terminate();
      let error = "";
      try {
        for (let step = await results.next(); !step.done; step = await results.next()) {
          out.push(step.value);
        }
      } catch (e) {
        error = (e as Error).message;
      }
      if (!/terminated/.test(error)) return { ok: false, why: `ended with '${error}'` };
      if (out.length >= n) return { ok: false, why: "every result arrived" };
      const prefix = inOrder(out, out.length);
      if (!prefix.ok) return prefix;
      const left = await keys(redis.url, "mp:*");
      if (left.length > 0) return { ok: false, why: `keys left: ${left.join(", ")}` };
      await using next = new Pool({ broker: redis.url });
      return inOrder(await next.map((x: number) => x, [0, 1, 2]), 3);
    }),
  "two pools on one broker": () =>
    withBroker(async ({ current: redis }, workers) => {
      workers.push(await startWorker(redis.url));
      await using a = new Pool({ broker: redis.url, processes: 2 });
      await using b = new Pool({ broker: redis.url, processes: 2 });
      const n = 20_000;
      const items = Array.from({ length: n }, (_, i) => i);
      const [ra, rb] = await Promise.all([
        a.map((x: number) => x, items),
        b.map((x: number) => x - 1, items),
      ]);
      const first = inOrder(ra, n);
      return first.ok ? inOrder(rb.map((x) => x + 1), n) : first;
    }),
  "broker restart (append-only file on)": () =>
    withBroker(async (redis, workers) => {
      workers.push(await startWorker(redis.current.url));
      await using pool = new Pool({
        broker: redis.current.url,
        processes: 2,
        visibilityTimeout: VISIBILITY,
      });
      const n = 300;
      const out: number[] = [];
      for await (const x of pool.imap(pause, Array.from({ length: n }, (_, i) => i), 10)) {
        out.push(x);
        if (out.length === 30) {
          const { dir, port } = redis.current;
          await redis.current.kill();
          redis.current = await startRedis({ appendonly: true, dir, port });
        }
      }
      return inOrder(out, n);
    }, true),
};

/** Runs a trial with a time limit: one that hangs is a failed trial, not a hung table. */
async function trial(fn: () => Promise<Outcome>): Promise<Outcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      fn().catch((e: unknown): Outcome => ({
        ok: false,
        why: (e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 100),
      })),
      new Promise<Outcome>((r) => {
        timer = setTimeout(() => r({ ok: false, why: `no answer in ${TRIAL_MS} ms` }), TRIAL_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

if (import.meta.main) {
  if (!haveRedis()) {
    console.error("Cannot run the fault table as redis-server is not installed");
    process.exit(2);
  }
  const trials = Number(
    process.argv.find((a) => a.startsWith("--trials="))?.slice("--trials=".length) ?? 3,
  );
  const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  const rows: string[][] = [];
  for (const [name, fn] of Object.entries(FAULTS)) {
    if (only !== undefined && !name.includes(only)) continue;
    let good = 0;
    const whys: string[] = [];
    const started = performance.now();
    for (let t = 0; t < trials; t++) {
      const outcome = await trial(fn);
      if (outcome.ok) good++;
      else whys.push(outcome.why);
      console.error(`${name}: trial ${t + 1}: ${outcome.ok ? "right" : outcome.why}`);
    }
    rows.push([
      name,
      String(trials),
      String(good),
      `${((performance.now() - started) / 1000 / trials).toFixed(1)} s`,
      [...new Set(whys)].join("; "),
    ]);
  }
  console.log(
    `\ncluster Pool under faults: ${currentRuntime()} worker programs, redis-server, ${trials} trials each`,
  );
  console.log(
    columns(["fault", "trials", "complete and once", "per trial", "failures"], rows),
  );
  process.exit(0);
}
