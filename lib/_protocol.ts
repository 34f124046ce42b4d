// The one message protocol between a pool and its workers, imported by both sides.
//
// Tasks and results travel in flat arrays (a fixed number of slots per entry) rather than one
// object per entry: structured clone is several times faster on a flat array of primitives
// than on an array of small objects, and a batch can hold hundreds of tiny tasks.

import type { FunctionDef, WireError } from "./reduction.ts";

/** What a task entry asks the worker to do with its payload. */
export const Op = {
  /** `fn(...payload)`: the payload is the argument list. */
  apply: 0,
  /** `payload.map((x) => fn(x))`: the payload is a chunk of items. */
  map: 1,
  /** `payload.map((args) => fn(...args))`: the payload is a chunk of argument lists. */
  starmap: 2,
} as const;
/** One of {@linkcode Op}'s values. */
export type Op = typeof Op[keyof typeof Op];

/** Slots per task entry in {@linkcode RunMessage.tasks}: `seq, fnId, op, payload`. */
export const TASK_STRIDE = 4;
/** Slots per result entry in {@linkcode ResultsMessage.results}: `seq, ok, value`. */
export const RESULT_STRIDE = 3;

/** Main → worker: run these tasks, in order, one at a time. */
export interface RunMessage {
  kind: "run";
  /** Functions the worker has not seen yet; it compiles or imports each once and keeps it. */
  defs: FunctionDef[] | undefined;
  /** `TASK_STRIDE` slots per task. */
  tasks: unknown[];
  /** The payloads may hold shared objects as tagged records (see `encodeShared`). */
  shared: boolean;
}

/** Worker → main: the initializer has run and tasks can start. */
export interface ReadyMessage {
  kind: "ready";
}

/** Worker → main: the initializer failed; the worker will take no tasks. */
export interface InitErrorMessage {
  kind: "init-error";
  error: WireError;
}

/** Worker → main: results of finished tasks, in the order the tasks were sent. */
export interface ResultsMessage {
  kind: "results";
  /**
   * `RESULT_STRIDE` slots per result; `ok` is 1, 2 when `value` is a chunk's results packed by
   * {@linkcode packChunk}, or 0 when `value` is a {@linkcode WireError}.
   */
  results: unknown[];
  /** Milliseconds the worker spent running these tasks, for the pool's batch sizing. */
  busy: number;
  /** The values may hold shared objects as tagged records (see `encodeShared`). */
  shared: boolean;
}

/**
 * Worker → main: a task passed the worker's heap limit inside a promise job, where the
 * runtime (Deno) stops the job without ending the worker (see `lib/_heap_watch.ts`). The
 * pool ends the worker and reports it as having run out of memory.
 */
export interface OutOfMemoryMessage {
  kind: "out-of-memory";
}

/**
 * Worker → main: a pool worker started ahead of its pool (`Pool.prepare()`) has loaded its
 * modules and waits for its `WorkerInit` as its next message.
 */
export interface SpareReadyMessage {
  kind: "spare-ready";
}

/** Every message a worker sends. */
export type WorkerMessage =
  | ReadyMessage
  | InitErrorMessage
  | ResultsMessage
  | OutOfMemoryMessage
  | SpareReadyMessage;

/** Who a worker is: part of every worker's `workerData`, read by `lib/context.ts`. */
export interface Identity {
  /** The name `currentProcess()` reports inside the worker. */
  name: string;
  /** The pid `currentProcess()` reports inside the worker. */
  pid: number;
  /** The creator's name, pid and daemon flag, for `parentProcess()`. */
  parent: { name: string; pid: number; daemon?: boolean };
  /** One counter shared by the whole process tree, from which every new worker takes its pid. */
  pidCounter: SharedArrayBuffer;
  /** A `Process`'s place in the tree (`[1, 2]` is `Process-1:2`); empty for pool workers. */
  identity: number[];
}

/** How a pool worker was started (its `workerData`, or a prepared worker's first message). */
export interface WorkerInit extends Identity {
  /** `Int32Array[0]` = the `seq` of the task running now, 0 when idle; read when a worker dies. */
  progress: SharedArrayBuffer;
  /** Runs once before the first task. */
  initializer: FunctionDef | undefined;
  initargs: unknown[];
}

