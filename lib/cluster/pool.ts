/**
 * The cluster pool: the {@linkcode BasePool} logic of `mod.ts`, with its tasks sent as chunks
 * to a Redis Stream that worker programs on any machine read as one consumer group.
 *
 * @module
 */
import { Deque } from "../_deque.ts";
import type { Executor, Job, Slot, SlotHooks, SlotInit } from "../_executor.ts";
import type { WireCodec } from "../_wire.ts";
import { BasePool, registerExecutor } from "../pool.ts";
import { describe, type FunctionDef, functionDef } from "../reduction.ts";
import {
  ALIVE_TTL_VISIBILITIES,
  type BrokerTls,
  brokerTls,
  brokerUrl,
  checkPrefix,
  type Conn,
  connect,
  GROUP,
  type PoolKeys,
  poolKeys,
  type PoolSettings,
  RECONNECT_FOR_MS,
  registryKey,
  sleep,
  TAKE_SCRIPT,
  text,
} from "./_broker.ts";
import { chunkRecord, clusterCodec, notSendable } from "./_codec.ts";

/** Options for the cluster {@linkcode Pool}. */
export interface ClusterPoolOptions {
  /**
   * The broker: `redis://[:PASSWORD@]HOST:PORT[/DB]`, or `rediss://` for TLS. Without it, the
   * environment variable `MP_BROKER`.
   *
   * @default {process.env.MP_BROKER}
   */
  broker?: string;
  /**
   * TLS settings for a `rediss://` broker, as PEM text: `ca`, the certificate authority that
   * signed the broker's certificate (when it is not one the system trusts), and `cert` and
   * `key` when the broker asks clients for a certificate. Without it, the PEM files that the
   * environment variables `MP_BROKER_CA`, `MP_BROKER_CERT` and `MP_BROKER_KEY` name.
   *
   * @default {undefined}
   */
  tls?: BrokerTls;
  /**
   * The pool's slots: it keeps at most two chunks per slot on the broker at once (the rest
   * waits in the calling program), and `map`'s default chunk size is
   * `ceil(length / (4 * processes))`. About the number of worker programs times two suits
   * most work.
   *
   * @default {8}
   */
  processes?: number;
  /**
   * The namespace of the broker's keys that the pool and its workers share: workers started
   * with another prefix do not see this pool's work.
   *
   * @default {"mp"}
   */
  prefix?: string;
  /**
   * Milliseconds a chunk may go without a sign of life from the worker running it (workers
   * send one every second) before other workers claim it; at least 3000. The pool's own sign
   * of life lasts twice as long: when the pool's program dies, workers drop its chunks after
   * that.
   *
   * @default {30000}
   */
  visibilityTimeout?: number;
  /**
   * How many times a chunk is handed to a worker before it fails with an error that says its
   * workers kept dying: a task that crashes its worker every time does not circulate forever.
   *
   * @default {3}
   */
  maxDeliveries?: number;
}

// At most this many jobs, or about this many bytes of them, travel as one stream entry.
const ENTRY_JOBS = 256;
const ENTRY_BYTES = 1 << 20;
// Chunks of one slot on the broker at once: one running, one waiting there, so a worker
// never waits a round trip for its next chunk; the rest waits in the calling program.
const CHUNKS_PER_SLOT = 2;
const DEFAULT_PROCESSES = 8;
const DEFAULT_VISIBILITY_MS = 30_000;
const DEFAULT_MAX_DELIVERIES = 3;
// A blocking pop returns after this long without a result, to see whether the pool ended.
const POP_TIMEOUT_S = 1;
// Results taken in one round trip at most: every one that waits, under load.
const TAKE_BATCH = 256;
// A failed command is tried again after this long while the client reconnects.
const POP_RETRY_MS = 500;
// Workers send a heartbeat for their chunks every second: a timeout must leave room for a few.
const MIN_VISIBILITY_MS = 3000;

