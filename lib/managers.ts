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
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { createConnection, createServer, type Server as NetServer, type Socket } from "node:net";
import process from "node:process";
import { setTimeout as timer } from "node:timers";
import { getHeapStatistics } from "node:v8";
import {
  answerChallenge,
  AuthThrottle,
  DEFAULT_MAX_FRAME,
  deliverChallenge,
  HANDSHAKE_MAX_FRAME,
  keyBytes,
  SocketConnection,
} from "./_socket.ts";
import { DEFAULT_WIRE_LIMITS, WireCodec, WireLimitError, type WireLimits } from "./_wire.ts";
import { checkNotBootstrapping, errorText } from "./_bootstrap.ts";
import {
  ArrayReferent,
  BarrierReferent,
  DictReferent,
  ListReferent,
  NamespaceReferent,
  PoolReferent,
  QueueReferent,
  ValueReferent,
} from "./_referents.ts";
import { Pool } from "./pool.ts";
import { allocatePid, runAsProcess } from "./context.ts";
import { AuthenticationError, EOFError, RemoteError } from "./errors.ts";
import { JoinableQueue, Queue } from "./queues.ts";
import {
  describe,
  fromModule,
  type FunctionDef,
  functionDef,
  loadFunction,
  reduce,
  registerShared,
  sharedObjectCreated,
  type TaskFunction,
} from "./reduction.ts";
import { entryModule, runtime, type WorkerHandle } from "./runtime/mod.ts";
import {
  type AcquireOptions,
  BoundedSemaphore,
  Condition,
  Event,
  Lock,
  RLock,
  Semaphore,
} from "./synchronize.ts";

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

/** A TCP address: host and port. */
export type Address = [host: string, port: number];

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
   * How long, in milliseconds, a new connection may take to authenticate before the server
   * closes it; a client's `connect()` waits as long for the server to authenticate.
   *
   * @default {5000}
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

/** What a server is told by its manager: every limit, checked. */
interface ServerOptions {
  maxFrame: number;
  handshakeTimeout: number;
  idleTimeout: number;
  limits: WireLimits;
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

/** How a server makes the object of a typeid: a function, or `fromModule()` reference. */
type Maker = AnyFunction | FunctionDef | string;

interface TypeInfo {
  maker: Maker | undefined;
  exposed: readonly string[] | undefined;
  methodToTypeid: Readonly<Record<string, string>> | undefined;
  proxytype: ProxyType | undefined;
}

/** What stands for a manager's object on the wire: its typeid, id and exposed methods. */
interface Reference {
  t: string;
  i: string;
  e: string[];
}

/**
 * An object the server sends back as a reference: the wire codec sends it as one, revived
 * as a proxy, and sending it counts the reference that proxy will hold.
 */
class HeldReference {
  readonly #held: Held;
  readonly #emit: (held: Held) => Reference;

  constructor(held: Held, emit: (held: Held) => Reference) {
    this.#held = held;
    this.#emit = emit;
  }

  toWire(): Reference {
    return this.#emit(this.#held);
  }
}

/** Proxy classes by typeid, as `register()` named them, for the proxies a server sends. */
const proxyTypesByTypeid = new Map<string, ProxyType>();

function isReference(value: unknown): value is Reference {
  const r = value as Reference;
  return typeof value === "object" && value !== null && typeof r.t === "string" &&
    typeof r.i === "string" && Array.isArray(r.e);
}

/** Every method of `obj` a proxy may call by default: not constructor, not `_`-prefixed. */
function publicMethods(obj: unknown): string[] {
  const names = new Set<string>();
  for (
    let o: object | null = Object(obj);
    o !== null && o !== Object.prototype && o !== Function.prototype;
    o = Object.getPrototypeOf(o)
  ) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === "constructor" || name.startsWith("_")) continue;
      const d = Object.getOwnPropertyDescriptor(o, name);
      if (d !== undefined && typeof d.value === "function") names.add(name);
    }
  }
  return [...names];
}

// ---- The server ---------------------------------------------------------------------------------

const RETURN = 0;
const ERROR = 1;
const UNDEFINED = 2;

interface Held {
  id: string;
  obj: unknown;
  typeid: string;
  exposed: readonly string[];
  methodToTypeid: Readonly<Record<string, string>> | undefined;
  /** The proxies that stand for it, in every client: at 0 the server lets it go. */
  refcount: number;
}

/**
 * One client of a server (a connection, or the same-thread channel of `dummy.ts`): how many
 * references to each object its proxies hold, all released when it goes away.
 */
class Client {
  readonly refs: Map<string, number> = new Map();
}

/** What {@linkcode BaseManager.debugInfo} reports of a manager's server. */
export interface ManagerDebugInfo {
  /** The objects the server holds for proxies. */
  objects: number;
  /** The references proxies hold to them, summed over every client. */
  references: number;
  /** The clients connected: one per thread or program that uses the manager. */
  clients: number;
  /** The bytes of JavaScript heap in use on the server's thread. */
  heapUsed: number;
}

/** Collects garbage where the runtime lets a program ask (`--expose-gc`, Bun). */
function collectGarbage(): boolean {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun !== undefined) g.Bun.gc(true);
  else if (typeof g.gc === "function") g.gc();
  else return false;
  return true;
}

function heapUsed(): number {
  try {
    return getHeapStatistics().used_heap_size;
  } catch {
    return process.memoryUsage().heapUsed;
  }
}

/**
 * Closes a connection once it has been idle (no request, none being answered) for `timeout`
 * milliseconds; with `Infinity`, never.
 */
