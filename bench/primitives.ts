/**
 * The primitives experiment: how fast a `Queue` carries small messages (worker → main and
 * worker → worker), how many uncontended `Lock` acquire + release pairs a worker runs (beside
 * their floor: two atomic writes and an `await` in a worker, with no Lock), how many additions
 * two workers make to a `Value` under its lock, and how many round trips a
 * `Pipe` makes to a worker, each the best of five runs; beside Python's `multiprocessing` doing the same
 * (`bench/python/primitives.py`, run with `python3` when it is there), in the same run.
 *
 * Run it with any of (`--quick` takes a few seconds):
 *
 * ```sh
 * deno run -A bench/primitives.ts [--quick]
 * bun bench/primitives.ts [--quick]
 * node bench/primitives.ts [--quick]
 * ```
 *
 * @module
 */
import { type Figures, python, runtimeName } from "./_common.ts";
import process from "node:process";
import { Lock, Pipe, Pool, Queue, Value } from "./_lib.ts";
import type { Connection } from "./_lib.ts";

let QUICK = process.argv.includes("--quick");
let N_QUEUE = 0;
let N_LOCK = 0;
let N_VALUE = 0;
let N_PIPE = 0;
// Each experiment runs REPEATS times and keeps its best rate, as Python's `timeit` advises:
// the slower runs measure what else the machine was doing (on a shared 2-core VM, rates of
// one loop vary by up to half from run to run). Python's script does the same.
let REPEATS = 0;

function sizes(quick: boolean): void {
  QUICK = quick;
  N_QUEUE = quick ? 200_000 : 1_000_000;
  N_LOCK = quick ? 2_000_000 : 5_000_000;
  N_VALUE = quick ? 200_000 : 1_000_000;
  N_PIPE = quick ? 10_000 : 50_000;
  REPEATS = quick ? 1 : 5;
}

async function best(run: () => Promise<number>): Promise<number> {
  let rate = 0;
  for (let i = 0; i < REPEATS; i++) rate = Math.max(rate, await run());
  return rate;
}

/** Worker → main: the worker puts, the main thread gets. */
async function queueToMain(pool: Pool): Promise<number> {
  const q = new Queue<number>();
  const producing = pool.apply(async (q: Queue<number>, n: number) => {
    for (let i = 0; i < n; i++) await q.put(i);
  }, [q, N_QUEUE]);
  await q.get();
  const t = performance.now();
  for (let i = 1; i < N_QUEUE; i++) await q.get();
  const rate = (N_QUEUE - 1) / ((performance.now() - t) / 1000);
  await producing;
  return rate;
}

/** Worker → worker: one task puts, the other gets, and times it. */
async function queueToWorker(pool: Pool): Promise<number> {
  const q = new Queue<number>();
  const [, rate] = await Promise.all([
    pool.apply(async (q: Queue<number>, n: number) => {
      for (let i = 0; i < n; i++) await q.put(i);
      return 0;
    }, [q, N_QUEUE]),
    pool.apply(async (q: Queue<number>, n: number) => {
      await q.get();
      const start = performance.now();
      for (let i = 1; i < n; i++) await q.get();
      return (n - 1) / ((performance.now() - start) / 1000);
    }, [q, N_QUEUE]),
  ]);
  return rate;
}

/** Uncontended Lock pairs, inside a worker. */
function lockPairs(pool: Pool): Promise<number> {
  return pool.apply(async (lock: Lock, n: number) => {
    for (let i = 0; i < 10_000; i++) {
      await lock.acquire();
      lock.release();
    }
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      await lock.acquire();
      lock.release();
    }
    return n / ((performance.now() - start) / 1000);
  }, [new Lock(), N_LOCK]);
}

/**
 * The least an awaited lock's pair does, inside a worker, with no Lock: an atomic write to
 * take it, a turn of the microtask queue for the `await`, an atomic write to give it back.
 */
