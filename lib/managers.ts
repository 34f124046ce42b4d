/**
 * Managers (CPython's `multiprocessing.managers`): a server holds objects, and proxies in any
 * worker, or in another program over TCP, call their methods.
 *
 * - {@linkcode Manager} starts a server in a worker of its own and returns a
 *   {@linkcode SyncManager}, whose `dict()`, `list()`, `Namespace()`, `Lock()`, `Queue()` and
 *   so on create objects there and return proxies to them.
 * - {@linkcode BaseManager} is the general form: `register()` names what a manager serves;
 *   `getServer().serveForever()` serves it on a TCP address; `connect()` reaches a server
 *   from another program, on this machine or another.
 *
 * Proxies travel to `Process` targets and pool tasks as arguments, and their methods return
 * promises. Values travel between proxy and server as MessagePack (see `lib/_wire.ts`), so a
 * server on one runtime serves clients on the others. Each connection proves the `authkey` in
 * both directions before anything else is read (see `lib/_socket.ts`).
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_FRAME, keyBytes } from "./_socket.ts";
import { DEFAULT_WIRE_LIMITS, type WireLimits } from "./_wire.ts";
import { checkNotBootstrapping, errorText } from "./_bootstrap.ts";
import { describe, type FunctionDef, functionDef, type TaskFunction } from "./reduction.ts";
import { entryModule, runtime, type WorkerHandle } from "./runtime/mod.ts";
import { type Channel, type Reference, SocketChannel } from "./_manager_channel.ts";
import { allocatePipe, type PipeBuffers, PipeFrames } from "./_manager_pipe.ts";
import {
  type Address,
  type AnyFunction,
  BUILTIN_EXPOSED,
  BUILTINS,
  type Constructor,
  LocalChannel,
  type Maker,
  type ManagerDebugInfo,
  POOL_TYPEIDS,
  Server,
  type TypeInfo,
} from "./_manager_server.ts";
import {
  type AcquirerProxy,
  type ArrayProxy,
  AsyncResultProxy,
  type BarrierProxy,
  BaseProxy,
  BUILTIN_PROXIES,
  type ConditionProxy,
  type DictProxy,
  type EventProxy,
  type ListProxy,
  makeProxy,
  type NamespaceProxy,
  type PoolProxy,
  type ProxyType,
  proxyTypes,
  proxyTypesByTypeid,
  type QueueProxy,
  type ValueProxy,
} from "./_proxies.ts";

export { type Address, type ManagerDebugInfo, Server, taskOf } from "./_manager_server.ts";
export {
  AcquirerProxy,
  ArrayProxy,
  AsyncResultProxy,
  AutoProxy,
  BarrierProxy,
  BaseProxy,
  ConditionProxy,
  DictProxy,
  EventProxy,
  ListProxy,
  NamespaceProxy,
  PoolProxy,
  type ProxyToken,
  type ProxyType,
  QueueProxy,
  ValueProxy,
} from "./_proxies.ts";

/** Options of a {@linkcode BaseManager}. */
export interface ManagerOptions {
  /**
   * Where the server listens, or where `connect()` finds it. Port 0 lets the system choose.
   *
   * @default {["127.0.0.1", 0]}
   */
  address?: Address;
  /**
   * The shared secret both ends prove they hold. A string is taken as UTF-8.
   *
   * @default {32 random bytes (for a manager this program starts)}
   */
  authkey?: string | Uint8Array;
  /**
   * The largest message, in bytes, a connection accepts once authenticated.
   *
   * @default {67108864}
   */
  maxFrame?: number;
  /**
   * How long, in milliseconds, a new connection may take to prove the `authkey` before the
   * server closes it. Once it has, the rest of the handshake is not timed. The bound is loose
   * (Python's managers have none), so that a machine starved of CPU does not fail honest
   * clients: there a handshake has been seen to take 10 s. A client waits 20 s for a server.
   *
   * @default {15000}
   */
  handshakeTimeout?: number;
  /**
   * How long, in milliseconds, an authenticated connection may stay idle (no request, and
   * none being answered) before the server closes it. Python's managers have no such limit,
   * and a client's proxies fail with `EOFError` once their connection is closed, so none is
   * the default: set it for a server that clients you do not control reach.
   *
   * @default {Infinity}
   */
  idleTimeout?: number;
  /**
   * The deepest nesting of arrays, objects, Maps, Sets and errors in a message; the server
   * refuses a deeper value, and the call fails with a `RangeError`.
   *
   * @default {100}
   */
  maxDepth?: number;
  /**
   * The most elements of one array or Set, entries of one object or Map, or bytes of one
   * string or binary value, in a message the server decodes.
   *
   * @default {16777216}
   */
  maxLength?: number;
  /**
   * The most memory, in bytes, a message may take once decoded, as the server estimates it
   * from the message before decoding (16 bytes for each value, 64 more for each container,
   * the length of bytes, twice that of strings): a small message of many empty objects
   * cannot make the server allocate gigabytes.
   *
   * @default {268435456}
   */
  maxDecodedSize?: number;
}

