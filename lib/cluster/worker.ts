/**
 * The worker program of the cluster pool: takes chunks from the broker's streams and runs
 * them on a local `Pool` of this machine's cores.
 *
 * @module
 */
import { hostname } from "node:os";
import process from "node:process";
import { compileFunction } from "../_compile.ts";
import { cpuCount } from "../context.ts";
import { ProcessError } from "../errors.ts";
import { Pool as LocalPool } from "../pool.ts";
import { describe, fromModule } from "../reduction.ts";
import {
  type BrokerTls,
  brokerTls,
  brokerUrl,
  checkPrefix,
  type Conn,
  connect,
  fields,
  GROUP,
  type PoolKeys,
  poolKeys,
  type PoolSettings,
  RECONNECT_FOR_MS,
  RECORD_SCRIPT,
  registryKey,
  safeUrl,
  sleep,
  text,
} from "./_broker.ts";
import { type ChunkRecord, clusterCodec, notSendable } from "./_codec.ts";

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /**
   * The broker: `redis://[:PASSWORD@]HOST:PORT[/DB]`, or `rediss://` for TLS. Without it, the
   * environment variable `MP_BROKER`.
   *
   * @default {process.env.MP_BROKER}
   */
  broker?: string;
  /**
   * TLS settings for a `rediss://` broker, as PEM text: `ca`, the certificate authority that
   * signed the broker's certificate, and `cert` and `key` when the broker asks clients for a
   * certificate. Without it, the PEM files that the environment variables `MP_BROKER_CA`,
   * `MP_BROKER_CERT` and `MP_BROKER_KEY` name.
   *
   * @default {undefined}
   */
  tls?: BrokerTls;
  /**
   * The local pool's workers, and the most chunks this program runs at once.
   *
   * @default {cpuCount()}
   */
  processes?: number;
  /**
   * The namespace of the pools to serve: the `prefix` those pools were created with.
   *
   * @default {"mp"}
   */
  prefix?: string;
  /** Stops the worker: it takes no more chunks, finishes those it runs, and returns. */
  signal?: AbortSignal;
  /** Called with a line for each event worth a log (started, stopped); none by default. */
  log?: (line: string) => void;
}

// A blocking read returns after this long without a chunk, to look for new pools and stop.
const BLOCK_MS = 500;
// Chunks this program holds per local worker (see ClusterWorker's constructor).
const CHUNKS_PER_WORKER = 2;
// The registry of pools is read again this often.
const REFRESH_MS = 1000;

interface ServedPool {
  id: string;
  keys: PoolKeys;
  settings: PoolSettings;
  /** When its stream was last searched for chunks whose worker went quiet. */
  claimedAt: number;
}

interface Running {
  pool: ServedPool;
  entry: string;
}

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

/**
 * Serves the cluster pools of a broker until `signal` aborts: takes their chunks from the
 * broker's streams and runs them on a local `Pool` of this machine's cores, with a heartbeat
 * for each chunk it runs, and claims the chunks of workers that went quiet past their pool's
 * `visibilityTimeout`. The worker command (`deno run -A
 * jsr:@mp/multiprocessing/cluster/worker`) runs it; call it to embed a worker in a program.
 *
 * @param options Where the broker is, how many chunks at once, and when to stop.
 * @returns A promise that resolves when the worker has stopped.
 * @throws {Error} If no broker is given or it cannot be reached (as a rejection).
 *
 * @example Usage
 * ```ts ignore
 * import { serve } from "@mp/multiprocessing/cluster";
 *
 * const stop = new AbortController();
 * process.on("SIGTERM", () => stop.abort());
 * await serve({ broker: "redis://localhost:6379", signal: stop.signal });
 * ```
 */
export async function serve(options: ServeOptions = {}): Promise<void> {
  const url = brokerUrl(options.broker, "serve the cluster pools");
  const tls = brokerTls(options.tls, url, "serve the cluster pools");
  const prefix = checkPrefix(options.prefix, "serve the cluster pools");
  const processes = options.processes ?? cpuCount();
  if (typeof processes !== "number" || !Number.isInteger(processes) || processes < 1) {
    throw new RangeError(
      `Cannot serve the cluster pools as 'processes' must be a positive integer: received ${
        describe(processes)
      }`,
    );
  }
  const signal = options.signal;
  if (signal?.aborted) return;
  const log = options.log ?? (() => {});
  const cmd = await connect(url, "serve the cluster pools", tls);
  let reader: Conn;
  try {
    reader = await connect(url, "serve the cluster pools", tls);
  } catch (error) {
    cmd.destroy();
    throw error;
  }
  const worker = new ClusterWorker(cmd, reader, prefix, processes, log);
  log(
    `worker ${worker.consumer} serving ${safeUrl(url)} (prefix '${prefix}', ${processes} at once)`,
  );
  const stop = () => worker.stop();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    await worker.run();
  } finally {
    signal?.removeEventListener("abort", stop);
    cmd.destroy();
    reader.destroy();
    log(`worker ${worker.consumer} stopped`);
  }
}