function lockFloor(pool: Pool): Promise<number> {
  return pool.apply((word: Int32Array, n: number) => {
    const run = async (count: number) => {
      for (let i = 0; i < count; i++) {
        Atomics.compareExchange(word, 0, 0, 1);
        await undefined;
        Atomics.store(word, 0, 0);
      }
    };
    return run(10_000).then(() => {
      const start = performance.now();
      return run(n).then(() => n / ((performance.now() - start) / 1000));
    });
  }, [new Int32Array(new SharedArrayBuffer(4)), N_LOCK]);
}

/** Two workers adding 1 to a Value under its lock, started together. */
async function valueAdditions(pool: Pool): Promise<number> {
  const v = Value("i", 0);
  const go = new Int32Array(new SharedArrayBuffer(4));
  const adders = [0, 1].map(() =>
    pool.apply(async (value: typeof v, flag: Int32Array, n: number) => {
      while (Atomics.load(flag, 0) === 0) await new Promise((r) => setTimeout(r, 0));
      const lock = value.getLock();
      for (let i = 0; i < n; i++) {
        await lock.acquire();
        value.value += 1;
        lock.release();
      }
    }, [v, go, N_VALUE])
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  const t = performance.now();
  Atomics.store(go, 0, 1);
  await Promise.all(adders);
  const rate = (2 * N_VALUE) / ((performance.now() - t) / 1000);
  if (v.value !== 2 * N_VALUE) throw new Error(`lost updates under the lock: ${v.value}`);
  return rate;
}

/** Pipe round trips: the main thread sends, a worker echoes. */
async function pipeRoundTrips(pool: Pool): Promise<number> {
  const [here, there] = Pipe();
  const echoing = pool.apply(async (conn: Connection, n: number) => {
    for (let i = 0; i < n; i++) conn.send(await conn.recv());
  }, [there, N_PIPE]);
  const t = performance.now();
  for (let i = 0; i < N_PIPE; i++) {
    here.send(i);
    await here.recv();
  }
  const rate = N_PIPE / ((performance.now() - t) / 1000);
  await echoing;
  return rate;
}

/**
 * Runs the primitives experiments on this runtime.
 *
 * @param quick Smaller sizes and one run each, for a smoke test.
 * @returns Operations a second, by experiment.
 */
export async function measurePrimitives(quick: boolean): Promise<Figures> {
  sizes(quick);
  await using pool = new Pool(2);
  return {
    queue_worker_to_main: await best(() => queueToMain(pool)),
    queue_worker_to_worker: await best(() => queueToWorker(pool)),
    lock_pairs: await best(() => lockPairs(pool)),
    floor_lock_pairs: await best(() => lockFloor(pool)),
    value_additions: await best(() => valueAdditions(pool)),
    pipe_round_trips: await best(() => pipeRoundTrips(pool)),
  };
}

/** Targets of the process/queue/lock issue, in operations per second. */
export const PRIMITIVE_TARGETS: Figures = {
  queue_worker_to_main: 1e6,
  queue_worker_to_worker: 1e6,
  lock_pairs: 20e6,
  value_additions: 5e6,
};

if (import.meta.main) {
  const rt = runtimeName();
  // One after the other: at the same time they would share the cores and slow each other.
  const ours = await measurePrimitives(QUICK);
  const theirs = await python("primitives.py", QUICK ? ["--quick"] : []);
  const fmt = (n: number | undefined) =>
    n === undefined ? "-" : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M/s` : `${(n / 1e3).toFixed(0)}k/s`;
  console.log(`primitives on ${rt}${QUICK ? " (--quick)" : ""}, beside Python's multiprocessing`);
  console.log(
    `${"experiment".padEnd(26)}${"ours".padStart(11)}${"python".padStart(11)}${
      "ratio".padStart(9)
    }${"target".padStart(10)}  verdict`,
  );
  for (const [name, value] of Object.entries(ours)) {
    const py = theirs?.[name];
    const target = PRIMITIVE_TARGETS[name];
    const ratio = py === undefined ? "-" : `${(value / py).toFixed(1)}x`;
    const verdict = target === undefined ? "" : value >= target ? "met" : "missed";
    console.log(
      `${name.padEnd(26)}${fmt(value).padStart(11)}${fmt(py).padStart(11)}${ratio.padStart(9)}${
        fmt(target).padStart(10)
      }  ${verdict}`,
    );
  }
}
