/**
 * How proxies reach their manager (the client side of CPython's `multiprocessing.managers`):
 * the references that stand for a manager's objects on the wire, the kinds of reply, the
 * {@linkcode Channel} every proxy calls through and its TCP form, {@linkcode SocketChannel}.
 * Internal: see `lib/managers.ts`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createConnection, type Socket } from "node:net";
import { setTimeout as timer } from "node:timers";
import {
  answerChallenge,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_FRAME,
  deliverChallenge,
  HANDSHAKE_MAX_FRAME,
  SocketConnection,
} from "./_socket.ts";
import { DEFAULT_WIRE_LIMITS, WireCodec, type WireLimits } from "./_wire.ts";
import { AuthenticationError, EOFError } from "./errors.ts";

/** What stands for a manager's object on the wire: its typeid, id and exposed methods. */
export interface Reference {
  t: string;
  i: string;
  e: string[];
}

export function isReference(value: unknown): value is Reference {
  const r = value as Reference;
  return typeof value === "object" && value !== null && typeof r.t === "string" &&
    typeof r.i === "string" && Array.isArray(r.e);
}

export const RETURN = 0;
export const ERROR = 1;
export const UNDEFINED = 2;

// ---- The client ---------------------------------------------------------------------------------

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** How proxies reach their manager: over TCP, or (dummy.ts) by direct calls. */
export interface Channel {
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

/**
 * Frames between a client and a manager's server: over a socket (`SocketConnection`), or
 * over shared memory between the thread that started a `Manager()` and its worker
 * (`PipeFrames`, lib/_manager_pipe.ts).
 */
export interface FrameConn {
  /** Whether the connection has ended (closed by either end, or broken). */
  readonly closed: boolean;
  /** The largest frame this end accepts; a longer one closes the connection. */
  maxFrame: number;
  /**
   * Whether a frame given to `onFrame` is good only during that call (a view of a buffer the
   * connection reuses): its reader must copy what it keeps of it.
   */
  readonly lendsFrames?: boolean;
  /** Sends one frame at once (copied, or queued in order); throws once the connection ended. */
  send(payload: Uint8Array): void;
  /**
   * Gives every frame, in order, to `onFrame`, and the error that ended the connection to
   * `onEnd`; `held`: whether listening alone keeps the program alive.
   */
  listen(
    onFrame: (frame: Uint8Array) => void,
    onEnd: (error: Error) => void,
    held: boolean,
  ): void;
  /** Keeps the program alive while a caller waits for something from this connection. */
  ref(): void;
  /** Undoes one `ref()`. */
  unref(): void;
  /** Closes the connection; frames not yet read are dropped. */
  close(): void;
}

/** Where a proxy's manager is, as a worker needs it: TCP address and key. */
export interface Route {
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
export class RefBatch {
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

/**
 * How long a client waits for a server to authenticate, in milliseconds (20 s): longer than a
 * server's default bound, so that on a slow machine the server's verdict comes first.
 */
const CLIENT_HANDSHAKE_TIMEOUT = DEFAULT_HANDSHAKE_TIMEOUT + 5_000;

/** One connection per thread and manager, shared by every proxy of that manager. */
export class SocketChannel implements Channel {
  static readonly #channels = new Map<string, SocketChannel>();
  readonly route: Route;
  readonly refs: RefBatch = new RefBatch(this);
  #conn: Promise<FrameConn> | undefined;
  #ready: FrameConn | undefined;
  #pending = new Map<number, Pending>();
  #nextCall = 1;
  #codec: WireCodec;
  #broken: Error | undefined;
  // Replies waiting for an earlier one whose classes are being imported.
  #resolving: Promise<void> | undefined;
  // Where the thread's channels keep it.
  #key = "";

  /**
   * The channel of this thread to `route`; `limits` (the manager's own, where this thread has
   * one) bound the replies it reads, if it makes a new one.
   */
  static for(route: Route, limits?: WireLimits): SocketChannel {
    const key = channelKey(route);
    // The pipe to a Manager() this thread started, while it works.
    const piped = SocketChannel.#channels.get(`pipe ${key}`);
    if (piped !== undefined && piped.#broken === undefined) return piped;
    return SocketChannel.tcp(route, limits);
  }

  /**
   * The TCP channel of this thread to `route`, even to a manager this thread started (whose
   * proxies here call through its pipe): what `connect()` asks for, authenticated.
   */
  static tcp(route: Route, limits?: WireLimits): SocketChannel {
    const key = channelKey(route);
    let channel = SocketChannel.#channels.get(key);
    if (channel === undefined || channel.#broken !== undefined) {
      SocketChannel.#channels.set(key, channel = new SocketChannel(route, limits));
      channel.#key = key;
    }
    return channel;
  }

  /**
   * Makes `conn`, already connected to the server at `route` (a `Pipe()` to the worker of a
   * `Manager()` this thread started), this thread's channel to it: every proxy of that
   * manager on this thread calls through it, and proxies sent elsewhere still carry `route`.
   */
  static adopt(route: Route, conn: FrameConn, limits?: WireLimits): SocketChannel {
    const channel = new SocketChannel(route, limits);
    channel.#ready = conn;
    channel.#conn = Promise.resolve(conn);
    channel.#listen(conn);
    channel.#key = `pipe ${channelKey(route)}`;
    SocketChannel.#channels.set(channel.#key, channel);
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
  connection(): Promise<FrameConn> {
    // A failed connection is not retried by this channel: the next SocketChannel.for() makes
    // a new one, so that a manager started later can still be reached.
    return this.#conn ??= this.#connect().catch((error) => {
      this.#broken = error;
      throw error;
    });
  }