/** How a `Process` worker was started (its `workerData`, or a spare's first message). */
export interface ProcessInit extends Identity {
  /** `target`, when the process runs a function. */
  target: FunctionDef | undefined;
  /** The arguments, with shared objects as tagged records. */
  args: unknown[];
  /**
   * Whether `args` hold tagged records (shared objects, registered classes' instances), which
   * the child revives with reduction.ts; without them it does not load that module.
   */
  shared: boolean;
  /** A `Process` subclass to rebuild and `run()`: its module, export name and own fields. */
  subclass: { module: string; name: string; fields: Record<string, unknown> } | undefined;
  /** Whether it is a daemon, for the `Process` object the child rebuilds. */
  daemon: boolean;
}

/** Chunks shorter than this travel as they are: packing them gains nothing. */
export const PACK_FROM = 64;

// Chunks of numbers travel as a Float64Array, which structured clone copies as one block of
// bytes instead of element by element (measured: a million numbers clone in 55 ms as an array,
// in about 2 ms as a Float64Array). Exact: every JavaScript number is a double. Only chunks,
// which the pool reads by index and never hands out as they are.

/**
 * Items `from` to `to` of `list` as a Float64Array when every one is a number, without the
 * slice in between; otherwise undefined.
 */
export function packNumbersOf(
  list: unknown[],
  from: number,
  to: number,
  spares?: SpareNumbers,
): Float64Array | undefined {
  if (to - from < PACK_FROM || typeof list[from] !== "number") return undefined;
  const out = spares?.take(to - from) ?? new Float64Array(to - from);
  // One pass, by hand: `new Float64Array(array)` goes through the iterator, 30 times slower.
  for (let i = from; i < to; i++) {
    const v = list[i];
    if (typeof v !== "number") {
      spares?.give(out);
      return undefined;
    }
    out[i - from] = v;
  }
  return out;
}

/**
 * Copies a chunk of numbers into a map's list, whole numbers as integers. Read from a
 * Float64Array they are doubles, and a list that starts with small integers and is then given
 * a double is copied whole into a list of doubles: on Deno and Node a map of 10^6 whole
 * numbers spent 63-65 ms instead of 28-34 ms making its list (the median of 7, fresh memory
 * costing 4 ms a megabyte on that machine). Values are unchanged: -0 stays a double.
 */
export function copyNumbers(from: Float64Array, to: unknown[], at: number): void {
  for (let i = 0; i < from.length; i++) {
    const v = from[i];
    const k = v | 0;
    to[at + i] = k === v && (k !== 0 || 1 / v > 0) ? k : v;
  }
}

// Fresh memory can cost more than the work done in it: on one machine each new page cost
// 17 us (4 ms a megabyte; Python's own allocations pay the same there), so the Float64Arrays
// a map of 10^6 numbers packed its chunks into cost its calling thread 13 ms of 28-54. The
// chunks come back as Float64Arrays of the same lengths (the worker writes its results over
// the items), and the pool packs its next map into them.

/** At most this many bytes of spare chunks are kept for a pool's next map. */
const SPARE_BYTES = 16 * 2 ** 20;

/**
 * Float64Arrays a map's chunks of results came back in, kept to pack the next map's chunks
 * into, up to {@linkcode SPARE_BYTES}. Only chunks the pool and its workers made go in: no
 * one else holds them.
 */
export class SpareNumbers {
  #free: Float64Array[] = [];
  #bytes = 0;
  #closed = false;

  /** A spare of exactly `length` numbers, or undefined. */
  take(length: number): Float64Array | undefined {
    const free = this.#free;
    for (let i = free.length - 1; i >= 0; i--) {
      const chunk = free[i];
      if (chunk.length !== length) continue;
      free[i] = free[free.length - 1];
      free.pop();
      this.#bytes -= chunk.byteLength;
      return chunk;
    }
    return undefined;
  }

  /** Keeps a chunk that nothing else holds, when it is a whole buffer and there is room. */
  give(chunk: Float64Array): void {
    const buffer = chunk.buffer;
    if (
      !(buffer instanceof ArrayBuffer) || chunk.byteOffset !== 0 ||
      chunk.byteLength !== buffer.byteLength || chunk.length < PACK_FROM || this.#closed ||
      this.#bytes + chunk.byteLength > SPARE_BYTES
    ) return;
    this.#free.push(chunk);
    this.#bytes += chunk.byteLength;
  }