/** Options of {@linkcode BaseManager.register}. */
export interface RegisterOptions {
  /**
   * The method names proxies may call. By default, every method of the object whose name
   * does not start with `_`.
   */
  exposed?: readonly string[];
  /** Methods whose result stays in the manager and comes back as a proxy of this typeid. */
  methodToTypeid?: Readonly<Record<string, string>>;
  /**
   * The proxy class clients use for this typeid.
   *
   * @default {AutoProxy}
   */
  proxytype?: ProxyType;
  /**
   * Whether to add a method named `typeid` to the manager class.
   *
   * @default {true}
   */
  createMethod?: boolean;
}

// ---- Managers -----------------------------------------------------------------------------------

const registries = new WeakMap<object, Map<string, TypeInfo>>();

function registryOf(cls: object): Map<string, TypeInfo> {
  for (let c: object | null = cls; c !== null; c = Object.getPrototypeOf(c)) {
    const registry = registries.get(c);
    if (registry !== undefined) return registry;
  }
  return new Map();
}

function checkAddress(address: unknown): Address {
  if (
    !Array.isArray(address) || address.length !== 2 || typeof address[0] !== "string" ||
    !Number.isInteger(address[1]) || address[1] < 0 || address[1] > 65535
  ) {
    throw new TypeError(
      `Cannot create manager as 'address' must be [host, port] with a port from 0 to 65535: received ${
        describe(address)
      }`,
    );
  }
  return [address[0], address[1]];
}

function checkPositive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(
      `Cannot create manager as '${name}' must be a positive number: received ${describe(value)}`,
    );
  }
  return value;
}

/** The message a manager's worker sends once its server listens. */
interface ReadyMessage {
  kind: "ready";
  port: number;
}

/** What a manager's worker is started with. */
export interface ManagerInit {
  /** `[typeid, maker, exposed, methodToTypeid]` for each registered type. */
  types: [string, FunctionDef | string | null, string[] | null, Record<string, string> | null][];
  /** The key. */
  authkey: Uint8Array;
  /** Where to listen. */
  address: Address;
  /** The frame limit. */
  maxFrame: number;
  /** The handshake limit. */
  handshakeTimeout: number;
  /** The idle limit of authenticated connections. */
  idleTimeout: number;
  /** What a message may hold. */
  limits: WireLimits;
  /**
   * The shared memory of the pipe to the thread that started the manager, whose proxies call
   * through it instead of TCP.
   */
  pipe: PipeBuffers;
}

