/**
 * The shared-memory ring (a *channel*) under every {@linkcode Connection} and queue: a ring
 * of bytes in a `SharedArrayBuffer` that every thread holding it reads and writes directly,
 * under two short locks (one for senders, one for receivers) taken with `Atomics`, and the
 * message encoding written into it. Internal: the public faces are `lib/connection.ts` and
 * `lib/queues.ts`.
 *
 * @module
 */
import * as v8 from "node:v8";
import { atProcessEnd } from "./_bootstrap.ts";
import { Deque } from "./_deque.ts";
import { waitFor } from "./_wait.ts";
import { hasEnded, threadOwnerPid } from "./context.ts";
import { decodeShared, describe, encodeShared, loadRevivers } from "./reduction.ts";

// ---- Encoding ---------------------------------------------------------------------------
//
// `v8.serialize()` costs 1-6 µs even for a number (measured on all three runtimes), which
// alone would cap a queue below 1M messages/s. Small plain values, the bulk of what queues
// carry, are written here instead, into one reused scratch buffer: no allocation per message.

const T_UNDEFINED = 0;
const T_NULL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_INT = 4;
const T_DOUBLE = 5;
const T_ASCII = 6;
const T_UTF16 = 7;
const T_ARRAY = 8;
const T_OBJECT = 9;
const T_V8 = 10;
const T_V8_SHARED = 11;
const T_BYTES = 12;

let out = new Uint8Array(4096);
let outView = new DataView(out.buffer);
let at = 0;

// The arrays and objects met so far in the value being encoded: a value that holds one twice
// (or a cycle) goes to `v8.serialize()`, which keeps identities as structured clone does.
const MAX_CONTAINERS = 32;
const containers: (object | undefined)[] = new Array(MAX_CONTAINERS).fill(undefined);
let containerCount = 0;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function reserve(n: number): void {
  if (at + n > out.length) grow(at + n);
}

function grow(min: number): void {
  let size = out.length * 2;
  while (size < min) size *= 2;
  const next = new Uint8Array(size);
  next.set(out.subarray(0, at));
  out = next;
  outView = new DataView(next.buffer);
}

// Starts a message. The previous one has been copied out by now, so a scratch buffer that a
// large message grew is dropped rather than kept for the thread's lifetime.
function start(): void {
  at = 0;
  if (out.length > 1 << 20) {
    out = new Uint8Array(4096);
    outView = new DataView(out.buffer);
  }
}

function track(value: object): boolean {
  if (containerCount === MAX_CONTAINERS) return false;
  for (let i = 0; i < containerCount; i++) if (containers[i] === value) return false;
  containers[containerCount++] = value;
  return true;
}

function writeString(s: string): void {
  const n = s.length;
  reserve(5 + 2 * n);
  const start = at + 5;
  let ascii = true;
  if (n > 64) {
    const { read, written } = textEncoder.encodeInto(s, out.subarray(start, start + n));
    ascii = read === n && written === n;
  } else {
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) {
        ascii = false;
        break;
      }
      out[start + i] = c;
    }
  }
  outView.setUint32(at + 1, n, true);
  if (ascii) {
    out[at] = T_ASCII;
    at = start + n;
    return;
  }
  // UTF-16 code units as they are: lone surrogates survive, as in structured clone.
  out[at] = T_UTF16;
  let p = start;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    out[p++] = c & 0xff;
    out[p++] = c >>> 8;
  }
  at = p;
}

