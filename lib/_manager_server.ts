/**
 * The manager's server (CPython's `multiprocessing.managers.Server`): it holds the objects,
 * answers the calls of proxies and counts their references; {@linkcode LocalChannel}, the
 * same-thread channel to it; how a proxy that arrives in a thread is rebuilt (CPython's
 * `RebuildProxy`); and the makers of the SyncManager's built-in types. Internal: see
 * `lib/managers.ts`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import process from "node:process";
import { getHeapStatistics } from "node:v8";
import {
  answerChallenge,
  AuthThrottle,
  deliverChallenge,
  HANDSHAKE_MAX_FRAME,
  SocketConnection,
} from "./_socket.ts";
import { WireCodec, WireLimitError, type WireLimits } from "./_wire.ts";
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
import { allocatePid, runAsProcess, runningAs } from "./context.ts";
import type { PipeFrames } from "./_manager_pipe.ts";
import { EOFError, RemoteError } from "./errors.ts";
import { isThenable } from "./_thenable.ts";
import { JoinableQueue, Queue } from "./queues.ts";
import {
  describe,
  fromModule,
  type FunctionDef,
  loadFunction,
  registerShared,
} from "./reduction.ts";
import { BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore } from "./synchronize.ts";
import {
  type Channel,
  ERROR,
  type FrameConn,
  isReference,
  RefBatch,
  type Reference,
  RETURN,
  type Route,
  SocketChannel,
  UNDEFINED,
} from "./_manager_channel.ts";
import { type BaseProxy, makeProxy, type ProxyType, proxyTypes } from "./_proxies.ts";

// deno-lint-ignore no-explicit-any
export type AnyFunction = (...args: any[]) => unknown;

/** A TCP address: host and port. */
export type Address = [host: string, port: number];

/** What a server is told by its manager: every limit, checked. */
interface ServerOptions {
  maxFrame: number;
  handshakeTimeout: number;
  idleTimeout: number;
  limits: WireLimits;
}

/** How a server makes the object of a typeid: a function, or `fromModule()` reference. */
export type Maker = AnyFunction | FunctionDef | string;