class IdleTimer {
  readonly #conn: SocketConnection;
  readonly #timeout: number;
  #running = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: SocketConnection, timeout: number) {
    this.#conn = conn;
    this.#timeout = timeout;
    this.#arm();
  }

  #arm(): void {
    if (!Number.isFinite(this.#timeout) || this.#conn.closed) return;
    this.#timer = setTimeout(() => this.#conn.close(), this.#timeout);
    // An idle connection's timer does not keep the program alive: the listener does.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** A request arrived. */
  busy(): void {
    this.#running++;
    this.stop();
  }

  /** A request was answered. */
  done(): void {
    if (--this.#running === 0) this.#arm();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * The call id of a request the server refused to decode, read from its first bytes
 * (`[callId, …]`, as the client encodes it), so that the call can fail with the reason.
 */
function requestCallId(frame: Uint8Array): number | undefined {
  if (frame.length < 2 || frame[0] !== 0x94) return undefined;
  const b = frame[1];
  if (b <= 0x7f) return b;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (b === 0xcc && frame.length >= 3) return view.getUint8(2);
  if (b === 0xcd && frame.length >= 4) return view.getUint16(2);
  if (b === 0xce && frame.length >= 6) return view.getUint32(2);
  return undefined;
}

/**
 * What a manager serves: the objects it holds and the calls proxies make on them, over TCP
 * (`serveForever()`) or on this thread (the same-thread manager of `dummy.ts`). Made by
 * {@linkcode BaseManager.getServer}.
 *
 * @example Usage
 * ```ts
 * import { BaseManager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * class Shared extends BaseManager {}
 * const items: number[] = [];
 * Shared.register("items", () => items);
 * const server = new Shared({ authkey: "secret" }).getServer();
 * const address = await server.listen();
 * assert.equal(address[0], "127.0.0.1");
 * await server.close();
 * ```
 */
export class Server {
  readonly #types: Map<string, TypeInfo>;
  readonly #authkey: Uint8Array;
  readonly #address: Address;
  readonly #maxFrame: number;
  readonly #handshakeTimeout: number;
  readonly #idleTimeout: number;
  readonly #throttle = new AuthThrottle();
  // The objects proxies stand for, by id, each with its count of references (CPython's
  // id_to_obj and id_to_refcount): at 0 the object leaves, and is garbage once nothing else
  // in the server holds it.
  readonly #objects = new Map<string, Held>();
  // Objects that have stood for proxies, by identity: one keeps its id while anything in the
  // server holds it, so the same object sent back later is a proxy of the same id.
  readonly #known = new WeakMap<object, Held>();
  // The proxies this server's own objects hold (a list holding a dict proxy, as in Python,
  // where a proxy unpickled in its server is "manager-owned"): one per object while alive,
  // each holding one reference, given back once the proxy is garbage (it left its container,
  // or the container was freed).
  #internal: LocalChannel | undefined;
  readonly #owned = new Map<string, WeakRef<BaseProxy>>();
  readonly #clients = new Set<Client>();
  // The client a reply is being encoded for, and what it was given so far, undone if the
  // encoding fails.
  #emitting: Client | undefined;
  #emitted: Held[] = [];
  readonly #connections = new Set<SocketConnection>();
  #nextId = 1;
  // Begins every id: a proxy of another manager sent here names no object of this one (ids
  // would otherwise repeat from one server to the next, and find the wrong object).
  readonly #tag = randomBytes(4).toString("hex");
  #listener: NetServer | undefined;
  #closed: Promise<void> | undefined;
  #stop: (() => void) | undefined;
  #codec: WireCodec;

  /** @internal Made by {@linkcode BaseManager.getServer}. */
  constructor(
    types: Map<string, TypeInfo>,
    authkey: Uint8Array,
    address: Address,
    options: ServerOptions,
  ) {
    this.#types = types;
    this.#authkey = authkey;
    this.#address = address;
    this.#maxFrame = options.maxFrame;
    this.#handshakeTimeout = options.handshakeTimeout;
    this.#idleTimeout = options.idleTimeout;
    // A proxy sent to its own server arrives as a proxy the server owns.
    this.#codec = new WireCodec(
      (record) => {
        if (!isReference(record)) throw new TypeError("Cannot decode a reference record");
        return this.objectOf(record);
      },
      undefined,
      options.limits,
    );
  }

  /**
   * @internal The proxy a reference of this server stands for here: one per object, owned
   * by the server, holding one reference while anything in the server holds it.
   */
  objectOf(reference: Reference): BaseProxy {
    const held = this.#objects.get(reference.i);
    if (held === undefined) {
      throw new RemoteError(
        `Cannot find object ${reference.i} in this manager: a proxy of another manager cannot be sent here, nor one whose object was freed`,
      );
    }
    const proxy = this.#owned.get(held.id)?.deref();
    if (proxy !== undefined) return proxy;
    let channel = this.#internal;
    if (channel === undefined) {
      channel = this.#internal = new LocalChannel(this, () => this.#route());
      // The server itself, not a client: debugInfo() counts the threads and programs.
      this.#clients.delete(channel.client);
    }
    // Taken at once, before anything this client sent later could free the object.
    this.#incref(channel.client, held.id);
    const owned = makeProxy(channel, { t: held.typeid, i: held.id, e: [...held.exposed] });
    this.#owned.set(held.id, new WeakRef(owned));
    return owned;
  }

  /** @internal The reference an owned proxy travels as, counted for the client answered. */
  ownedReference(reference: Reference): Reference {
    const held = this.#objects.get(reference.i);
    return held === undefined ? reference : this.#emit(held);
  }

  /** Where this server's owned proxies travel to workers: its address, once it listens. */
  #route(): Route | undefined {
    if (this.#listener === undefined) return undefined;
    const [host, port] = this.address();
    return { host, port, authkey: this.#authkey };
  }

  /** Counts a reference sent to the client being answered: the proxy it becomes holds it. */
  #emit(held: Held): Reference {
    const client = this.#emitting;
    if (client !== undefined) {
      if (!this.#objects.has(held.id)) {
        this.#objects.set(held.id, held);
        held.refcount = 0;
      }
      held.refcount++;
      client.refs.set(held.id, (client.refs.get(held.id) ?? 0) + 1);
      this.#emitted.push(held);
    }
    return { t: held.typeid, i: held.id, e: [...held.exposed] };
  }

  /**
   * @internal Encodes a reply to `client`, counting the references in it as the client's.
   */
  encodeReply(client: Client, value: unknown, view: boolean): Uint8Array {
    this.#emitting = client;
    this.#emitted = [];
    try {
      return view ? this.#codec.encodeView(value) : this.#codec.encode(value);
    } catch (error) {
      for (const held of this.#emitted) this.#decref(client, held.id);
      throw error;
    } finally {
      this.#emitting = undefined;
      this.#emitted = [];
    }
  }

  /** @internal A new client, whose references {@linkcode Server.detach} releases. */
  attach(): Client {
    const client = new Client();
    this.#clients.add(client);
    return client;
  }

  /** @internal Releases every reference a client held (its connection ended). */
  detach(client: Client): void {
    if (!this.#clients.delete(client)) return;
    for (const [id, n] of client.refs) {
      const held = this.#objects.get(id);
      if (held !== undefined && (held.refcount -= n) <= 0) this.#objects.delete(id);
    }
    client.refs.clear();
  }

  #incref(client: Client, id: unknown): void {
    if (typeof id !== "string") return;
    const held = this.#objects.get(id);
    // An object already freed stays freed: the proxy's calls say so.
    if (held === undefined) return;
    held.refcount++;
    client.refs.set(id, (client.refs.get(id) ?? 0) + 1);
  }

  #decref(client: Client, id: unknown): void {
    if (typeof id !== "string") return;
    // Only what this client holds: a confused or hostile client cannot free others' objects.
    const n = client.refs.get(id);
    if (n === undefined) return;
    if (n === 1) client.refs.delete(id);
    else client.refs.set(id, n - 1);
    if (client === this.#internal?.client && this.#owned.get(id)?.deref() === undefined) {
      this.#owned.delete(id);
    }
    const held = this.#objects.get(id);
    if (held !== undefined && --held.refcount <= 0) this.#objects.delete(id);
  }

  #debugInfo(collect: unknown): ManagerDebugInfo {
    if (collect === true) collectGarbage();
    let references = 0;
    for (const held of this.#objects.values()) references += held.refcount;
    return {
      objects: this.#objects.size,
      references,
      clients: this.#clients.size,
      heapUsed: heapUsed(),
    };
  }

  /**
   * Starts listening; resolves with the address, its port chosen by the system if it was 0.
   *
   * @returns The host and port it listens on.
   */
  listen(): Promise<Address> {
    if (this.#listener !== undefined) return Promise.resolve(this.address());
    const listener = createServer((socket) => void this.#serve(socket));
    this.#listener = listener;
    this.#closed = new Promise((resolve) => (this.#stop = resolve));
    return new Promise((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(this.#address[1], this.#address[0], () => {
        listener.off("error", reject);
        const address = this.address();
        listening.set(routeKey({ port: address[1], authkey: this.#authkey }), this);
        resolve(address);
      });
    });
  }

  /**
   * The address it listens on.
   *
   * @returns The host and port.
   */
  address(): Address {
    const a = this.#listener?.address();
    if (a === undefined || a === null || typeof a === "string") return this.#address;
    return [this.#address[0], a.port];
  }

  /**
   * Listens and serves until {@linkcode Server.close} (or a client's `shutdown()`).
   *
   * @returns A promise that resolves once the server has stopped.
   */
  async serveForever(): Promise<void> {
    await this.listen();
    await this.#closed;
  }

  /**
   * Stops listening and closes every connection.
   *
   * @returns A promise that resolves once the listener is closed.
   */
  async close(): Promise<void> {
    const listener = this.#listener;
    if (listener === undefined) return;
    for (const conn of this.#connections) conn.close();
    const key = routeKey({ port: this.address()[1], authkey: this.#authkey });
    if (listening.get(key) === this) listening.delete(key);
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    this.#stop?.();
  }

  async #serve(socket: Socket): Promise<void> {
    const conn = new SocketConnection(socket, HANDSHAKE_MAX_FRAME);
    this.#connections.add(conn);
    socket.once("close", () => this.#connections.delete(conn));
    // Nothing from a peer is trusted before it has proved the key, and it gets a few
    // seconds to do so.
    const timer = setTimeout(() => conn.close(), this.#handshakeTimeout);
    const peer = socket.remoteAddress ?? "";
    try {
      // A peer that keeps failing waits longer each time before it may try again; never so
      // long that the handshake timeout would close it before its turn.
      const delay = Math.min(this.#throttle.delay(peer), this.#handshakeTimeout / 2);
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      if (conn.closed) return;
      await deliverChallenge(conn, this.#authkey);
      await answerChallenge(conn, this.#authkey);
      this.#throttle.succeeded(peer);
    } catch {
      // A peer that merely went away (or timed out) is not counted as a failed key.
      if (!conn.closed) this.#throttle.failed(peer);
      conn.close();
      return;
    } finally {
      clearTimeout(timer);
    }
    conn.maxFrame = this.#maxFrame;
    // Each connection is a client thread: the owner of the RLocks its calls acquire, and of
    // the references its proxies hold, released when it ends (its thread or program ended).
    const identity = { name: `ManagerClient-${this.#nextId}`, pid: allocatePid().pid };
    const client = this.attach();
    socket.once("close", () => this.detach(client));
    if (conn.closed) this.detach(client);
    const idle = new IdleTimer(conn, this.#idleTimeout);
    for (;;) {
      let request: unknown;
      let frame: Uint8Array;
      try {
        frame = await conn.recv();
      } catch {
        conn.close();
        idle.stop();
        return;
      }
      try {
        request = this.#codec.decode(frame);
      } catch (error) {
        // A message over the limits, or holding a proxy of no object here (another
        // manager's, or one freed), fails its call, if it says which; anything else that
        // cannot be read closes the connection, and only that one.
        const callId = error instanceof WireLimitError || error instanceof RemoteError
          ? requestCallId(frame)
          : undefined;
        if (callId === undefined) {
          conn.close();
          idle.stop();
          return;
        }
        // As a RangeError: the caller's side knows no WireLimitError.
        const reason = error instanceof RemoteError
          ? error
          : new RangeError((error as Error).message);
        this.#reply(conn, this.#codec.encodeView([callId, ERROR, reason]));
        continue;
      }
      // Checked before it is taken apart: an authenticated peer may still send anything.
      if (!Array.isArray(request) || request.length !== 4) {
        conn.close();
        return;
      }
      const [callId, id, method, args] = request as [number, string, string, unknown[]];
      if (
        typeof callId !== "number" || typeof id !== "string" || typeof method !== "string" ||
        !Array.isArray(args)
      ) {
        conn.close();
        return;
      }
      idle.busy();
      void runAsProcess(
        identity,
        [],
        () => this.#answer(conn, client, callId, id, method, args),
      ).finally(() => idle.done());
    }
  }

  /** Sends a reply's bytes, unless the client went away meanwhile. */
  #reply(conn: SocketConnection, bytes: Uint8Array): void {
    try {
      conn.send(bytes);
    } catch {
      // The client went away meanwhile.
    }
  }

  async #answer(
    conn: SocketConnection,
    client: Client,
    callId: number,
    id: string,
    method: string,
    args: unknown[],
  ): Promise<void> {
    let reply: unknown[];
    try {
      const value = await this.invoke(id, method, args, client);
      reply = value === undefined ? [callId, UNDEFINED] : [callId, RETURN, value];
    } catch (error) {
      reply = [callId, ERROR, error instanceof Error ? error : new Error(String(error))];
    }
    if (conn.closed) return;
    let bytes: Uint8Array;
    try {
      bytes = this.encodeReply(client, reply, true);
    } catch (error) {
      bytes = this.encodeReply(client, [callId, ERROR, error], true);
    }
    this.#reply(conn, bytes);
  }

  /**
   * Runs one request of `client`: a call of `method` on object `id`, or with `id` `""`, one
   * of the server's own operations (`create`, `incref`, `decref`, `shutdown`, ...).
   *
   * @internal The dispatch both transports share.
   */
  async invoke(id: string, method: string, args: unknown[], client: Client): Promise<unknown> {
    if (id === "") {
      if (method === "create") return await this.#create(args);
      // Batches of ids, applied before anything else this client sent later.
      if (method === "incref") {
        for (const ref of args) this.#incref(client, ref);
        return undefined;
      }
      if (method === "decref") {
        for (const ref of args) this.#decref(client, ref);
        return undefined;
      }
      if (method === "numberOfObjects") return this.#objects.size;
      if (method === "debugInfo") return this.#debugInfo(args[0]);
      if (method === "shutdown") {
        setTimeout(() => void this.close(), 0);
        return undefined;
      }
      if (method === "ping") return "pong";
      throw new RemoteError(
        `Cannot run ${JSON.stringify(method)}: the manager has no such operation`,
      );
    }
    const held = this.#objects.get(id);
    if (held === undefined) {
      throw new RemoteError(
        `Cannot call ${method}() as the manager holds no object ${id}: no proxy referred to it any more, the manager was shut down, or it never existed`,
      );
    }
    if (!held.exposed.includes(method)) {
      throw new RemoteError(
        `Cannot call ${method}() on a ${held.typeid} as it does not expose that method: exposed are ${
          held.exposed.join(", ")
        }`,
      );
    }
    const fn = (held.obj as Record<string, unknown>)[method];
    if (typeof fn !== "function") {
      throw new RemoteError(`Cannot call ${method}() on a ${held.typeid} as it is not a method`);
    }
    const result = await (fn as AnyFunction).apply(held.obj, args);
    const typeid = held.methodToTypeid?.[method];
    if (typeid === undefined) return result;
    return this.#hold(typeid, result, this.#types.get(typeid));
  }

  async #create(args: unknown[]): Promise<HeldReference> {
    const [typeid, ...rest] = args;
    const info = typeof typeid === "string" ? this.#types.get(typeid) : undefined;
    if (info === undefined) {
      throw new RemoteError(
        `Cannot create ${
          describe(typeid)
        } as the manager has no such typeid: register() it on the server's manager class`,
      );
    }
    if (info.maker === undefined) {
      throw new RemoteError(
        `Cannot create ${JSON.stringify(typeid)} as the server registered it without a callable`,
      );
    }
    const make = await resolveMaker(info.maker);
    // A class is constructed, as Python calls a class to make its instance.
    const obj = isClass(make) ? new (make as unknown as Constructor)(...rest) : make(...rest);
    return this.#hold(typeid as string, await obj, info);
  }

  /** The object as a reference to send: it enters the table once sent (#emit). */
  #hold(typeid: string, obj: unknown, info: TypeInfo | undefined): HeldReference {
    const isObject = (typeof obj === "object" && obj !== null) || typeof obj === "function";
    // The same object again (a registered callable that returns one shared object) keeps
    // its id, as CPython's does.
    let held = isObject ? this.#known.get(obj as object) : undefined;
    if (held === undefined || held.typeid !== typeid) {
      const id = `${this.#tag}.${(this.#nextId++).toString(36)}`;
      const exposed = info?.exposed ?? publicMethods(obj);
      held = { id, obj, typeid, exposed, methodToTypeid: info?.methodToTypeid, refcount: 0 };
      if (isObject) this.#known.set(obj as object, held);
    }
    return new HeldReference(held, (h) => this.#emit(h));
  }
}

/** The servers listening on this thread, by port and key: a proxy of one arriving here is its own. */
const listening = new Map<string, Server>();

function routeKey(route: { port: number; authkey: Uint8Array }): string {
  return `${route.port}:${Buffer.from(route.authkey).toString("hex")}`;
}

const makers = new Map<FunctionDef, Promise<AnyFunction>>();

// deno-lint-ignore no-explicit-any
type Constructor = new (...args: any[]) => unknown;

/** Whether `fn` must be called with `new`: a class, or a built-in constructor (`Map`). */
function isClass(fn: AnyFunction): boolean {
  const source = Function.prototype.toString.call(fn);
  return /^class[\s{]/.test(source) ||
    (/\{\s*\[native code\]\s*\}\s*$/.test(source) && fn.prototype !== undefined);
}

function resolveMaker(maker: Maker): AnyFunction | Promise<AnyFunction> {
  if (typeof maker === "function") return maker;
  if (typeof maker === "string") {
    const make = BUILTINS[maker];
    if (make === undefined) throw new RemoteError(`Cannot find the built-in type ${maker}`);
    return make;
  }
  let promise = makers.get(maker);
  if (promise === undefined) makers.set(maker, promise = loadFunction(maker));
  return promise;
}

// ---- The client ---------------------------------------------------------------------------------

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** How proxies reach their manager: over TCP, or (dummy.ts) by direct calls. */
interface Channel {
  /** Whether it can no longer reach the server. */
  readonly closed: boolean;
  call(id: string, method: string, args: unknown[]): Promise<unknown>;
  /** The references this thread's proxies take and give back, sent in batches. */
  readonly refs: RefBatch;
  /** Throws the `TypeError` a value that cannot travel gets, at once. */
  check(value: unknown): void;
  /** What a proxy of this channel travels as to a worker; `undefined` if it cannot. */
  readonly route: Route | undefined;
  /** The record a proxy of this channel travels as to a manager, if not its reference. */
  wire?(reference: Reference): Reference;
}

/** Where a proxy's manager is, as a worker needs it: TCP address and key. */
interface Route {
  host: string;
  port: number;
  authkey: Uint8Array;
}

/** The most ids one incref or decref call carries. */
const REF_BATCH = 4096;

/**
 * The references a thread's proxies take (a proxy that arrived from another thread) and give
 * back (a proxy collected), sent to the server together a moment later: a collection of
 * thousands of proxies is one call, not thousands. Takes are sent first, so an object a proxy
 * arrived with and lost in the same batch is not freed before it is taken.
 */
class RefBatch {
  readonly #channel: Channel;
  #increfs: string[] = [];
  #decrefs: string[] = [];
  #scheduled = false;

  constructor(channel: Channel) {
    this.#channel = channel;
  }

  incref(id: string): void {
    this.#increfs.push(id);
    this.#schedule();
  }

  decref(id: string): void {
    this.#decrefs.push(id);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Unref'd: a program about to exit need not send it, as its connection's end releases
    // every reference it held.
    timer(() => this.#flush(), 0).unref();
  }

  #flush(): void {
    this.#scheduled = false;
    const increfs = this.#increfs;
    const decrefs = this.#decrefs;
    this.#increfs = [];
    this.#decrefs = [];
    // A closed or broken connection released them all in the server already.
    if (this.#channel.closed) return;
    this.#send("incref", increfs);
    this.#send("decref", decrefs);
  }

  #send(method: string, ids: string[]): void {
    // In slices, each far below the decoder's limits on a message and its arrays.
    for (let i = 0; i < ids.length; i += REF_BATCH) {
      this.#channel.call("", method, ids.slice(i, i + REF_BATCH)).catch(() => {});
    }
  }
}

/** How long a client waits for a server to authenticate, in milliseconds. */
const CLIENT_HANDSHAKE_TIMEOUT = 10_000;

/** One connection per thread and manager, shared by every proxy of that manager. */
class SocketChannel implements Channel {
  static readonly #channels = new Map<string, SocketChannel>();
  readonly route: Route;
  readonly refs: RefBatch = new RefBatch(this);
  #conn: Promise<SocketConnection> | undefined;
  #ready: SocketConnection | undefined;
  #pending = new Map<number, Pending>();
  #nextCall = 1;
  #codec: WireCodec;
  #broken: Error | undefined;

  /**
   * The channel of this thread to `route`; `limits` (the manager's own, where this thread has
   * one) bound the replies it reads, if it makes a new one.
   */
  static for(route: Route, limits?: WireLimits): SocketChannel {
    const key = `${route.host}:${route.port}:${Buffer.from(route.authkey).toString("hex")}`;
    let channel = SocketChannel.#channels.get(key);
    if (channel === undefined || channel.#broken !== undefined) {
      SocketChannel.#channels.set(key, channel = new SocketChannel(route, limits));
    }
    return channel;
  }

  private constructor(route: Route, limits: WireLimits = DEFAULT_WIRE_LIMITS) {
    this.route = route;
    this.#codec = new WireCodec(
      (record) => {
        if (!isReference(record)) throw new TypeError("Cannot decode a reference record");
        return makeProxy(this, record);
      },
      undefined,
      limits,
    );
  }

  /** Connects and authenticates, once. */
  connection(): Promise<SocketConnection> {
    // A failed connection is not retried by this channel: the next SocketChannel.for() makes
    // a new one, so that a manager started later can still be reached.
    return this.#conn ??= this.#connect().catch((error) => {
      this.#broken = error;
      throw error;
    });
  }

  async #connect(): Promise<SocketConnection> {
    const { host, port } = this.route;
    // A server that accepts and then says nothing (or nothing readable) fails the connect
    // within the handshake timeout, as the server gives a client.
    let timer: ReturnType<typeof setTimeout> | undefined;
    let conn: SocketConnection | undefined;
    let s: Socket | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        conn?.close();
        s?.destroy();
        reject(
          new AuthenticationError(
            `Cannot connect to the manager at ${host}:${port} as it did not authenticate within ${CLIENT_HANDSHAKE_TIMEOUT} ms: is this address a manager of this library?`,
          ),
        );
      }, CLIENT_HANDSHAKE_TIMEOUT);
    });
    try {
      return await Promise.race([
        this.#handshake((socket) => s = socket, (c) => conn = c),
        timedOut,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #handshake(
    opened: (socket: Socket) => void,
    wrapped: (conn: SocketConnection) => void,
  ): Promise<SocketConnection> {
    const { host, port, authkey } = this.route;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection({ host, port }, () => {
        s.off("error", reject);
        resolve(s);
      });
      opened(s);
      s.once("error", (error) => {
        reject(
          new EOFError(
            `Cannot connect to the manager at ${host}:${port}: ${
              (error as Error).message
            }. Is it running, and is this its address?`,
          ),
        );
      });
    });
    const conn = new SocketConnection(socket, HANDSHAKE_MAX_FRAME);
    wrapped(conn);
    conn.ref();
    try {
      await answerChallenge(conn, authkey);
      await deliverChallenge(conn, authkey);
    } catch (error) {
      conn.close();
      if (error instanceof AuthenticationError) throw error;
      throw new AuthenticationError(
        `Cannot connect to the manager at ${host}:${port} as it closed the connection during authentication: use the authkey it was started with`,
        { cause: error },
      );
    } finally {
      conn.unref();
    }
    conn.maxFrame = DEFAULT_MAX_FRAME;
    void this.#read(conn);
    this.#ready = conn;
    return conn;
  }

  async #read(conn: SocketConnection): Promise<void> {
    for (;;) {
      let reply: [number, number, unknown];
      try {
        // This wait never ends while connected: it does not keep the program alive by
        // itself. Each call refs the connection until its reply arrives (#send), so a
        // pending call does, and an idle connection does not (Python's client exits).
        const frame = await conn.recv({ ref: false });
        reply = this.#codec.decode(frame) as [number, number, unknown];
      } catch (error) {
        this.#fail(error);
        // A reply that cannot be read breaks the channel: closed, it no longer holds the
        // program for the calls that were waiting.
        conn.close();
        return;
      }
      if (this.#codec.unresolved) {
        // Instances of classes this thread has not imported yet: imported, then rebuilt.
        reply = await this.#codec.resolve(reply).then(
          (value) => value as typeof reply,
          (error) => [reply[0], ERROR, error],
        );
      }
      const pending = this.#pending.get(reply[0]);
      if (pending === undefined) continue;
      this.#pending.delete(reply[0]);
      conn.unref();
      if (reply[1] === ERROR) pending.reject(reply[2]);
      else pending.resolve(reply[1] === UNDEFINED ? undefined : reply[2]);
    }
  }

  #fail(error: unknown): void {
    const { host, port } = this.route;
    this.#broken = new EOFError(
      `Cannot reach the manager at ${host}:${port} as the connection closed: it was shut down, or the network failed`,
      { cause: error },
    );
    for (const pending of this.#pending.values()) pending.reject(this.#broken);
    this.#pending.clear();
  }

  call(id: string, method: string, args: unknown[]): Promise<unknown> {
    if (this.#broken !== undefined) return Promise.reject(this.#broken);
    const callId = this.#nextCall++;
    const ready = this.#ready;
    if (ready !== undefined) {
      // Connected: encoded into the encoder's buffer and copied by the write at once.
      let bytes: Uint8Array;
      try {
        bytes = this.#codec.encodeView([callId, id, method, args]);
      } catch (error) {
        return Promise.reject(error);
      }
      return this.#send(ready, callId, bytes);
    }
    // Encoded first, so that a value that cannot travel fails at once, naming itself.
    let bytes: Uint8Array;
    try {
      bytes = this.#codec.encode([callId, id, method, args]);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.connection().then((conn) => {
      if (this.#broken !== undefined) throw this.#broken;
      return this.#send(conn, callId, bytes);
    });
  }

  #send(conn: SocketConnection, callId: number, bytes: Uint8Array): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // Sent first: on a connection that has just ended, send() throws (the rejection), and
      // the call is neither left pending nor holding the program.
      conn.send(bytes);
      this.#pending.set(callId, { resolve, reject });
      // Until its reply arrives (#read), this call keeps the program alive.
      conn.ref();
    });
  }

  check(value: unknown): void {
    this.#codec.encodeView(value);
  }

  /** Whether its connection failed or closed: nothing sent on it would arrive. */
  get closed(): boolean {
    return this.#broken !== undefined || this.#ready?.closed === true;
  }

  close(): void {
    void this.#conn?.then((conn) => conn.close(), () => {});
  }
}

/** The same-thread channel of `dummy.ts`: calls the server directly, copying values as a wire would. */
class LocalChannel implements Channel {
  readonly refs: RefBatch = new RefBatch(this);
  readonly #server: Server;
  readonly #client: Client;
  readonly #route: (() => Route | undefined) | undefined;
  // Values go through the wire format both ways, so that what can travel, and what arrives,
  // is the same as over TCP: a program behaves the same under either entry point.
  readonly #toServer: WireCodec;
  readonly #toClient: WireCodec;
  #closed = false;

  /**
   * A channel to `server`; with `route`, the channel of the proxies the server owns, which
   * travel to workers by the server's address.
   */
  constructor(server: Server, route?: () => Route | undefined) {
    this.#server = server;
    this.#client = server.attach();
    this.#route = route;
    this.#toServer = new WireCodec((record) => server.objectOf(record as Reference));
    this.#toClient = new WireCodec((record) => makeProxy(this, record as Reference));
  }

  get route(): Route | undefined {
    return this.#route?.();
  }

  /** The server's client this channel is. */
  get client(): Client {
    return this.#client;
  }

  /** The record a proxy of this channel travels as: counted, for a proxy the server owns. */
  wire(reference: Reference): Reference {
    return this.#route === undefined ? reference : this.#server.ownedReference(reference);
  }

  async call(id: string, method: string, args: unknown[]): Promise<unknown> {
    if (this.#closed) {
      throw new EOFError(
        `Cannot call ${method}() as the manager was shut down: create a new Manager()`,
      );
    }
    const copied = this.#toServer.decode(this.#toServer.encodeView(args)) as unknown[];
    const value = await this.#server.invoke(id, method, copied, this.#client);
    if (value === undefined || this.#closed) return undefined;
    return this.#toClient.decode(this.#server.encodeReply(this.#client, value, false));
  }

  check(value: unknown): void {
    this.#toServer.encodeView(value);
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
    this.#server.detach(this.#client);
  }
}

// ---- Proxies ------------------------------------------------------------------------------------

const channels = new WeakMap<BaseProxy, Channel>();
const references = new WeakMap<BaseProxy, Reference>();

// Each proxy holds one reference to its object in the server (taken when the server sent it,
// or when it arrived from another thread), given back once the proxy is garbage.
const collected = new FinalizationRegistry<{ channel: Channel; id: string }>(
  ({ channel, id }) => channel.refs.decref(id),
);

// A proxy sent to a worker is kept alive here for a while (10 to 20 s): the worker takes its
// reference on arrival, which must reach the server before this thread's proxy, if dropped
// at once, gives back its own (CPython leaves this race open).
const TRANSIT_MS = 10_000;
let inTransit: object[] = [];
let leaving: object[] = [];
let transitTimer = false;

function holdInTransit(proxy: object): void {
  inTransit.push(proxy);
  if (transitTimer) return;
  transitTimer = true;
  const rotate = () => {
    leaving = inTransit;
    inTransit = [];
    transitTimer = leaving.length > 0;
    if (transitTimer) timer(rotate, TRANSIT_MS).unref();
  };
  timer(rotate, TRANSIT_MS).unref();
}

/** A proxy class: what {@linkcode BaseManager.register}'s `proxytype` names. */
export type ProxyType = new (token: ProxyToken) => BaseProxy;

/** What a proxy is made from: passed to proxy constructors by the library. */
export interface ProxyToken {
  /** The typeid the object was created as. */
  readonly typeid: string;
  /** The object's id in its manager. */
  readonly id: string;
  /** The methods proxies may call. */
  readonly exposed: readonly string[];
}

let channelForNext: Channel | undefined;

/**
 * The base of every proxy (CPython's `BaseProxy`): stands for an object held by a manager;
 * its methods call the object's methods there and return promises of their results. Pass
 * proxies to `Process` targets and pool tasks as arguments; they reach the same object.
 *
 * Subclass it to give a registered type a typed proxy, each method calling
 * {@linkcode BaseProxy.callMethod}.
 *
 * @example Usage
 * ```ts
 * import { BaseManager, BaseProxy } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * class Counter {
 *   n = 0;
 *   add(k: number): number {
 *     return this.n += k;
 *   }
 * }
 * class CounterProxy extends BaseProxy {
 *   add(k: number): Promise<number> {
 *     return this.callMethod("add", [k]) as Promise<number>;
 *   }
 * }
 * class Counters extends BaseManager {}
 * Counters.register("Counter", () => new Counter(), { proxytype: CounterProxy });
 * await using manager = new Counters();
 * await manager.getServer().listen();
 * await manager.connect();
 * const counter = await manager.create<CounterProxy>("Counter");
 * assert.equal(await counter.add(2), 2);
 * assert.equal(await counter.add(3), 5);
 * ```
 */
export class BaseProxy {
  /**
   * Creates a proxy; the library calls this with the object's token.
   *
   * @param token The object's typeid, id and exposed methods.
   */
  constructor(token: ProxyToken) {
    const channel = channelForNext;
    channelForNext = undefined;
    if (channel === undefined) {
      throw new TypeError(
        "Cannot create a proxy directly: a manager's methods create objects and return their proxies",
      );
    }
    channels.set(this, channel);
    references.set(this, { t: token.typeid, i: token.id, e: [...token.exposed] });
    collected.register(this, { channel, id: token.id });
    sharedObjectCreated();
  }

  /**
   * The typeid the object was created as.
   *
   * @returns The typeid.
   */
  get typeid(): string {
    return references.get(this)!.t;
  }

  /**
   * Calls `method` of the object in the manager.
   *
   * @param method The method's name, one of the exposed.
   * @param args Its arguments: data (see the module doc) or proxies.
   * @returns What the method returned (awaited in the manager), or a proxy.
   * @throws {RemoteError} If the object does not expose `method`.
   * @throws {TypeError} If an argument cannot travel.
   */
  callMethod(method: string, args: unknown[] = []): Promise<unknown> {
    // Optional arguments left out arrive left out: MessagePack would turn undefined into null.
    let n = args.length;
    while (n > 0 && args[n - 1] === undefined) n--;
    try {
      return channels.get(this)!.call(
        references.get(this)!.i,
        method,
        n === args.length ? args : args.slice(0, n),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A copy of the object's value, where the type offers one (`copy()`).
   *
   * @returns A plain copy.
   */
  copy(): Promise<unknown> {
    return this.callMethod("copy");
  }

  /**
   * How the proxy travels to a manager: as a reference to its object.
   *
   * @returns The reference record.
   */
  toWire(): unknown {
    const reference = references.get(this)!;
    return channels.get(this)!.wire?.(reference) ?? reference;
  }

  /**
   * How the proxy travels to workers: its manager's address and key, and its reference.
   *
   * @returns The kind `"Proxy"` and the state.
   * @throws {TypeError} For a proxy of a `dummy.ts` manager, which lives on one thread.
   */
  [reduce](): { kind: string; state: unknown } {
    const route = channels.get(this)!.route;
    if (route === undefined) {
      throw new TypeError(
        "Cannot send a proxy of a dummy.ts manager to a worker: its objects live on this thread; use the Manager of mod.ts",
      );
    }
    holdInTransit(this);
    return {
      kind: "Proxy",
      state: { route, reference: references.get(this), proxytype: this.constructor.name },
    };
  }

  /**
   * A short description, as Python's proxy repr.
   *
   * @returns `<TypeProxy object, typeid 'dict' at id>`.
   */
  toString(): string {
    const r = references.get(this)!;
    return `<${this.constructor.name} object, typeid '${r.t}' at ${r.i}>`;
  }
}

const proxyTypes = new Map<string, ProxyType>();

function makeProxy(channel: Channel, reference: Reference, proxytype?: ProxyType): BaseProxy {
  const P = proxytype ?? proxyTypesByTypeid.get(reference.t) ?? BUILTIN_PROXIES[reference.t] ??
    AutoProxy;
  channelForNext = channel;
  try {
    return new P({ typeid: reference.t, id: reference.i, exposed: reference.e });
  } finally {
    channelForNext = undefined;
  }
}

registerShared("Proxy", (state) => {
  const { route, reference, proxytype } = state as {
    route: Route;
    reference: Reference;
    proxytype: string;
  };
  // A proxy arriving in its own server's thread (through a queue the server holds) is the
  // server's own, as CPython's RebuildProxy makes it.
  const server = listening.get(routeKey(route));
  if (server !== undefined) return server.objectOf(reference);
  const channel = SocketChannel.for(route);
  const proxy = makeProxy(channel, reference, proxyTypes.get(proxytype));
  // Arrived from another thread: this thread's proxy takes a reference of its own.
  channel.refs.incref(reference.i);
  return proxy;
});

/** A property of a proxy's target, its methods bound to it: they use its private state. */
function own(target: BaseProxy, prop: string | symbol): unknown {
  const value = Reflect.get(target, prop, target);
  return typeof value === "function" ? value.bind(target) : value;
}

/**
 * A proxy of any object (CPython's `AutoProxy`): each exposed method is a method of the
 * proxy, which returns a promise.
 *
 * @example Usage
 * ```ts
 * import { BaseManager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const shared: number[] = [];
 * class Remote extends BaseManager {}
 * Remote.register("getList", () => shared);
 * await using manager = new Remote();
 * await manager.getServer().listen();
 * await manager.connect();
 * // deno-lint-ignore no-explicit-any
 * const list = await manager.create<any>("getList");
 * await list.push(1, 2);
 * assert.deepEqual(await list.slice(), [1, 2]);
 * ```
 */
export class AutoProxy extends BaseProxy {
  /**
   * Creates a proxy whose exposed methods are its own.
   *
   * @param token The object's typeid, id and exposed methods.
   */
  constructor(token: ProxyToken) {
    super(token);
    const exposed = new Set(token.exposed);
    // deno-lint-ignore no-this-alias
    const self = this;
    return new Proxy(this, {
      get(target, prop) {
        if (typeof prop === "string" && exposed.has(prop) && !(prop in BaseProxy.prototype)) {
          return (...args: unknown[]) => self.callMethod(prop, args);
        }
        return own(target, prop);
      },
    });
  }
}

/**
 * The proxy of a manager's `Namespace()`: attributes read with `get(name)` (or `await ns.name`)
 * and written with `set(name, value)` (or `ns.name = value`, sent at once, in order).
 *
 * As in Python, an attribute whose name starts with `_` is the proxy's own: it stays on this
 * proxy object, is never sent to the manager, and other holders of the namespace do not see it.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const ns = await manager.Namespace();
 * await ns.set("a", 1);
 * assert.equal(await ns.get("a"), 1);
 * ns._note = "mine"; // stays on this proxy
 * assert.equal(ns._note, "mine");
 * assert.deepEqual(await ns.copy(), { a: 1 });
 * ```
 */
export class NamespaceProxy extends BaseProxy {
  #failed: unknown;
  // The attributes whose names start with `_`: the proxy's own, as in Python.
  readonly #own = new Map<string, unknown>();

  /**
   * Creates the proxy; `ns.name` reads and `ns.name = value` writes an attribute.
   *
   * @param token The object's typeid, id and exposed methods.
   */
  constructor(token: ProxyToken) {
    super(token);
    return new Proxy(this, {
      get(target, prop) {
        if (typeof prop === "symbol" || prop in target || prop === "then") return own(target, prop);
        if (prop.startsWith("_")) return target.#own.get(prop);
        return target.get(prop);
      },
      set(target, prop, value) {
        if (typeof prop === "symbol" || prop in target) return false;
        if (prop.startsWith("_")) {
          target.#own.set(prop, value);
          return true;
        }
        // A value that cannot travel throws here, from the assignment itself.
        channels.get(target)!.check(value);
        target.set(prop, value).catch((error) => (target.#failed ??= error));
        return true;
      },
      deleteProperty(target, prop) {
        if (typeof prop === "string" && prop.startsWith("_")) {
          target.#own.delete(prop);
          return true;
        }
        return Reflect.deleteProperty(target, prop);
      },
    });
  }

  /**
   * Reads an attribute.
   *
   * @param name The attribute.
   * @returns Its value.
   * @throws {RangeError} If the namespace has no attribute of that name.
   */
  get(name: string): Promise<unknown> {
    if (typeof name === "string" && name.startsWith("_")) {
      if (this.#own.has(name)) return Promise.resolve(this.#own.get(name));
      return Promise.reject(
        new RangeError(
          `Cannot read attribute ${
            JSON.stringify(name)
          } as the proxy has none of that name: an attribute whose name starts with '_' is the proxy's own, as in Python, so set it on this proxy first`,
        ),
      );
    }
    return this.#check() ?? this.callMethod("getattr", [name]);
  }

  /**
   * Writes an attribute.
   *
   * @param name The attribute.
   * @param value Its new value.
   * @returns A promise that resolves once written.
   */
  set(name: string, value: unknown): Promise<void> {
    if (typeof name === "string" && name.startsWith("_")) {
      this.#own.set(name, value);
      return Promise.resolve();
    }
    return (this.#check() ?? this.callMethod("setattr", [name, value])) as Promise<void>;
  }

  /**
   * Deletes an attribute.
   *
   * @param name The attribute.
   * @returns A promise that resolves once deleted.
   * @throws {RangeError} If the namespace has no attribute of that name.
   */
  delete(name: string): Promise<void> {
    if (typeof name === "string" && name.startsWith("_")) {
      if (this.#own.delete(name)) return Promise.resolve();
      return Promise.reject(
        new RangeError(
          `Cannot delete attribute ${JSON.stringify(name)} as the proxy has none of that name`,
        ),
      );
    }
    return (this.#check() ?? this.callMethod("delattr", [name])) as Promise<void>;
  }

  /**
   * Whether the namespace has an attribute.
   *
   * @param name The attribute.
   * @returns `true` if it has.
   */
  has(name: string): Promise<boolean> {
    if (typeof name === "string" && name.startsWith("_")) {
      return Promise.resolve(this.#own.has(name));
    }
    return (this.#check() ?? this.callMethod("has", [name])) as Promise<boolean>;
  }

  /**
   * A plain object with every attribute.
   *
   * @returns The attributes.
   */
  override copy(): Promise<Record<string, unknown>> {
    return (this.#check() ?? this.callMethod("copy")) as Promise<Record<string, unknown>>;
  }

  /** An assignment `ns.name = value` that failed fails the next call, as it could not then. */
  #check(): Promise<never> | undefined {
    if (this.#failed === undefined) return undefined;
    const error = this.#failed;
    this.#failed = undefined;
    return Promise.reject(error);
  }
}

/**
 * The proxy of a manager's `dict()` (Python's `DictProxy`): a `Map` held by the manager.
 *
 * @typeParam K The keys' type.
 * @typeParam V The values' type.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const d = await manager.dict<string, number>({ count: 100 });
 * await d.set("count", (await d.get("count"))! - 1);
 * assert.equal(await d.get("count"), 99);
 * assert.deepEqual(await d.keys(), ["count"]);
 * for await (const key of d) assert.equal(key, "count");
 * ```
 *
 * @example Proxies inside a dict, and nested reads
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import type { DictProxy } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const supplies = await manager.dict({ water: 10 });
 * const d = await manager.dict<string, DictProxy<string, number>>({ supplies });
 * // A proxy stored in a container comes back as a proxy of the same object...
 * const again = await d.getItem("supplies");
 * await again.set("water", 7);
 * assert.equal(await supplies.get("water"), 7);
 * // ...and getIn() reads through it in one expression: Python's d["supplies"]["water"].
 * assert.equal(await d.getIn(["supplies", "water"]), 7);
 * ```
 */
export class DictProxy<K = unknown, V = unknown> extends BaseProxy {
  /**
   * Iterates over the keys, as Python's `for key in d`: a snapshot taken in one call when
   * the iteration starts.
   *
   * @returns An async iterator of the keys.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<K, void, undefined> {
    yield* await this.keys();
  }

  /**
   * Reads a value nested in this dict, as Python's `d[k1][k2]...`: each key of `path` reads
   * one level, through proxies stored in containers (one call each) and through plain
   * arrays, objects and `Map`s (read here).
   *
   * @typeParam R The value's type.
   * @param path The keys (and indices) from this dict down to the value.
   * @returns The value.
   * @throws {RangeError} If a key or index on the way is missing.
   * @throws {TypeError} If a value on the way has no keys to read.
   */
  getIn<R = unknown>(path: readonly unknown[]): Promise<R> {
    return readPath(this, path) as Promise<R>;
  }

  /**
   * Reads a key's value.
   *
   * @param key The key.
   * @param fallback What to return if the key is missing.
   * @returns The value, or `fallback`.
   */
  get(key: K, fallback?: V): Promise<V | undefined> {
    return this.callMethod("get", [key, fallback]) as Promise<V | undefined>;
  }

  /**
   * Reads a key's value, as Python's `d[key]`.
   *
   * @param key The key.
   * @returns The value.
   * @throws {RangeError} If the key is missing (Python's `KeyError`).
   */
  getItem(key: K): Promise<V> {
    return this.callMethod("getItem", [key]) as Promise<V>;
  }

  /**
   * Writes a key's value, as Python's `d[key] = value`.
   *
   * @param key The key.
   * @param value The value.
   * @returns A promise that resolves once written.
   */
  set(key: K, value: V): Promise<void> {
    return this.callMethod("set", [key, value]) as Promise<void>;
  }

  /**
   * Deletes a key, as Python's `del d[key]`.
   *
   * @param key The key.
   * @returns A promise that resolves once deleted.
   * @throws {RangeError} If the key is missing.
   */
  delete(key: K): Promise<void> {
    return this.callMethod("delete", [key]) as Promise<void>;
  }

  /**
   * Whether the dict has a key.
   *
   * @param key The key.
   * @returns `true` if it has.
   */
  has(key: K): Promise<boolean> {
    return this.callMethod("has", [key]) as Promise<boolean>;
  }

  /**
   * The keys.
   *
   * @returns The keys, in insertion order.
   */
  keys(): Promise<K[]> {
    return this.callMethod("keys") as Promise<K[]>;
  }

  /**
   * The values.
   *
   * @returns The values, in insertion order.
   */
  values(): Promise<V[]> {
    return this.callMethod("values") as Promise<V[]>;
  }

  /**
   * The entries.
   *
   * @returns `[key, value]` pairs, in insertion order.
   */
  items(): Promise<[K, V][]> {
    return this.callMethod("items") as Promise<[K, V][]>;
  }

  /**
   * Removes a key and returns its value.
   *
   * @param key The key.
   * @param fallback What to return if the key is missing.
   * @returns The value, or `fallback`.
   * @throws {RangeError} If the key is missing and there is no fallback.
   */
  pop(key: K, ...fallback: [V?]): Promise<V> {
    return this.callMethod("pop", [key, ...fallback]) as Promise<V>;
  }

  /**
   * Removes the last entry and returns it.
   *
   * @returns `[key, value]`.
   * @throws {RangeError} If the dict is empty.
   */
  popitem(): Promise<[K, V]> {
    return this.callMethod("popitem") as Promise<[K, V]>;
  }

  /**
   * Returns a key's value, first setting it to `fallback` if it is missing.
   *
   * @param key The key.
   * @param fallback The value to set if it is missing.
   * @returns The value.
   */
  setdefault(key: K, fallback: V): Promise<V> {
    return this.callMethod("setdefault", [key, fallback]) as Promise<V>;
  }

  /**
   * Writes several entries.
   *
   * @param entries A `Map`, `[key, value]` pairs, or a plain object.
   * @returns A promise that resolves once written.
   */
  update(entries: Map<K, V> | [K, V][] | Record<string, V>): Promise<void> {
    return this.callMethod("update", [entries]) as Promise<void>;
  }

  /**
   * Removes every entry.
   *
   * @returns A promise that resolves once cleared.
   */
  clear(): Promise<void> {
    return this.callMethod("clear") as Promise<void>;
  }

  /**
   * The number of entries, as Python's `len(d)`.
   *
   * @returns The count.
   */
  length(): Promise<number> {
    return this.callMethod("length") as Promise<number>;
  }

  /**
   * A copy of the dict.
   *
   * @returns A `Map` of every entry.
   */
  override copy(): Promise<Map<K, V>> {
    return this.callMethod("copy") as Promise<Map<K, V>>;
  }
}

/** How many items each call of a list proxy's iteration reads. */
const LIST_ITERATION_SLICE = 256;

/** The value at `path` below `start`: one step per key, through proxies and plain values. */
async function readPath(start: unknown, path: readonly unknown[]): Promise<unknown> {
  if (!Array.isArray(path)) {
    throw new TypeError(
      `Cannot read a nested value as 'path' must be an array of keys: received ${describe(path)}`,
    );
  }
  let value = start;
  for (let step = 0; step < path.length; step++) {
    const key = path[step];
    const missing = () =>
      new RangeError(
        `Cannot read ${describe(key)} at step ${step + 1} of the path ${describe(path)} as ${
          describe(value)
        } has no such key or index`,
      );
    if (value instanceof DictProxy) value = await value.getItem(key);
    else if (value instanceof ListProxy || value instanceof ArrayProxy) {
      value = await value.get(key as number);
    } else if (value instanceof NamespaceProxy) value = await value.get(key as string);
    else if (value instanceof Map) {
      if (!value.has(key)) throw missing();
      value = value.get(key);
    } else if (Array.isArray(value)) {
      const i = typeof key === "number" && key < 0 ? key + value.length : key;
      if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= value.length) {
        throw missing();
      }
      value = value[i];
    } else if (
      typeof value === "object" && value !== null &&
      Object.getPrototypeOf(value) === Object.prototype
    ) {
      if (typeof key !== "string" || !Object.hasOwn(value, key)) throw missing();
      value = (value as Record<string, unknown>)[key];
    } else {
      throw new TypeError(
        `Cannot read ${describe(key)} at step ${step + 1} of the path ${describe(path)} as ${
          describe(value)
        } holds no keys or items: shorten the path`,
      );
    }
  }
  return value;
}

/**
 * The proxy of a manager's `list()` (Python's `ListProxy`): an array held by the manager.
 *
 * @typeParam T The items' type.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const list = await manager.list<string>(["a"]);
 * await list.extend(["b", "c"]);
 * assert.equal(await list.get(-1), "c");
 * assert.deepEqual(await list.copy(), ["a", "b", "c"]);
 * const seen: string[] = [];
 * for await (const item of list) seen.push(item);
 * assert.deepEqual(seen, ["a", "b", "c"]);
 * ```
 *
 * @example A list of lists
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import type { ListProxy } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const rows = await manager.list<ListProxy<number>>([
 *   await manager.list([1, 2]),
 *   await manager.list([3, 4]),
 * ]);
 * await (await rows.get(1)).set(0, 30); // Python's rows[1][0] = 30
 * assert.equal(await rows.getIn([1, 0]), 30); // Python's rows[1][0]
 * ```
 */
export class ListProxy<T = unknown> extends BaseProxy {
  /**
   * Iterates over the items, as Python's `for item in l`: read in slices of 256 items, so
   * that a long list takes a few calls, and items appended while it iterates are seen.
   *
   * @returns An async iterator of the items.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (let start = 0;; start += LIST_ITERATION_SLICE) {
      const items = await this.slice(start, start + LIST_ITERATION_SLICE);
      yield* items;
      if (items.length < LIST_ITERATION_SLICE) return;
    }
  }

  /**
   * Reads a value nested in this list, as Python's `l[i][j]...`: each index (or key) of
   * `path` reads one level, through proxies stored in containers (one call each) and through
   * plain arrays, objects and `Map`s (read here).
   *
   * @typeParam R The value's type.
   * @param path The indices (and keys) from this list down to the value.
   * @returns The value.
   * @throws {RangeError} If an index or key on the way is missing.
   * @throws {TypeError} If a value on the way has no items to read.
   */
  getIn<R = unknown>(path: readonly unknown[]): Promise<R> {
    return readPath(this, path) as Promise<R>;
  }

  /**
   * Reads an item, as Python's `l[i]`; a negative index counts from the end.
   *
   * @param index The index.
   * @returns The item.
   * @throws {RangeError} If the index is out of range.
   */
  get(index: number): Promise<T> {
    return this.callMethod("get", [index]) as Promise<T>;
  }

  /**
   * Writes an item, as Python's `l[i] = value`.
   *
   * @param index The index.
   * @param value The item.
   * @returns A promise that resolves once written.
   * @throws {RangeError} If the index is out of range.
   */
  set(index: number, value: T): Promise<void> {
    return this.callMethod("set", [index, value]) as Promise<void>;
  }

  /**
   * Adds an item at the end.
   *
   * @param value The item.
   * @returns A promise that resolves once added.
   */
  append(value: T): Promise<void> {
    return this.callMethod("append", [value]) as Promise<void>;
  }

  /**
   * Adds items at the end.
   *
   * @param values The items.
   * @returns A promise that resolves once added.
   */
  extend(values: T[]): Promise<void> {
    return this.callMethod("extend", [values]) as Promise<void>;
  }

  /**
   * Inserts an item before `index`.
   *
   * @param index Where.
   * @param value The item.
   * @returns A promise that resolves once inserted.
   */
  insert(index: number, value: T): Promise<void> {
    return this.callMethod("insert", [index, value]) as Promise<void>;
  }

  /**
   * Removes an item and returns it.
   *
   * @param index Which, the last by default.
   * @returns The item.
   * @throws {RangeError} If the list is empty or the index out of range.
   */
  pop(index?: number): Promise<T> {
    return this.callMethod("pop", index === undefined ? [] : [index]) as Promise<T>;
  }

  /**
   * Removes the first item equal to `value`.
   *
   * @param value The item.
   * @returns A promise that resolves once removed.
   * @throws {Error} If no item is equal to it.
   */
  remove(value: T): Promise<void> {
    return this.callMethod("remove", [value]) as Promise<void>;
  }

  /**
   * The index of the first item equal to `value`.
   *
   * @param value The item.
   * @returns Its index.
   * @throws {Error} If no item is equal to it.
   */
  index(value: T): Promise<number> {
    return this.callMethod("index", [value]) as Promise<number>;
  }

  /**
   * How many items are equal to `value`.
   *
   * @param value The item.
   * @returns The count.
   */
  count(value: T): Promise<number> {
    return this.callMethod("count", [value]) as Promise<number>;
  }

  /**
   * Whether an item is equal to `value`, as Python's `value in l`.
   *
   * @param value The item.
   * @returns `true` if one is.
   */
  includes(value: T): Promise<boolean> {
    return this.callMethod("includes", [value]) as Promise<boolean>;
  }

  /**
   * Sorts the items in place, ascending (or descending with `reverse`).
   *
   * @param reverse Whether to sort descending.
   * @returns A promise that resolves once sorted.
   */
  sort(reverse = false): Promise<void> {
    return this.callMethod("sort", [reverse]) as Promise<void>;
  }

  /**
   * Reverses the items in place.
   *
   * @returns A promise that resolves once reversed.
   */
  reverse(): Promise<void> {
    return this.callMethod("reverse") as Promise<void>;
  }

  /**
   * Removes every item.
   *
   * @returns A promise that resolves once cleared.
   */
  clear(): Promise<void> {
    return this.callMethod("clear") as Promise<void>;
  }

  /**
   * The number of items, as Python's `len(l)`.
   *
   * @returns The count.
   */
  length(): Promise<number> {
    return this.callMethod("length") as Promise<number>;
  }

  /**
   * A copy of some items, as Python's `l[start:end]`.
   *
   * @param start The first index.
   * @param end The index after the last.
   * @returns The items.
   */
  slice(start?: number, end?: number): Promise<T[]> {
    return this.callMethod("slice", [start, end]) as Promise<T[]>;
  }

  /**
   * A copy of the list.
   *
   * @returns Every item, as an array.
   */
  override copy(): Promise<T[]> {
    return this.callMethod("copy") as Promise<T[]>;
  }
}

/**
 * The proxy of a manager's `Value()` (Python's `ValueProxy`): `await v.value` reads the value
 * and `v.value = x` writes it (sent at once, in order, as a `Namespace` attribute is; a write
 * that fails fails the next call), as Python's `v.value`; `get()` and `set()` are the same as
 * calls.
 *
 * @typeParam T The value's type.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const v = await manager.Value("i", 1);
 * v.value = 2;
 * assert.equal(await v.value, 2);
 * await v.set(3);
 * assert.equal(await v.get(), 3);
 * ```
 */
export class ValueProxy<T = unknown> extends BaseProxy {
  #failed: unknown;

  /**
   * The value, read from the manager: `await v.value`.
   *
   * @returns A promise of the value.
   */
  get value(): Promise<T> {
    return this.get();
  }

  /**
   * Writes the value, as Python's `v.value = x`: sent at once; a write that fails makes the
   * next call of this proxy fail with its error.
   *
   * @param value The new value.
   * @throws {TypeError} If the value cannot travel to the manager.
   */
  set value(value: T) {
    // A value that cannot travel throws here, from the assignment itself.
    channels.get(this)!.check(value);
    this.callMethod("set", [value]).catch((error) => (this.#failed ??= error));
  }

  /**
   * Reads the value.
   *
   * @returns The value.
   */
  get(): Promise<T> {
    return (this.#check() ?? this.callMethod("get")) as Promise<T>;
  }

  /**
   * Writes the value.
   *
   * @param value The new value.
   * @returns A promise that resolves once written.
   */
  set(value: T): Promise<void> {
    return (this.#check() ?? this.callMethod("set", [value])) as Promise<void>;
  }

  /** An assignment `v.value = x` that failed fails the next call, as it could not then. */
  #check(): Promise<never> | undefined {
    if (this.#failed === undefined) return undefined;
    const error = this.#failed;
    this.#failed = undefined;
    return Promise.reject(error);
  }
}

/**
 * The proxy of a manager's `Array()` (Python's `ArrayProxy`): a typed array held by the
 * manager.
 *
 * @typeParam T The items' type: `number`, or `bigint` for `q` and `Q`.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const a = await manager.Array("d", [0.5, 1.5]);
 * await a.set(0, 2.5);
 * assert.deepEqual(await a.copy(), [2.5, 1.5]);
 * ```
 */
export class ArrayProxy<T = number> extends BaseProxy {
  /**
   * Reads an item.
   *
   * @param index The index; negative counts from the end.
   * @returns The item.
   * @throws {RangeError} If the index is out of range.
   */
  get(index: number): Promise<T> {
    return this.callMethod("get", [index]) as Promise<T>;
  }

  /**
   * Writes an item.
   *
   * @param index The index; negative counts from the end.
   * @param value The item.
   * @returns A promise that resolves once written.
   * @throws {RangeError} If the index is out of range.
   */
  set(index: number, value: T): Promise<void> {
    return this.callMethod("set", [index, value]) as Promise<void>;
  }

  /**
   * The number of items.
   *
   * @returns The length.
   */
  length(): Promise<number> {
    return this.callMethod("length") as Promise<number>;
  }

  /**
   * A copy of the items.
   *
   * @returns The items, as an array.
   */
  override copy(): Promise<T[]> {
    return this.callMethod("copy") as Promise<T[]>;
  }
}

/**
 * The proxy of a manager's `Lock()`, `RLock()`, `Semaphore()` and `BoundedSemaphore()`
 * (Python's `AcquirerProxy`). An `RLock` belongs to the thread whose proxy acquired it.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const lock = await manager.Lock();
 * assert.equal(await lock.acquire(), true);
 * assert.equal(await lock.acquire({ block: false }), false);
 * await lock.release();
 * assert.equal(await lock.withLock(() => 42), 42);
 * ```
 */
export class AcquirerProxy extends BaseProxy {
  /**
   * Acquires, waiting as the object's `acquire()` does.
   *
   * @param options `{ block: false }` or `{ timeout }`.
   * @returns `true` once acquired; `false` on a failed non-blocking call or a timeout.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    return this.callMethod("acquire", options === undefined ? [] : [options]) as Promise<
      boolean
    >;
  }

  /**
   * Releases.
   *
   * @returns A promise that resolves once released.
   * @throws {Error} If it was not acquired.
   */
  release(): Promise<void> {
    return this.callMethod("release") as Promise<void>;
  }

  /**
   * Runs `fn` while holding it, as Python's `with lock:`.
   *
   * @typeParam T What `fn` returns.
   * @param fn The work to do while holding it.
   * @returns What `fn` returned.
   */
  async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}

/**
 * The proxy of a manager's `Condition()` (Python's `ConditionProxy`). `waitFor()` runs its
 * predicate here, waiting in the manager between checks.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const cond = await manager.Condition();
 * await cond.acquire();
 * assert.equal(await cond.wait(10), false); // nobody notified
 * await cond.release();
 * ```
 */
export class ConditionProxy extends AcquirerProxy {
  /**
   * Releases the lock, waits until notified or `timeout` passes, and acquires it again.
   *
   * @param timeout Milliseconds to wait at most.
   * @returns `false` if the timeout passed.
   */
  wait(timeout?: number): Promise<boolean> {
    return this.callMethod("wait", timeout === undefined ? [] : [timeout]) as Promise<boolean>;
  }

  /**
   * Waits until `predicate()` is truthy, checking after each notification.
   *
   * @typeParam T What the predicate returns.
   * @param predicate Checked here, with the lock held.
   * @param timeout Milliseconds to wait at most.
   * @returns The predicate's last value.
   */
  async waitFor<T>(predicate: () => T | Promise<T>, timeout?: number): Promise<T> {
    const deadline = timeout === undefined ? Infinity : performance.now() + timeout;
    let result = await predicate();
    while (!result) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      await this.wait(left === Infinity ? undefined : left);
      result = await predicate();
    }
    return result;
  }

  /**
   * Wakes up to `n` waiters.
   *
   * @param n How many.
   * @returns A promise that resolves once notified.
   */
  notify(n = 1): Promise<void> {
    return this.callMethod("notify", [n]) as Promise<void>;
  }

  /**
   * Wakes every waiter.
   *
   * @returns A promise that resolves once notified.
   */
  notifyAll(): Promise<void> {
    return this.callMethod("notifyAll") as Promise<void>;
  }
}

/**
 * The proxy of a manager's `Event()` (Python's `EventProxy`).
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const ev = await manager.Event();
 * assert.equal(await ev.wait(10), false);
 * await ev.set();
 * assert.equal(await ev.isSet(), true);
 * ```
 */
export class EventProxy extends BaseProxy {
  /**
   * Raises the flag, waking every waiter.
   *
   * @returns A promise that resolves once set.
   */
  set(): Promise<void> {
    return this.callMethod("set") as Promise<void>;
  }

  /**
   * Lowers the flag.
   *
   * @returns A promise that resolves once cleared.
   */
  clear(): Promise<void> {
    return this.callMethod("clear") as Promise<void>;
  }

  /**
   * Whether the flag is raised.
   *
   * @returns `true` if it is.
   */
  isSet(): Promise<boolean> {
    return this.callMethod("isSet") as Promise<boolean>;
  }

  /**
   * Waits until the flag is raised or `timeout` passes.
   *
   * @param timeout Milliseconds to wait at most.
   * @returns `false` if the timeout passed.
   */
  wait(timeout?: number): Promise<boolean> {
    return this.callMethod("wait", timeout === undefined ? [] : [timeout]) as Promise<boolean>;
  }
}

/**
 * The proxy of a manager's `Barrier()` (Python's `BarrierProxy`).
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const barrier = await manager.Barrier(1);
 * assert.equal(await barrier.wait(), 0);
 * assert.equal(await barrier.parties, 1);
 * assert.equal(await barrier.nWaiting, 0);
 * assert.equal(await barrier.broken, false);
 * ```
 */
export class BarrierProxy extends BaseProxy {
  /**
   * Waits until every party has called it.
   *
   * @param timeout Milliseconds to wait at most.
   * @returns This party's index, 0 to parties - 1.
   * @throws {BrokenBarrierError} If the barrier breaks.
   */
  wait(timeout?: number): Promise<number> {
    return this.callMethod("wait", timeout === undefined ? [] : [timeout]) as Promise<number>;
  }

  /**
   * Breaks the barrier for its waiters, then makes it usable again.
   *
   * @returns A promise that resolves once reset.
   */
  reset(): Promise<void> {
    return this.callMethod("reset") as Promise<void>;
  }

  /**
   * Breaks the barrier until `reset()`.
   *
   * @returns A promise that resolves once broken.
   */
  abort(): Promise<void> {
    return this.callMethod("abort") as Promise<void>;
  }

  /**
   * How many parties pass it together, as `Barrier`'s `parties`: `await barrier.parties`.
   *
   * @returns A promise of the count.
   */
  get parties(): Promise<number> {
    return this.callMethod("getParties") as Promise<number>;
  }

  /**
   * How many parties wait at it now, as `Barrier`'s `nWaiting`: `await barrier.nWaiting`.
   *
   * @returns A promise of the count.
   */
  get nWaiting(): Promise<number> {
    return this.callMethod("getNWaiting") as Promise<number>;
  }

  /**
   * Whether it is broken, as `Barrier`'s `broken`: `await barrier.broken`.
   *
   * @returns A promise of `true` if it is.
   */
  get broken(): Promise<boolean> {
    return this.callMethod("isBroken") as Promise<boolean>;
  }
}

/**
 * The proxy of a manager's `Queue()` and `JoinableQueue()`.
 *
 * @typeParam T The items' type.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * const q = await manager.Queue<string>();
 * await q.put("job");
 * assert.equal(await q.get(), "job");
 * assert.equal(await q.empty(), true);
 * ```
 */
export class QueueProxy<T = unknown> extends BaseProxy {
  /**
   * Puts an item, waiting while the queue is full.
   *
   * @param item The item.
   * @param options `{ block, timeout }`.
   * @returns A promise that resolves once put.
   * @throws {Full} If it stayed full.
   */
  put(item: T, options?: { block?: boolean; timeout?: number }): Promise<void> {
    return this.callMethod("put", options === undefined ? [item] : [item, options]) as Promise<
      void
    >;
  }

  /**
   * Takes an item, waiting while the queue is empty.
   *
   * @param options `{ block, timeout }`.
   * @returns The item.
   * @throws {Empty} If it stayed empty.
   */
  get(options?: { block?: boolean; timeout?: number }): Promise<T> {
    return this.callMethod("get", options === undefined ? [] : [options]) as Promise<T>;
  }

  /**
   * Puts an item without waiting.
   *
   * @param item The item.
   * @returns A promise that resolves once put.
   * @throws {Full} If the queue is full.
   */
  putNowait(item: T): Promise<void> {
    return this.callMethod("putNowait", [item]) as Promise<void>;
  }

  /**
   * Takes an item without waiting.
   *
   * @returns The item.
   * @throws {Empty} If the queue is empty.
   */
  getNowait(): Promise<T> {
    return this.callMethod("getNowait") as Promise<T>;
  }

  /**
   * How many items wait in the queue.
   *
   * @returns The count.
   */
  qsize(): Promise<number> {
    return this.callMethod("qsize") as Promise<number>;
  }

  /**
   * Whether the queue is empty.
   *
   * @returns `true` if it is.
   */
  empty(): Promise<boolean> {
    return this.callMethod("empty") as Promise<boolean>;
  }

  /**
   * Whether the queue is full.
   *
   * @returns `true` if it is.
   */
  full(): Promise<boolean> {
    return this.callMethod("full") as Promise<boolean>;
  }

  /**
   * Marks one item taken from a `JoinableQueue()` as done.
   *
   * @returns A promise that resolves once counted.
   * @throws {Error} If called more times than items were put.
   */
  taskDone(): Promise<void> {
    return this.callMethod("taskDone") as Promise<void>;
  }

  /**
   * Waits until every item put in a `JoinableQueue()` is done.
   *
   * @returns A promise that resolves then.
   */
  join(): Promise<void> {
    return this.callMethod("join") as Promise<void>;
  }
}

/**
 * The proxy of a manager's `AsyncResult` (a `PoolProxy`'s `applyAsync()` and `mapAsync()`).
 *
 * @typeParam T The result's type.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * await using pool = await manager.Pool(1);
 * const result = await pool.applyAsync((x: number) => x * 2, [21]);
 * assert.equal(await result.get(), 42);
 * assert.equal(await result.successful(), true);
 * ```
 */
export class AsyncResultProxy<T = unknown> extends BaseProxy {
  /**
   * Waits for the result.
   *
   * @param timeout Milliseconds to wait at most.
   * @returns The result.
   * @throws {TimeoutError} If the timeout passed first.
   */
  get(timeout?: number): Promise<T> {
    return this.callMethod("get", timeout === undefined ? [] : [timeout]) as Promise<T>;
  }

  /**
   * Waits until the result is ready, or `timeout` passes.
   *
   * @param timeout Milliseconds to wait at most.
   * @returns A promise that resolves then.
   */
  wait(timeout?: number): Promise<void> {
    return this.callMethod("wait", timeout === undefined ? [] : [timeout]) as Promise<void>;
  }

  /**
   * Whether the result is ready.
   *
   * @returns `true` once the task ended.
   */
  ready(): Promise<boolean> {
    return this.callMethod("ready") as Promise<boolean>;
  }

  /**
   * Whether the task ended without an error.
   *
   * @returns `true` if it did.
   * @throws {Error} If it is not ready.
   */
  successful(): Promise<boolean> {
    return this.callMethod("successful") as Promise<boolean>;
  }
}

/**
 * The proxy of a manager's `Pool()` (Python's `SyncManager.Pool`): a pool of the manager's
 * own workers. Task functions travel as for any pool: self-contained, or `fromModule()`.
 *
 * @example Usage
 * ```ts
 * import { Manager } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * await using manager = await Manager();
 * await using pool = await manager.Pool(2);
 * assert.deepEqual(await pool.map((x: number) => x * x, [1, 2, 3]), [1, 4, 9]);
 * ```
 */
export class PoolProxy extends BaseProxy {
  /**
   * Runs `fn(...args)` in a worker and resolves with its result.
   *
   * @typeParam A The arguments' types.
   * @typeParam R What `fn` returns.
   * @param fn The task: self-contained, or a `fromModule()` reference.
   * @param args Its arguments (data).
   * @returns Its result.
   */
  apply<A extends unknown[], R>(fn: TaskFunction<A, R>, args: A): Promise<Awaited<R>> {
    return this.callMethod("apply", [functionDef(fn), args]) as Promise<Awaited<R>>;
  }

  /**
   * Starts `fn(...args)` in a worker.
   *
   * @typeParam A The arguments' types.
   * @typeParam R What `fn` returns.
   * @param fn The task.
   * @param args Its arguments.
   * @returns A proxy of its `AsyncResult`.
   */
  applyAsync<A extends unknown[], R>(
    fn: TaskFunction<A, R>,
    args: A,
  ): Promise<AsyncResultProxy<Awaited<R>>> {
    return this.callMethod("applyAsync", [functionDef(fn), args]) as Promise<
      AsyncResultProxy<Awaited<R>>
    >;
  }

  /**
   * Applies `fn` to every item, in chunks, and resolves with the results in order.
   *
   * @typeParam T The items' type.
   * @typeParam R What `fn` returns.
   * @param fn The task.
   * @param items The items.
   * @param chunksize Items a task.
   * @returns The results.
   */
  map<T, R>(
    fn: TaskFunction<[T], R>,
    items: Iterable<T>,
    chunksize?: number,
  ): Promise<Awaited<R>[]> {
    return this.callMethod("map", [functionDef(fn), [...items], chunksize]) as Promise<
      Awaited<R>[]
    >;
  }

  /**
   * Starts `map()`.
   *
   * @typeParam T The items' type.
   * @typeParam R What `fn` returns.
   * @param fn The task.
   * @param items The items.
   * @param chunksize Items a task.
   * @returns A proxy of its `AsyncResult`.
   */
  mapAsync<T, R>(
    fn: TaskFunction<[T], R>,
    items: Iterable<T>,
    chunksize?: number,
  ): Promise<AsyncResultProxy<Awaited<R>[]>> {
    return this.callMethod("mapAsync", [functionDef(fn), [...items], chunksize]) as Promise<
      AsyncResultProxy<Awaited<R>[]>
    >;
  }

  /**
   * Calls `fn(...args)` for every argument list, and resolves with the results in order.
   *
   * @typeParam A The arguments' types.
   * @typeParam R What `fn` returns.
   * @param fn The task.
   * @param items The argument lists.
   * @param chunksize Items a task.
   * @returns The results.
   */
  starmap<A extends unknown[], R>(
    fn: TaskFunction<A, R>,
    items: Iterable<A>,
    chunksize?: number,
  ): Promise<Awaited<R>[]> {
    return this.callMethod("starmap", [functionDef(fn), [...items], chunksize]) as Promise<
      Awaited<R>[]
    >;
  }

  /**
   * Lets the submitted work finish, taking no more.
   *
   * @returns A promise that resolves once closed.
   */
  close(): Promise<void> {
    return this.callMethod("close") as Promise<void>;
  }

  /**
   * Stops the workers at once.
   *
   * @returns A promise that resolves once stopped.
   */
  terminate(): Promise<void> {
    return this.callMethod("terminate") as Promise<void>;
  }

  /**
   * Waits for the workers to end, after `close()` or `terminate()`.
   *
   * @returns A promise that resolves then.
   */
  join(): Promise<void> {
    return this.callMethod("join") as Promise<void>;
  }

  /**
   * Terminates the pool, as `await using` does.
   *
   * @returns A promise that resolves once stopped.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.terminate();
  }
}

/** A manager pool's task: its definition as a function the pool can send on. */
export function taskOf(def: unknown): Promise<unknown> {
  const d = def as FunctionDef;
  if (typeof d !== "object" || d === null || typeof d.name !== "string") {
    return Promise.reject(
      new TypeError(`Cannot run a task of ${describe(def)}: pass a function or fromModule()`),
    );
  }
  if (typeof d.module === "string") return Promise.resolve(fromModule(d.module, d.name));
  return loadFunction(d);
}

const POOL_EXPOSED = [
  "apply",
  "applyAsync",
  "map",
  "mapAsync",
  "starmap",
  "close",
  "terminate",
  "join",
];
const POOL_TYPEIDS = { applyAsync: "AsyncResult", mapAsync: "AsyncResult" };

const BUILTIN_PROXIES: Record<string, ProxyType> = {
  Namespace: NamespaceProxy,
  dict: DictProxy,
  list: ListProxy,
  Value: ValueProxy,
  Array: ArrayProxy,
  Lock: AcquirerProxy,
  RLock: AcquirerProxy,
  Semaphore: AcquirerProxy,
  BoundedSemaphore: AcquirerProxy,
  Condition: ConditionProxy,
  Event: EventProxy,
  Barrier: BarrierProxy,
  Queue: QueueProxy,
  JoinableQueue: QueueProxy,
  Pool: PoolProxy,
  AsyncResult: AsyncResultProxy,
};

for (const P of [AutoProxy, ...Object.values(BUILTIN_PROXIES)]) proxyTypes.set(P.name, P);

const QUEUE_METHODS = ["put", "get", "putNowait", "getNowait", "qsize", "empty", "full"];

/** The makers of the SyncManager types, with what their proxies call. */
const BUILTINS: Record<string, AnyFunction> = {
  Namespace: (attributes?: Record<string, unknown>) => new NamespaceReferent(attributes),
  dict: (init?: unknown) => new DictReferent(init),
  list: (init?: unknown) => new ListReferent(init),
  Value: (typecode: string, value: unknown) => new ValueReferent(typecode, value),
  Array: (typecode: string, init: number | unknown[]) => new ArrayReferent(typecode, init),
  Lock: () => new Lock(),
  RLock: () => new RLock(),
  Semaphore: (value?: number) => new Semaphore(value),
  BoundedSemaphore: (value?: number) => new BoundedSemaphore(value),
  Condition: () => new Condition(),
  Event: () => new Event(),
  Barrier: (parties: number, timeout?: number) => new BarrierReferent(parties, undefined, timeout),
  Queue: (maxsize?: number) => new QueueReferent(new Queue<number>(maxsize)),
  JoinableQueue: (maxsize?: number) => new QueueReferent(new JoinableQueue<number>(maxsize)),
  Pool: (processes?: number) => new PoolReferent(new Pool(processes ?? undefined), taskOf),
};

const BUILTIN_EXPOSED: Record<string, readonly string[]> = {
  Namespace: ["getattr", "setattr", "delattr", "has", "copy"],
  Lock: ["acquire", "release"],
  RLock: ["acquire", "release"],
  Semaphore: ["acquire", "release", "getValue"],
  BoundedSemaphore: ["acquire", "release", "getValue"],
  Condition: ["acquire", "release", "wait", "notify", "notifyAll"],
  Event: ["set", "clear", "isSet", "wait"],
  Barrier: ["wait", "reset", "abort", "getParties", "getNWaiting", "isBroken"],
  Queue: QUEUE_METHODS,
  JoinableQueue: [...QUEUE_METHODS, "taskDone", "join"],
  Pool: POOL_EXPOSED,
  AsyncResult: ["get", "wait", "ready", "successful"],
};

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
    this.#handshakeTimeout = checkPositive(options.handshakeTimeout, "handshakeTimeout", 5000);
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
   * Starts the server in a worker of its own, listening on the manager's address.
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
    const data: ManagerInit = {
      types,
      authkey: this.#authkey,
      address: this.#address,
      maxFrame: this.#maxFrame,
      handshakeTimeout: this.#handshakeTimeout,
      idleTimeout: this.#idleTimeout,
      limits: this.#limits,
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
    this.#channel = SocketChannel.for(
      { host: this.#address[0], port, authkey: this.#authkey },
      this.#limits,
    );
  }

  /**
   * Connects to a running server at the manager's address, proving the key.
   *
   * @returns A promise that resolves once connected.
   * @throws {AuthenticationError} If the server does not accept the key, or fails to prove it.
   * @throws {EOFError} If nothing listens there.
   */
  async connect(): Promise<void> {
    if (this.#state !== "initial" && this.#state !== "connected") this.#checkInitial("connect");
    const [host, port] = this.#address;
    const channel = SocketChannel.for({ host, port, authkey: this.#authkey }, this.#limits);
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
 * `multiprocessing.Manager()`), and resolves with it once it listens.
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