  /** Lets the spares go, and keeps none after: the pool takes no more work. */
  close(): void {
    this.#closed = true;
    this.#free = [];
    this.#bytes = 0;
  }
}

/** A map chunk (or a chunk's results) as a Float64Array when every item is a number. */
export function packNumbers(items: unknown[]): unknown[] | Float64Array {
  return packNumbersOf(items, 0, items.length) ?? items;
}

// Chunks of strings and of plain objects of one shape travel packed too. Structured clone
// writes and reads them item by item (measured on Node: a million `{ id, tag }` objects in
// 650 ms, and the walk for shared objects took 400 ms more; a million short strings took
// 900 ms on Bun); packed, they travel as a few blocks: strings as one string and their
// lengths, objects as their keys and one column per key, each column packed in turn. A map
// of a million such objects took 3-5 times less time on each runtime. A chunk that is
// neither (or objects holding objects, of several shapes, of a class) goes as it is.

/**
 * Strings packed: their text end to end, and each one's length. ASCII text travels as its
 * bytes, which move instead of being copied.
 */
export interface PackedStrings {
  text: string | Uint8Array;
  lengths: Uint32Array;
}

/**
 * Strings of few distinct values packed: each distinct string once, and each item's index
 * into them (pickle likewise writes a string it has already written as a reference to it).
 */
export interface PackedCodes {
  dict: string[];
  codes: Uint8Array;
}

/** A column of packed objects: numbers, strings packed either way, or the values as they are. */
export type Column = Float64Array | PackedStrings | PackedCodes | unknown[];

/** Objects of one shape packed: their keys in order, and the column of each key's values. */
export interface PackedObjects {
  keys: string[];
  columns: Column[];
}

/** A chunk packed other than as numbers. */
export type Packed = PackedStrings | PackedCodes | PackedObjects;

/** A chunk as it travels: as it is, as numbers, or packed. */
export type Chunk = unknown[] | Float64Array | Packed;

// Objects with more keys than this go as they are: one column each costs more than it saves.
const MAX_KEYS = 32;

// Text that is all ASCII is written into bytes by hand: V8's join of 125,000 short strings
// took 18-21 ms on Node (with the clone of the result, 27-37 ms), the bytes and their move
// and decoding 3-17 ms; on Deno 7-10 ms against 11-22, on Bun 2-8 against 6-31.
const decoder = new TextDecoder();

// Strings longer than this in all go as they are: their text as one string could pass the
// runtime's longest string (2^29 - 24 characters on V8) while each string alone is fine.
const MAX_TEXT = 2 ** 26;

// Strings of at most this many distinct values travel as codes: one byte each. Neither side
// then makes or reads their text, and the strings that arrive are shared, not copies: a map of
// 10^6 `{ id, tag }` objects of one tag took, best of 24, Node 220 -> 145 ms, Deno 120 -> 90,
// Bun 110 -> 68 (one machine, each side run alternately).
const MAX_CODES = 256;

/** Gives each distinct string a code, in the order they come, up to {@linkcode MAX_CODES}. */
class Coder {
  readonly dict: string[] = [];
  #index = new Map<string, number>();
  #last = -1;

