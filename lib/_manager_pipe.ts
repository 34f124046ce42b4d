/**
 * A manager's frames over shared memory instead of a socket: how the thread that started a
 * `Manager()` reaches the server in the manager's worker. Two rings of `lib/_ring.ts`, one a
 * direction, which both threads read and write directly: a call costs no syscall and no trip
 * through the network stack (loopback TCP alone caps one-at-a-time calls near 11,000 a second
 * here, bench/floors_managers.ts). The frames are those of TCP, and so are the semantics,
 * errors and limits. Internal: see `lib/managers.ts`.
 *
 * @module
 */
import {
  BYTES,
  Channel,
  type ChannelErrors,
  DONE,
  encodeBytes,
  encoded,
  END_OF_STREAM,
  MUST_WAIT,
  ringSize,
} from "./_ring.ts";
import { spin } from "./_wait.ts";
import { EOFError } from "./errors.ts";
import type { FrameConn } from "./_manager_channel.ts";

/** The shared memory of a manager's pipe: requests (client to server) and replies. */
export interface PipeBuffers {
  requests: SharedArrayBuffer;
  replies: SharedArrayBuffer;
}

/** Allocates the shared memory of a manager's pipe. */
export function allocatePipe(): PipeBuffers {
  const size = ringSize(undefined, "the manager's pipe");
  return { requests: Channel.allocate(size, 0), replies: Channel.allocate(size, 0) };
}

/**
 * How long an end may go on reading frames from microtasks, a read after each frame it sends,
 * before its event loop must have a turn (a read from `setImmediate`): the timers and
 * messages of the thread wait at most this long while calls keep coming.
 */
const TURN_MS = 1;

const ERRORS: ChannelErrors = {
  full: () => new Error("Cannot send now as the manager's pipe is full"),
  empty: (timeout) => new EOFError(`Cannot receive as nothing arrived within ${timeout} ms`),
  broken: () => new EOFError("The other end of the manager's pipe is closed"),
  eof: () => new EOFError("The other end of the manager's pipe closed"),
};

/**
 * One end of a manager's pipe. Its frames go to one listener as they arrive. A wait for them
 * spins a little on the ring, then waits on it without blocking the thread, and only while
 * something keeps the connection ref'd (the server's, always; the client's, while a call
 * expects its reply): an idle client does not hold its program, as an idle socket does not.
 */
