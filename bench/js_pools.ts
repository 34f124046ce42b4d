/**
 * The JavaScript pools side of the bench: single-task throughput and start-up time of
 * piscina, tinypool, workerpool, poolifier and poolifier-web-worker, each with 2 workers, on
 * the current runtime, and the runtime's bare cost of starting two Workers.
 *
 * Each library runs the same tiny task (`x + 1`, from its worker file in
 * `bench/pool_workers/`) through its normal one-task API. A library that cannot load or run on
 * this runtime is skipped with a note on stderr, never failing the run.
 *
 * The libraries' worker files are plain JavaScript (`.mjs`), as their users ship them: on
 * Node, a `.ts` worker pays for type stripping in every new Worker (piscina's start to first
 * result: ~170 ms with a `.ts` worker, ~70 ms with `.mjs`), which would not be the library's
 * cost. Bun and Deno run both at the same speed.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { runtimeName } from "./_common.ts";

/** A started pool of one library, reduced to what the bench needs. */
interface BenchPool {
  run(x: number): Promise<number>;
  destroy(): Promise<void>;
}

/** Constructs a 2-worker pool (the library itself is already loaded). */
type PoolFactory = () => BenchPool;

/** Imports one library and returns how to construct its pool. */
type PoolLoader = () => Promise<PoolFactory>;

const WORKERS = 2;
const WARM_UP = 1_000;
/** A library that takes longer than this for one step is treated as broken here. */
const STEP_TIMEOUT_MS = 60_000;

function workerUrl(name: string): URL {
  return new URL(`./pool_workers/${name}`, import.meta.url);
}

function workerPath(name: string): string {
  return fileURLToPath(workerUrl(name));
}

const piscina: PoolLoader = async () => {
  const { Piscina } = await import("piscina");
  return () => {
    const pool = new Piscina<number, number>({
      filename: workerUrl("piscina_worker.mjs").href,
      minThreads: WORKERS,
      maxThreads: WORKERS,
    });
    return { run: (x) => pool.run(x), destroy: () => pool.destroy() };
  };
};

const tinypool: PoolLoader = async () => {
  const { Tinypool } = await import("tinypool");
  return () => {
    const pool = new Tinypool({
      filename: workerUrl("tinypool_worker.mjs").href,
      minThreads: WORKERS,
      maxThreads: WORKERS,
      // On Deno, with Atomics on, one task's result now and then never arrives (in most runs
      // within the first 1,000 tasks), hanging the batch; with message ports only, all arrive.
      ...(runtimeName() === "deno" && { useAtomics: false }),
    });
    return { run: (x) => pool.run(x) as Promise<number>, destroy: () => pool.destroy() };
  };
};

const workerpool: PoolLoader = async () => {
  const wp = (await import("workerpool")).default;
  return () => {
    // On Bun, a worker_threads worker also has the Web Worker globals, so workerpool's worker
    // side answers through them and the results never arrive: use Bun's Web Workers instead.
    const web = runtimeName() === "bun";
    const pool = wp.pool(
      web ? workerUrl("workerpool_worker.mjs").href : workerPath("workerpool_worker.mjs"),
      {
        minWorkers: WORKERS,
        maxWorkers: WORKERS,
        workerType: web ? "web" : "thread",
        workerOpts: web ? { type: "module" } : undefined,
      },
    );
    return {
      run: (x) => pool.exec("inc", [x]) as Promise<number>,
      destroy: async () => {
        await pool.terminate();
      },
    };
  };
};

const poolifier: PoolLoader = async () => {
  const { FixedThreadPool } = await import("poolifier");
  return () => {
    const pool = new FixedThreadPool<number, number>(WORKERS, workerPath("poolifier_worker.mjs"));
    return { run: (x) => pool.execute(x), destroy: () => pool.destroy() };
  };
};

const poolifierWebWorker: PoolLoader = async () => {
  const { FixedThreadPool } = await import("poolifier-web-worker");
  return () => {
    const pool = new FixedThreadPool<number, number>(
      WORKERS,
      workerUrl("poolifier_web_worker.mjs"),
    );
    return { run: (x) => pool.execute(x), destroy: () => pool.destroy() };
  };
};

/** The libraries to try on this runtime; a note says why one is left out. */
function loaders(): Record<string, PoolLoader> {
  switch (runtimeName()) {
    case "node":
      return {
        piscina,
        tinypool,
        workerpool,
        poolifier,
        // poolifier-web-worker: throws "Unsupported JavaScript runtime environment" on load.
      };
    case "bun":
    case "deno":
      return {
        piscina,
        tinypool,
        workerpool,
        poolifier,
        "poolifier-web-worker": poolifierWebWorker,
      };
  }
}