  /** The code of `v`, or -1 when it would be one distinct string too many. */
  code(v: string): number {
    const dict = this.dict;
    // A run of the same string costs one comparison each.
    if (this.#last >= 0 && dict[this.#last] === v) return this.#last;
    let code = this.#index.get(v);
    if (code === undefined) {
      if (dict.length === MAX_CODES) return -1;
      this.#index.set(v, code = dict.length);
      dict.push(v);
    }
    return this.#last = code;
  }
}

/**
 * Items `from` to `to` of `items` as codes, when every one is a string and there are at most
 * {@linkcode MAX_CODES} distinct ones; null when there are more, undefined when an item is
 * not a string. A list of unique strings gives up after the first few hundred.
 */
function packCodes(
  items: unknown[],
  from: number,
  to: number,
): PackedCodes | null | undefined {
  const codes = new Uint8Array(to - from);
  const coder = new Coder();
  for (let i = from; i < to; i++) {
    const v = items[i];
    if (typeof v !== "string") return undefined;
    const code = coder.code(v);
    if (code < 0) return null;
    codes[i - from] = code;
  }
  return { dict: coder.dict, codes };
}

/** Items `from` to `to` of `items` packed, when every one is a string. */
function packStrings(
  items: unknown[],
  from: number,
  to: number,
): PackedStrings | PackedCodes | undefined {
  const coded = packCodes(items, from, to);
  if (coded !== null) return coded;
  const lengths = new Uint32Array(to - from);
  const total = lengthsInto(items, from, to, lengths);
  if (total < 0 || total > MAX_TEXT) return undefined;
  const bytes = new Uint8Array(total);
  if (asciiInto(items, from, to, bytes)) return { text: bytes, lengths };
  return { text: (items.slice(from, to) as string[]).join(""), lengths };
}

// The long loops of packing strings are functions of their own that end in a plain return.
// V8 compiles a long loop as it runs (on-stack replacement), before the code after the loop
// has run; code after it compiled so, with nothing known of it, sent every chunk after back
// to the interpreter at the loop's end (seen with --trace-deopt), and packing 10^6 short
// strings took 33-50 ms on Deno and 28-33 on Node, against 19-26 and 19-27 so.

/** The lengths of items `from` to `to` into `lengths`, and their sum; -1 if one is not a string. */
function lengthsInto(items: unknown[], from: number, to: number, lengths: Uint32Array): number {
  let total = 0;
  for (let i = from; i < to; i++) {
    const v = items[i];
    if (typeof v !== "string") return -1;
    total += lengths[i - from] = v.length;
  }
  return total;
}

/** Items `from` to `to` of `items`, strings, into `bytes` a byte each; false if one is not ASCII. */
function asciiInto(items: unknown[], from: number, to: number, bytes: Uint8Array): boolean {
  for (let i = from, at = 0; i < to; i++) {
    at = asciiAt(items[i] as string, bytes, at);
    if (at < 0) return false;
  }
  return true;
}

/** `s` into `bytes` from `at`, a byte a character, and where it ends; -1 if `s` is not ASCII. */
function asciiAt(s: string, bytes: Uint8Array, at: number): number {
  for (let j = 0; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c > 127) return -1;
    bytes[at++] = c;
  }
  return at;
}

/**
 * Strings packed one by one as they come, into what {@linkcode packChunk} makes of a list of
 * them (codes while there are few distinct ones, then ASCII bytes), with no list: a worker
 * mapping a chunk of strings writes each result as it is made, so that the results do not
 * live through the chunk's collections. A list of 125,000 of them did, and the collector
 * copied them: the workers' part of a map of 10^6 short strings, timed on one thread (median
 * of 10), took 97-113 ms on Deno, 88-112 on Node and 121-158 on Bun, and so 56-91, 37, 72-80.
 */
export class StringPacker {
  readonly #lengths: Uint32Array;
  readonly #codes: Uint8Array;
  // The room for bytes to make when the strings turn to them, before it grows.
  readonly #chars: number;
  #coder: Coder | undefined = new Coder();
  #bytes = new Uint8Array(0);
  #at = 0;
  #n = 0;

  /** A packer of `n` strings, with room for `chars` characters before it grows. */
  constructor(n: number, chars: number) {
    this.#lengths = new Uint32Array(n);
    this.#codes = new Uint8Array(n);
    this.#chars = chars;
  }

