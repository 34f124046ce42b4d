/**
 * Messages over TCP, and the handshake that authenticates both ends (CPython's
 * `multiprocessing.connection`: `SocketConnection`, `deliver_challenge`, `answer_challenge`).
 *
 * A message is a frame: its length as 4 bytes, big-endian, then its bytes. A frame longer than
 * the connection's limit closes the connection: before authentication the limit is tiny, so an
 * unauthenticated peer cannot make the server hold more than a few hundred bytes for it.
 *
 * The handshake is Python's: each side sends `#CHALLENGE#{sha256}` and 40 random bytes; the
 * other answers `{sha256}` and the HMAC-SHA256 of that challenge under the shared `authkey`;
 * the challenger compares in constant time and replies `#WELCOME#` or `#FAILURE#`. The server
 * challenges first, then answers the client's challenge, so each end proves the key to the
 * other, and an answer recorded from one connection is worth nothing on the next.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Socket } from "node:net";
import process from "node:process";
import { Deque } from "./_deque.ts";
import { AuthenticationError, EOFError } from "./errors.ts";

/** The largest frame a connection accepts once authenticated, unless told otherwise. */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;

/**
 * How long, in milliseconds, a server gives a new connection to prove the key, unless told
 * otherwise. Loose: on a 2-core machine starved of CPU, honest handshakes took up to 5 s at a
 * load average of 100, and 10 s at 280.
 */
export const DEFAULT_HANDSHAKE_TIMEOUT = 15_000;

/** The largest frame of the handshake: a challenge or an answer is some 60 bytes. */
export const HANDSHAKE_MAX_FRAME = 256;

const CHALLENGE = Buffer.from("#CHALLENGE#");
const WELCOME = Buffer.from("#WELCOME#");
const FAILURE = Buffer.from("#FAILURE#");
const DIGEST = Buffer.from("{sha256}");
const NONCE_BYTES = 40;

/** A peer broke the framing: a frame over the limit. The connection is closed. */
export class FrameError extends Error {
  /**
   * Creates an error.
   *
   * @param message What the peer sent.
   */
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

interface Waiter {
  resolve(frame: Uint8Array): void;
  reject(error: unknown): void;
  /** Whether this wait holds a reference that keeps the program alive. */
  held: boolean;
}

/** How {@linkcode SocketConnection.recv} waits. */
export interface RecvOptions {
  /**
   * Whether waiting keeps the program alive. A reader that always waits for the next frame
   * (a client's reply loop) passes `false`, and refs the connection only while it expects one.
   *
   * @default {true}
   */
  ref?: boolean;
}

/**
 * Frames over one socket. `send()` writes at once (the socket buffers); `recv()` resolves with
 * the next frame, or rejects with `EOFError` once the peer has closed and every frame was read,
 * or with the error that closed the connection.
 */
export class SocketConnection {
  readonly #socket: Socket;
  #chunks = new Deque<Buffer>();
  #buffered = 0;
  // The length of the frame being read, or -1 while its header is not complete.
  #need = -1;
  // Parsing (and reading from the socket) waits for the next recv(): a frame over the limit
  // arrived before its reader, whose limit may yet be raised.
  #stalled = false;
  #frames = new Deque<Uint8Array>();
  #waiters = new Deque<Waiter>();
  #ended: Error | undefined;
  #refs = 0;
  // The frames sent in this tick, header and bytes, written together once it ends.
  #out: Buffer | undefined;
  #outLength = 0;
  readonly #flush = () => this.#write();
  /** The largest frame this end accepts; a longer one closes the connection. */
  maxFrame: number;

  /**
   * Wraps a connected socket.
   *
   * @param socket The socket, connected.
   * @param maxFrame The largest frame to accept.
   */
  constructor(socket: Socket, maxFrame: number) {
    this.#socket = socket;
    this.maxFrame = maxFrame;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#data(chunk));
    socket.on("end", () => this.#end(new EOFError("The other end closed the connection")));
    socket.on("close", () => this.#end(new EOFError("The connection is closed")));
    socket.on("error", (error: Error) => this.#end(error));
    // Idle connections do not keep the program alive; a pending recv() does.
    socket.unref();
  }

  /** Whether the connection has ended (closed by either end, or broken). */
  get closed(): boolean {
    return this.#ended !== undefined;
  }

  #data(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (!this.#stalled) this.#parse();
  }

  #parse(): void {
    // Whether a frame went to a waiter in this pass: its reader may raise the limit (the
    // handshake's last frame), and a request sent right behind it is judged after that.
    let delivered = false;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 4) return;
        const header = this.#take(4);
        const length = header.readUInt32BE(0);
        // A frame over the limit is judged by the limit of the recv() that will read it: when
        // no one waits for it yet (frames before it unread, or none asked for), parsing stops
        // until the next recv(), and the socket is paused meanwhile, so that nothing more is
        // buffered. A request right behind the handshake's last frame then meets the limit
        // the handshake raised, however the bytes and the reader's steps interleave.
        if (
          length > this.maxFrame &&
          (delivered || this.#frames.length > 0 || this.#waiters.length === 0)
        ) {
          this.#chunks.unshift(header);
          this.#buffered += 4;
          this.#stalled = true;
          this.#socket.pause();
          return;
        }
        if (length > this.maxFrame) {
          this.#end(
            new FrameError(
              `Cannot receive a frame of ${length} bytes as the limit is ${this.maxFrame}: the connection was closed`,
            ),
          );
          this.#socket.destroy();
          return;
        }
        this.#need = length;
      }
      if (this.#buffered < this.#need) return;
      const frame = this.#take(this.#need);
      this.#need = -1;
      const waiter = this.#waiters.shift();
      if (waiter !== undefined) {
        if (waiter.held) this.#release();
        delivered = true;
        waiter.resolve(frame);
      } else {
        this.#frames.push(frame);
      }
    }
  }