/** Rejects when `promise` takes longer than `ms`, so that a stuck library cannot hang the bench. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs `n` tasks at once and checks their results. */
async function runAll(pool: BenchPool, n: number): Promise<void> {
  const pending = new Array<Promise<number>>(n);
  for (let i = 0; i < n; i++) pending[i] = pool.run(i);
  const results = await within(Promise.all(pending), STEP_TIMEOUT_MS, `${n} tasks`);
  if (results[n - 1] !== n) {
    throw new Error(`Cannot trust the pool as task ${n - 1} returned ${results[n - 1]}`);
  }
}

/** Milliseconds from constructing a pool to the first result of one task, best of `runs`. */
async function startMs(make: PoolFactory, runs: number): Promise<number> {
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const pool = make();
    try {
      const result = await within(pool.run(1), STEP_TIMEOUT_MS, "the first task");
      best = Math.min(best, performance.now() - t0);
      if (result !== 2) throw new Error(`Cannot trust the pool as 1 + 1 returned ${result}`);
    } finally {
      await within(pool.destroy(), STEP_TIMEOUT_MS, "destroy()");
    }
  }
  return best;
}

/** Tasks per second with `n` tiny tasks submitted at once, best of `runs`, after a warm-up. */
async function tasksPerS(make: PoolFactory, n: number, runs: number): Promise<number> {
  const pool = make();
  try {
    await runAll(pool, WARM_UP);
    let best = Infinity;
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      await runAll(pool, n);
      best = Math.min(best, performance.now() - t0);
    }
    return n / (best / 1000);
  } finally {
    await within(pool.destroy(), STEP_TIMEOUT_MS, "destroy()");
  }
}

/**
 * Measures every JavaScript pool that works on this runtime, each with 2 workers.
 *
 * @param options `tasks` per throughput run, and `runs` of each (the best counts).
 * @returns Per pool name, `tasks_per_s` (single tasks submitted at once) and `start_ms`
 * (construction to the first result).
 */
export async function measurePools(
  options: { tasks: number; runs: number },
): Promise<Record<string, Record<string, number>>> {
  const { tasks: n, runs } = options;
  const figures: Record<string, Record<string, number>> = {};
  for (const [name, load] of Object.entries(loaders())) {
    try {
      const make = await load();
      const start_ms = await startMs(make, runs);
      const tasks_per_s = await tasksPerS(make, n, runs);
      figures[name] = { tasks_per_s, start_ms };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      console.error(`js_pools: skipped ${name} on ${runtimeName()}: ${message.split("\n")[0]}`);
    }
  }
  return figures;
}

/** Resolves once every one of `workers` has emitted `event`; rejects at the first error. */
function eachOf(workers: Worker[], event: "message" | "exit"): Promise<void[]> {
  return Promise.all(
    workers.map((w) =>
      new Promise<void>((resolve, reject) => {
        w.once(event, () => resolve());
        w.once("error", reject);
      })
    ),
  );
}

/**
 * The runtime's bare cost of starting two Workers (`node:worker_threads`) until each has sent
 * one message back, in milliseconds, best of `rounds` (default 3).
 *
 * @param options `typescript` (default `true`): the worker file is `.ts`, as the pool's own
 * worker is, so on Node the figure includes type stripping (~40 ms more than `.mjs` here);
 * `false` starts a plain `.mjs` worker. `imports`: each Worker instead imports these modules,
 * then answers one message sent as it is made, as a pool's worker takes its first task
 * (bench/pool_workers/answer_worker.mjs); `[]` answers with no import.
 */
export async function bareWorkerStart(
  options: { typescript?: boolean; rounds?: number; imports?: string[] } = {},
): Promise<number> {
  const { imports } = options;
  const name = imports !== undefined
    ? "answer_worker.mjs"
    : options.typescript === false
    ? "bare_worker.mjs"
    : "bare_worker.ts";
  const url = workerUrl(name);
  let best = Infinity;
  for (let r = 0; r < (options.rounds ?? 3); r++) {
    const t0 = performance.now();
    const workers = [0, 1].map(() => {
      const worker = new Worker(url, { workerData: imports });
      if (imports !== undefined) worker.postMessage(1);
      return worker;
    });
    await eachOf(workers, "message");
    best = Math.min(best, performance.now() - t0);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return best;
}

/**
 * The floor of one process per task past the bare Workers: `n` Workers started at once, each
 * importing `imports` (a Process's worker's modules), then answering the one message it is
 * sent as it is made (its process) and ending, until every one has exited.
 */
export async function answerWorkersRun(n: number, imports: string[]): Promise<void> {
  const url = workerUrl("answer_worker.mjs");
  const workers = Array.from({ length: n }, () => {
    const worker = new Worker(url, { workerData: imports });
    worker.postMessage(1);
    return worker;
  });
  await eachOf(workers, "exit");
}

/**
 * The runtime's floor for one process per task: `n` Workers of a plain `.mjs` module started
 * at once, each running to its end (it posts one message and returns), until every one has
 * exited.
 */
export async function bareWorkersRun(n: number): Promise<void> {
  const url = workerUrl("bare_worker.mjs");
  const workers = Array.from({ length: n }, () => new Worker(url));
  await eachOf(workers, "exit");
}
