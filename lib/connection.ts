/**
 * Connections (CPython's `multiprocessing.connection`): {@linkcode Pipe} returns two
 * {@linkcode Connection}s, and what one sends the other receives, in order, with message
 * boundaries kept, whichever workers hold them.
 *
 * A connection does not route its messages through the main thread or through
 * `postMessage`: each direction is a ring of bytes in a `SharedArrayBuffer` (a *channel*),
 * which every thread holding the connection reads and writes directly, under two short locks
 * (one for senders, one for receivers) taken with `Atomics`. A thread with nothing to receive
 * waits with `Atomics.waitAsync`, so it never blocks, and works on the main thread as in a
 * worker. {@linkcode Queue} is built on the same channel.
 *
 * Messages are what structured clone accepts. Numbers, strings, booleans, `null`,
 * `undefined` and small arrays and plain objects of those are written by a fast path of this
 * module; anything else (`Map`, `Date`, typed arrays, `bigint`, cycles…) by `node:v8`'s
 * `serialize()`. A channel holds 1 MiB by default (the `bytes` option changes it); a message
 * larger than that travels in pieces, so there is no size limit, only a wait for the
 * receiver to make room.
 *
 * @example Usage
 * ```ts
 * import { Pipe } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = Pipe();
 * await a.send({ greeting: "hello" });
 * assert.deepEqual(await b.recv(), { greeting: "hello" });
 * ```
 *
 * @module
 */
import { atProcessEnd } from "./_bootstrap.ts";
import { checkTimeout } from "./_validate.ts";
import { BufferTooShort, EOFError } from "./errors.ts";
import { describe, reduce, registerShared, sharedObjectCreated } from "./reduction.ts";
import {
  BYTES,
  Channel,
  type ChannelErrors,
  CONTROL_BYTES,
  encode,
  encoded,
  encodeSentBytes,
  READER_OPEN,
  ringSize,
  WRITER_OPEN,
} from "./_ring.ts";

// ---- Connections ------------------------------------------------------------------------

/** Options for {@linkcode Pipe}. */
export interface PipeOptions {
  /**
   * The size in bytes of each direction's buffer in shared memory, rounded up to a power of
   * two. A message larger than this still goes through, in pieces.
   *
   * @default {1048576}
   */
  bytes?: number;
}

// Set while a connection is revived or created by Pipe(), for the constructor to adopt.
let adopting: { read: SharedArrayBuffer | null; write: SharedArrayBuffer | null } | undefined;

// The copy of an end that a Connection object is: the channel that counts the end's open
// copies (its sending side, or the receiving side of a receive-only end), and the receiving
// side of a duplex end, which closes with it.
interface Copy {
  counter: Channel;
  writer: boolean;
  alsoReading: Channel | null;
}

function closeCopy({ counter, writer, alsoReading }: Copy): void {
  counter.closeEnd(writer);
  if (alsoReading !== null && counter.endClosed(writer)) alsoReading.markClosed(false);
}

// A connection with a message still on its way is kept from collection: collected, it would
// close its copy (below) and cut off the message's remaining pieces.
const sending = new Map<object, number>();

function pinWhileSending(connection: object, sent: Promise<void>): Promise<void> {
  sending.set(connection, (sending.get(connection) ?? 0) + 1);
  return sent.finally(() => {
    const left = sending.get(connection)! - 1;
    if (left === 0) sending.delete(connection);
    else sending.set(connection, left);
  });
}

// A connection dropped without close() closes its copy when collected, as Python's does.
const dropped = new FinalizationRegistry<Copy>((copy) => {
  openCopies.delete(copy);
  closeCopy(copy);
});

// The copies this thread holds open, which close when it ends as a process's handles do.
const openCopies = new Set<Copy>();

/**
 * Closes every connection copy this thread still holds open, as a process's pipes close when
 * it exits: the far ends then see the end of the stream. Called by a worker process as it
 * ends. Internal.
 */