class ClusterWorker {
  readonly consumer: string = `${hostname()}-${process.pid}-${
    Math.random().toString(36).slice(2, 8)
  }`;
  #cmd: Conn;
  #reader: Conn;
  #prefix: string;
  #capacity: number;
  #log: (line: string) => void;
  #pools = new Map<string, ServedPool>();
  #refreshedAt = -Infinity;
  #running = new Map<string, Running>();
  #functions = new Map<string, AnyFunction>();
  #codec = clusterCodec();
  #local: LocalPool;
  #stopping = false;
  // A claimed chunk runs, alone (see #turn).
  #isolated = false;
  #wake: (() => void) | undefined;

  constructor(cmd: Conn, reader: Conn, prefix: string, capacity: number, log: (l: string) => void) {
    this.#cmd = cmd;
    this.#reader = reader;
    this.#prefix = prefix;
    // Chunks held at once: one running on each local worker and one waiting behind it, so a
    // local worker never idles for the broker's round trip to its next chunk.
    this.#capacity = capacity * CHUNKS_PER_WORKER;
    this.#log = log;
    this.#local = new LocalPool(capacity);
  }

  stop(): void {
    this.#stopping = true;
    this.#wake?.();
  }

  async run(): Promise<void> {
    const beat = setInterval(() => void this.#heartbeat(), 1000);
    try {
      while (!this.#stopping) {
        try {
          await this.#turn();
        } catch (error) {
          // The broker restarts, or a pool ended under a command: the chunks stay on the
          // broker, so going on after a pause loses nothing.
          this.#log(`broker error, retrying: ${error instanceof Error ? error.message : error}`);
          this.#refreshedAt = -Infinity;
          await this.#sleep(REFRESH_MS);
        }
      }
      while (this.#running.size > 0) await this.#sleep(BLOCK_MS);
    } finally {
      clearInterval(beat);
      await this.#local.terminate();
    }
  }

  async #turn(): Promise<void> {
    if (performance.now() - this.#refreshedAt >= REFRESH_MS) await this.#refresh();
    if (this.#pools.size === 0) return await this.#sleep(BLOCK_MS);
    // A chunk claimed back from a worker that died or stalled with it runs alone here: if it
    // kills this program too, no other chunk dies with it and counts a delivery towards its
    // maxDeliveries. Catch: a program kept busy claims only when its chunks run dry, at the
    // latest when the pools' bound on chunks in flight leaves the stream empty.
    if (this.#running.size === 0) await this.#claim();
    if (this.#isolated) return await this.#sleep(BLOCK_MS);
    const free = this.#capacity - this.#running.size;
    if (free <= 0) return await this.#sleep(BLOCK_MS);
    await this.#read(free);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /** Reads the registry of pools; drops the pools whose program died (their alive key expired). */
  async #refresh(): Promise<void> {
    this.#refreshedAt = performance.now();
    const flat = await this.#cmd.call(["HGETALL", registryKey(this.#prefix)]) as unknown[];
    const seen = new Map<string, ServedPool>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const id = text(flat[i]);
      let settings: PoolSettings;
      try {
        settings = JSON.parse(text(flat[i + 1]));
      } catch {
        continue;
      }
      seen.set(
        id,
        this.#pools.get(id) ?? { id, keys: poolKeys(this.#prefix, id), settings, claimedAt: 0 },
      );
    }
    if (seen.size > 0) {
      const ids = [...seen.keys()];
      const alive = await this.#cmd.call([
        "MGET",
        ...ids.map((id) => seen.get(id)!.keys.alive),
      ]) as unknown[];
      for (let i = 0; i < ids.length; i++) {
        if (alive[i] !== null) continue;
        // Its program died: nobody waits for its results.
        const pool = seen.get(ids[i])!;
        seen.delete(ids[i]);
        const k = pool.keys;
        await this.#cmd.call(["HDEL", registryKey(this.#prefix), pool.id]);
        await this.#cmd.call(["DEL", k.tasks, k.done, k.results]);
        this.#log(`dropped the work of pool ${pool.id}, whose program is gone`);
      }
    }
    this.#pools = seen;
  }

  /** Claims the chunks whose worker went quiet past their pool's visibility timeout. */
  async #claim(): Promise<void> {
    const now = performance.now();
    for (const pool of this.#pools.values()) {
      const timeout = pool.settings.visibilityTimeout;
      if (now - pool.claimedAt < timeout / 2) continue;
      pool.claimedAt = now;
      let reply: unknown[];
      try {
        reply = await this.#cmd.call([
          "XAUTOCLAIM",
          pool.keys.tasks,
          GROUP,
          this.consumer,
          String(timeout),
          "0-0",
          "COUNT",
          "1",
        ]) as unknown[];
      } catch (error) {
        if (isGone(error)) continue;
        throw error;
      }
      for (const entry of reply[1] as unknown[]) {
        if (entry === null) continue;
        const [id, flat] = entry as [unknown, unknown];
        const entryId = text(id);
        const pending = await this.#cmd.call([
          "XPENDING",
          pool.keys.tasks,
          GROUP,
          entryId,
          entryId,
          "1",
        ]) as unknown[][];
        const deliveries = Number(pending[0]?.[3] ?? 1);
        const data = fields(flat);
        let jobs = 1;
        try {
          jobs = (this.#codec.decode(data.get("d")!) as unknown[]).length;
        } catch {
          // Unreadable: one outcome fails the entry's jobs as well.
        }
        if (jobs > 1) {
          // Its last worker died or stalled with it: ask the pool to send its jobs one an
          // entry, so that a task that kills workers fails alone, not with its companions.
          await this.#record(pool, entryId, text(data.get("c")), null);
          this.#log(`split chunk ${entryId} of pool ${pool.id} (delivery ${deliveries})`);
          pool.claimedAt = 0;
          continue;
        }
        if (deliveries > pool.settings.maxDeliveries) {
          const error = new ProcessError(
            `Cannot finish the task as it was handed to a worker ${
              deliveries - 1
            } times and each time the worker died or went quiet for longer than the pool's visibilityTimeout of ${timeout} ms: a task that ends its worker (process.exit(), a crash, running out of memory) fails after maxDeliveries (${pool.settings.maxDeliveries}) deliveries. Fix the task, or raise 'visibilityTimeout' if it only runs long`,
          );
          const outcomes: Array<[boolean, unknown]> = [[false, error]];
          await this.#record(pool, entryId, text(data.get("c")), outcomes);
          pool.claimedAt = 0;
          continue;
        }
        this.#log(`claimed chunk ${entryId} of pool ${pool.id} (delivery ${deliveries})`);
        this.#start(pool, entryId, data, true);
        return;
      }
    }
  }

  async #read(free: number): Promise<void> {
    const pools = [...this.#pools.values()];
    let reply: unknown;
    try {
      reply = await this.#reader.call([
        "XREADGROUP",
        "GROUP",
        GROUP,
        this.consumer,
        "COUNT",
        String(free),
        "BLOCK",
        String(BLOCK_MS),
        "STREAMS",
        ...pools.map((p) => p.keys.tasks),
        ...pools.map(() => ">"),
      ]);
    } catch (error) {
      // A pool ended while this worker waited: read the registry again.
      if (isGone(error)) {
        this.#refreshedAt = -Infinity;
        return;
      }
      throw error;
    }
    if (reply === null) return;
    const byKey = new Map(pools.map((p) => [p.keys.tasks, p]));
    for (const stream of reply as unknown[][]) {
      const pool = byKey.get(text(stream[0]));
      if (pool === undefined) continue;
      for (const entry of stream[1] as unknown[][]) {
        if (entry[1] === null) continue;
        this.#start(pool, text(entry[0]), fields(entry[1]));
      }
    }
  }

  #start(pool: ServedPool, entry: string, data: Map<string, Uint8Array>, isolated = false): void {
    const key = `${pool.id} ${entry}`;
    if (this.#running.has(key)) return;
    this.#running.set(key, { pool, entry });
    if (isolated) this.#isolated = true;
    void this.#execute(pool, entry, data).finally(() => {
      this.#running.delete(key);
      if (isolated) {
        this.#isolated = false;
        // Others may be waiting to be claimed: look again at once.
        pool.claimedAt = 0;
      }
      this.#wake?.();
    });
  }

  async #execute(pool: ServedPool, entry: string, data: Map<string, Uint8Array>): Promise<void> {
    const chunkId = text(data.get("c"));
    let outcomes: Array<[boolean, unknown]>;
    const started = performance.now();
    try {
      // An entry holds the records of one or more jobs; they run at once on the local pool.
      const parts = this.#codec.decode(data.get("d")!) as Uint8Array[];
      outcomes = await Promise.all(parts.map((part) => this.#run(part)));
    } catch (error) {
      outcomes = [[false, error]];
    }
    try {
      await this.#record(pool, entry, chunkId, outcomes, performance.now() - started);
    } catch (error) {
      if (!isGone(error)) this.#log(`could not record chunk ${entry} of pool ${pool.id}: ${error}`);
    }
  }

  async #run(part: Uint8Array): Promise<[boolean, unknown]> {
    try {
      let record = this.#codec.decode(part) as ChunkRecord;
      // Instances of registered classes this program does not know yet: import their modules.
      if (this.#codec.unresolved) record = await this.#codec.resolve(record) as ChunkRecord;
      const [op, name, source, module, payload] = record;
      const fn = this.#function(name, source, module);
      if (op === 0) return [true, await this.#local.apply(fn, payload as unknown[])];
      if (op === 1) return [true, await this.#local.map(fn, payload as unknown[])];
      return [true, await this.#local.starmap(fn, payload as unknown[][])];
    } catch (error) {
      return [false, error];
    }
  }

  // deno-lint-ignore no-explicit-any
  #function(name: string, source: string | null, module: string | null): any {
    if (module !== null) return fromModule(module, name);
    const key = `${name}\n${source}`;
    let fn = this.#functions.get(key);
    if (fn === undefined) {
      fn = compileFunction({ id: 0, name, source: source! });
      this.#functions.set(key, fn);
    }
    return fn;
  }

  async #record(
    pool: ServedPool,
    entry: string,
    chunkId: string,
    outcomes: Array<[boolean, unknown]> | null,
    ran = 0,
  ) {
    // The milliseconds the jobs ran go with their outcomes: the pool sizes its entries by them.
    let bytes: Uint8Array;
    try {
      bytes = this.#codec.encode([ran, outcomes]);
    } catch {
      // Only the results that cannot travel fail.
      bytes = this.#codec.encode([
        ran,
        outcomes!.map((outcome) => {
          try {
            this.#codec.encode(outcome);
            return outcome;
          } catch (error) {
            return [false, notSendable(error, "the task's result")];
          }
        }),
      ]);
    }
    const k = pool.keys;
    const since = Date.now();
    for (;;) {
      try {
        await this.#record1(k, entry, chunkId, bytes);
        return;
      } catch (error) {
        // The broker restarts: try again while the client reconnects; after that the chunk
        // goes to another worker once its visibility timeout passes.
        if (isGone(error) || Date.now() - since > RECONNECT_FOR_MS) throw error;
        await sleep(1000);
      }
    }
  }

  async #record1(k: PoolKeys, entry: string, chunkId: string, bytes: Uint8Array): Promise<void> {
    await this.#cmd.call([
      "EVAL",
      RECORD_SCRIPT,
      "3",
      k.tasks,
      k.done,
      k.results,
      GROUP,
      entry,
      chunkId,
      bytes,
    ]);
  }

  /** Tells the broker this worker still runs its chunks: resets their idle time. */
  async #heartbeat(): Promise<void> {
    const byPool = new Map<ServedPool, string[]>();
    for (const { pool, entry } of this.#running.values()) {
      const list = byPool.get(pool) ?? [];
      list.push(entry);
      byPool.set(pool, list);
    }
    for (const [pool, entries] of byPool) {
      try {
        await this.#cmd.call([
          "XCLAIM",
          pool.keys.tasks,
          GROUP,
          this.consumer,
          "0",
          ...entries,
          "JUSTID",
        ]);
      } catch {
        // The pool ended, or the broker is restarting: the next beat tries again.
      }
    }
  }
}

function isGone(error: unknown): boolean {
  return error instanceof Error && /NOGROUP|UNBLOCKED|no such key/i.test(error.message);
}