function writeValue(value: unknown): boolean {
  switch (typeof value) {
    case "number":
      if ((value | 0) === value && (value !== 0 || 1 / value > 0)) {
        reserve(5);
        out[at] = T_INT;
        outView.setInt32(at + 1, value, true);
        at += 5;
      } else {
        reserve(9);
        out[at] = T_DOUBLE;
        outView.setFloat64(at + 1, value, true);
        at += 9;
      }
      return true;
    case "string":
      writeString(value);
      return true;
    case "boolean":
      reserve(1);
      out[at++] = value ? T_TRUE : T_FALSE;
      return true;
    case "undefined":
      reserve(1);
      out[at++] = T_UNDEFINED;
      return true;
    case "object": {
      if (value === null) {
        reserve(1);
        out[at++] = T_NULL;
        return true;
      }
      if (Array.isArray(value)) {
        if (!track(value)) return false;
        const n = value.length;
        reserve(5);
        out[at] = T_ARRAY;
        outView.setUint32(at + 1, n, true);
        at += 5;
        for (let i = 0; i < n; i++) {
          const item = value[i];
          // A hole must stay a hole.
          if (item === undefined && !(i in value)) return false;
          if (!writeValue(item)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      if (!track(value)) return false;
      reserve(5);
      out[at] = T_OBJECT;
      const countAt = at + 1;
      at += 5;
      let count = 0;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) return false; // an enumerable inherited key
        writeString(key);
        if (!writeValue((value as Record<string, unknown>)[key])) return false;
        count++;
      }
      outView.setUint32(countAt, count, true);
      return true;
    }
    default:
      return false;
  }
}

/** Whether `value` holds a `SharedArrayBuffer`, which bytes cannot carry. */
function holdsSharedMemory(value: unknown, seen: Set<object>): boolean {
  if (typeof value !== "object" || value === null || seen.has(value)) return false;
  seen.add(value);
  if (value instanceof SharedArrayBuffer) return true;
  if (ArrayBuffer.isView(value)) return value.buffer instanceof SharedArrayBuffer;
  if (value instanceof Map) {
    for (const [k, v] of value) {
      if (holdsSharedMemory(k, seen) || holdsSharedMemory(v, seen)) return true;
    }
    return false;
  }
  if (value instanceof Set) {
    for (const v of value) if (holdsSharedMemory(v, seen)) return true;
    return false;
  }
  for (const key of Object.keys(value)) {
    if (holdsSharedMemory((value as Record<string, unknown>)[key], seen)) return true;
  }
  return false;
}

/**
 * Encodes `value` into the scratch buffer, which {@linkcode encoded} returns; valid until the
 * next call. Internal.
 *
 * @param value A structured-cloneable value.
 * @param what What is being sent, for error messages: `"put the item into the queue"`.
 * @returns The length of the encoding.
 * @throws {TypeError} If `value` cannot be cloned, or holds shared memory.
 */
export function encode(value: unknown, what: string): number {
  start();
  containerCount = 0;
  const fast = writeValue(value);
  for (let i = 0; i < containerCount; i++) containers[i] = undefined;
  if (fast) return at;
  // Shared objects and instances of registered classes become tagged records; an instance
  // of another class is refused (structured clone would drop its prototype).
  const data = encodeShared(value);
  const shared = data !== value;
  // Node and Deno refuse a SharedArrayBuffer; Bun copies it, silently unshared. Refuse it
  // everywhere, with the way out.
  if (holdsSharedMemory(data, new Set())) {
    throw new TypeError(
      `Cannot ${what} as it holds shared memory (${
        shared
          ? "a lock, queue, connection or shared value from this library"
          : "a SharedArrayBuffer"
      }), which cannot travel as bytes: pass it to the Process or Pool that needs it as an argument instead, as Python shares such objects through inheritance`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = v8.serialize(data);
  } catch (error) {
    throw new TypeError(
      `Cannot ${what} as it cannot be cloned: ${
        error instanceof Error ? error.message : String(error)
      }. Values travel by structured clone: send plain data (numbers, strings, arrays, plain objects, Maps, typed arrays), not functions or objects that hold them`,
      { cause: error },
    );
  }
  at = 0;
  reserve(1 + bytes.length);
  out[0] = shared ? T_V8_SHARED : T_V8;
  out.set(bytes, 1);
  return 1 + bytes.length;
}

/**
 * Encodes raw bytes as a message, into the scratch buffer. Internal.
 *
 * @param bytes The bytes to send.
 * @returns The length of the encoding.
 */
export function encodeBytes(bytes: Uint8Array): number {
  start();
  reserve(1 + bytes.length);
  out[0] = T_BYTES;
  out.set(bytes, 1);
  return 1 + bytes.length;
}

// Python's send() is pickling plus send_bytes(), so the bytes recv_bytes() gives for a sent
// object arrive at recv() as that object once sent on with send_bytes(). Here the bytes of a
// sent object are its encoding behind a 4-byte mark: sendBytes() passes marked bytes on as the
// encoding they hold, and any other bytes as bytes.
const MARK = new Uint8Array([0xf0, 0x6d, 0x70, 0x01]);

/** Copies `bytes[start, end)`, an encoded object, behind {@linkcode MARK}. */
function withMark(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const marked = new Uint8Array(MARK.length + end - start);
  marked.set(MARK);
  marked.set(bytes.subarray(start, end), MARK.length);
  return marked;
}

/**
 * Encodes bytes given to `sendBytes()` as a message, into the scratch buffer: the encoding
 * they hold when they carry {@linkcode MARK} (bytes received from a `send()`), otherwise
 * the bytes themselves. Internal.
 *
 * @param bytes The bytes to send.
 * @returns The length of the encoding.
 */
export function encodeSentBytes(bytes: Uint8Array): number {
  const n = MARK.length;
  if (
    bytes.length > n && bytes[0] === MARK[0] && bytes[1] === MARK[1] && bytes[2] === MARK[2] &&
    bytes[3] === MARK[3] && bytes[n] <= T_V8_SHARED
  ) {
    start();
    reserve(bytes.length - n);
    out.set(bytes.subarray(n));
    return bytes.length - n;
  }
  return encodeBytes(bytes);
}

/** The scratch buffer {@linkcode encode} writes into. Internal. */
export function encoded(): Uint8Array {
  return out;
}

let src: Uint8Array = out;
let srcView: DataView = outView;
let pos = 0;

function readAscii(n: number): string {
  const start = pos;
  pos += n;
  if (n > 24) return textDecoder.decode(src.subarray(start, pos));
  let s = "";
  for (let i = start; i < pos; i++) s += String.fromCharCode(src[i]);
  return s;
}

function readUtf16(n: number): string {
  let s = "";
  const chunk: number[] = [];
  for (let i = 0; i < n; i++) {
    chunk.push(src[pos] | (src[pos + 1] << 8));
    pos += 2;
    if (chunk.length === 4096) {
      s += String.fromCharCode.apply(null, chunk);
      chunk.length = 0;
    }
  }
  return s + String.fromCharCode.apply(null, chunk);
}

function readString(): string {
  const tag = src[pos];
  const n = srcView.getUint32(pos + 1, true);
  pos += 5;
  return tag === T_ASCII ? readAscii(n) : readUtf16(n);
}

function readValue(): unknown {
  const tag = src[pos];
  switch (tag) {
    case T_INT: {
      const v = srcView.getInt32(pos + 1, true);
      pos += 5;
      return v;
    }
    case T_DOUBLE: {
      const v = srcView.getFloat64(pos + 1, true);
      pos += 9;
      return v;
    }
    case T_ASCII:
    case T_UTF16:
      return readString();
    case T_NULL:
      pos++;
      return null;
    case T_UNDEFINED:
      pos++;
      return undefined;
    case T_TRUE:
      pos++;
      return true;
    case T_FALSE:
      pos++;
      return false;
    case T_ARRAY: {
      const n = srcView.getUint32(pos + 1, true);
      pos += 5;
      const array: unknown[] = [];
      for (let i = 0; i < n; i++) array.push(readValue());
      return array;
    }
    case T_OBJECT: {
      const n = srcView.getUint32(pos + 1, true);
      pos += 5;
      const object: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const key = readString();
        const value = readValue();
        if (key === "__proto__") {
          Object.defineProperty(object, key, {
            value,
            writable: true,
            enumerable: true,
            configurable: true,
          });
        } else {
          object[key] = value;
        }
      }
      return object;
    }
    default:
      throw new TypeError(`Cannot decode a message: unknown tag ${tag} (corrupted channel?)`);
  }
}

// Set by `decode` when the value it returned holds tagged shared objects; cleared by readers.
let decodedShared = false;

/** Decodes the message in `bytes[start, end)`. */
function decode(bytes: Uint8Array, view: DataView, start: number, end: number): unknown {
  const tag = bytes[start];
  if (tag === T_V8 || tag === T_V8_SHARED) {
    decodedShared = tag === T_V8_SHARED;
    return v8.deserialize(bytes.subarray(start + 1, end));
  }
  if (tag === T_BYTES) return bytes.slice(start + 1, end);
  src = bytes;
  srcView = view;
  pos = start;
  const value = readValue();
  src = out;
  return value;
}

// ---- Channels ---------------------------------------------------------------------------
//
// A channel is one SharedArrayBuffer: 512 bytes of control words, then a ring of `capacity`
// bytes (a power of two). A message is a record: an Int32 header (its length, and two flags
// for pieces of a large message), then its bytes, padded to 4. `TAIL` and `HEAD` count bytes
// written and read, wrapping at 2^32; senders write under `W_LOCK`, receivers read under
// `R_LOCK`, so a sender and a receiver never wait for each other. Words that one side writes
// sit on their own cache line.

export const CONTROL_BYTES = 512;
const TAIL = 1;
const PUT_COUNT = 2; // messages written, for qsize() and maxsize
const W_STREAM = 3; // the sender writing a large message in pieces, or 0
const W_LOCK = 4; // 0, or the pid of the thread holding it
const W_LOCK_WAITERS = 5; // set by a thread about to sleep on W_LOCK
const W_STREAM_OWNER = 6; // the pid of the thread whose stream W_STREAM is
const R_LOCK = 16;
const HEAD = 17;
const GOT_COUNT = 18; // messages taken
const R_STREAM = 19; // the receiver reading a large message in pieces, or 0
const R_LOCK_WAITERS = 20;
const R_STREAM_OWNER = 21;
const READERS_WAITING = 32; // set by a receiver about to wait; cleared by the sender who wakes it
const WRITERS_WAITING = 48; // the same for senders waiting for room
const UNFINISHED = 64; // JoinableQueue: items put and not yet marked done
const MAXSIZE = 80;
const TICKET = 81; // source of stream owner ids
export const WRITER_OPEN = 82; // copies of the sending end not yet closed (connections)
export const READER_OPEN = 83; // copies of the receiving end not yet closed (one-way connections)
const WRITER_CLOSED = 84;
const READER_CLOSED = 85;

const LENGTH = 0x1fffffff;
const MORE = 0x40000000; // more pieces of this message follow
const CONT = 0x20000000; // not the first piece

/** The default size of a channel's ring: 1 MiB. */
export const DEFAULT_BYTES = 1 << 20;
const MIN_BYTES = 1 << 10;
const MAX_BYTES = 1 << 29;

const pause: () => void = (Atomics as { pause?: () => void }).pause ?? (() => {});

// The locks guard a few dozen instructions and a copy, never an await. A lock word holds
// its holder's pid: a worker terminated or killed while it holds one never lets go, and a
// thread that finds the holder has ended (see context.ts, `hasEnded`) takes the lock over.
// Otherwise it spins, then sleeps briefly (a holder in another worker may have been
// descheduled), but never more than `LOCK_SLEEPS` times of 1 ms: then it gives up, and its
// caller waits for the word asynchronously, so that no thread (the main thread least of all)
// blocks for long, and a call's timeout still fires, whatever became of the holder.
const LOCK_SLEEPS = 4;
let me = 0;

function tryLock(c: Int32Array, i: number): boolean {
  const self = me || (me = threadOwnerPid());
  if (Atomics.compareExchange(c, i, 0, self) === 0) return true;
  for (let n = 0; n < 200; n++) {
    pause();
    if (Atomics.load(c, i) === 0 && Atomics.compareExchange(c, i, 0, self) === 0) return true;
  }
  for (let n = 0; n <= LOCK_SLEEPS; n++) {
    const owner = Atomics.load(c, i);
    if (owner === 0 || hasEnded(owner)) {
      if (Atomics.compareExchange(c, i, owner, self) === owner) return true;
      continue;
    }
    if (n === LOCK_SLEEPS) break;
    Atomics.store(c, i === W_LOCK ? W_LOCK_WAITERS : R_LOCK_WAITERS, 1);
    Atomics.wait(c, i, owner, 1);
  }
  return false;
}

function unlock(c: Int32Array, i: number): void {
  Atomics.store(c, i, 0);
  const waiters = i === W_LOCK ? W_LOCK_WAITERS : R_LOCK_WAITERS;
  if (Atomics.load(c, waiters) !== 0 && Atomics.exchange(c, waiters, 0) !== 0) {
    Atomics.notify(c, i);
  }
}

// Whether the large message under way in the stream word `i` (W_STREAM, R_STREAM) belongs to
// a thread that has ended.
function ownerEnded(c: Int32Array, i: number): boolean {
  return hasEnded(Atomics.load(c, i === W_STREAM ? W_STREAM_OWNER : R_STREAM_OWNER));
}

function recordSize(length: number): number {
  return 4 + ((length + 3) & ~3);
}

/**
 * Checks the `bytes` option and returns the ring size it gives: a power of two. Internal.
 *
 * @param bytes The requested size, or `undefined` for the default.
 * @param what What is being created, for error messages.
 * @returns The ring size.
 * @throws {TypeError} If `bytes` is not an integer.
 * @throws {RangeError} If `bytes` is out of range.
 */
export function ringSize(bytes: unknown, what: string): number {
  if (bytes === undefined) return DEFAULT_BYTES;
  if (typeof bytes !== "number" || !Number.isInteger(bytes)) {
    throw new TypeError(
      `Cannot create ${what} as 'bytes' must be an integer number of bytes: received ${
        describe(bytes)
      }`,
    );
  }
  if (bytes < MIN_BYTES || bytes > MAX_BYTES) {
    throw new RangeError(
      `Cannot create ${what} as 'bytes' must be between ${MIN_BYTES} and ${MAX_BYTES}: received ${bytes}`,
    );
  }
  let size = MIN_BYTES;
  while (size < bytes) size *= 2;
  return size;
}

/** What a receiver asks for. */
const VALUE = 0;
export const BYTES = 1;
// Bytes lent: a view of a buffer the channel reuses, good until its next read (tryLendBytes).
const LENT = 2;

// The longest message tryLendBytes lends; a longer one is copied out as tryReceiveBytes does.
const LENT_BYTES = 4096;

/** Returned by the `try` methods when they could not finish without waiting. */
const WAIT: unique symbol = Symbol("wait");
/** Returned by reads when the sending end is closed and everything was read. */
const END: unique symbol = Symbol("end");

interface PendingWrite {
  bytes: Uint8Array;
  timeout: number;
  deadline: number;
  // -1 until the first byte is written; a message under way waits for no deadline.
  offset: number;
  token: number;
  unfinished: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface PendingRead {
  mode: number;
  timeout: number;
  deadline: number;
  token: number;
  // The pieces of a large message received so far.
  parts: Uint8Array | null;
  filled: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** How a channel's owner words its errors. Internal. */
export interface ChannelErrors {
  /** A put that could not wait, or waited `timeout` ms, for room. */
  full(timeout: number): Error;
  /** A get that could not wait, or waited `timeout` ms, for an item. */
  empty(timeout: number): Error;
  /** A send after the receiving end closed. */
  broken(): Error;
  /** A receive after the sending end closed and everything was read. */
  eof(): Error;
}

/** What `Channel.send` returns for a message written at once: a promise already settled. */
export const DONE: Promise<void> = Promise.resolve();

// The channels of this thread with sends still waiting for room, for allSent().
const channelsSending = new Set<Channel>();

/**
 * Waits until every message this thread sent, or put into a queue, without awaiting it has
 * gone into its pipe or queue. A process's bootstrap awaits it before the process ends, as
 * Python's child process waits for its queues' feeder threads, so that a `put()` that was
 * not awaited is not lost. Internal.
 *
 * @returns A promise that resolves once nothing is waiting to be sent.
 */
export async function allSent(): Promise<void> {
  while (channelsSending.size > 0) {
    await Promise.all([...channelsSending].map((channel) => channel.flushed()));
  }
}

atProcessEnd({ flush: allSent });

function newToken(c: Int32Array): number {
  let token = Atomics.add(c, TICKET, 1) + 1;
  if (token === 0) token = Atomics.add(c, TICKET, 1) + 1;
  return token;
}

/**
 * One direction of a pipe, or a queue: the ring in shared memory, and this thread's calls
 * waiting on it. Calls made in one thread complete in the order they were made. Internal.
 */
export class Channel {
  /** The shared memory: control words, then the ring. */
  readonly buffer: SharedArrayBuffer;
  /** How its owner words errors. */
  errors: ChannelErrors;
  readonly #c: Int32Array;
  readonly #data: Uint8Array;
  readonly #words: Int32Array;
  readonly #view: DataView;
  readonly #capacity: number;
  readonly #mask: number;
  readonly #maxsize: number;
  readonly #writes = new Deque<PendingWrite>();
  readonly #reads = new Deque<PendingRead>();
  #writing = false;
  #reading = false;
  #flushWaiters: (() => void)[] = [];
  // Entries with a finite deadline, so that a pump only scans for expired ones if any.
  #timedWrites = 0;
  #timedReads = 0;
  // What the last `try` call found it must wait for: the word, and the value it held.
  #waitIndex = 0;
  #waitValue = 0;
  #readWaitIndex = 0;
  // The buffer tryLendBytes lends its messages in, made on its first use.
  #lent: Uint8Array | undefined;
  // The other side's words as this thread last read them (see #tryWrite).
  #headSeen = 0;
  #gotSeen = 0;
  #tailSeen = 0;
  // TAIL after this thread's last write, HEAD after its last read (NaN: none yet).
  #lastTail = NaN;
  #lastHead = NaN;

  /**
   * Allocates the shared memory of a channel.
   *
   * @param capacity The ring size, a power of two (see {@linkcode ringSize}).
   * @param maxsize The most messages it holds; `0` for no limit.
   * @returns The buffer to pass to the constructor.
   */
  static allocate(capacity: number, maxsize: number): SharedArrayBuffer {
    const buffer = new SharedArrayBuffer(CONTROL_BYTES + capacity);
    new Int32Array(buffer, 0, CONTROL_BYTES / 4)[MAXSIZE] = maxsize;
    return buffer;
  }

  /**
   * Wraps a channel's shared memory.
   *
   * @param buffer What {@linkcode Channel.allocate} returned, here or in another thread.
   * @param errors How to word errors.
   */
  constructor(buffer: SharedArrayBuffer, errors: ChannelErrors) {
    this.buffer = buffer;
    this.errors = errors;
    this.#capacity = buffer.byteLength - CONTROL_BYTES;
    this.#mask = this.#capacity - 1;
    this.#c = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.#data = new Uint8Array(buffer, CONTROL_BYTES, this.#capacity);
    this.#words = new Int32Array(buffer, CONTROL_BYTES, this.#capacity / 4);
    this.#view = new DataView(buffer, CONTROL_BYTES, this.#capacity);
    this.#maxsize = this.#c[MAXSIZE];
  }

  /** Whether `buffer` looks like a channel's memory (for revivers). */
  static valid(buffer: unknown): buffer is SharedArrayBuffer {
    if (!(buffer instanceof SharedArrayBuffer)) return false;
    const capacity = buffer.byteLength - CONTROL_BYTES;
    return capacity >= MIN_BYTES && (capacity & (capacity - 1)) === 0;
  }

  /** The control words, for the owner's own counters. */
  get control(): Int32Array {
    return this.#c;
  }

  /** The ring size in bytes. */
  get capacity(): number {
    return this.#capacity;
  }

  /** The most messages the channel holds; `0` for no limit. */
  get maxsize(): number {
    return this.#maxsize;
  }

  /** Messages written and not yet taken (a large one counts from its first piece). */
  size(): number {
    const c = this.#c;
    return Math.max(0, (Atomics.load(c, PUT_COUNT) - Atomics.load(c, GOT_COUNT)) | 0);
  }

  /** Whether the ring holds no bytes. */
  isEmpty(): boolean {
    return Atomics.load(this.#c, HEAD) === Atomics.load(this.#c, TAIL);
  }

  /** Whether the channel holds `maxsize` messages. */
  isFull(): boolean {
    return this.#maxsize > 0 && this.size() >= this.#maxsize;
  }

  // ---- Sending ----------------------------------------------------------------------------

  /**
   * Sends `bytes[0, length)` as one message. Written at once when there is room and no call
   * of this thread is waiting before it; the promise then is already resolved.
   *
   * @param bytes The encoded message (the scratch buffer is fine: it is copied if needed).
   * @param length Its length.
   * @param timeout The most ms to wait for room; `0` not to wait; `Infinity` for ever.
   * @param unfinished Whether the message counts as a JoinableQueue item to be done.
   * @returns A promise that resolves once the message is written.
   * @throws {Error} `errors.full(0)` if `timeout` is `0` and there is no room now, and
   *   `errors.broken()` if the receiving end is closed.
   */
  send(bytes: Uint8Array, length: number, timeout: number, unfinished: boolean): Promise<void> {
    const c = this.#c;
    if (Atomics.load(c, READER_CLOSED) !== 0) throw this.errors.broken();
    // Counted before it can be taken: a consumer may call taskDone() the moment it is.
    if (unfinished) Atomics.add(c, UNFINISHED, 1);
    if (this.#writes.length === 0 && recordSize(length) <= this.#capacity) {
      if (this.#tryWrite(bytes, length) === 0) return DONE;
    }
    if (timeout === 0) {
      if (unfinished) this.undoUnfinished();
      throw this.errors.full(0);
    }
    return new Promise<void>((resolve, reject) => {
      const deadline = timeout === Infinity ? Infinity : performance.now() + timeout;
      if (deadline !== Infinity) this.#timedWrites++;
      this.#writes.push({
        bytes: bytes.slice(0, length),
        timeout,
        deadline,
        offset: -1,
        token: 0,
        unfinished,
        resolve,
        reject,
      });
      if (!this.#writing) {
        channelsSending.add(this);
        void this.#pumpWrites();
      }
    });
  }

  /** Whether calls of this thread are waiting to send. */
  get sending(): boolean {
    return this.#writes.length > 0;
  }

  /**
   * Writes a whole message if the channel has room now. Returns 0 when written; otherwise
   * the word to wait on, with its value in `#waitValue`.
   */
  #tryWrite(bytes: Uint8Array, length: number): number {
    const c = this.#c;
    if (!tryLock(c, W_LOCK)) {
      this.#waitValue = Atomics.load(c, W_LOCK);
      return W_LOCK;
    }
    let result = 0;
    try {
      const stream = c[W_STREAM];
      if (stream !== 0 && !this.#dropDeadWriter(stream)) {
        this.#waitValue = stream;
        return (result = W_STREAM);
      }
      // The receivers' words are read only when the values last seen say "full": they only
      // grow, so a stale value errs on the safe side, and not reading them spares a cache
      // miss on the line the receivers keep writing. Stale, that is, unless another sender
      // wrote since this one did: then they may be too old to compare (they wrap).
      const tail = c[TAIL];
      if (tail !== this.#lastTail) {
        this.#headSeen = Atomics.load(c, HEAD);
        this.#gotSeen = Atomics.load(c, GOT_COUNT);
      }
      if (this.#maxsize > 0 && ((c[PUT_COUNT] - this.#gotSeen) | 0) >= this.#maxsize) {
        // HEAD before GOT_COUNT: receivers store them the other way round, so a stale count
        // comes with a head that has already moved, and the wait below cannot miss it.
        const head = this.#headSeen = Atomics.load(c, HEAD);
        this.#gotSeen = Atomics.load(c, GOT_COUNT);
        if (((c[PUT_COUNT] - this.#gotSeen) | 0) >= this.#maxsize) {
          Atomics.store(c, WRITERS_WAITING, 1);
          this.#waitValue = head;
          return (result = HEAD);
        }
      }
      const need = recordSize(length);
      if (need > this.#capacity - ((tail - this.#headSeen) | 0)) {
        const head = this.#headSeen = Atomics.load(c, HEAD);
        if (need > this.#capacity - ((tail - head) | 0)) {
          Atomics.store(c, WRITERS_WAITING, 1);
          this.#waitValue = head;
          return (result = HEAD);
        }
      }
      const at = tail & this.#mask;
      this.#words[at >> 2] = length;
      this.#copyIn(bytes, 0, length, (at + 4) & this.#mask);
      // A plain write: the store of TAIL right after publishes it, and costs the fence.
      c[PUT_COUNT] = (c[PUT_COUNT] + 1) | 0;
      Atomics.store(c, TAIL, this.#lastTail = (tail + need) | 0);
      return 0;
    } finally {
      unlock(c, W_LOCK);
      if (result === 0) this.#wakeReaders();
    }
  }

  /**
   * Writes as much of a pending message as there is room for. Returns 0 when all of it is
   * written; otherwise the word to wait on, with its value in `#waitValue`.
   */
  #writeSome(entry: PendingWrite): number {
    const length = entry.bytes.length;
    if (entry.offset < 0 && recordSize(length) <= this.#capacity) {
      return this.#tryWrite(entry.bytes, length);
    }
    // Larger than the ring: in pieces, while no other sender writes in between.
    const c = this.#c;
    let wrote = false;
    let finished = false;
    if (!tryLock(c, W_LOCK)) {
      this.#waitValue = Atomics.load(c, W_LOCK);
      return W_LOCK;
    }
    try {
      const stream = Atomics.load(c, W_STREAM);
      if (entry.offset < 0 && stream !== 0 && !this.#dropDeadWriter(stream)) {
        this.#waitValue = stream;
        return W_STREAM;
      }
      const head = Atomics.load(c, HEAD);
      const first = entry.offset < 0;
      if (
        first && this.#maxsize > 0 &&
        ((Atomics.load(c, PUT_COUNT) - Atomics.load(c, GOT_COUNT)) | 0) >= this.#maxsize
      ) {
        Atomics.store(c, WRITERS_WAITING, 1);
        this.#waitValue = head;
        return HEAD;
      }
      const tail = c[TAIL];
      const free = this.#capacity - ((tail - head) | 0);
      const room = free - (first ? 8 : 4);
      const rest = length - Math.max(0, entry.offset);
      // Small pieces would cost a header and a wake-up each: wait for a quarter of the ring.
      if (room < Math.min(rest, this.#capacity >> 2)) {
        Atomics.store(c, WRITERS_WAITING, 1);
        this.#waitValue = head;
        return HEAD;
      }
      const piece = Math.min(rest, room);
      const more = piece < rest;
      let at = tail & this.#mask;
      if (first) {
        entry.token = newToken(c);
        Atomics.store(c, W_STREAM_OWNER, me);
        Atomics.store(c, W_STREAM, entry.token);
        Atomics.store(c, PUT_COUNT, (c[PUT_COUNT] + 1) | 0);
        entry.offset = 0;
        this.#words[at >> 2] = MORE | (piece + 4);
        this.#words[((at + 4) & this.#mask) >> 2] = length;
        at = (at + 8) & this.#mask;
      } else {
        this.#words[at >> 2] = CONT | (more ? MORE : 0) | piece;
        at = (at + 4) & this.#mask;
      }
      this.#copyIn(entry.bytes, entry.offset, piece, at);
      entry.offset += piece;
      Atomics.store(c, TAIL, (tail + recordSize(first ? piece + 4 : piece)) | 0);
      wrote = true;
      if (!more) {
        Atomics.store(c, W_STREAM, 0);
        finished = true;
        return 0;
      }
      Atomics.store(c, WRITERS_WAITING, 1);
      this.#waitValue = head;
      return HEAD;
    } finally {
      unlock(c, W_LOCK);
      if (wrote) this.#wakeReaders();
      if (finished) Atomics.notify(c, W_STREAM);
    }
  }

  // Called under W_LOCK with W_STREAM set: if the sender of that large message has ended,
  // forgets it (its receiver drops the pieces it got, see #readSome) and returns true.
  #dropDeadWriter(stream: number): boolean {
    const c = this.#c;
    if (!ownerEnded(c, W_STREAM)) return false;
    Atomics.compareExchange(c, W_STREAM, stream, 0);
    Atomics.notify(c, W_STREAM);
    return true;
  }

  #copyIn(bytes: Uint8Array, from: number, length: number, at: number): void {
    const data = this.#data;
    if (length <= 64) {
      const mask = this.#mask;
      for (let i = 0; i < length; i++) data[(at + i) & mask] = bytes[from + i];
      return;
    }
    const first = Math.min(length, this.#capacity - at);
    data.set(bytes.subarray(from, from + first), at);
    if (first < length) data.set(bytes.subarray(from + first, from + length), 0);
  }

  // Wakes the receivers only if one said it is about to wait: a notify costs far more than
  // the load, and in a busy stream nobody waits.
  #wakeReaders(): void {
    const c = this.#c;
    if (Atomics.load(c, READERS_WAITING) !== 0 && Atomics.exchange(c, READERS_WAITING, 0) !== 0) {
      Atomics.notify(c, TAIL);
    }
  }

  #wakeWriters(): void {
    const c = this.#c;
    if (Atomics.load(c, WRITERS_WAITING) !== 0 && Atomics.exchange(c, WRITERS_WAITING, 0) !== 0) {
      Atomics.notify(c, HEAD);
    }
  }

  async #pumpWrites(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#writes.length > 0) {
        const entry = this.#writes.peek()!;
        let index: number;
        try {
          if (Atomics.load(this.#c, READER_CLOSED) !== 0) throw this.errors.broken();
          index = this.#writeSome(entry);
        } catch (error) {
          this.#finishWrite(entry);
          if (entry.unfinished && entry.offset < 0) this.undoUnfinished();
          entry.reject(error);
          continue;
        }
        if (index === 0) {
          this.#finishWrite(entry);
          entry.resolve();
          continue;
        }
        const value = this.#waitValue;
        let timeout = Infinity;
        if (this.#timedWrites > 0) {
          if (this.#expireWrites()) continue;
          timeout = this.#nextDeadline(this.#writes) - performance.now();
        }
        await waitFor(this.#c, index, value, Math.max(0, timeout));
      }
    } finally {
      this.#writing = false;
      if (this.#writes.length === 0) {
        channelsSending.delete(this);
        for (const resolve of this.#flushWaiters.splice(0)) resolve();
      }
    }
  }

  /**
   * Waits until this thread's pending sends have all been written (or failed).
   *
   * @returns A promise that resolves then.
   */
  flushed(): Promise<void> {
    if (this.#writes.length === 0) return DONE;
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  #finishWrite(entry: PendingWrite): void {
    this.#writes.shift();
    if (entry.deadline !== Infinity) this.#timedWrites--;
  }

  #nextDeadline(entries: Deque<PendingWrite> | Deque<PendingRead>): number {
    let min = Infinity;
    const all = entries.drain() as (PendingWrite | PendingRead)[];
    for (const entry of all) {
      if (entry.deadline < min) min = entry.deadline;
      (entries as Deque<PendingWrite | PendingRead>).push(entry);
    }
    return min;
  }

  // Fails the sends not yet started whose time is up; true if it failed any.
  #expireWrites(): boolean {
    const now = performance.now();
    let expired = false;
    for (const entry of this.#writes.drain()) {
      if (entry.offset < 0 && entry.deadline <= now) {
        expired = true;
        this.#timedWrites--;
        if (entry.unfinished) this.undoUnfinished();
        entry.reject(this.errors.full(entry.timeout));
      } else {
        this.#writes.push(entry);
      }
    }
    return expired;
  }

  /** Takes back the JoinableQueue count of a put that failed. */
  undoUnfinished(): void {
    if (Atomics.sub(this.#c, UNFINISHED, 1) === 1) Atomics.notify(this.#c, UNFINISHED);
  }

  // ---- Receiving --------------------------------------------------------------------------

  /**
   * Takes the next whole message now, if there is one and no call of this thread is
   * waiting before it; otherwise returns `WAIT`. Never starts a large message.
   *
   * @returns The decoded message, `END` if the sending end is closed and all was read, or
   *   `WAIT`.
   */
  tryReceive(): unknown {
    if (this.#reads.length > 0) return WAIT;
    const value = this.#read(null, VALUE);
    if (value instanceof Promise) {
      // Only a message holding a class whose module is still to be imported decodes later.
      void value.catch(() => {});
      throw new TypeError(
        "Cannot take the item at once as it holds an instance of a registered class whose module this thread has not imported: import that module in this thread first, or use get(), which imports it",
      );
    }
    return value;
  }

  /**
   * Takes the next whole message's bytes if it is there now (and no call of this thread
   * waits before it), without a promise: the message, {@linkcode MUST_WAIT} (then
   * {@linkcode Channel.waitIndex} and {@linkcode Channel.waitValue} name the word to watch;
   * a large message, which comes in pieces, is only read by `receive()`), or
   * {@linkcode END_OF_STREAM} once the sending end closed and all was read.
   *
   * @returns The bytes, `MUST_WAIT` or `END_OF_STREAM`.
   */
  tryReceiveBytes(): unknown {
    if (this.#reads.length > 0) return WAIT;
    // Not marked as waiting: its caller spins first, and marks it by receive() if it waits.
    return this.#readSome(null, BYTES, false);
  }

  /**
   * As {@linkcode Channel.tryReceiveBytes}, but a message of at most 4 KiB comes as a view of
   * a buffer this channel reuses: its bytes are good only until the channel's next read, so
   * the caller must be done with them (and keep no view of them) before it reads again. A
   * manager's pipe reads a frame so: a new buffer for each of a few hundred thousand small
   * frames a second cost Deno about a third of its calls (lib/_manager_pipe.ts).
   */
  tryLendBytes(): unknown {
    if (this.#reads.length > 0) return WAIT;
    return this.#readSome(null, LENT, false);
  }

  /** The word the last `try` call found it must wait on. */
  get waitIndex(): number {
    return this.#waitIndex;
  }

  /** The value that word held then. */
  get waitValue(): number {
    return this.#waitValue;
  }

  /**
   * Receives the next message, waiting up to `timeout` ms for one to arrive.
   *
   * @param mode `VALUE` for the decoded message, `BYTES` for its bytes.
   * @param timeout The most ms to wait; `0` not to wait; `Infinity` for ever.
   * @returns A promise of the message.
   */
  receive(mode: number, timeout: number): Promise<unknown> {
    // Behind this thread's other receives, a call that must not wait cannot succeed.
    if (timeout === 0 && this.#reads.length > 0) return Promise.reject(this.errors.empty(0));
    return new Promise((resolve, reject) => {
      const deadline = timeout === Infinity ? Infinity : performance.now() + timeout;
      if (deadline !== Infinity) this.#timedReads++;
      this.#reads.push({
        mode,
        timeout,
        deadline,
        token: 0,
        parts: null,
        filled: 0,
        resolve,
        reject,
      });
      if (!this.#reading) void this.#pumpReads();
    });
  }

  /**
   * Receives the next decoded message: at once, without a wait or a macrotask, when it is
   * already there and no call of this thread waits before it; otherwise as `receive()`
   * (which also reports a closed sending end).
   *
   * @param timeout The most ms to wait; `0` not to wait; `Infinity` for ever.
   * @returns A promise of the message.
   */
  receiveValue(timeout: number): Promise<unknown> {
    if (this.#reads.length === 0) {
      let value: unknown;
      try {
        value = this.#read(null, VALUE);
      } catch (error) {
        return Promise.reject(error);
      }
      if (value !== WAIT && value !== END) return Promise.resolve(value);
    }
    return this.receive(VALUE, timeout);
  }

  /** Whether calls of this thread are waiting to receive. */
  get receiving(): boolean {
    return this.#reads.length > 0;
  }

  /**
   * Reads the next message under the receivers' lock. `entry` is a pending call, which may
   * read a large message in pieces; `null` reads only a whole one. Returns the message,
   * `END`, or `WAIT` with the word to wait on in `#waitIndex` and `#waitValue`.
   */
  #readSome(entry: PendingRead | null, mode: number, markWaiting = true): unknown {
    const c = this.#c;
    if (!tryLock(c, R_LOCK)) {
      this.#waitIndex = R_LOCK;
      this.#waitValue = Atomics.load(c, R_LOCK);
      return WAIT;
    }
    let took = false;
    let streamEnded = false;
    let result: unknown;
    try {
      const stream = Atomics.load(c, R_STREAM);
      if (stream !== 0 && (entry === null || stream !== entry.token)) {
        if (!ownerEnded(c, R_STREAM)) {
          this.#waitIndex = R_STREAM;
          this.#waitValue = stream;
          return WAIT;
        }
        // Its receiver ended in the middle of it: the pieces it took are lost with it, and
        // the ones left are skipped below, so that the sender and the ring go on.
        Atomics.store(c, R_STREAM, 0);
        streamEnded = true;
      }
      const mask = this.#mask;
      for (;;) {
        const head = c[HEAD];
        // As senders do with HEAD: TAIL is read again only when the value last seen says
        // "empty", or another receiver read since this one did.
        if (head !== this.#lastHead || ((this.#tailSeen - head) | 0) <= 0) {
          const tail = this.#tailSeen = Atomics.load(c, TAIL);
          if (head === tail) {
            // The end is checked after the tail, and the tail again after it: the last
            // message is written before the end is marked.
            if (Atomics.load(c, WRITER_CLOSED) !== 0) {
              if (Atomics.load(c, TAIL) === tail) return (result = END);
              continue;
            }
            if (entry !== null && entry.parts !== null) {
              // In the middle of a large message: if its sender ended (or gave it up), the
              // rest never comes. W_STREAM is cleared after the last piece is written, so
              // with TAIL unchanged after it, that piece is not on its way.
              const writing = Atomics.load(c, W_STREAM);
              if (
                (writing === 0 || ownerEnded(c, W_STREAM)) && Atomics.load(c, TAIL) === tail
              ) {
                if (writing !== 0) Atomics.compareExchange(c, W_STREAM, writing, 0);
                entry.parts = null;
                Atomics.store(c, R_STREAM, 0);
                streamEnded = true;
              }
            }
            // Marked, every send notifies; a caller that spins before it waits marks it when
            // it waits (receive()), and spares the senders the notifies until then.
            if (markWaiting) Atomics.store(c, READERS_WAITING, 1);
            this.#waitIndex = TAIL;
            this.#waitValue = tail;
            return WAIT;
          }
        }
        const at = head & mask;
        const header = this.#words[at >> 2];
        const length = header & LENGTH;
        const next = (head + recordSize(length)) | 0;
        const start = (at + 4) & mask;
        if (entry !== null && entry.parts !== null && (header & CONT) === 0) {
          // A new message where the rest of the large one should be: its sender ended in
          // the middle, and its pieces so far are dropped.
          entry.parts = null;
          Atomics.store(c, R_STREAM, 0);
          streamEnded = true;
        }
        if ((header & (MORE | CONT)) === 0) {
          result = this.#take(start, length, mode);
          c[GOT_COUNT] = (c[GOT_COUNT] + 1) | 0; // published by the store of HEAD
          Atomics.store(c, HEAD, this.#lastHead = next);
          took = true;
          return result;
        }
        if ((header & CONT) === 0) {
          // The first piece of a large message: only a waiting call may start it.
          if (entry === null) {
            this.#waitIndex = TAIL;
            this.#waitValue = this.#tailSeen;
            return WAIT;
          }
          entry.token = newToken(c);
          Atomics.store(c, R_STREAM_OWNER, me);
          Atomics.store(c, R_STREAM, entry.token);
          Atomics.store(c, GOT_COUNT, (c[GOT_COUNT] + 1) | 0);
          entry.parts = new Uint8Array(this.#words[start >> 2]);
          entry.filled = 0;
          this.#copyOut((start + 4) & mask, length - 4, entry.parts, 0);
          entry.filled = length - 4;
        } else if (entry !== null && entry.parts !== null) {
          this.#copyOut(start, length, entry.parts, entry.filled);
          entry.filled += length;
        }
        // (A later piece nobody is reading was left by a receiver that closed: skip it.)
        Atomics.store(c, HEAD, this.#lastHead = next);
        took = true;
        if (entry !== null && entry.parts !== null && (header & (MORE | CONT)) === CONT) {
          const parts = entry.parts;
          entry.parts = null;
          Atomics.store(c, R_STREAM, 0);
          streamEnded = true;
          result = mode !== VALUE
            ? (parts[0] === T_BYTES ? parts.subarray(1) : withMark(parts, 0, parts.length))
            : decode(parts, new DataView(parts.buffer), 0, parts.length);
          return result;
        }
      }
    } finally {
      unlock(c, R_LOCK);
      if (took) this.#wakeWriters();
      if (streamEnded) Atomics.notify(c, R_STREAM);
    }
  }

  // Reads the next message; revives the shared objects it holds outside the lock.
  #read(entry: PendingRead | null, mode: number): unknown {
    decodedShared = false;
    const result = this.#readSome(entry, mode);
    if (!decodedShared) return result;
    decodedShared = false;
    // A class this thread has not imported yet: its module is imported first (a promise,
    // which the receiving call resolves with).
    const loading = loadRevivers(result);
    return loading === undefined ? decodeShared(result) : loading.then(() => decodeShared(result));
  }

  // Decodes (or copies out) the whole message at `start`, in place when it does not wrap.
  #take(start: number, length: number, mode: number): unknown {
    if (mode === LENT) {
      if (length - 1 <= LENT_BYTES && this.#data[start] === T_BYTES) {
        const lent = this.#lent ??= new Uint8Array(LENT_BYTES);
        this.#copyOut((start + 1) & this.#mask, length - 1, lent, 0);
        return lent.subarray(0, length - 1);
      }
      mode = BYTES;
    }
    if (start + length <= this.#capacity) {
      if (mode === BYTES) {
        return this.#data[start] === T_BYTES
          ? this.#data.slice(start + 1, start + length)
          : withMark(this.#data, start, start + length);
      }
      return decode(this.#data, this.#view, start, start + length);
    }
    const copy = new Uint8Array(length);
    this.#copyOut(start, length, copy, 0);
    if (mode === BYTES) return copy[0] === T_BYTES ? copy.subarray(1) : withMark(copy, 0, length);
    return decode(copy, new DataView(copy.buffer), 0, length);
  }

  #copyOut(at: number, length: number, to: Uint8Array, offset: number): void {
    const first = Math.min(length, this.#capacity - at);
    to.set(this.#data.subarray(at, at + first), offset);
    if (first < length) to.set(this.#data.subarray(0, length - first), offset + first);
  }

  async #pumpReads(): Promise<void> {
    this.#reading = true;
    try {
      while (this.#reads.length > 0) {
        const entry = this.#reads.peek()!;
        let result: unknown;
        try {
          result = this.#read(entry, entry.mode);
        } catch (error) {
          this.#finishRead(entry);
          entry.reject(error);
          continue;
        }
        if (result !== WAIT) {
          this.#finishRead(entry);
          if (result === END) entry.reject(this.errors.eof());
          else entry.resolve(result);
          continue;
        }
        let timeout = Infinity;
        if (this.#timedReads > 0) {
          if (this.#expireReads()) continue;
          timeout = this.#nextDeadline(this.#reads) - performance.now();
        }
        this.#readWaitIndex = this.#waitIndex;
        await waitFor(this.#c, this.#waitIndex, this.#waitValue, Math.max(0, timeout));
      }
    } finally {
      this.#reading = false;
    }
  }

  #finishRead(entry: PendingRead): void {
    this.#reads.shift();
    if (entry.deadline !== Infinity) this.#timedReads--;
  }

  // Fails the receives not yet started whose time is up; true if it failed any.
  #expireReads(): boolean {
    const now = performance.now();
    let expired = false;
    for (const entry of this.#reads.drain()) {
      if (entry.parts === null && entry.deadline <= now) {
        expired = true;
        this.#timedReads--;
        entry.reject(this.errors.empty(entry.timeout));
      } else {
        this.#reads.push(entry);
      }
    }
    return expired;
  }

  /**
   * Fails every receive of this thread still waiting, with `error`; a large message this
   * thread was reading is left for nobody (its remaining pieces are skipped).
   *
   * @param error The error to reject them with.
   */
  cancelReceives(error: Error): void {
    if (this.#reads.length === 0) return;
    const c = this.#c;
    for (const entry of this.#reads.drain()) {
      if (entry.parts !== null) {
        Atomics.compareExchange(c, R_STREAM, entry.token, 0);
        Atomics.notify(c, R_STREAM);
      }
      entry.reject(error);
    }
    this.#timedReads = 0;
    // Wake the pump so that it sees nothing is left and lets the program end.
    Atomics.notify(c, this.#readWaitIndex);
  }

  /**
   * Waits until a message (or the end) can be received, or `timeout` ms pass.
   *
   * @param timeout The most ms to wait; `0` not to wait; `Infinity` for ever.
   * @returns Whether a message, or the end, is there; the message stays.
   */
  async poll(timeout: number): Promise<boolean> {
    const c = this.#c;
    const deadline = performance.now() + timeout;
    for (;;) {
      const tail = Atomics.load(c, TAIL);
      if (Atomics.load(c, HEAD) !== tail || Atomics.load(c, WRITER_CLOSED) !== 0) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.store(c, READERS_WAITING, 1);
      await waitFor(c, TAIL, tail, left);
    }
  }

  // ---- Ends ---------------------------------------------------------------------------------

  /** Counts one more open copy of the sending (`true`) or receiving end. */
  openEnd(writer: boolean): void {
    Atomics.add(this.#c, writer ? WRITER_OPEN : READER_OPEN, 1);
  }

  /**
   * Counts one copy of an end fewer; the last one closes that end for every thread: the
   * receivers then see the end of the stream, the senders a broken pipe.
   *
   * @param writer `true` for the sending end.
   */
  closeEnd(writer: boolean): void {
    const c = this.#c;
    if (Atomics.sub(c, writer ? WRITER_OPEN : READER_OPEN, 1) !== 1) return;
    this.markClosed(writer);
  }

  /** Closes an end for every thread (see {@linkcode Channel.closeEnd}). */
  markClosed(writer: boolean): void {
    const c = this.#c;
    Atomics.store(c, writer ? WRITER_CLOSED : READER_CLOSED, 1);
    Atomics.notify(c, writer ? TAIL : HEAD);
  }

  /** Whether the sending (`true`) or receiving end was closed by all its copies. */
  endClosed(writer: boolean): boolean {
    return Atomics.load(this.#c, writer ? WRITER_CLOSED : READER_CLOSED) !== 0;
  }
}

/** The index of `UNFINISHED`, for JoinableQueue. Internal. */
export const UNFINISHED_INDEX: number = UNFINISHED;
/** Returned by {@linkcode Channel.tryReceive} when it would have to wait. Internal. */
export const MUST_WAIT: typeof WAIT = WAIT;
/** Returned by {@linkcode Channel.tryReceiveBytes} at the end of the stream. Internal. */
export const END_OF_STREAM: typeof END = END;