  async #connect(): Promise<FrameConn> {
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
    this.#listen(conn);
    this.#ready = conn;
    return conn;
  }

  // Listening never ends while connected: it does not keep the program alive by itself. Each
  // call refs the connection until its reply arrives (#send), so a pending call does, and an
  // idle connection does not (Python's client exits).
  #listen(conn: FrameConn): void {
    conn.listen((frame) => this.#reply(conn, frame), (error) => {
      if (this.#broken === undefined) this.#fail(error);
    }, false);
  }

  #reply(conn: FrameConn, frame: Uint8Array): void {
    let reply: [number, number, unknown];
    try {
      reply = this.#codec.decode(frame, conn.lendsFrames) as [number, number, unknown];
    } catch (error) {
      this.#fail(error);
      // A reply that cannot be read breaks the channel: closed, it no longer holds the
      // program for the calls that were waiting.
      conn.close();
      return;
    }
    if (this.#codec.unresolved || this.#resolving !== undefined) {
      // Instances of classes this thread has not imported yet: imported, then rebuilt. The
      // replies after it wait for it, so that calls still settle in the order answered.
      const resolved = this.#codec.unresolved
        ? () =>
          this.#codec.resolve(reply).then(
            (value) => value as typeof reply,
            (error) => [reply[0], ERROR, error] as typeof reply,
          )
        : () => reply;
      const next = (this.#resolving ?? Promise.resolve()).then(resolved).then((r) =>
        this.#settle(conn, r)
      );
      this.#resolving = next;
      void next.then(() => {
        if (this.#resolving === next) this.#resolving = undefined;
      });
      return;
    }
    this.#settle(conn, reply);
  }

  #settle(conn: FrameConn, reply: [number, number, unknown]): void {
    const pending = this.#pending.get(reply[0]);
    if (pending === undefined) return;
    this.#pending.delete(reply[0]);
    conn.unref();
    if (reply[1] === ERROR) pending.reject(reply[2]);
    else pending.resolve(reply[1] === UNDEFINED ? undefined : reply[2]);
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

  #send(conn: FrameConn, callId: number, bytes: Uint8Array): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // Sent first: on a connection that has just ended, send() throws (the rejection), and
      // the call is neither left pending nor holding the program. It fails as every call on
      // a lost connection does, not with the socket's own error (a bare `write EPIPE`), which
      // a call made before #read has seen the end would otherwise get.
      try {
        conn.send(bytes);
      } catch (error) {
        this.#fail(error);
        throw this.#broken;
      }
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
    // Closed, it goes (a pipe holds 2 MiB of shared memory): a proxy that arrives later for
    // the same server makes a new one.
    if (SocketChannel.#channels.get(this.#key) === this) SocketChannel.#channels.delete(this.#key);
    void this.#conn?.then((conn) => conn.close(), () => {});
  }

  /**
   * Fails the calls waiting and every later one with `EOFError`, and closes the connection:
   * its server is known to be gone (the worker of a `Manager()` ended).
   */
  abort(why: string): void {
    if (this.#broken === undefined) this.#fail(new EOFError(why));
    this.close();
  }
}

function channelKey(route: Route): string {
  return `${route.host}:${route.port}:${Buffer.from(route.authkey).toString("hex")}`;
}

/**
 * Makes the proxy of a reference that arrives through a {@linkcode SocketChannel}: set by
 * `lib/_proxies.ts` as it loads, so that this module, below it, does not import it back. Every
 * channel is made by a manager or by a proxy arriving in a thread, whose modules have loaded it.
 */
let proxyMaker: ((channel: Channel, reference: Reference) => object) | undefined;

/** Sets what {@linkcode makeProxy} calls. Internal: for `lib/_proxies.ts`. */
export function setProxyMaker(make: (channel: Channel, reference: Reference) => object): void {
  proxyMaker = make;
}

/** The proxy of `reference`, reaching its object through `channel`. */
export function makeProxy(channel: Channel, reference: Reference): object {
  return proxyMaker!(channel, reference);
}