export class PipeFrames implements FrameConn {
  readonly #in: Channel;
  readonly #out: Channel;
  readonly #server: boolean;
  #onFrame: ((frame: Uint8Array) => void) | undefined;
  #onEnd: ((error: Error) => void) | undefined;
  #refs = 0;
  // A read is scheduled, or one waits on the ring (`receive()`).
  #scheduled = false;
  #waiting = false;
  #ended: Error | undefined;
  // The read scheduled for the event loop's next turn, if any, and when such a read last ran.
  #immediate: ReturnType<typeof setImmediate> | undefined;
  #turn = 0;
  // Whether this end sent a frame since its last read started.
  #sent = false;
  readonly #drain = () => this.#read();
  readonly #drainTurn = () => {
    this.#immediate = undefined;
    this.#turn = performance.now();
    this.#read();
  };
  /** The largest frame this end accepts; a longer one closes the connection. */
  maxFrame: number;
  /** Frames of up to 4 KiB are lent: each is a view of one buffer, good until the next read. */
  readonly lendsFrames = true;

  /**
   * Opens one end.
   *
   * @param buffers What {@linkcode allocatePipe} returned, here or in the other thread.
   * @param server Whether this is the server's end (it reads requests, sends replies).
   * @param maxFrame The largest frame to accept.
   */
  constructor(buffers: PipeBuffers, server: boolean, maxFrame: number) {
    this.#in = new Channel(server ? buffers.requests : buffers.replies, ERRORS);
    this.#out = new Channel(server ? buffers.replies : buffers.requests, ERRORS);
    this.#server = server;
    this.maxFrame = maxFrame;
  }

  /** Whether the connection has ended (closed by either end, or broken). */
  get closed(): boolean {
    return this.#ended !== undefined;
  }

  /**
   * Sends one frame: copied into the ring at once, or queued in order behind the frames
   * waiting for room.
   *
   * @param payload The frame's bytes.
   * @throws {EOFError} If the connection has ended.
   */
  send(payload: Uint8Array): void {
    if (this.#ended !== undefined) throw this.#ended;
    let sent: Promise<void>;
    try {
      const length = encodeBytes(payload); // before encoded(): it may grow the buffer
      sent = this.#out.send(encoded(), length, Infinity, false);
    } catch (error) {
      this.#end(new EOFError("The other end of the manager's pipe is closed", { cause: error }));
      throw this.#ended;
    }
    // Not `this.#out.sending`: a send that had to queue starts writing before it returns, and
    // may fail there (the reader closed meanwhile) with nothing left queued; its rejection
    // must be handled all the same (an unhandled BrokenPipe from the write pump was seen once
    // on Bun, in tests/faults_manager_memory_test.ts).
    if (sent !== DONE) {
      sent.catch((error) =>
        this.#end(
          new EOFError("The other end of the manager's pipe is closed", { cause: error }),
        )
      );
    }
    // What was sent is what the frames just read made this end do (a reply, or the call that
    // a reply let go on), so the read waiting for the event loop's next turn may start once
    // this microtask ends: on Node and Bun a turn was a third of a call (measured on Node: a
    // call's median 5.5-6.4 µs with the turn, 3.5-4.5 µs without).
    // Others waiting for the loop get a turn at least every TURN_MS all the same.
    this.#sent = true;
    if (this.#immediate !== undefined && this.#soon()) {
      clearImmediate(this.#immediate);
      this.#immediate = undefined;
      queueMicrotask(this.#drain);
    }
  }

  // Whether the next read may run from a microtask: the event loop had a turn within TURN_MS.
  #soon(): boolean {
    return performance.now() - this.#turn < TURN_MS;
  }

  /**
   * Gives every frame, as it arrives, to `onFrame`, and the error that ended the connection
   * to `onEnd`, once. Frames are read while the connection is ref'd.
   *
   * @param onFrame Takes one frame.
   * @param onEnd Called once the connection has ended.
   * @param held Whether listening alone keeps the connection ref'd (and the program alive).
   */
  listen(
    onFrame: (frame: Uint8Array) => void,
    onEnd: (error: Error) => void,
    held: boolean,
  ): void {
    this.#onFrame = onFrame;
    this.#onEnd = onEnd;
    if (this.#ended !== undefined) return onEnd(this.#ended);
    if (held) this.ref();
    else this.#schedule();
  }

  // The next frame if it is here now; ends the connection at the end of the stream.
  #take(): Uint8Array | undefined {
    let frame: unknown;
    try {
      frame = this.#in.tryLendBytes();
    } catch (error) {
      this.#end(new EOFError("The manager's pipe broke", { cause: error }));
      return undefined;
    }
    if (frame === MUST_WAIT) return undefined;
    if (frame === END_OF_STREAM) {
      this.#end(ERRORS.eof());
      return undefined;
    }
    const bytes = frame as Uint8Array;
    if (bytes.length > this.maxFrame) {
      this.close();
      return undefined;
    }
    return bytes;
  }

  // Starts reading, if anything keeps the connection ref'd. A read that finds the ring empty
  // spins, and the thread does nothing else meanwhile: so it starts once this thread has done
  // what the frames it was given made it do. The client's calls made together are sent in
  // the same turn, so its first read starts a microtask later; the replies to the requests
  // the server has just read, or the calls that the replies the client has just read let go
  // on, take a few microtasks more each, so a read after those starts once the turn has ended,
  // or as soon as this end sends (see send()).
  #schedule(afterFrames = false): void {
    if (this.#scheduled || this.#waiting || this.#refs === 0 || this.#onFrame === undefined) {
      return;
    }
    this.#scheduled = true;
    if (this.#server || afterFrames) this.#immediate = setImmediate(this.#drainTurn);
    else queueMicrotask(this.#drain);
  }

  // The read after frames were delivered. If they were answered at once (the replies went
  // out from send()), once this microtask ends, as send() would have it; otherwise after the
  // thread's turn, or once send() is called.
  #next(): void {
    if (this.#sent && !this.#scheduled && this.#refs > 0 && this.#soon()) {
      this.#scheduled = true;
      queueMicrotask(this.#drain);
    } else {
      this.#schedule(true);
    }
  }

  #read(): void {
    this.#scheduled = false;
    this.#sent = false;
    let spun = false;
    let delivered = false;
    while (this.#refs > 0 && this.#ended === undefined && !this.#waiting) {
      const frame = this.#take();
      if (frame !== undefined) {
        delivered = true;
        this.#onFrame!(frame);
        continue;
      }
      if (this.#ended !== undefined) return;
      if (delivered) return this.#next();
      if (!spun) {
        spun = true;
        if (spin(this.#in.control, this.#in.waitIndex, this.#in.waitValue)) continue;
      }
      // Nothing soon: wait on the ring (a large message is read there too, in pieces).
      this.#waiting = true;
      this.#in.receive(BYTES, Infinity).then((frame) => {
        this.#waiting = false;
        this.#turn = performance.now();
        this.#sent = false;
        const bytes = frame as Uint8Array;
        if (bytes.length > this.maxFrame) return this.close();
        this.#onFrame!(bytes);
        this.#next();
      }, (error) => {
        this.#waiting = false;
        this.#end(
          error instanceof EOFError
            ? error
            : new EOFError("The manager's pipe broke", { cause: error }),
        );
      });
      return;
    }
  }

  #end(error: Error): void {
    if (this.#ended !== undefined) return;
    this.#ended = error;
    this.#refs = 0;
    // Both directions end for the other side: it reads the end of what this side sent, and
    // its sends fail. A wait of this side on the ring ends.
    this.#out.markClosed(true);
    this.#in.markClosed(false);
    this.#in.cancelReceives(error);
    this.#onEnd?.(error);
  }

  /** Keeps the program alive while a caller waits for something from this connection. */
  ref(): void {
    if (this.#ended !== undefined) return;
    this.#refs++;
    this.#schedule();
  }

  /** Undoes one {@linkcode PipeFrames.ref}. */
  unref(): void {
    if (this.#refs > 0) this.#refs--;
  }

  /** Closes the connection; frames not yet read are dropped. */
  close(): void {
    this.#end(new EOFError("The connection is closed"));
  }
}