export function closeAllConnections(): void {
  for (const copy of openCopies) closeCopy(copy);
  openCopies.clear();
}

atProcessEnd({ close: closeAllConnections });

const CONNECTION_ERRORS: ChannelErrors = {
  full: () => new Error("Cannot send now as the pipe is full"),
  empty: (timeout) => new EOFError(`Cannot receive as nothing arrived within ${timeout} ms`),
  broken: () =>
    new Error("Cannot send as the other end of the pipe is closed (Python's BrokenPipeError)"),
  eof: () =>
    new EOFError(
      "Cannot receive as the other end of the pipe is closed and everything it sent was received",
    ),
};

function bytesOf(buffer: unknown, what: string): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer;
  if (ArrayBuffer.isView(buffer)) {
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
  if (buffer instanceof ArrayBuffer || buffer instanceof SharedArrayBuffer) {
    return new Uint8Array(buffer);
  }
  throw new TypeError(
    `Cannot ${what} as 'buffer' must be a typed array, DataView or ArrayBuffer: received ${
      describe(buffer)
    }`,
  );
}

function byteCount(value: unknown, name: string, what: string, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(
      `Cannot ${what} as '${name}' must be an integer number of bytes: received ${describe(value)}`,
    );
  }
  if (value < 0 || value > max) {
    throw new RangeError(
      `Cannot ${what} as '${name}' must be between 0 and ${max}: received ${value}`,
    );
  }
  return value;
}

/**
 * One end of a {@linkcode Pipe} (Python's `multiprocessing.connection.Connection`): sends
 * values or bytes to the other end and receives what it sends, in order, with message
 * boundaries kept.
 *
 * A connection can be passed to a {@linkcode Process} or a pool task as an argument and
 * works there as here; it never passes its messages through the main thread. Copies of one
 * end in several threads all send into, and receive from, the same stream. The other end sees
 * the end of the stream ({@linkcode EOFError}) once every copy of this end is closed, or
 * garbage-collected, as Python's does once every process closed its handle: close the copy
 * you keep after passing an end to a process, as in Python.
 *
 * @typeParam T What the connection carries.
 *
 * @example Usage
 * ```ts
 * import { EOFError, Pipe } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const [parent, child] = Pipe<string>();
 * await child.send("a");
 * await child.send("b");
 * child.close();
 * assert.equal(await parent.poll(), true);
 * assert.equal(await parent.recv(), "a");
 * assert.equal(await parent.recv(), "b");
 * await assert.rejects(parent.recv(), EOFError);
 * ```
 */
export class Connection<T = unknown> implements Disposable {
  #in: Channel | null;
  #out: Channel | null;
  #closed = false;
  #copy: Copy;

  static {
    registerShared("Connection", (state) => {
      const { read, write } = (state ?? {}) as { read?: unknown; write?: unknown };
      if (
        (read !== null && !Channel.valid(read)) || (write !== null && !Channel.valid(write)) ||
        (read === null && write === null)
      ) {
        throw new TypeError(
          "Cannot receive a shared Connection as its state is not what a Connection sends: pass the Connection object itself",
        );
      }
      adopting = { read, write };
      try {
        return new Connection();
      } finally {
        adopting = undefined;
      }
    });
  }