function checkPositive(value: unknown, name: string): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new (typeof value === "number" ? RangeError : TypeError)(
      `Cannot create pool as '${name}' must be a positive integer: received ${describe(value)}`,
    );
  }
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** One pool's side of the broker: its keys, its connections and its chunks in flight. */
class PoolBroker {
  readonly url: string;
  readonly tls: BrokerTls | undefined;
  readonly id: string = randomId();
  readonly prefix: string;
  readonly keys: PoolKeys;
  readonly settings: PoolSettings;
  readonly codec: WireCodec = clusterCodec();
  #started: Promise<Conn> | undefined;
  #popper: Conn | undefined;
  #slots = new Set<ClusterSlot>();
  #chunks = new Map<number, { slot: ClusterSlot; seqs: number[]; parts: Uint8Array[] }>();
  #nextChunk = 1;
  #refs = 0;
  #ended = false;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #failure: Error | undefined;

  constructor(url: string, tls: BrokerTls | undefined, prefix: string, settings: PoolSettings) {
    this.url = url;
    this.tls = tls;
    this.prefix = prefix;
    this.keys = poolKeys(prefix, this.id);
    this.settings = settings;
  }

  spawn(hooks: SlotHooks, init: SlotInit): ClusterSlot {
    const slot = new ClusterSlot(this, hooks, init.number);
    const failure = this.#failure;
    if (failure !== undefined) {
      queueMicrotask(() => slot.failed(failure));
      return slot;
    }
    this.#slots.add(slot);
    this.#start().then(
      () => slot.started(),
      (error) => slot.failed(error),
    );
    return slot;
  }

  #start(): Promise<Conn> {
    if (this.#started === undefined) {
      const started = this.#connect();
      this.#started = started;
      // A failed start is tried again by the next slot the pool starts.
      started.catch(() => {
        if (this.#started === started) this.#started = undefined;
      });
    }
    return this.#started;
  }

  async #connect(): Promise<Conn> {
    const conn = await connect(this.url, "start the cluster pool", this.tls);
    let popper: Conn;
    try {
      popper = await connect(this.url, "start the cluster pool", this.tls);
    } catch (error) {
      conn.destroy();
      throw error;
    }
    if (this.#refs === 0) {
      conn.unref();
      popper.unref();
    }
    const k = this.keys;
    const ttl = String(ALIVE_TTL_VISIBILITIES * this.settings.visibilityTimeout);
    try {
      await conn.call(["SET", k.alive, "1", "PX", ttl]);
      await conn.call(["XGROUP", "CREATE", k.tasks, GROUP, "$", "MKSTREAM"]);
      await conn.call([
        "HSET",
        registryKey(this.prefix),
        this.id,
        JSON.stringify(this.settings),
      ]);
    } catch (error) {
      conn.destroy();
      popper.destroy();
      throw error;
    }
    this.#popper = popper;
    this.#heartbeat = setInterval(() => {
      conn.call(["SET", k.alive, "1", "PX", ttl, "XX"]).then((reply) => {
        // Gone: this program gave no sign of life for longer than the key lives (it was
        // paused), and the workers dropped the pool's work. Waiting on would be for ever.
        if (reply === null && !this.#ended) {
          this.#fail(
            new Error(
              `Cannot go on with the cluster pool as the workers dropped its work: its program gave no sign of life for ${ttl} ms (twice visibilityTimeout), as when it is paused. Raise 'visibilityTimeout', and create a new Pool`,
            ),
          );
        }
      }, () => {});
    }, this.settings.visibilityTimeout / 2);
    (this.#heartbeat as { unref?: () => void }).unref?.();
    void this.#popLoop(conn, popper);
    return conn;
  }

  async #popLoop(conn: Conn, popper: Conn): Promise<void> {
    let failingSince = 0;
    while (!this.#ended) {
      try {
        const reply = await popper.call(["BLPOP", this.keys.results, String(POP_TIMEOUT_S)]);
        failingSince = 0;
        if (this.#ended) return;
        if (reply === null) await this.#sweep(conn);
        else await this.#take(conn, text((reply as unknown[])[1]), TAKE_BATCH);
      } catch (error) {
        if (this.#ended) return;
        // The broker restarts: the client reconnects meanwhile, and the sweep finds the
        // results whose wake-up was lost.
        if (failingSince === 0) failingSince = Date.now();
        else if (Date.now() - failingSince > RECONNECT_FOR_MS) {
          return this.#fail(
            new Error(
              `Cannot go on with the cluster pool as its connection to the broker failed: ${
                error instanceof Error ? error.message : String(error)
              }. Check that Redis is running and reachable`,
              { cause: error },
            ),
          );
        }
        await sleep(POP_RETRY_MS);
      }
    }
  }

  /** Looks in `done` for the chunks in flight: a wake-up lost with a connection loses nothing. */
  async #sweep(conn: Conn): Promise<void> {
    if (this.#chunks.size === 0) return;
    const ids = [...this.#chunks.keys()];
    const values = await conn.call(["HMGET", this.keys.done, ...ids.map(String)]) as unknown[];
    for (let i = 0; i < ids.length; i++) {
      if (values[i] !== null) await this.#take(conn, String(ids[i]), 0);
    }
  }

  /** Takes chunk `first`'s result, and up to `more` others waiting on the results list. */
  async #take(conn: Conn, first: string, more: number): Promise<void> {
    if (more === 0 && !this.#chunks.has(Number(first))) return;
    const reply = await conn.call([
      "EVAL",
      TAKE_SCRIPT,
      "2",
      this.keys.done,
      this.keys.results,
      first,
      String(more),
    ]) as unknown[];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const chunkId = Number(text(reply[i]));
      const entry = this.#chunks.get(chunkId);
      if (entry === undefined || !this.#chunks.delete(chunkId)) continue;
      let outcomes: Array<[boolean, unknown]> | null, ran = 0;
      try {
        let decoded = this.codec.decode(reply[i + 1] as Uint8Array);
        // Instances of registered classes this program does not know yet: import their modules.
        if (this.codec.unresolved) decoded = await this.codec.resolve(decoded);
        [ran, outcomes] = decoded as [number, Array<[boolean, unknown]>];
      } catch (error) {
        outcomes = entry.seqs.map(() => [false, error]);
      }
      // No outcomes: a worker took the entry after another had died with it, and asks for
      // its jobs to go one an entry, so that a task that kills workers fails alone.
      if (outcomes === null) entry.slot.split(entry.seqs, entry.parts);
      else entry.slot.arrived(entry.seqs, outcomes, ran);
    }
  }

  /**
   * The pool cannot go on (its broker is gone, or the workers dropped its work): every slot
   * ends with the error, and so does every slot the pool starts after.
   */
  #fail(failure: Error): void {
    clearInterval(this.#heartbeat);
    this.#failure ??= failure;
    for (const slot of [...this.#slots]) slot.failed(this.#failure);
  }

  /** Puts an entry of the jobs `seqs` on the stream; resolves once the broker has it. */
  async add(
    slot: ClusterSlot,
    seqs: number[],
    parts: Uint8Array[],
    bytes: Uint8Array,
  ): Promise<void> {
    const conn = await this.#start();
    const chunkId = this.#nextChunk++;
    this.#chunks.set(chunkId, { slot, seqs, parts });
    const since = Date.now();
    for (;;) {
      try {
        await conn.call(["XADD", this.keys.tasks, "*", "c", String(chunkId), "d", bytes]);
        return;
      } catch (error) {
        // Added twice if the broker took it and lost the reply: the result is recorded once.
        if (this.#ended || Date.now() - since > RECONNECT_FOR_MS) {
          this.#chunks.delete(chunkId);
          throw error;
        }
        await sleep(POP_RETRY_MS);
      }
    }
  }

  ref(): void {
    if (this.#refs++ === 0) this.#setRef(true);
  }

  unref(): void {
    if (--this.#refs === 0) this.#setRef(false);
  }

  #setRef(on: boolean): void {
    const started = this.#started;
    if (started === undefined) return;
    started.then((conn) => {
      if (this.#ended || (this.#refs > 0) !== on) return;
      for (const c of [conn, this.#popper]) on ? c?.ref() : c?.unref();
    }, () => {});
  }

  /** A slot failed: the pool starts another, which tries the broker again. */
  forget(slot: ClusterSlot): void {
    this.#slots.delete(slot);
  }

  /** A slot ended; the last one ends the pool's presence on the broker. */
  async ended(slot: ClusterSlot): Promise<void> {
    this.#slots.delete(slot);
    if (this.#slots.size > 0 || this.#ended) return;
    this.#ended = true;
    clearInterval(this.#heartbeat);
    const started = this.#started;
    if (started === undefined) return;
    let conn: Conn;
    try {
      conn = await started;
    } catch {
      return;
    }
    const k = this.keys;
    // The program waits for this cleanup (terminate() and join() do), even with nothing else
    // to keep it running.
    conn.ref();
    try {
      // Deleting the stream withdraws the chunks not yet done: workers find nothing more to
      // take, and record nothing for those still running.
      await conn.call(["HDEL", registryKey(this.prefix), this.id]);
      await conn.call(["DEL", k.tasks, k.done, k.results, k.alive]);
    } catch {
      // The broker is gone: the keys expire with the pool's alive key (workers drop them).
    } finally {
      conn.destroy();
      this.#popper?.destroy();
    }
  }
}

/**
 * One slot of a cluster pool: the jobs the pool gives it go to the broker, at most
 * CHUNKS_PER_SLOT at once, and their results come back in the order the jobs were given.
 */
class ClusterSlot implements Slot {
  readonly pid = 0;
  readonly name: string;
  #broker: PoolBroker;
  #hooks: SlotHooks;
  #waiting = new Deque<{ seq: number; bytes: Uint8Array }>();
  // Jobs of a split entry: they go first, one an entry.
  #alone = new Deque<{ seq: number; bytes: Uint8Array }>();
  #sent = new Deque<number>();
  #done = new Map<number, { ok: boolean; value: unknown; cost: number }>();
  #onBroker = 0;
  #ready = false;
  #ended = false;
  #refs = false;

  constructor(broker: PoolBroker, hooks: SlotHooks, number: number) {
    this.#broker = broker;
    this.#hooks = hooks;
    this.name = `ClusterSlot-${number}`;
  }

  started(): void {
    if (this.#ended) return;
    this.#ready = true;
    this.#hooks.ready(this);
    this.#flush();
  }

  failed(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#refs) this.#broker.unref();
    this.#broker.forget(this);
    this.#hooks.exit(this, 1, error);
  }

  send(jobs: Job[]): Array<[Job, unknown]> | undefined {
    let rejected: Array<[Job, unknown]> | undefined;
    for (const job of jobs) {
      let bytes: Uint8Array;
      try {
        bytes = this.#broker.codec.encode(chunkRecord(job.op, job.fn as FunctionDef, job.payload));
      } catch (error) {
        (rejected ??= []).push([job, notSendable(error, "the task's arguments")]);
        continue;
      }
      this.#waiting.push({ seq: job.seq, bytes });
      this.#sent.push(job.seq);
    }
    this.#flush();
    return rejected;
  }

  #flush(): void {
    while (this.#ready && !this.#ended && this.#onBroker < CHUNKS_PER_SLOT) {
      if (this.#waiting.length === 0 && this.#alone.length === 0) return;
      // The jobs waiting go as one entry: the broker's and the workers' cost is per entry,
      // so single tasks (applyAsync in a loop, imap with chunksize 1) pay it once per batch
      // instead of once each. Catch: the jobs of an entry share its deliveries until a
      // worker finds its last worker died with it; then they go one an entry (split()).
      const seqs: number[] = [];
      const parts: Uint8Array[] = [];
      let size = 0;
      const alone = this.#alone.shift();
      if (alone !== undefined) {
        seqs.push(alone.seq);
        parts.push(alone.bytes);
      }
      while (
        alone === undefined && this.#waiting.length > 0 && seqs.length < ENTRY_JOBS &&
        size < ENTRY_BYTES
      ) {
        const { seq, bytes } = this.#waiting.shift()!;
        seqs.push(seq);
        parts.push(bytes);
        size += bytes.byteLength;
      }
      let entry: Uint8Array;
      try {
        entry = this.#broker.codec.encode(parts);
      } catch (error) {
        this.#onBroker++;
        this.arrived(seqs, seqs.map(() => [false, error]), 0);
        continue;
      }
      this.#onBroker++;
      this.#broker.add(this, seqs, parts, entry).catch((error) => {
        this.arrived(seqs, seqs.map(() => [false, error]), 0);
      });
    }
  }

  /**
   * An entry's outcomes arrived, one per job of `seqs`, and the milliseconds the worker took
   * to run them. That time, shared among the jobs, is what the pool learns a job costs (not
   * the round trip, whose waits in the stream would make every job look dear and keep every
   * entry at one job: bench/cluster.ts): tiny tasks come out cheap, so the pool hands this
   * slot more and they travel in larger entries; slow ones travel one or two an entry, spread
   * over the workers.
   */
  /** An entry of the jobs `seqs`, with their records `parts`, is to go again one job an entry. */
  split(seqs: number[], parts: Uint8Array[]): void {
    if (this.#ended) return;
    this.#onBroker--;
    for (let i = 0; i < seqs.length; i++) this.#alone.push({ seq: seqs[i], bytes: parts[i] });
    this.#flush();
  }

  arrived(seqs: number[], outcomes: Array<[boolean, unknown]>, ran: number): void {
    if (this.#ended) return;
    this.#onBroker--;
    const cost = ran / seqs.length;
    for (let i = 0; i < seqs.length; i++) {
      const [ok, value] = outcomes[i] ?? [false, new Error("The worker sent no result")];
      this.#done.set(seqs[i], { ok, value, cost });
    }
    const results: unknown[] = [];
    let busy = 0;
    for (let head; (head = this.#sent.peek()) !== undefined && this.#done.has(head);) {
      this.#sent.shift();
      const outcome = this.#done.get(head)!;
      this.#done.delete(head);
      results.push(head, outcome.ok ? 1 : 0, outcome.value);
      busy += outcome.cost;
    }
    this.#flush();
    if (results.length > 0) this.#hooks.results(this, results, busy);
  }

  running(): number {
    return this.#sent.peek() ?? 0;
  }

  async terminate(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#refs) this.#broker.unref();
    this.#waiting.drain();
    this.#alone.drain();
    await this.#broker.ended(this);
    this.#hooks.exit(this, 0, undefined);
  }

  ref(): void {
    if (this.#refs || this.#ended) return;
    this.#refs = true;
    this.#broker.ref();
  }

  unref(): void {
    if (!this.#refs || this.#ended) return;
    this.#refs = false;
    this.#broker.unref();
  }
}

// The broker of the pool whose constructor runs: BasePool's constructor starts its slots
// before the subclass's constructor body can run, so the executor finds it here, and keeps it
// under the pool's hooks for the slots started later.
let constructing: PoolBroker | undefined;
const brokers = new WeakMap<SlotHooks, PoolBroker>();

const clusterExecutor: Executor = {
  prepare: (fn, role) => functionDef(fn, role),
  costKey: (prepared) => (prepared as FunctionDef).id,
  // The cluster pool takes no initializer (begin() refuses the option), so no initargs.
  checkInitargs: () => {},
  spawn(hooks, init) {
    let broker = brokers.get(hooks);
    if (broker === undefined) {
      broker = constructing!;
      brokers.set(hooks, broker);
    }
    return broker.spawn(hooks, init);
  },
};

function begin(options: number | ClusterPoolOptions | undefined): { processes: number } {
  const opts: ClusterPoolOptions = typeof options === "object" && options !== null
    ? options
    : { processes: options as number | undefined };
  for (const key of Object.keys(opts)) {
    if (
      !["broker", "tls", "processes", "prefix", "visibilityTimeout", "maxDeliveries"].includes(key)
    ) {
      throw new TypeError(
        `Cannot create the cluster pool as it has no option '${key}': it takes broker, tls, processes, prefix, visibilityTimeout and maxDeliveries`,
      );
    }
  }
  const processes = opts.processes ?? DEFAULT_PROCESSES;
  checkPositive(processes, "processes");
  const visibilityTimeout = opts.visibilityTimeout ?? DEFAULT_VISIBILITY_MS;
  checkPositive(visibilityTimeout, "visibilityTimeout");
  if (visibilityTimeout < MIN_VISIBILITY_MS) {
    throw new RangeError(
      `Cannot create pool as 'visibilityTimeout' must be at least ${MIN_VISIBILITY_MS} ms, as workers send a heartbeat for their chunks every second: received ${visibilityTimeout}`,
    );
  }
  const maxDeliveries = opts.maxDeliveries ?? DEFAULT_MAX_DELIVERIES;
  checkPositive(maxDeliveries, "maxDeliveries");
  const prefix = checkPrefix(opts.prefix, "create the cluster pool");
  const url = brokerUrl(opts.broker, "create the cluster pool");
  const tls = brokerTls(opts.tls, url, "create the cluster pool");
  constructing = new PoolBroker(url, tls, prefix, { visibilityTimeout, maxDeliveries });
  return { processes };
}

/**
 * A pool whose tasks run on worker programs on any machine that reaches a Redis broker (as
 * Ray's `ray.util.multiprocessing.Pool` runs Python's Pool API on a cluster). It has the API
 * of `mod.ts`'s `Pool`: switch a program to it by its import line and where the broker is.
 *
 * Tasks travel in chunks through a Redis Stream read by the workers as one consumer group;
 * each worker program (`deno run -A jsr:@mp/multiprocessing/cluster/worker`, or
 * {@linkcode serve}) runs them on a local `Pool` of its machine's cores. Every chunk is
 * delivered at least once, and its result recorded once: a worker that dies has its chunks
 * claimed by others after `visibilityTimeout`; a chunk whose workers die `maxDeliveries`
 * times fails with an error that says so. Task functions are self-contained functions or
 * `fromModule()` references the workers can load; values travel as MessagePack, as a
 * manager's do.
 *
 * @example Usage
 * ```ts ignore
 * import { Pool } from "@mp/multiprocessing/cluster";
 * import assert from "node:assert/strict";
 *
 * // With Redis on localhost:6379 and a worker started by
 * // deno run -A jsr:@mp/multiprocessing/cluster/worker --broker redis://localhost:6379
 * await using pool = new Pool({ broker: "redis://localhost:6379" });
 * assert.deepEqual(await pool.map((x: number) => x * x, [1, 2, 3]), [1, 4, 9]);
 * ```
 */
export class Pool extends BasePool {
  /**
   * Creates a cluster pool; it connects to the broker in the background, and its first task
   * fails with the reason if the broker cannot be reached.
   *
   * @param options The number of slots, or {@linkcode ClusterPoolOptions}.
   * @throws {Error} If neither `broker` nor `MP_BROKER` names a broker (saying how to start
   *   Redis and workers).
   * @throws {TypeError} If an option has the wrong type or is unknown.
   * @throws {RangeError} If a number is not a positive integer.
   */
  constructor(options?: number | ClusterPoolOptions) {
    super(begin(options));
    constructing = undefined;
  }
}

registerExecutor(Pool, clusterExecutor);
