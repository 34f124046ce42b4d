/**
 * The managers experiment: how many proxy calls a second a `dict` takes (a set and a get
 * count as two), through `Manager()` (its server in a worker of this program, reached over
 * shared memory) and through a `BaseManager` whose server another thread serves on TCP
 * (reached by `connect()`, which always goes over TCP); beside Python's `multiprocessing`
 * doing the same (`bench/python/managers.py`, run with `python3` when it is there), each the
 * best of five runs after {@linkcode WARM_UP_MS} of the same calls untimed. Each is measured
 * twice: one call at a time (`await` each, as Python's proxies are used), and
 * {@linkcode CONCURRENT} calls in flight on the one connection
 * (`Promise.all`; the `_concurrent` figures, which Python's single-threaded proxy cannot
 * make, so their ratios are against Python's sequential calls). Beside them, the floors of
 * `bench/floors_managers.ts`: round trips a second between two threads with nothing of ours
 * in between, which no sequential call can beat.
 *
 * Run it with any of (`--quick` takes a few seconds; `--json --n=N --repeats=R
 * --warm-up-ms=W` prints our figures alone as JSON, as `bench/main.ts` runs it in each round):
 *
 * ```sh
 * deno run -A bench/managers.ts [--quick]
 * bun bench/managers.ts [--quick]
 * node bench/managers.ts [--quick]
 * ```
 *
 * @module
 */
import { collectGarbage, type Figures, flag, python, runtimeName } from "./_common.ts";
import process from "node:process";
import { BaseManager, fromModule, Manager } from "./_lib.ts";
import { measureFloors } from "./floors_managers.ts";

const QUICK = process.argv.includes("--quick");
let N = QUICK ? 2_000 : 20_000;
let REPEATS = QUICK ? 1 : 5;

/** What the TCP manager serves: a key-value store, as Python's `dict` behind a DictProxy. */
export class Store {
  #entries = new Map<string, unknown>();

  /** Sets a key. */
  set(key: string, value: unknown): void {
    this.#entries.set(key, value);
  }

  /** Reads a key. */
  get(key: string): unknown {
    return this.#entries.get(key);
  }
}

let store: Store | undefined;

/** The one store of the server. */
export function getStore(): Store {
  return store ??= new Store();
}

/** The proxy's side of the experiment: what both managers' proxies offer. */
interface SetGet {
  set(key: string, value: number): Promise<unknown>;
  get(key: string): Promise<unknown>;
}

/** How many set+get pairs the concurrent figures keep in flight at once. */
export const CONCURRENT = 16;

/**
 * How long each figure's calls run untimed first, unless told otherwise: a figure is of the
 * calls once both threads' JIT has settled (the caller's and the server's, a new worker for
 * each manager), as mitata's are. Bun's takes longest: runs of 20,000 pairs right after half a
 * second of calls read 65k, 107k, 172k and 231k calls/s, and 200-230k from then on (measured).
 * Python's side warms up as long (bench/python/managers.py).
 */
export const WARM_UP_MS = 2_000;
let warmUpMs = QUICK ? 500 : WARM_UP_MS;

async function warmUp(step: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  while (performance.now() - start < warmUpMs) await step();
}

/**
 * How many set+get pairs one step of the warm-up makes: the warm-up runs the timed run's own
 * code, in short runs, so that the timed run starts in code the JIT has compiled (warming up
 * on a loop of its own left the timed loop cold: on Bun, the first timed run read 167-202k
 * calls/s right after warm-up windows of 281-364k).
 */
const WARM_UP_PAIRS = 64;

/** Makes `n` set+get pairs, one call at a time; returns how many calls it made. */
async function oneAtATime(d: SetGet, n: number): Promise<number> {
  for (let i = 0; i < n; i++) {
    await d.set("k", i);
    await d.get("k");
  }
  return 2 * n;
}

/**
 * Makes `n` set+get pairs (rounded up to a whole batch), {@linkcode CONCURRENT} pairs in
 * flight at once; returns how many calls it made.
 */