  /** Takes `n` buffered bytes (n ≤ buffered), copying only when they span chunks. */
  #take(n: number): Buffer {
    // A zero-length frame: there may be no chunk left to take it from.
    if (n === 0) return Buffer.alloc(0);
    this.#buffered -= n;
    const first = this.#chunks.peek()!;
    if (first.length >= n) {
      this.#chunks.shift();
      if (first.length > n) this.#chunks.unshift(first.subarray(n));
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks.peek()!;
      const part = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, part);
      filled += part;
      this.#chunks.shift();
      if (part < chunk.length) this.#chunks.unshift(chunk.subarray(part));
    }
    return out;
  }

  #end(error: Error): void {
    if (this.#ended !== undefined) return;
    this.#ended = error;
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) {
      w.reject(error);
    }
    this.#refs = 0;
    this.#socket.unref();
  }

  #hold(): void {
    if (this.#refs++ === 0) this.#socket.ref();
  }

  #release(): void {
    if (--this.#refs === 0) this.#socket.unref();
  }

  /**
   * Sends one frame.
   *
   * @param payload The frame's bytes.
   * @throws {EOFError} If the connection has ended.
   */
  send(payload: Uint8Array): void {
    if (this.#ended !== undefined) throw this.#ended;
    // Frames sent in the same tick (calls made together, the replies to a batch of
    // requests) leave in one write: one syscall and one segment instead of one per frame,
    // the cost a round trip over loopback is mostly made of (bench/floors_managers.ts).
    // Catch: a frame waits for the tick to end, which a caller awaiting its reply does anyway.
    const need = this.#outLength + 4 + payload.length;
    let out = this.#out;
    if (out === undefined) {
      out = this.#out = Buffer.allocUnsafe(need);
      process.nextTick(this.#flush);
    } else if (out.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, out.length * 2));
      out.copy(grown, 0, 0, this.#outLength);
      out = this.#out = grown;
    }
    out.writeUInt32BE(payload.length, this.#outLength);
    out.set(payload, this.#outLength + 4);
    this.#outLength = need;
  }

  #write(): void {
    const out = this.#out;
    if (out === undefined) return;
    const length = this.#outLength;
    this.#out = undefined;
    this.#outLength = 0;
    if (!this.#socket.destroyed) {
      this.#socket.write(length === out.length ? out : out.subarray(0, length));
    }
  }

  /**
   * Receives the next frame.
   *
   * @param options Whether waiting keeps the program alive.
   * @returns The frame's bytes.
   */
  recv(options: RecvOptions = {}): Promise<Uint8Array> {
    const frame = this.#frames.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    if (this.#ended !== undefined) return Promise.reject(this.#ended);
    const held = options.ref ?? true;
    const next = new Promise<Uint8Array>((resolve, reject) => {
      if (held) this.#hold();
      this.#waiters.push({ resolve, reject, held });
    });
    if (this.#stalled) {
      // The frame that stopped parsing is this call's: judged now, by the current limit.
      this.#stalled = false;
      this.#socket.resume();
      this.#parse();
    }
    return next;
  }

  /**
   * Gives every frame, in order, to `onFrame`, and the error that ended the connection to
   * `onEnd`, once.
   *
   * @param onFrame Takes one frame.
   * @param onEnd Called once the connection has ended.
   * @param held Whether listening alone keeps the program alive.
   */
  listen(
    onFrame: (frame: Uint8Array) => void,
    onEnd: (error: Error) => void,
    held: boolean,
  ): void {
    void (async () => {
      for (;;) {
        let frame: Uint8Array;
        try {
          frame = await this.recv({ ref: held });
        } catch (error) {
          onEnd(error as Error);
          return;
        }
        onFrame(frame);
      }
    })();
  }

  /** Keeps the program alive while a caller waits for something from this connection. */
  ref(): void {
    this.#hold();
  }

  /** Undoes one {@linkcode SocketConnection.ref}. */
  unref(): void {
    if (this.#refs > 0) this.#release();
  }

  /** Closes the connection; frames not yet read are dropped. */
  close(): void {
    // What was sent before the close leaves first (a handshake's #FAILURE#).
    this.#write();
    this.#end(new EOFError("The connection is closed"));
    this.#socket.end();
    this.#socket.destroy();
  }
}

/** The first delay after a failed authentication, in milliseconds; it doubles with each. */
export const AUTH_DELAY_BASE = 50;

/** The longest delay a peer's failed authentications earn, in milliseconds. */
export const AUTH_DELAY_MAX = 2_000;

/** How many peers' failures are remembered; the oldest is forgotten first. */
export const AUTH_TRACKED_PEERS = 1024;

/** How long a peer's failures are remembered after its last one, in milliseconds. */
const AUTH_FORGET_AFTER = 60_000;

/**
 * Slows down a peer that keeps failing to authenticate (as sshd's `PerSourcePenalties`): each
 * failure from an address makes the next handshake from it wait twice as long, up to
 * {@linkcode AUTH_DELAY_MAX}, so wrong keys cannot be tried at thousands a second. The table
 * holds at most {@linkcode AUTH_TRACKED_PEERS} addresses, so a peer with many addresses cannot
 * grow it without bound; a success or a minute without failure forgets an address.
 */
export class AuthThrottle {
  readonly #peers = new Map<string, { failures: number; until: number; last: number }>();

  /** How long, in milliseconds, a handshake from `address` waits before it starts. */
  delay(address: string): number {
    const peer = this.#peers.get(address);
    if (peer === undefined) return 0;
    const now = Date.now();
    if (now - peer.last > AUTH_FORGET_AFTER) {
      this.#peers.delete(address);
      return 0;
    }
    return Math.max(0, peer.until - now);
  }

  /** Records a failed handshake from `address`. */
  failed(address: string): void {
    const now = Date.now();
    const peer = this.#peers.get(address);
    const failures = peer === undefined || now - peer.last > AUTH_FORGET_AFTER
      ? 1
      : peer.failures + 1;
    const wait = Math.min(AUTH_DELAY_MAX, AUTH_DELAY_BASE * 2 ** Math.min(failures - 1, 20));
    // Re-inserted, so that the Map's order is the order of last failure.
    this.#peers.delete(address);
    this.#peers.set(address, { failures, until: now + wait, last: now });
    while (this.#peers.size > AUTH_TRACKED_PEERS) {
      this.#peers.delete(this.#peers.keys().next().value!);
    }
  }

  /** How many addresses it remembers. */
  get size(): number {
    return this.#peers.size;
  }

  /** Records a successful handshake from `address`: its failures are forgotten. */
  succeeded(address: string): void {
    this.#peers.delete(address);
  }
}

/** The key as bytes: a string is taken as UTF-8. */
export function keyBytes(authkey: string | Uint8Array): Uint8Array {
  return typeof authkey === "string" ? Buffer.from(authkey, "utf8") : authkey;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return bytes.length >= prefix.length && Buffer.from(bytes.buffer, bytes.byteOffset, prefix.length)
    .equals(prefix);
}

function answer(authkey: Uint8Array, challenge: Uint8Array): Buffer {
  return Buffer.concat([DIGEST, createHmac("sha256", authkey).update(challenge).digest()]);
}

/**
 * Challenges the peer to prove it holds `authkey` (Python's `deliver_challenge`).
 *
 * @param conn The connection, with a small frame limit.
 * @param authkey The shared key.
 * @throws {AuthenticationError} If the answer is wrong; the peer is told `#FAILURE#`.
 */
export async function deliverChallenge(
  conn: SocketConnection,
  authkey: Uint8Array,
): Promise<void> {
  const challenge = Buffer.concat([DIGEST, randomBytes(NONCE_BYTES)]);
  conn.send(Buffer.concat([CHALLENGE, challenge]));
  const response = await conn.recv();
  const expected = answer(authkey, challenge);
  if (response.length === expected.length && timingSafeEqual(response, expected)) {
    conn.send(WELCOME);
    return;
  }
  conn.send(FAILURE);
  throw new AuthenticationError(
    "Cannot accept the connection as the peer's answer to the challenge is wrong: both ends must use the same authkey",
  );
}

/**
 * Answers the peer's challenge with `authkey` (Python's `answer_challenge`).
 *
 * @param conn The connection, with a small frame limit.
 * @param authkey The shared key.
 * @throws {AuthenticationError} If the peer sent no challenge, or rejected the answer.
 */
export async function answerChallenge(conn: SocketConnection, authkey: Uint8Array): Promise<void> {
  const message = await conn.recv();
  if (!startsWith(message, CHALLENGE) || !startsWith(message.subarray(CHALLENGE.length), DIGEST)) {
    throw new AuthenticationError(
      "Cannot authenticate as the peer did not send a challenge: is this address a manager of this library?",
    );
  }
  conn.send(answer(authkey, message.subarray(CHALLENGE.length)));
  const reply = await conn.recv();
  if (Buffer.from(reply).equals(WELCOME)) return;
  throw new AuthenticationError(
    "Cannot connect as the peer rejected our authkey: use the authkey the manager was started with",
  );
}