export interface TypeInfo {
  maker: Maker | undefined;
  exposed: readonly string[] | undefined;
  methodToTypeid: Readonly<Record<string, string>> | undefined;
  proxytype: ProxyType | undefined;
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
  readonly #conn: FrameConn;
  readonly #timeout: number;
  #running = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: FrameConn, timeout: number) {
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
  readonly #connections = new Set<FrameConn>();
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
    // Nothing from a peer is trusted before it has proved the key, and it gets
    // handshakeTimeout to do so.
    let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(
      () => conn.close(),
      this.#handshakeTimeout,
    );
    const peer = socket.remoteAddress ?? "";
    try {
      // A peer that keeps failing waits longer each time before it may try again; never so
      // long that the handshake timeout would close it before its turn.
      const delay = Math.min(this.#throttle.delay(peer), this.#handshakeTimeout / 2);
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      if (conn.closed) return;
      await deliverChallenge(conn, this.#authkey);
      // The peer has proved the key: it is trusted from here, and the rest of the handshake
      // is not timed (an authenticated connection is not, unless idleTimeout is set, and
      // Python times neither). The timer must stop now, not after the peer's #WELCOME#: the
      // client is done once it sends that, and sends its first request with it, so a timer
      // still running until it arrives would close, on a slow machine, a client that holds
      // the key and believes itself connected (its calls fail with EOFError).
      clearTimeout(timer);
      timer = undefined;
      this.#throttle.succeeded(peer);
      await answerChallenge(conn, this.#authkey);
    } catch {
      // A peer that merely went away (or timed out) is not counted as a failed key, nor is
      // one that proved the key.
      if (!conn.closed && timer !== undefined) this.#throttle.failed(peer);
      conn.close();
      return;
    } finally {
      clearTimeout(timer);
    }
    await this.#serveClient(conn);
  }

  /**
   * Serves the client at the other end of `conn`, the pipe from the thread that started this
   * server's `Manager()` (trusted: it made the worker this server runs in), until either end
   * closes it or the server closes.
   *
   * @internal For `lib/_manager_main.ts`.
   */
  servePipe(conn: PipeFrames): Promise<void> {
    this.#connections.add(conn);
    return this.#serveClient(conn);
  }

  /**
   * Answers the requests of one authenticated client, a frame at a time as each arrives,
   * until its connection ends; then releases the client's references.
   */
  #serveClient(conn: FrameConn): Promise<void> {
    conn.maxFrame = this.#maxFrame;
    // Each connection is a client thread: the owner of the RLocks its calls acquire, and of
    // the references its proxies hold, released when it ends (its thread or program ended).
    const identity = { name: `ManagerClient-${this.#nextId}`, pid: allocatePid().pid };
    const client = this.attach();
    const idle = new IdleTimer(conn, this.#idleTimeout);
    return new Promise<void>((resolve) => {
      // Its calls run as the client's process: set once here, as every frame arrives within
      // this context, and set again only for one that lost it.
      runAsProcess(identity, [], () => {
        conn.listen(
          (frame) => {
            // Frames that arrived before the connection closed are not answered.
            if (conn.closed) return;
            if (runningAs(identity)) this.#handle(conn, client, idle, frame);
            else runAsProcess(identity, [], () => this.#handle(conn, client, idle, frame));
          },
          () => {
            conn.close();
            idle.stop();
            this.detach(client);
            this.#connections.delete(conn);
            resolve();
          },
          true,
        );
      });
    });
  }

  /** Reads one request of `client` and starts answering it; closes the connection if the frame is not a request. */
  #handle(conn: FrameConn, client: Client, idle: IdleTimer, frame: Uint8Array): void {
    let request: unknown;
    try {
      request = this.#codec.decode(frame, conn.lendsFrames);
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
      return;
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
    void this.#answer(conn, client, idle, callId, id, method, args);
  }

  /** Sends a reply's bytes, unless the client went away meanwhile. */
  #reply(conn: FrameConn, bytes: Uint8Array): void {
    try {
      conn.send(bytes);
    } catch {
      // The client went away meanwhile.
    }
  }

  // Answers at once what a method returned (most do), and once settled what it promised: a
  // reply that waits for nothing leaves in the same microtask as its request was read, before
  // the next is (awaited, it left three microtasks later).
  #answer(
    conn: FrameConn,
    client: Client,
    idle: IdleTimer,
    callId: number,
    id: string,
    method: string,
    args: unknown[],
  ): void {
    let value: unknown;
    try {
      value = this.#invokeNow(id, method, args, client);
    } catch (error) {
      return this.#answered(conn, client, idle, callId, ERROR, error);
    }
    if (!isThenable(value)) return this.#answered(conn, client, idle, callId, RETURN, value);
    // Through a promise of its own: a thenable's then() that throws fails the call alone.
    Promise.resolve(value).then(
      (v) => this.#answered(conn, client, idle, callId, RETURN, v),
      (error) => this.#answered(conn, client, idle, callId, ERROR, error),
    );
  }

  #answered(
    conn: FrameConn,
    client: Client,
    idle: IdleTimer,
    callId: number,
    kind: typeof RETURN | typeof ERROR,
    value: unknown,
  ): void {
    const reply = kind === ERROR
      ? [callId, ERROR, value instanceof Error ? value : new Error(String(value))]
      : value === undefined
      ? [callId, UNDEFINED]
      : [callId, RETURN, value];
    idle.done();
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
    return await this.#invokeNow(id, method, args, client);
  }

  // invoke(), but what a method returns is returned as it is, a value at once or a promise
  // (of the value, or of its proxy's reference).
  #invokeNow(id: string, method: string, args: unknown[], client: Client): unknown {
    if (id === "") {
      if (method === "create") return this.#create(args);
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
    const result = (fn as AnyFunction).apply(held.obj, args);
    const typeid = held.methodToTypeid?.[method];
    if (typeid === undefined) return result;
    if (isThenable(result)) {
      return Promise.resolve(result).then((r) => this.#hold(typeid, r, this.#types.get(typeid)));
    }
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

const makers = new Map<FunctionDef, Promise<AnyFunction>>();

// deno-lint-ignore no-explicit-any
export type Constructor = new (...args: any[]) => unknown;

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

/** The same-thread channel of `dummy.ts`: calls the server directly, copying values as a wire would. */
export class LocalChannel implements Channel {
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
    // A bytes value decodes as a view of the bytes it came from: of a copy of its own, not of
    // the encoder's buffer, which the next call reuses (the server would keep a view of it).
    const copied = this.#toServer.decode(this.#toServer.encode(args)) as unknown[];
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
export const POOL_TYPEIDS = { applyAsync: "AsyncResult", mapAsync: "AsyncResult" };

const QUEUE_METHODS = ["put", "get", "putNowait", "getNowait", "qsize", "empty", "full"];

/** The makers of the SyncManager types, with what their proxies call. */
export const BUILTINS: Record<string, AnyFunction> = {
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

export const BUILTIN_EXPOSED: Record<string, readonly string[]> = {
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