async function inFlight(d: SetGet, n: number): Promise<number> {
  const batch = new Array<Promise<unknown>>(2 * CONCURRENT);
  for (let i = 0; i < n; i += CONCURRENT) {
    for (let k = 0; k < CONCURRENT; k++) {
      batch[2 * k] = d.set(`k${k}`, i + k);
      batch[2 * k + 1] = d.get(`k${k}`);
    }
    await Promise.all(batch);
  }
  return 2 * Math.ceil(n / CONCURRENT) * CONCURRENT;
}

/** The best calls a second of `REPEATS` timed runs of `run(N)`, after a warm-up on `run`. */
async function callsPerSecond(run: (n: number) => Promise<number>): Promise<number> {
  await warmUp(() => run(WARM_UP_PAIRS));
  let best = 0;
  for (let r = 0; r < REPEATS; r++) {
    collectGarbage();
    const t = performance.now();
    const calls = await run(N);
    best = Math.max(best, calls / ((performance.now() - t) / 1000));
  }
  return best;
}

class RemoteManager extends BaseManager {}
RemoteManager.register("getStore", fromModule<typeof getStore>(import.meta.url, "getStore"));

/**
 * Dict proxy calls a second (a set and a get count as two) through `Manager()` and through a
 * TCP `BaseManager` on 127.0.0.1, each the best of `repeats` runs of `n` pairs.
 */
export async function measureManagers(
  options: { n: number; repeats: number; warmUpMs: number },
): Promise<Figures> {
  N = options.n;
  REPEATS = options.repeats;
  warmUpMs = options.warmUpMs;
  return await measure();
}

async function measure(): Promise<Figures> {
  const out: Figures = {};
  {
    await using manager = await Manager();
    const d = await manager.dict<string, number>();
    out.manager_dict_calls = await callsPerSecond((n) => oneAtATime(d, n));
    out.manager_dict_calls_concurrent = await callsPerSecond((n) => inFlight(d, n));
  }
  await using server = new RemoteManager({ authkey: "secret" });
  await server.start();
  await using client = new RemoteManager({ address: server.address, authkey: "secret" });
  await client.connect();
  const d = await client.create<SetGet>("getStore");
  out.tcp_dict_calls = await callsPerSecond((n) => oneAtATime(d, n));
  out.tcp_dict_calls_concurrent = await callsPerSecond((n) => inFlight(d, n));
  // The floors, with as many round trips as the manager made calls.
  const floors = await measureFloors({ n: 2 * N, repeats: REPEATS });
  for (const [key, value] of Object.entries(floors)) {
    if (Number.isFinite(value)) out[key] = value;
  }
  return out;
}

if (import.meta.main && process.argv.includes("--json")) {
  // One round of bench/main.ts: our figures alone, printed as JSON, from a program that ran
  // nothing before them, as Python's side runs bench/python/managers.py in one.
  const figures = await measureManagers({
    n: Number(flag("n") ?? N),
    repeats: Number(flag("repeats") ?? REPEATS),
    warmUpMs: Number(flag("warm-up-ms") ?? warmUpMs),
  });
  console.log(JSON.stringify(figures));
} else if (import.meta.main) {
  const rt = runtimeName();
  // One after the other: at the same time they would share the cores and slow each other.
  const ours = await measure();
  const theirs = await python("managers.py", QUICK ? ["--quick"] : [`--warm-up-ms=${warmUpMs}`]);
  const fmt = (n: number | undefined) => n === undefined ? "-" : `${(n / 1e3).toFixed(1)}k/s`;
  console.log(`managers on ${rt}${QUICK ? " (--quick)" : ""}, beside Python's multiprocessing`);
  console.log(`${"experiment".padEnd(22)}${"ours".padStart(11)}${"python".padStart(11)}  ratio`);
  for (const [name, value] of Object.entries(ours)) {
    const py = theirs?.[name];
    const ratio = py === undefined ? "-" : `${(value / py).toFixed(2)}x`;
    console.log(`${name.padEnd(22)}${fmt(value).padStart(11)}${fmt(py).padStart(11)}  ${ratio}`);
  }
}