  /**
   * Adds `v` as the next string; false, adding nothing, when it cannot be packed so (not a
   * string, not ASCII, or past the longest text), and then it is the caller's to list.
   */
  add(v: unknown): boolean {
    if (typeof v !== "string") return false;
    const coder = this.#coder;
    if (coder !== undefined) {
      const code = coder.code(v);
      if (code >= 0) {
        this.#codes[this.#n] = code;
        this.#lengths[this.#n++] = v.length;
        return true;
      }
      // One distinct string too many: the strings so far go as bytes.
      if (!this.#toBytes(coder.dict)) return false;
    }
    const end = this.#at + v.length;
    if (end > this.#bytes.length && !this.#grow(end)) return false;
    const at = asciiAt(v, this.#bytes, this.#at);
    if (at < 0) return false;
    this.#lengths[this.#n++] = v.length;
    this.#at = at;
    return true;
  }

  #toBytes(dict: string[]): boolean {
    let chars = 0;
    for (let i = 0; i < this.#n; i++) chars += this.#lengths[i];
    const bytes = new Uint8Array(Math.max(this.#chars, chars));
    let at = 0;
    for (let i = 0; i < this.#n && at >= 0; i++) at = asciiAt(dict[this.#codes[i]], bytes, at);
    if (at < 0) return false;
    this.#bytes = bytes;
    this.#at = at;
    this.#coder = undefined;
    return true;
  }

  #grow(end: number): boolean {
    if (end > MAX_TEXT) return false;
    const bytes = new Uint8Array(Math.min(MAX_TEXT, Math.max(end, 2 * this.#bytes.length)));
    bytes.set(this.#bytes.subarray(0, this.#at));
    this.#bytes = bytes;
    return true;
  }

  /** The strings added so far into `out` from index 0. */
  listInto(out: unknown[]): void {
    const coder = this.#coder;
    if (coder !== undefined) {
      for (let i = 0; i < this.#n; i++) out[i] = coder.dict[this.#codes[i]];
    } else {
      const text = this.#bytes.subarray(0, this.#at);
      unpackText({ text, lengths: this.#lengths.subarray(0, this.#n) }, out, 0);
    }
  }

  /** The strings packed, once all `n` are added. */
  packed(): PackedStrings | PackedCodes {
    const coder = this.#coder;
    if (coder !== undefined) return { dict: coder.dict, codes: this.#codes };
    return { text: this.#bytes.subarray(0, this.#at), lengths: this.#lengths };
  }
}

// Bytes are decoded a piece of about this many at a time. A string of more than 128 KiB goes
// into V8's space for large objects, in fresh memory each time, and fresh memory is dear on
// some machines: a page faulted in costs 14 us on the one the bench ran on, where decoding the
// 1.4 MB text of 125,000 short strings at once took 6.5-6.9 ms (about 365 page faults) on
// Deno, and in pieces of 32 KiB 0.2-0.3 ms.
const PIECE = 2 ** 15;

/** Packed strings into `out` from index `at`. */
function unpackText(packed: PackedStrings, out: unknown[], at: number): void {
  eachString(packed, (s, i) => {
    out[at + i] = s;
    return true;
  });
}

/**
 * Calls `each` with each of packed strings and its index, in order, until it returns false.
 * A worker maps a chunk of strings so: each string is made as its turn comes and is garbage
 * once its result is, where a list of the chunk's strings would keep them all alive.
 */
export function eachString(
  packed: PackedStrings,
  each: (s: string, i: number) => boolean,
): void {
  const { text, lengths } = packed;
  const n = lengths.length;
  if (typeof text === "string") {
    for (let i = 0, from = 0; i < n; i++) {
      const end = from + lengths[i];
      if (!each(text.slice(from, end), i)) return;
      from = end;
    }
    return;
  }
  // ASCII bytes: one byte a character, so a piece ends where an item does.
  for (let i = 0, from = 0; i < n;) {
    let j = i;
    let end = from;
    do end += lengths[j++]; while (j < n && end - from < PIECE);
    const piece = decoder.decode(text.subarray(from, end));
    for (let k = 0; i < j; i++) {
      const next = k + lengths[i];
      if (!each(piece.slice(k, next), i)) return;
      k = next;
    }
    from = end;
  }
}

function packColumn(values: unknown[]): Column {
  const first = typeof values[0];
  if (first === "number") {
    const packed = packNumbers(values);
    if (packed !== values) return packed;
  } else if (first === "string") {
    const packed = packStrings(values, 0, values.length);
    if (packed !== undefined) return packed;
  }
  return values;
}

// A packer made for one shape takes the items of that shape, as the loop of packObjects does
// (the same checks), reading each key by name: a load that the engine's inline cache serves
// for the shape, where `item[keys[k]]` looks the key up each time. It stops at the first item
// whose value does not fit its column, and the general loop goes on from there. Packing 10^6
// `{ id, tag }` objects on one thread took, median of 8: Node 100 -> 55 ms, Bun 58 -> 35,
// Deno 109 -> 64.
type Packer = (
  items: unknown[],
  from: number,
  n: number,
  keys: string[],
  proto: object,
  getProto: (o: object) => object | null,
  numbers: (Float64Array | null)[],
  codes: (Uint8Array | null)[],
  columns: unknown[][],
  coders: Coder[],
) => number;
const packers = new Map<string, Packer | null>();
const getPrototypeOf = Object.getPrototypeOf;

/**
 * The packer of objects with `keys`, whose columns start as numbers where `numbers` has an
 * array, as codes where `codes` has one, and as values elsewhere; undefined where code cannot
 * be made from strings. It returns how many items it packed, or -1 when the chunk cannot go
 * packed.
 */
function packerOf(
  keys: string[],
  numbers: (Float64Array | null)[],
  codes: (Uint8Array | null)[],
): Packer | undefined {
  const kinds = keys.map((_, k) => numbers[k] !== null ? 0 : codes[k] !== null ? 1 : 2);
  const id = JSON.stringify([keys, kinds]);
  let packer = packers.get(id);
  if (packer === undefined) {
    const lines = keys.map((key, k) => {
      const read = `v = o[${JSON.stringify(key)}];`;
      if (kinds[k] === 0) return `${read} if (typeof v !== "number") return i; c${k}[i] = v;`;
      if (kinds[k] === 1) {
        return `${read} if (typeof v !== "string" || (v = d${k}.code(v)) < 0) return i; c${k}[i] = v;`;
      }
      return `${read} if (typeof v === "object" ? v !== null : typeof v === "function" || ` +
        `typeof v === "symbol") return -1; c${k}[i] = v;`;
    });
    const columns = keys.map((_, k) =>
      `const c${k} = ${kinds[k] === 0 ? "numbers" : kinds[k] === 1 ? "codes" : "columns"}[${k}]` +
      (kinds[k] === 1 ? `, d${k} = coders[${k}];` : ";")
    );
    const body = `${columns.join("\n")}
      for (let i = 0; i < n; i++) {
        const o = items[from + i];
        if (typeof o !== "object" || o === null || getProto(o) !== proto) return -1;
        let k = 0;
        for (const key in o) {
          if (key !== keys[k]) return -1;
          k++;
        }
        if (k !== ${keys.length}) return -1;
        let v;
        ${lines.join("\n")}
      }
      return n;`;
    try {
      packer = new Function(
        "items",
        "from",
        "n",
        "keys",
        "proto",
        "getProto",
        "numbers",
        "codes",
        "columns",
        "coders",
        body,
      ) as Packer;
    } catch {
      // Code from strings is switched off (Node's --disallow-code-generation-from-strings).
      packer = null;
    }
    if (packers.size < 256) packers.set(id, packer);
  }
  return packer ?? undefined;
}

// Each item's keys are checked with for-in, which allocates nothing (Object.keys made an
// array per item), and a column whose first value is a number is written straight into a
// Float64Array. Packing 125,000 `{ id, tag }` objects took Node 12-63 ms before, 8-16 ms so.
/** Items `from` to `to` of `items` packed, when all are plain objects of one shape. */
function packObjects(items: unknown[], from: number, to: number): PackedObjects | undefined {
  const head = items[from] as Record<string, unknown>;
  // An object with a null prototype is rare: it goes as it is, which keeps one decoder.
  const proto = Object.prototype;
  if (Object.getPrototypeOf(head) !== proto) return undefined;
  const keys = Object.keys(head);
  const width = keys.length;
  if (width === 0 || width > MAX_KEYS || keys.includes("__proto__")) return undefined;
  const n = to - from;
  // Each column starts as what its first value suggests: numbers in a Float64Array, strings
  // as codes; it goes on as plain values from the first value that does not fit.
  const numbers = keys.map((key) => typeof head[key] === "number" ? new Float64Array(n) : null);
  const codes = keys.map((key) => typeof head[key] === "string" ? new Uint8Array(n) : null);
  const coders = keys.map(() => new Coder());
  const columns = keys.map((_, k) =>
    numbers[k] === null && codes[k] === null ? new Array<unknown>(n) : []
  );
  const fast = packerOf(keys, numbers, codes);
  const start = fast === undefined
    ? 0
    : fast(items, from, n, keys, proto, getPrototypeOf, numbers, codes, columns, coders);
  if (start < 0) return undefined;
  for (let i = start; i < n; i++) {
    const item = items[from + i] as Record<string, unknown>;
    if (typeof item !== "object" || item === null) return undefined;
    if (Object.getPrototypeOf(item) !== proto) return undefined;
    // The same keys in the same order; an enumerable key inherited from Object.prototype
    // (which Object.keys would not list) counts as one more, and the chunk goes as it is.
    let k = 0;
    for (const key in item) {
      if (key !== keys[k]) return undefined;
      k++;
    }
    if (k !== width) return undefined;
    for (k = 0; k < width; k++) {
      const v = item[keys[k]];
      const column = numbers[k];
      if (column !== null) {
        if (typeof v === "number") {
          column[i] = v;
          continue;
        }
        // Not numbers after all: the column goes on as values.
        const values = new Array<unknown>(n);
        for (let j = 0; j < i; j++) values[j] = column[j];
        columns[k] = values;
        numbers[k] = null;
      }
      const coded = codes[k];
      if (coded !== null) {
        const code = typeof v === "string" ? coders[k].code(v) : -1;
        if (code >= 0) {
          coded[i] = code;
          continue;
        }
        // Not strings of few values after all: the column goes on as values.
        const values = new Array<unknown>(n);
        const dict = coders[k].dict;
        for (let j = 0; j < i; j++) values[j] = dict[coded[j]];
        columns[k] = values;
        codes[k] = null;
      }
      // Only primitives: an object inside may be shared, a class instance or a cycle, which
      // the walk in reduction.ts must see.
      if (typeof v === "object" ? v !== null : typeof v === "function" || typeof v === "symbol") {
        return undefined;
      }
      columns[k][i] = v;
    }
  }
  return {
    keys,
    columns: columns.map((values, k) => {
      const coded = codes[k];
      if (coded !== null) return { dict: coders[k].dict, codes: coded };
      return numbers[k] ?? packColumn(values);
    }),
  };
}

/**
 * A map chunk (or a chunk's results) in the form that travels fastest: a Float64Array when
 * every item is a number, packed strings, packed objects of one shape with primitive values,
 * or the array itself. A packed chunk holds plain data only, so it needs no walk for shared
 * objects. Read it back with {@linkcode unpackChunk}.
 */
export function packChunk(items: unknown[] | Float64Array): Chunk {
  if (!Array.isArray(items) || items.length < PACK_FROM) return items;
  if (typeof items[0] === "number") return packNumbers(items);
  return packChunkOf(items, 0, items.length) ?? items;
}

/**
 * Items `from` to `to` of `list` packed as {@linkcode packChunk} packs them, without the
 * slice in between (a map's chunks are packed from its list), numbers into one of `spares`
 * when it has one of that length; undefined when they cannot be packed.
 */
export function packChunkOf(
  list: unknown[],
  from: number,
  to: number,
  spares?: SpareNumbers,
): Exclude<Chunk, unknown[]> | undefined {
  if (to - from < PACK_FROM) return undefined;
  const first = list[from];
  if (typeof first === "number") return packNumbersOf(list, from, to, spares);
  if (typeof first === "string") return packStrings(list, from, to);
  if (typeof first === "object" && first !== null && !Array.isArray(first)) {
    return packObjects(list, from, to);
  }
  return undefined;
}

/**
 * Whether a packed chunk's buffers have moved to another thread (a chunk is sent again from
 * its list then). A chunk of objects with no column in a buffer never moves.
 */
export function chunkMoved(chunk: Exclude<Chunk, unknown[]>): boolean {
  return "columns" in chunk ? chunk.columns.some(columnMoved) : columnMoved(chunk);
}

function columnMoved(column: Column): boolean {
  if (Array.isArray(column)) return false;
  if (column instanceof Float64Array) return column.byteLength === 0;
  return ("codes" in column ? column.codes : column.lengths).byteLength === 0;
}

function unpackStrings(packed: PackedStrings | PackedCodes): string[] {
  const out = new Array<string>(lengthOf(packed));
  unpackInto(packed, out, 0);
  return out;
}

// Makers of objects by shape: an object literal builds each object with its final shape at
// once, several times faster than adding keys one by one. A column of codes is read through
// its strings (`d[k]`) as the object is made, with no list of them in between. A column of
// numbers, read from a Float64Array, gives doubles, which an object's field holds boxed (a
// heap number each, on V8): whole numbers go in as integers, as copyNumbers writes them.
type Maker = (columns: ArrayLike<unknown>[], dicts: string[][], i: number) => object;
const makers = new Map<string, Maker>();

/** How a column of packed objects is read: through codes, as numbers, or as its values. */
type ColumnKind = "code" | "number" | "value";

/** The value of a column of numbers, whole numbers as integers (-0 stays a double). */
function integral(v: number): number {
  const k = v | 0;
  return k === v && (k !== 0 || 1 / v > 0) ? k : v;
}

function makerOf(keys: string[], kinds: ColumnKind[]): Maker {
  const id = JSON.stringify([keys, kinds]);
  let maker = makers.get(id);
  if (maker === undefined) {
    const fields = keys.map((key, k) => {
      const value = kinds[k] === "code"
        ? `d[${k}][c[${k}][i]]`
        : kinds[k] === "number"
        ? `((x = c[${k}][i]) | 0) === x && (x !== 0 || 1 / x > 0) ? x | 0 : x`
        : `c[${k}][i]`;
      return `${JSON.stringify(key)}: ${value}`;
    }).join(", ");
    try {
      maker = new Function("c", "d", "i", `let x; return { ${fields} };`) as Maker;
    } catch {
      // Code from strings is switched off (Node's --disallow-code-generation-from-strings).
      maker = (columns, dicts, i) => {
        const out: Record<string, unknown> = {};
        for (let k = 0; k < keys.length; k++) {
          const v = columns[k][i];
          out[keys[k]] = kinds[k] === "code"
            ? dicts[k][v as number]
            : kinds[k] === "number"
            ? integral(v as number)
            : v;
        }
        return out;
      };
    }
    if (makers.size < 256) makers.set(id, maker);
  }
  return maker;
}

function columnBuffers(column: Column, into: ArrayBuffer[]): void {
  if (Array.isArray(column)) return;
  if (column instanceof Float64Array) {
    into.push(column.buffer as ArrayBuffer);
  } else if ("codes" in column) {
    into.push(column.codes.buffer as ArrayBuffer);
  } else {
    into.push(column.lengths.buffer as ArrayBuffer);
    if (typeof column.text !== "string") into.push(column.text.buffer as ArrayBuffer);
  }
}

/**
 * Adds to `into` the buffers of a chunk that {@linkcode packChunk} made, so that it can be
 * moved to another thread instead of copied; false when `chunk` was not packed (it may be the
 * caller's own).
 */
export function packedBuffers(chunk: Chunk, into: ArrayBuffer[]): boolean {
  if (Array.isArray(chunk)) return false;
  if ("columns" in chunk) { for (const column of chunk.columns) columnBuffers(column, into); }
  else columnBuffers(chunk, into);
  return true;
}

/** A chunk from {@linkcode packChunk}, as an array (or a Float64Array, read by index). */
export function unpackChunk(chunk: Chunk): unknown[] | Float64Array {
  if (Array.isArray(chunk) || chunk instanceof Float64Array) return chunk;
  if (!("columns" in chunk)) return unpackStrings(chunk);
  const out = new Array<unknown>(packedLength(chunk));
  unpackInto(chunk, out, 0);
  return out;
}

/** How many items a packed chunk holds. */
export function packedLength(chunk: Packed): number {
  return lengthOf("columns" in chunk ? chunk.columns[0] : chunk);
}

function lengthOf(column: Column): number {
  if (Array.isArray(column) || column instanceof Float64Array) return column.length;
  return ("codes" in column ? column.codes : column.lengths).length;
}

/**
 * Unpacks packed strings or objects into `out` from index `at`: a map's chunk of results
 * goes straight into the map's list (an array per chunk and a copy of it cost a map of 10^6
 * small objects a fifth of its calling thread's time on Node).
 */
export function unpackInto(chunk: Packed, out: unknown[], at: number): void {
  if ("codes" in chunk) {
    const { dict, codes } = chunk;
    for (let i = 0; i < codes.length; i++) out[at + i] = dict[codes[i]];
    return;
  }
  if ("text" in chunk) {
    unpackText(chunk, out, at);
    return;
  }
  const keys = chunk.keys;
  const kinds = keys.map((): ColumnKind => "value");
  const columns = new Array<ArrayLike<unknown>>(keys.length);
  const dicts = new Array<string[]>(keys.length);
  for (let k = 0; k < keys.length; k++) {
    const column = chunk.columns[k];
    if (Array.isArray(column)) {
      columns[k] = column;
    } else if (column instanceof Float64Array) {
      kinds[k] = "number";
      columns[k] = column;
    } else if ("codes" in column) {
      kinds[k] = "code";
      columns[k] = column.codes;
      dicts[k] = column.dict;
    } else {
      columns[k] = unpackStrings(column);
    }
  }
  const make = makerOf(keys, kinds);
  const n = lengthOf(chunk.columns[0]);
  for (let i = 0; i < n; i++) out[at + i] = make(columns, dicts, i);
}
