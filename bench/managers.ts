/**
 * The managers experiment: how many proxy calls a second a `dict` takes (a set and a get
 * count as two), through `Manager()` (its server in a worker of this program) and through a
 * `BaseManager` whose server another thread serves on TCP; beside Python's `multiprocessing`
 * doing the same (`bench/python/managers.py`, run with `python3` when it is there), each the
 * best of five runs.
 *
 * Run it with any of (`--quick` takes a few seconds):
 *
 * ```sh
 * deno run -A bench/managers.ts [--quick]
 * bun bench/managers.ts [--quick]
 * node bench/managers.ts [--quick]
 * ```
 *
 * @module
 */
import { type Figures, python, runtimeName } from "./_common.ts";
import process from "node:process";
import { BaseManager, fromModule, Manager } from "./_lib.ts";

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

async function callsPerSecond(d: SetGet): Promise<number> {
  let best = 0;
  for (let r = 0; r < REPEATS; r++) {
    const t = performance.now();
    for (let i = 0; i < N; i++) {
      await d.set("k", i);
      await d.get("k");
    }
    best = Math.max(best, (2 * N) / ((performance.now() - t) / 1000));
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
  options: { n: number; repeats: number },
): Promise<Figures> {
  N = options.n;
  REPEATS = options.repeats;
  return await measure();
}

async function measure(): Promise<Figures> {
  const out: Figures = {};
  {
    await using manager = await Manager();
    out.manager_dict_calls = await callsPerSecond(await manager.dict<string, number>());
  }
  await using server = new RemoteManager({ authkey: "secret" });
  await server.start();
  await using client = new RemoteManager({ address: server.address, authkey: "secret" });
  await client.connect();
  out.tcp_dict_calls = await callsPerSecond(await client.create<SetGet>("getStore"));
  return out;
}

if (import.meta.main) {
  const rt = runtimeName();
  // One after the other: at the same time they would share the cores and slow each other.
  const ours = await measure();
  const theirs = await python("managers.py", QUICK ? ["--quick"] : []);
  const fmt = (n: number | undefined) => n === undefined ? "-" : `${(n / 1e3).toFixed(1)}k/s`;
  console.log(`managers on ${rt}${QUICK ? " (--quick)" : ""}, beside Python's multiprocessing`);
  console.log(`${"experiment".padEnd(22)}${"ours".padStart(11)}${"python".padStart(11)}  ratio`);
  for (const [name, value] of Object.entries(ours)) {
    const py = theirs?.[name];
    const ratio = py === undefined ? "-" : `${(value / py).toFixed(2)}x`;
    console.log(`${name.padEnd(22)}${fmt(value).padStart(11)}${fmt(py).padStart(11)}  ${ratio}`);
  }
}