  /**
   * Connections come from {@linkcode Pipe}; this constructor is not for direct use.
   *
   * @throws {TypeError} When called directly.
   */
  constructor() {
    const state = adopting;
    if (state === undefined) {
      throw new TypeError("Cannot create a Connection directly: call Pipe() for a pair");
    }
    this.#in = state.read === null ? null : new Channel(state.read, CONNECTION_ERRORS);
    this.#out = state.write === null ? null : new Channel(state.write, CONNECTION_ERRORS);
    this.#copy = this.#out !== null
      ? { counter: this.#out, writer: true, alsoReading: this.#in }
      : { counter: this.#in!, writer: false, alsoReading: null };
    dropped.register(this, this.#copy, this);
    openCopies.add(this.#copy);
    sharedObjectCreated();
  }

  #check(what: string, direction: "in" | "out"): Channel {
    if (this.#closed) {
      throw new Error(`Cannot ${what} as the connection is closed`);
    }
    const channel = direction === "in" ? this.#in : this.#out;
    if (channel === null) {
      throw new Error(
        direction === "in"
          ? `Cannot ${what} on a send-only connection: Pipe(false) returns [receiver, sender]`
          : `Cannot ${what} on a receive-only connection: Pipe(false) returns [receiver, sender]`,
      );
    }
    return channel;
  }

  /**
   * Sends a value to the other end, which receives it with {@linkcode Connection.recv}.
   * Written at once when there is room (then the promise is already resolved), so a send
   * that is not awaited still arrives, in order.
   *
   * @param obj A value structured clone accepts.
   * @returns A promise that resolves once the message is in the pipe.
   * @throws {Error} (as a rejection) If this end is closed or receive-only, or the other end
   *   is closed.
   * @throws {TypeError} (as a rejection) If `obj` cannot be cloned or holds shared memory.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = Pipe();
   * await a.send(["hello", 1, { x: true }]);
   * assert.deepEqual(await b.recv(), ["hello", 1, { x: true }]);
   * ```
   */
  send(obj: T): Promise<void> {
    try {
      const channel = this.#check("send", "out");
      const length = encode(obj, "send the object");
      return pinWhileSending(this, channel.send(encoded(), length, Infinity, false));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Receives the next value the other end sent, waiting for one to arrive. A message sent
   * with {@linkcode Connection.sendBytes} arrives as a `Uint8Array`, unless its bytes were
   * an object's encoding from {@linkcode Connection.recvBytes}: then as that object.
   *
   * @returns A promise of the value.
   * @throws {EOFError} (as a rejection) If the other end is closed and everything it sent
   *   was received.
   * @throws {Error} (as a rejection) If this end is closed or send-only.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = Pipe<number>();
   * void a.send(42);
   * assert.equal(await b.recv(), 42);
   * ```
   */
  recv(): Promise<T> {
    let channel: Channel;
    try {
      channel = this.#check("receive", "in");
    } catch (error) {
      return Promise.reject(error);
    }
    return channel.receiveValue(Infinity) as Promise<T>;
  }

  /**
   * Sends bytes as one message (Python's `send_bytes`): `size` bytes of `buffer` from byte
   * `offset`. The other end receives them with {@linkcode Connection.recvBytes}.
   *
   * @param buffer A typed array, `DataView` or `ArrayBuffer`.
   * @param offset The first byte to send.
   * @param size How many bytes to send; by default, all from `offset`.
   * @returns A promise that resolves once the message is in the pipe.
   * @throws {RangeError} (as a rejection) If `offset` or `size` fall outside `buffer`.
   * @throws {Error} (as a rejection) If this end is closed or receive-only, or the other end
   *   is closed.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = Pipe();
   * await a.sendBytes(new TextEncoder().encode("hello world"), 6, 5);
   * assert.equal(new TextDecoder().decode(await b.recvBytes()), "world");
   * ```
   */
  sendBytes(buffer: ArrayBufferView | ArrayBufferLike, offset = 0, size?: number): Promise<void> {
    try {
      const channel = this.#check("send bytes", "out");
      const bytes = bytesOf(buffer, "send bytes");
      byteCount(offset, "offset", "send bytes", bytes.length);
      const n = size === undefined
        ? bytes.length - offset
        : byteCount(size, "size", "send bytes", bytes.length - offset);
      const length = encodeSentBytes(bytes.subarray(offset, offset + n));
      return pinWhileSending(this, channel.send(encoded(), length, Infinity, false));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Receives the next message as bytes (Python's `recv_bytes`), waiting for one to arrive.
   * A message sent with {@linkcode Connection.send} arrives as its encoding, which
   * {@linkcode Connection.sendBytes} sends on as the object: as Python's `send()` is
   * pickling plus `send_bytes()`, `recv()` at the far end gives the object back.
   *
   * @param maxlength The longest message to accept, in bytes.
   * @returns A promise of the message's bytes.
   * @throws {BufferTooShort} (as a rejection) If the message is longer than `maxlength`;
   *   the message is received all the same, in the error's `data`.
   * @throws {EOFError} (as a rejection) If the other end is closed and everything it sent
   *   was received.
   *
   * @example Usage
   * ```ts
   * import { BufferTooShort, Pipe } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = Pipe();
   * await a.sendBytes(new Uint8Array([1, 2, 3, 4]));
   * await assert.rejects(b.recvBytes(3), BufferTooShort);
   * ```
   */
  async recvBytes(maxlength?: number): Promise<Uint8Array> {
    const channel = this.#check("receive bytes", "in");
    if (maxlength !== undefined) {
      byteCount(maxlength, "maxlength", "receive bytes", Number.MAX_SAFE_INTEGER);
    }
    const bytes = await channel.receive(BYTES, Infinity) as Uint8Array;
    if (maxlength !== undefined && bytes.length > maxlength) {
      throw new BufferTooShort(
        `Cannot receive a message of ${bytes.length} bytes as 'maxlength' is ${maxlength}: the message is in this error's 'data'`,
        bytes,
      );
    }
    return bytes;
  }

  /**
   * Receives the next message into `buffer` from byte `offset` (Python's
   * `recv_bytes_into`), waiting for one to arrive.
   *
   * @param buffer A typed array, `DataView` or `ArrayBuffer` to write into.
   * @param offset The first byte of `buffer` to write.
   * @returns A promise of the message's length in bytes.
   * @throws {BufferTooShort} (as a rejection) If the message does not fit; it is received
   *   all the same, in the error's `data`.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = Pipe();
   * await a.sendBytes(new Uint8Array([7, 8]));
   * const into = new Uint8Array(4);
   * assert.equal(await b.recvBytesInto(into, 1), 2);
   * assert.deepEqual([...into], [0, 7, 8, 0]);
   * ```
   */
  async recvBytesInto(buffer: ArrayBufferView | ArrayBufferLike, offset = 0): Promise<number> {
    const channel = this.#check("receive bytes", "in");
    const target = bytesOf(buffer, "receive bytes");
    byteCount(offset, "offset", "receive bytes", target.length);
    const bytes = await channel.receive(BYTES, Infinity) as Uint8Array;
    if (bytes.length > target.length - offset) {
      throw new BufferTooShort(
        `Cannot receive a message of ${bytes.length} bytes into a buffer with room for ${
          target.length - offset
        }: the message is in this error's 'data'`,
        bytes,
      );
    }
    target.set(bytes, offset);
    return bytes.length;
  }

  /**
   * Whether there is a message to receive (or the other end is closed, so that
   * {@linkcode Connection.recv} would fail at once), without taking it. Returns at once by
   * default, as Python's `poll()`.
   *
   * @param timeout The most milliseconds to wait for a message; `null` or `Infinity` waits
   *   as long as it takes.
   * @returns A promise of whether a message is there.
   * @throws {RangeError} (as a rejection) If `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const [a, b] = Pipe();
   * assert.equal(await b.poll(), false);
   * await a.send("x");
   * assert.equal(await b.poll(100), true);
   * assert.equal(await b.poll(), true); // still there
   * ```
   */
  async poll(timeout: number | null = 0): Promise<boolean> {
    const channel = this.#check("poll", "in");
    return await channel.poll(timeout === null ? Infinity : checkTimeout(timeout, "poll"));
  }

  /**
   * Closes this copy of the connection. Messages it was still sending go out; receives
   * waiting on it fail. Once every copy of this end is closed, the other end receives what
   * was sent and then {@linkcode EOFError}.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing";
   * import assert from "node:assert/strict";
   *
   * const [a] = Pipe();
   * a.close();
   * assert.equal(a.closed, true);
   * await assert.rejects(a.send(1), /closed/);
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    dropped.unregister(this);
    openCopies.delete(this.#copy);
    this.#in?.cancelReceives(new Error("Cannot receive as the connection was closed"));
    const out = this.#out;
    if (out !== null && out.sending) {
      // As the OS flushes a closed pipe: what is on its way still arrives, then the end.
      void out.flushed().then(() => closeCopy(this.#copy));
    } else {
      closeCopy(this.#copy);
    }
  }

  /** Whether this copy is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether this end can receive (`false` for the sending end of `Pipe(false)`). */
  get readable(): boolean {
    return this.#in !== null;
  }

  /** Whether this end can send (`false` for the receiving end of `Pipe(false)`). */
  get writable(): boolean {
    return this.#out !== null;
  }

  /** Closes the connection, for `using conn = ...` (Python's `with conn:`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * How the connection travels to another worker: its channels' shared memory. Counts one
   * more open copy of this end.
   *
   * @returns The kind `"Connection"` and the shared buffers.
   * @throws {Error} If the connection is closed.
   */
  [reduce](): { kind: string; state: unknown } {
    if (this.#closed) {
      throw new Error("Cannot pass a closed connection to another process");
    }
    this.#copy.counter.openEnd(this.#copy.writer);
    return {
      kind: "Connection",
      state: { read: this.#in?.buffer ?? null, write: this.#out?.buffer ?? null },
    };
  }
}

/**
 * A pair of connected {@linkcode Connection}s (Python's `multiprocessing.Pipe`). With
 * `duplex` (the default) each end sends to and receives from the other; with
 * `duplex = false` the first can only receive and the second only send, as in Python.
 *
 * @typeParam T What the connections carry.
 * @param duplex Whether both ends can send and receive.
 * @param options `{ bytes }`: the size of each direction's buffer in shared memory.
 * @returns The two ends: `[conn1, conn2]`, or `[receiver, sender]` when not duplex.
 * @throws {TypeError} If `duplex` is not a boolean or `bytes` not an integer.
 * @throws {RangeError} If `bytes` is out of range.
 *
 * @example Usage
 * ```ts
 * import { Pipe, Process } from "@mp/multiprocessing";
 * import assert from "node:assert/strict";
 *
 * const [parentConn, childConn] = Pipe();
 * const p = new Process({
 *   target: async (conn: typeof childConn) => {
 *     await conn.send(["hello"]);
 *     conn.close();
 *   },
 *   args: [childConn],
 * });
 * p.start();
 * assert.deepEqual(await parentConn.recv(), ["hello"]);
 * await p.join();
 * ```
 */
export function Pipe<T = unknown>(
  duplex = true,
  options: PipeOptions = {},
): [Connection<T>, Connection<T>] {
  if (typeof duplex !== "boolean") {
    throw new TypeError(
      `Cannot create pipe as 'duplex' must be a boolean: received ${describe(duplex)}`,
    );
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot create pipe as 'options' must be an object such as { bytes }: received ${
        describe(options)
      }`,
    );
  }
  const size = ringSize(options.bytes, "pipe");
  const forward = Channel.allocate(size, 0);
  const make = (read: SharedArrayBuffer | null, write: SharedArrayBuffer | null) => {
    adopting = { read, write };
    try {
      return new Connection<T>();
    } finally {
      adopting = undefined;
    }
  };
  if (!duplex) {
    const reader = make(forward, null);
    const writer = make(null, forward);
    const c = new Int32Array(forward, 0, CONTROL_BYTES / 4);
    c[WRITER_OPEN] = 1;
    c[READER_OPEN] = 1;
    return [reader, writer];
  }
  const backward = Channel.allocate(size, 0);
  const first = make(backward, forward);
  const second = make(forward, backward);
  new Int32Array(forward, 0, CONTROL_BYTES / 4)[WRITER_OPEN] = 1;
  new Int32Array(backward, 0, CONTROL_BYTES / 4)[WRITER_OPEN] = 1;
  return [first, second];
}