/**
 * A manager (CPython's `multiprocessing.managers.BaseManager`): names, with
 * {@linkcode BaseManager.register}, the types of object its server makes, and gives proxies
 * to them. Start the server in a worker with `start()`, serve it from this thread with
 * `getServer().serveForever()`, or reach a running one with `connect()`.
 *
 * A class registered with a callable serves it; a class registered with the typeid alone
 * (on a client) can ask for it. Each `register(typeid)` adds a method `typeid(...args)` to
 * the class, which creates the object in the server and resolves with a proxy (also
 * `create(typeid, ...args)`, typed).
 *
 * @example Usage
 * ```ts
 * import { BaseManager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const sharedList: number[] = [];
 * class RemoteManager extends BaseManager {}
 * RemoteManager.register("getList", () => sharedList);
 *
 * // The server, on this thread.
 * const server = new RemoteManager({ address: ["127.0.0.1", 0], authkey: "secret" }).getServer();
 * const [host, port] = await server.listen();
 *
 * // A client (usually another program, on this machine or another).
 * await using client = new RemoteManager({ address: [host, port], authkey: "secret" });
 * await client.connect();
 * // deno-lint-ignore no-explicit-any
 * const list = await client.create<any>("getList");
 * await list.push(1);
 * assert.deepEqual(sharedList, [1]);
 * await server.close();
 * ```
 */
export class BaseManager {
  #address: Address;
  readonly #authkey: Uint8Array;
  readonly #maxFrame: number;
  readonly #handshakeTimeout: number;
  readonly #idleTimeout: number;
  readonly #limits: WireLimits;
  #worker: WorkerHandle | undefined;
  #server: Server | undefined;
  #channel: Channel | undefined;
  #state: "initial" | "started" | "connected" | "shutdown" = "initial";

  /**
   * Names a type of object that managers of this class (and its subclasses) serve.
   *
   * @param typeid The name clients ask for.
   * @param callable Makes the object: a function (called), a class (constructed with `new`,
   *   as Python calls a class), or a `fromModule()` reference to either (needed by `start()`
   *   for one that is not self-contained). Omit it on a client.
   * @param options `exposed`, `methodToTypeid`, `proxytype` and `createMethod`.
   * @throws {TypeError} If `typeid` is not a non-empty string.
   *
   * @example A class, constructed with `new`
   * ```ts
   * import { BaseManager } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * class Counter {
   *   n: number;
   *   constructor(start = 0) {
   *     this.n = start;
   *   }
   *   add(k: number): number {
   *     return this.n += k;
   *   }
   * }
   * class Counters extends BaseManager {}
   * Counters.register("Counter", Counter);
   * await using manager = new Counters();
   * await manager.start();
   * // deno-lint-ignore no-explicit-any
   * const counter = await manager.create<any>("Counter", 10);
   * assert.equal(await counter.add(5), 15);
   * ```
   */
  static register(
    typeid: string,
    callable?: TaskFunction<never[], unknown> | AnyFunction | Constructor,
    options: RegisterOptions = {},
  ): void {
    if (typeof typeid !== "string" || typeid === "") {
      throw new TypeError(
        `Cannot register as 'typeid' must be a non-empty string: received ${describe(typeid)}`,
      );
    }
    if (callable !== undefined) functionDef(callable, "manager callable");
    let registry = registries.get(this);
    if (registry === undefined) registries.set(this, registry = new Map(registryOf(this)));
    registry.set(typeid, {
      maker: callable as Maker | undefined,
      exposed: options.exposed,
      methodToTypeid: options.methodToTypeid,
      proxytype: options.proxytype,
    });
    if (options.proxytype !== undefined) {
      proxyTypes.set(options.proxytype.name, options.proxytype);
      proxyTypesByTypeid.set(typeid, options.proxytype);
    }
    if (options.createMethod !== false && !(typeid in this.prototype)) {
      Object.defineProperty(this.prototype, typeid, {
        configurable: true,
        writable: true,
        value: function (this: BaseManager, ...args: unknown[]) {
          return this.create(typeid, ...args);
        },
      });
    }
  }

  /**
   * Creates a manager; nothing starts until `start()`, `connect()` or `getServer()`.
   *
   * @param options `address`, `authkey`, and the limits of the server's connections.
   * @throws {TypeError} If `address` is not `[host, port]` or `authkey` not a string or bytes.
   * @throws {RangeError} If `authkey` is empty, or a limit is not a positive number.
   */
  constructor(options: ManagerOptions = {}) {
    this.#address = checkAddress(options.address ?? ["127.0.0.1", 0]);
    const key = options.authkey;
    if (key !== undefined && typeof key !== "string" && !(key instanceof Uint8Array)) {
      throw new TypeError(
        `Cannot create manager as 'authkey' must be a string or a Uint8Array: received ${
          describe(key)
        }`,
      );
    }
    this.#authkey = key === undefined ? new Uint8Array(randomBytes(32)) : keyBytes(key);
    if (this.#authkey.length === 0) {
      // An empty key is a key anyone holds: HMAC under it proves nothing.
      throw new RangeError(
        `Cannot create manager as 'authkey' is empty: pass a secret of one byte or more, or leave it out for a random one`,
      );
    }
    this.#maxFrame = checkPositive(options.maxFrame, "maxFrame", DEFAULT_MAX_FRAME);
    this.#handshakeTimeout = checkPositive(
      options.handshakeTimeout,
      "handshakeTimeout",
      DEFAULT_HANDSHAKE_TIMEOUT,
    );
    this.#idleTimeout = options.idleTimeout === Infinity
      ? Infinity
      : checkPositive(options.idleTimeout, "idleTimeout", Infinity);
    this.#limits = {
      maxDepth: checkPositive(options.maxDepth, "maxDepth", DEFAULT_WIRE_LIMITS.maxDepth),
      maxLength: checkPositive(options.maxLength, "maxLength", DEFAULT_WIRE_LIMITS.maxLength),
      maxDecodedSize: checkPositive(
        options.maxDecodedSize,
        "maxDecodedSize",
        DEFAULT_WIRE_LIMITS.maxDecodedSize,
      ),
    };
  }

  /**
   * The server's address: the one given, with the port the system chose once started.
   *
   * @returns `[host, port]`.
   */
  get address(): Address {
    return [...this.#address];
  }

  /**
   * A server for this manager's registered types, on this thread: `serveForever()` serves
   * it on the manager's address until closed.
   *
   * @returns The server.
   */
  getServer(): Server {
    if (this.#server !== undefined) return this.#server;
    const types = registryOf(this.constructor);
    const server = new Server(types, this.#authkey, this.#address, {
      maxFrame: this.#maxFrame,
      handshakeTimeout: this.#handshakeTimeout,
      idleTimeout: this.#idleTimeout,
      limits: this.#limits,
    });
    this.#server = server;
    // Once it listens, this manager's own proxies reach it there.
    const listen = server.listen.bind(server);
    server.listen = async () => {
      const address = await listen();
      this.#address = address;
      return address;
    };
    return server;
  }

  /**
   * Starts the server in a worker of its own, listening on the manager's address. This
   * thread's proxies reach it over shared memory; others' (proxies sent to workers, other
   * programs, `connect()`) over TCP.
   *
   * @returns A promise that resolves once it listens.
   * @throws {Error} If the manager was started, connected or shut down before.
   * @throws {TypeError} If a registered callable is not self-contained and not a
   *   `fromModule()` reference.
   */
  async start(): Promise<void> {
    checkNotBootstrapping("a manager");
    this.#checkInitial("start");
    this.#state = "started";
    const types = [...registryOf(this.constructor)].map((
      [typeid, info],
    ): ManagerInit["types"][number] => [
      typeid,
      info.maker === undefined
        ? null
        : typeof info.maker === "string"
        ? info.maker
        : functionDef(info.maker, "manager callable"),
      info.exposed === undefined ? null : [...info.exposed],
      info.methodToTypeid === undefined ? null : { ...info.methodToTypeid },
    ]);
    // This thread's proxies reach the server over shared memory; others, given a proxy,
    // over TCP.
    const pipe = allocatePipe();
    const data: ManagerInit = {
      types,
      authkey: this.#authkey,
      address: this.#address,
      maxFrame: this.#maxFrame,
      handshakeTimeout: this.#handshakeTimeout,
      idleTimeout: this.#idleTimeout,
      limits: this.#limits,
      pipe,
    };
    const worker = runtime().spawn(entryModule("_manager_main", import.meta.url), {
      name: "SyncManager",
      data,
    });
    this.#worker = worker;
    const port = await new Promise<number>((resolve, reject) => {
      worker.onMessage((message) => {
        const m = message as ReadyMessage | { kind: "error"; message: string };
        if (m.kind === "ready") resolve(m.port);
        else reject(new Error(`Cannot start the manager's server: ${m.message}`));
      });
      worker.onExit((code, error) =>
        reject(
          new Error(
            `Cannot start the manager's server as its worker ended with code ${code}${
              error === undefined ? "" : ` after an uncaught ${errorText(error, false)}`
            }`,
            { cause: error },
          ),
        )
      );
    });
    // A manager nobody shuts down does not keep the program alive.
    worker.unref();
    this.#address = [this.#address[0], port];
    const channel = SocketChannel.adopt(
      { host: this.#address[0], port, authkey: this.#authkey },
      new PipeFrames(pipe, false, DEFAULT_MAX_FRAME),
      this.#limits,
    );
    this.#channel = channel;
    // Its worker gone (shut down, or crashed), the calls waiting on the pipe fail, as they
    // would on a socket the worker's end closed.
    worker.onExit(() =>
      channel.abort("The manager's worker ended: it was shut down, or it crashed")
    );
  }

  /**
   * Connects to a running server at the manager's address over TCP, proving the key (even
   * to a server this thread started, whose proxies here go over shared memory).
   *
   * @returns A promise that resolves once connected.
   * @throws {AuthenticationError} If the server does not accept the key, or fails to prove it.
   * @throws {EOFError} If nothing listens there.
   */
  async connect(): Promise<void> {
    if (this.#state !== "initial" && this.#state !== "connected") this.#checkInitial("connect");
    const [host, port] = this.#address;
    // Over TCP, authenticated, as asked: even to a server this thread started.
    const channel = SocketChannel.tcp({ host, port, authkey: this.#authkey }, this.#limits);
    await channel.connection();
    this.#channel = channel;
    this.#state = "connected";
  }

  /**
   * Creates an object of a registered type in the server and returns its proxy.
   *
   * @typeParam P The proxy's type.
   * @param typeid The registered name.
   * @param args The arguments of its callable.
   * @returns The proxy.
   * @throws {Error} If the manager is neither started nor connected.
   * @throws {RemoteError} If the server has no such typeid.
   */
  async create<P = BaseProxy>(typeid: string, ...args: unknown[]): Promise<P> {
    if (this.#state === "shutdown") {
      throw new Error(
        `Cannot create ${JSON.stringify(typeid)} as the manager was shut down: create a new one`,
      );
    }
    const channel = this.#channel ??
      (this.#server !== undefined ? await this.#selfChannel() : undefined);
    if (channel === undefined) {
      throw new Error(
        `Cannot create ${
          JSON.stringify(typeid)
        } as the manager is not running: call start() or connect() first`,
      );
    }
    const reference = await channel.call("", "create", [typeid, ...args]);
    if (reference instanceof BaseProxy) return reference as P;
    return makeProxy(
      channel,
      reference as Reference,
      registryOf(this.constructor).get(typeid)?.proxytype,
    ) as P;
  }

  /**
   * How many objects the server holds for proxies (CPython's `_number_of_objects()`): each
   * stays while a proxy of it exists in any thread or program, and leaves once the last is
   * garbage-collected or its thread or program has ended.
   *
   * @returns The count.
   * @throws {Error} If the manager is neither started nor connected.
   */
  async numberOfObjects(): Promise<number> {
    return await (await this.#running("count its objects")).call(
      "",
      "numberOfObjects",
      [],
    ) as number;
  }

  /**
   * What the server holds (CPython's `_debug_info()`): objects, references, clients, and the
   * heap in use on the server's thread.
   *
   * @param options `collect: true` collects garbage on the server's thread first, where the
   *   runtime allows it (Bun, or `--expose-gc`).
   * @returns The counts.
   * @throws {Error} If the manager is neither started nor connected.
   */
  async debugInfo(options: { collect?: boolean } = {}): Promise<ManagerDebugInfo> {
    const channel = await this.#running("read its debug information");
    return await channel.call("", "debugInfo", [options.collect === true]) as ManagerDebugInfo;
  }

  async #running(what: string): Promise<Channel> {
    const channel = this.#state === "shutdown" ? undefined : this.#channel ??
      (this.#server !== undefined ? await this.#selfChannel() : undefined);
    if (channel === undefined) {
      throw new Error(
        `Cannot ${what} as the manager is not running: call start() or connect() first`,
      );
    }
    return channel;
  }

  async #selfChannel(): Promise<Channel> {
    const [host, port] = await this.#server!.listen();
    return this.#channel = SocketChannel.for(
      { host, port, authkey: this.#authkey },
      this.#limits,
    );
  }

  /** @internal For `dummy.ts`: proxies that call a server on this thread. */
  protected useLocalServer(): void {
    this.#channel = new LocalChannel(this.getServer());
    this.#state = "started";
  }

  #checkInitial(what: string): void {
    if (this.#state === "shutdown") {
      throw new Error(`Cannot ${what} the manager as it was shut down: create a new one`);
    }
    if (this.#state !== "initial") {
      throw new Error(`Cannot ${what} the manager as it was started or connected before`);
    }
  }

  /**
   * Stops the server this manager started (and the one `getServer()` made), and closes its
   * connections. A manager that only connected closes its connection.
   *
   * @returns A promise that resolves once stopped.
   */
  async shutdown(): Promise<void> {
    if (this.#state === "shutdown") return;
    this.#state = "shutdown";
    if (this.#channel instanceof SocketChannel || this.#channel instanceof LocalChannel) {
      this.#channel.close();
    }
    this.#channel = undefined;
    await this.#server?.close();
    await this.#worker?.terminate();
  }

  /**
   * Shuts down, as `await using` does.
   *
   * @returns A promise that resolves once stopped.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}

/**
 * The manager that {@linkcode Manager} returns (CPython's `SyncManager`): its methods create
 * shared objects in the manager's server and resolve with proxies to them.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const ns = await manager.Namespace();
 * const list = await manager.list<number>();
 * const dict = await manager.dict<string, number>();
 * await ns.set("a", 1);
 * await list.append(1);
 * await dict.set("b", 2);
 * assert.deepEqual([await ns.get("a"), await list.copy(), await dict.get("b")], [1, [1], 2]);
 * ```
 */
export class SyncManager extends BaseManager {
  static {
    for (const typeid of Object.keys(BUILTINS)) {
      this.register(typeid, undefined, {
        exposed: BUILTIN_EXPOSED[typeid],
        proxytype: BUILTIN_PROXIES[typeid],
        methodToTypeid: typeid === "Pool" ? POOL_TYPEIDS : undefined,
        createMethod: false,
      });
      registries.get(this)!.get(typeid)!.maker = typeid;
    }
    this.register("AsyncResult", undefined, {
      exposed: BUILTIN_EXPOSED.AsyncResult,
      proxytype: AsyncResultProxy,
      createMethod: false,
    });
  }

  /**
   * A namespace: attributes shared by every holder of the proxy.
   *
   * @param attributes Its first attributes.
   * @returns The proxy.
   */
  Namespace(
    attributes?: Record<string, unknown>,
  ): Promise<NamespaceProxy & Record<string, unknown>> {
    return this.create("Namespace", ...(attributes === undefined ? [] : [attributes]));
  }

  /**
   * A dict.
   *
   * @typeParam K The keys' type.
   * @typeParam V The values' type.
   * @param init Its first entries: a `Map`, `[key, value]` pairs, or a plain object.
   * @returns The proxy.
   */
  dict<K = string, V = unknown>(
    init?: Map<K, V> | [K, V][] | Record<string, V>,
  ): Promise<DictProxy<K, V>> {
    return this.create("dict", ...(init === undefined ? [] : [init]));
  }

  /**
   * A list.
   *
   * @typeParam T The items' type.
   * @param init Its first items.
   * @returns The proxy.
   */
  list<T = unknown>(init?: T[]): Promise<ListProxy<T>> {
    return this.create("list", ...(init === undefined ? [] : [init]));
  }

  /**
   * A value, read and written whole.
   *
   * @typeParam T The value's type.
   * @param typecode Its typecode, as `Value()`'s (kept for Python's signature).
   * @param value Its first value.
   * @returns The proxy.
   */
  Value<T = number>(typecode: string, value: T): Promise<ValueProxy<T>> {
    return this.create("Value", typecode, value);
  }

  /**
   * An array of one typecode.
   *
   * @param typecode Its typecode, as `Array()`'s.
   * @param sizeOrInit Its length, or its first items.
   * @returns The proxy.
   */
  Array(typecode: string, sizeOrInit: number | number[] | bigint[]): Promise<ArrayProxy> {
    return this.create("Array", typecode, sizeOrInit);
  }

  /**
   * A lock.
   *
   * @returns The proxy.
   */
  Lock(): Promise<AcquirerProxy> {
    return this.create("Lock");
  }

  /**
   * A re-entrant lock, owned by the thread whose proxy acquired it.
   *
   * @returns The proxy.
   */
  RLock(): Promise<AcquirerProxy> {
    return this.create("RLock");
  }

  /**
   * A semaphore.
   *
   * @param value Its first value.
   * @returns The proxy.
   */
  Semaphore(value = 1): Promise<AcquirerProxy> {
    return this.create("Semaphore", value);
  }

  /**
   * A bounded semaphore.
   *
   * @param value Its first and largest value.
   * @returns The proxy.
   */
  BoundedSemaphore(value = 1): Promise<AcquirerProxy> {
    return this.create("BoundedSemaphore", value);
  }

  /**
   * A condition, with a new lock of its own.
   *
   * @returns The proxy.
   */
  Condition(): Promise<ConditionProxy> {
    return this.create("Condition");
  }

  /**
   * An event.
   *
   * @returns The proxy.
   */
  Event(): Promise<EventProxy> {
    return this.create("Event");
  }

  /**
   * A barrier.
   *
   * @param parties How many parties pass together.
   * @param timeout The default timeout of `wait()`, in milliseconds.
   * @returns The proxy.
   */
  Barrier(parties: number, timeout?: number): Promise<BarrierProxy> {
    return this.create("Barrier", parties, ...(timeout === undefined ? [] : [timeout]));
  }

  /**
   * A queue.
   *
   * @typeParam T The items' type.
   * @param maxsize The most items it holds; 0 for no limit.
   * @returns The proxy.
   */
  Queue<T = unknown>(maxsize = 0): Promise<QueueProxy<T>> {
    return this.create("Queue", maxsize);
  }

  /**
   * A joinable queue.
   *
   * @typeParam T The items' type.
   * @param maxsize The most items it holds; 0 for no limit.
   * @returns The proxy.
   */
  JoinableQueue<T = unknown>(maxsize = 0): Promise<QueueProxy<T>> {
    return this.create("JoinableQueue", maxsize);
  }

  /**
   * A pool of workers started by the manager.
   *
   * @param processes How many workers; `cpuCount()` by default.
   * @returns The proxy.
   */
  Pool(processes?: number): Promise<PoolProxy> {
    return this.create("Pool", ...(processes === undefined ? [] : [processes]));
  }
}

/**
 * Starts a {@linkcode SyncManager} whose server runs in a worker of its own (Python's
 * `multiprocessing.Manager()`), and resolves with it once it listens. This thread's proxies
 * call it over shared memory; proxies sent to workers and other programs, over TCP.
 *
 * @param options `address`, `authkey` (random by default) and limits.
 * @returns The started manager; `shutdown()` (or `await using`) stops it.
 *
 * @example Usage
 * ```ts
 * import { Manager, Process } from "@mp/multiprocessing";
 * import type { DictProxy } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const d = await manager.dict<string, number>({ count: 3 });
 * const p = new Process({
 *   target: async (d: DictProxy<string, number>) => {
 *     await d.set("count", (await d.get("count"))! - 1);
 *   },
 *   args: [d],
 * });
 * p.start();
 * await p.join();
 * assert.equal(await d.get("count"), 2);
 * ```
 */
export async function Manager(options?: ManagerOptions): Promise<SyncManager> {
  const manager = new SyncManager(options);
  await manager.start();
  return manager;
}
