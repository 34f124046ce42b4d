// Fault injection: hostile peers against the managers' wire. A live server (a program of its
// own, so that a crash or an out-of-memory shows as its end, not the test runner's) is hit by
// zero-length, truncated, garbage, oversized, deeply nested and bomb frames, idle authenticated
// connections and wrong keys in a loop, and after each, a good client is still served. Clients
// (programs of their own) meet hostile servers, and a program's Manager() meets hostile frames.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, test } from "node:test";
import { decode, encode, type ExtData } from "@msgpack/msgpack";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import { AUTH_TRACKED_PEERS, AuthThrottle } from "../lib/_socket.ts";
import {
  checkWire,
  DEFAULT_WIRE_LIMITS,
  fastDecode,
  fastEncode,
  fastMiss,
  WireCodec,
  WireLimitError,
} from "../lib/_wire.ts";
import {
  answerTo,
  frame,
  header,
  hostileServer,
  PROMPTLY,
  RawPeer,
  serverHandshake,
} from "./fixtures/raw_peer.ts";
import { Program, startServer } from "./fixtures/tcp_programs.ts";

const SERVER = new URL("./fixtures/peer_server.ts", import.meta.url);
const CLIENT = new URL("./fixtures/peer_client.ts", import.meta.url);
const KEY = "peer test key";
// Starts programs and sends large frames: above bun's default of 5 s per test.
const slow = { timeout: 120_000 };
const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;

/** Trials of each fault, counted per test and printed as the report's table. */
const tally = new Map<string, { trials: number; survived: number }>();
function record(fault: string, survived: boolean): void {
  const row = tally.get(fault) ?? { trials: 0, survived: 0 };
  row.trials++;
  if (survived) row.survived++;
  tally.set(fault, row);
}

interface SharedList {
  push(...items: unknown[]): Promise<number>;
  slice(): Promise<unknown[]>;
}

class PeerManager extends mp.BaseManager {}
PeerManager.register("getList");

/** Asserts that a new connection is authenticated and answered: a `ping` gets `pong`. */
async function assertNewClientServed(port: number, what: string): Promise<void> {
  const peer = await RawPeer.connect(port);
  try {
    // Patient: a peer that failed before waits up to two seconds for its next handshake.
    await peer.authenticate(KEY, 15_000);
    peer.send(encode([7, "", "ping", []]));
    assert.deepEqual(decode(await peer.recv()), [7, 0, "pong"], `not served after ${what}`);
  } finally {
    peer.destroy();
  }
}

/** Asserts that the long-lived client `list` is still served: an item appended is read back. */
async function assertServes(list: SharedList, item: string): Promise<void> {
  await list.push(item);
  assert.equal((await list.slice()).at(-1), item, `the server stopped serving after: ${item}`);
}

/** Starts the server program with `options`, and a good client of it in this process. */
async function withServer(
  options: Record<string, unknown>,
  body: (port: number, list: SharedList, server: Program) => Promise<void>,
): Promise<void> {
  const { server, port } = await startServer(SERVER, [KEY, JSON.stringify(options)]);
  const client = new PeerManager({ address: ["127.0.0.1", port], authkey: KEY });
  try {
    await client.connect();
    const list = await client.create<SharedList>("getList");
    await body(port, list, server);
  } finally {
    await client.shutdown().catch(() => {});
    const exit = await server.kill();
    assert.equal(exit.signal, "SIGKILL", `the server ended by itself:\n${exit.stderr}`);
  }
}

/** The hostile frames of an unauthenticated peer, by name. */
const BEFORE_AUTH: Record<string, (peer: RawPeer) => void> = {
  "zero-length frame": (peer) => peer.sendRaw(header(0)),
  "truncated frame": (peer) => {
    peer.sendRaw(Buffer.concat([header(60), Buffer.alloc(10)]));
    peer.destroy();
  },
  "garbage frame": (peer) => peer.send(Buffer.from([0xc1, 0xff, 0x00, 0x13])),
  "oversized header": (peer) => peer.sendRaw(header(0xffffffff)),
};

/** A request whose argument is nested `depth` arrays deep. */
function deepRequest(listId: string, depth: number): Buffer {
  const head = Buffer.from(encode([9, listId, "push"])).subarray(1);
  return Buffer.concat([
    Buffer.from([0x94]),
    head,
    Buffer.from([0x91]),
    Buffer.alloc(depth, 0x91),
    Buffer.from([0xc0]),
  ]);
}

/** `count` empty maps in one array: a byte each on the wire, dozens of bytes each decoded. */
function mapBomb(count: number): Buffer {
  const bytes = Buffer.alloc(5 + count, 0x80);
  bytes[0] = 0xdd;
  bytes.writeUInt32BE(count, 1);
  return bytes;
}

/** `parts` arrays of `each` empty maps: every length is small, the whole is not. */
function nestedBomb(parts: number, each: number): Buffer {
  const chunks: Buffer[] = [Buffer.from([0xdc, parts >> 8, parts & 0xff])];
  for (let i = 0; i < parts; i++) chunks.push(mapBomb(each));
  return Buffer.concat(chunks);
}

/** The id of the shared list, asked for by an authenticated raw peer. */
async function listId(peer: RawPeer): Promise<string> {
  peer.send(encode([1, "", "create", ["getList"]]));
  const [, kind, reference] = decode(await peer.recv()) as [number, number, ExtData];
  assert.equal(kind, 0);
  return (decode(reference.data as Uint8Array) as { i: string }).i;
}

describe("Hostile peers against a manager's server", () => {
  test(
    "BaseManager's server survives zero-length, truncated, garbage and oversized frames before authentication",
    slow,
    async () => {
      await withServer({}, async (port, list, server) => {
        for (let round = 0; round < 5; round++) {
          for (const [fault, send] of Object.entries(BEFORE_AUTH)) {
            const peer = await RawPeer.connect(port);
            send(peer);
            const closed = await peer.closedWithin(PROMPTLY + 2_000);
            peer.destroy();
            let survived = false;
            try {
              assert.ok(closed, `the server did not close the connection after a ${fault}`);
              await assertNewClientServed(port, fault);
              await assertServes(list, `${fault} ${round}`);
              survived = server.running;
            } finally {
              record(`before auth: ${fault}`, survived);
            }
            assert.ok(survived, `the server ended after a ${fault}${server.report}`);
          }
        }
      });
    },
  );

  test(
    "BaseManager's server closes only the connection that sends a zero-length, truncated, garbage or bomb frame after authentication",
    slow,
    async () => {
      await withServer({}, async (port, list, server) => {
        const faults: Record<string, (peer: RawPeer) => void> = {
          "zero-length frame": (peer) => peer.sendRaw(header(0)),
          "truncated value": (peer) => peer.send(Buffer.from([0x94, 0x01, 0xa3, 0x61])),
          "garbage value": (peer) => peer.send(Buffer.from([0xc1, 0xc1, 0xc1])),
          "truncated frame": (peer) => {
            peer.sendRaw(Buffer.concat([header(1000), Buffer.alloc(100, 0x90)]));
            peer.destroy();
          },
          "32 MB bomb of empty maps": (peer) => peer.send(mapBomb(32 * 1024 * 1024)),
          "32 MB bomb in short arrays": (peer) => peer.send(nestedBomb(8, 4 * 1024 * 1024)),
          "frame of the maximum size": (peer) => peer.send(mapBomb(64 * 1024 * 1024 - 5)),
        };
        for (let round = 0; round < 2; round++) {
          for (const [fault, send] of Object.entries(faults)) {
            const peer = await RawPeer.connect(port);
            let survived = false;
            try {
              await peer.authenticate(KEY);
              send(peer);
              assert.ok(
                await peer.closedWithin(30_000),
                `the server did not close the connection after a ${fault}`,
              );
              await assertServes(list, `${fault} ${round}`);
              await assertNewClientServed(port, fault);
              survived = server.running;
            } finally {
              peer.destroy();
              record(`after auth: ${fault}`, survived);
            }
            assert.ok(survived, `the server ended after a ${fault}${server.report}`);
          }
        }
      });
    },
  );

  test(
    "BaseManager's server refuses a value nested 100,000 levels deep with an error, and keeps the list readable",
    slow,
    async () => {
      await withServer({}, async (port, list, server) => {
        for (let round = 0; round < 3; round++) {
          const peer = await RawPeer.connect(port);
          let survived = false;
          try {
            await peer.authenticate(KEY);
            peer.send(deepRequest(await listId(peer), 100_000));
            const [callId, kind, error] = decode(await peer.recv(30_000)) as [
              number,
              number,
              ExtData,
            ];
            assert.equal(callId, 9);
            assert.equal(kind, 1, "the call fails");
            const wire = decode(error.data as Uint8Array) as { name: string; message: string };
            assert.equal(wire.name, "RangeError");
            assert.match(wire.message, /nests deeper than 100 levels: raise 'maxDepth'/);
            // The list holds nothing deep, and reads as before.
            assert.ok((await list.slice()).every((item) => typeof item === "string"));
            await assertServes(list, `deep ${round}`);
            survived = server.running;
          } finally {
            peer.destroy();
            record("after auth: value nested 100,000 deep", survived);
          }
          assert.ok(survived, `the server ended${server.report}`);
        }
      });
    },
  );

  test(
    "A call whose arguments are over the server's limits fails with a RangeError, and the connection goes on",
    slow,
    async () => {
      await withServer({ maxLength: 1000 }, async (_port, list, server) => {
        for (let round = 0; round < 3; round++) {
          let survived = false;
          try {
            await assert.rejects(list.push(new Array(2000).fill(round)), {
              name: "RangeError",
              message: /of length 2000 and the limit is 1000: raise 'maxLength'/,
            });
            await assertServes(list, `long ${round}`);
            survived = server.running;
          } finally {
            record("good client: arguments over a limit", survived);
          }
        }
      });
    },
  );

  test(
    "BaseManager's server slows down wrong keys tried in a loop, and still serves the right one",
    slow,
    async () => {
      await withServer({}, async (port, list, server) => {
        const attempts = 8;
        const started = Date.now();
        for (let i = 0; i < attempts; i++) {
          const peer = await RawPeer.connect(port);
          try {
            const challenge = await peer.recv(15_000);
            peer.send(answerTo(challenge, "wrong key"));
            assert.equal((await peer.recv()).toString(), "#FAILURE#");
          } finally {
            peer.destroy();
          }
          record("wrong key in a loop", server.running);
        }
        // Each failure doubles the wait of the next, from 50 ms: 7 waits add up to 5 s. A
        // slow machine only makes this longer; without the slow-down it takes milliseconds.
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 1_500, `${attempts} wrong keys were answered in ${elapsed} ms`);
        await assertNewClientServed(port, "wrong keys");
        await assertServes(list, "after wrong keys");
        assert.ok(server.running, server.report);
      });
    },
  );

  test("AuthThrottle remembers a bounded number of peers", () => {
    const throttle = new AuthThrottle();
    for (let i = 0; i < 5 * AUTH_TRACKED_PEERS; i++) throttle.failed(`10.0.${i >> 8}.${i & 255}`);
    assert.equal(throttle.size, AUTH_TRACKED_PEERS);
    throttle.failed("192.0.2.1");
    assert.ok(throttle.delay("192.0.2.1") > 0);
    throttle.succeeded("192.0.2.1");
    assert.equal(throttle.delay("192.0.2.1"), 0);
  });

  test(
    "BaseManager's server closes an authenticated connection idle past 'idleTimeout'",
    slow,
    async () => {
      await withServer({ idleTimeout: 300 }, async (port, _list, server) => {
        for (let round = 0; round < 3; round++) {
          const peer = await RawPeer.connect(port);
          let closed = false;
          try {
            await peer.authenticate(KEY);
            // A request answered, and then nothing.
            peer.send(encode([3, "", "ping", []]));
            assert.deepEqual(decode(await peer.recv()), [3, 0, "pong"]);
            closed = await peer.closedWithin(PROMPTLY + 300);
          } finally {
            peer.destroy();
            record("idle authenticated connection", closed && server.running);
          }
          assert.ok(closed, "the idle connection was not closed");
          await assertNewClientServed(port, "an idle connection");
        }
        assert.ok(server.running, server.report);
      });
    },
  );
});

describe("Limits of the managers' wire", () => {
  test("checkWire() refuses depth, lengths and decoded size past the limits, with the limit named", () => {
    const limits = { ...DEFAULT_WIRE_LIMITS, maxLength: 1000, maxDecodedSize: 100_000 };
    checkWire(encode([1, "a", { b: [null, true] }, new Uint8Array(10)]), limits);
    assert.throws(() => checkWire(Buffer.alloc(102, 0x91), limits), WireLimitError);
    assert.throws(
      () => checkWire(Buffer.concat([Buffer.alloc(101, 0x91), Buffer.from([0xc0])]), limits),
      /nests deeper than 100 levels: raise 'maxDepth'/,
    );
    assert.throws(() => checkWire(encode(new Array(1001).fill(0)), limits), /'maxLength'/);
    assert.throws(() => checkWire(encode("x".repeat(1001)), limits), /'maxLength'/);
    const short = { ...limits, maxLength: 10 };
    assert.throws(() => checkWire(encode("x".repeat(11)), short), /a string of length 11/);
    assert.throws(() => checkWire(encode("x".repeat(200)), short), /a string of length 200/);
    assert.throws(() => checkWire(encode(new Uint8Array(11)), short), /bytes of length 11/);
    assert.throws(() => checkWire(nestedBomb(2, 900), limits), /'maxDecodedSize'/);
    // Not MessagePack at all: a RangeError, but no limit of the options.
    const malformed = (bytes: Uint8Array, message: RegExp) => {
      assert.throws(() => checkWire(bytes, limits), (error: Error) => {
        assert.ok(error instanceof RangeError && !(error instanceof WireLimitError));
        assert.match(error.message, message);
        return true;
      });
    };
    malformed(Buffer.from([0xc1]), /0xc1/);
    malformed(new Uint8Array(0), /truncated/);
    malformed(Buffer.from([0xdd, 0, 0, 0, 9, 0x90]), /truncated/);
    malformed(Buffer.from([0x90, 0x90]), /follow/);
  });

  test("arrays of 16 numbers or more travel packed at the narrowest width and arrive equal, -0 kept", () => {
    const codec = new WireCodec((record) => record);
    const range = (from: number, step: number) =>
      Array.from({ length: 16 }, (_, i) => from + i * step);
    const cases: Array<[number[], number]> = [
      [range(-128, 17), 1],
      [[...range(0, 1), 128], 2],
      [[...range(-32768, 4369), 32767], 2],
      [[...range(0, 1), -32769], 4],
      [[...range(0, 1), 2 ** 31 - 1, -(2 ** 31)], 4],
      [[...range(0, 1), 2 ** 31], 8],
      [[...range(0, 1), 0.5, -0, NaN, Infinity, -Infinity, 2 ** 53 + 2], 8],
    ];
    for (const [numbers, width] of cases) {
      const bytes = codec.encode(numbers);
      // ext 8 or 16 (0xc7 n or 0xc8 n n), type 7, then the width byte and the numbers.
      const head = bytes[0] === 0xc7 ? 2 : 3;
      assert.deepEqual([bytes[head], bytes[head + 1]], [7, width], `${numbers}`);
      assert.equal(bytes.length, head + 2 + numbers.length * width);
      const back = codec.decode(bytes) as number[];
      assert.ok(Array.isArray(back) && back.length === numbers.length);
      numbers.forEach((x, i) => assert.ok(Object.is(back[i], x), `${x} arrived as ${back[i]}`));
    }
    // Nested, and beside other values.
    const value = { a: range(1, 1), b: ["x", range(0.25, 1)] };
    assert.deepEqual(codec.decode(codec.encode(value)), value);
    // Not packed: too short, not all numbers, holes, and subclasses stay plain MessagePack.
    for (const plain of [range(0, 1).slice(1), [...range(0, 1), "x"], [...range(0, 1), null]]) {
      const bytes = codec.encode(plain);
      assert.notEqual(bytes[0], 0xc7);
      assert.deepEqual(codec.decode(bytes), plain);
    }
    const holey = range(0, 1);
    holey[20] = 1;
    assert.deepEqual(codec.decode(codec.encode(holey)), [
      ...range(0, 1),
      ...Array(4).fill(null),
      1,
    ]);
  });

  test("the fast path writes the bytes @msgpack/msgpack writes, reads them back, and leaves the rest to it", () => {
    const numbers = [
      0,
      -0,
      1,
      127,
      128,
      255,
      256,
      65535,
      65536,
      2 ** 32 - 1,
      -1,
      -32,
      -33,
      -128,
      -129,
      -32768,
      -32769,
      -(2 ** 31),
      0.5,
      -1.25,
      1e300,
      NaN,
      Infinity,
      -Infinity,
      2 ** 52 - 0.5,
    ];
    const strings = ["", "a", "x".repeat(31), "x".repeat(32), "y".repeat(255), "~ \u007f"];
    const values: unknown[] = [
      [],
      numbers.slice(0, 15),
      numbers.slice(15),
      strings,
      [null, true, false, undefined, "k", [1, ["two", 3]]],
      [12, "7f3a9c1e2b", "set", ["k", 12345]],
      [12, 0, 0.1],
    ];
    for (const value of values) {
      const bytes = fastEncode(value);
      assert.ok(bytes !== undefined, `the fast path did not write ${JSON.stringify(value)}`);
      assert.deepEqual(bytes, encode(value), JSON.stringify(value));
      const back = fastDecode(bytes.slice());
      assert.deepEqual(back, decode(bytes), JSON.stringify(value));
    }
    // -0 arrives as 0, as @msgpack/msgpack sends it; NaN as NaN.
    assert.ok(Object.is((fastDecode(encode([-0, NaN])) as number[])[0], 0));
    assert.ok(Number.isNaN((fastDecode(encode([-0, NaN])) as number[])[1]));
    // Left to the full path: what an extension may take, what is long, deep or not ASCII,
    // integers past 32 bits; read by it, a bare value (a message is an array) and bytes that
    // are not one whole message.
    const full: unknown[] = [
      new Array(16).fill(1),
      [{ a: 1 }],
      [new Map()],
      [new Uint8Array(1)],
      [1n],
      [new Date(0)],
      ["é"],
      ["\ud800"],
      ["x".repeat(256)],
      [2 ** 32],
      [-(2 ** 31) - 1],
      [[[[1]]]],
      new Array(15).fill("z".repeat(100)),
      [() => 1],
      (() => {
        class Row extends Array {}
        return Row.from([1]);
      })(),
    ];
    for (const value of full) {
      assert.equal(fastEncode(value), undefined, `the fast path wrote ${String(value)}`);
    }
    for (const bytes of [encode(7), encode({ a: 1 }), encode(["é"]), encode([2 ** 40])]) {
      assert.equal(fastDecode(bytes), fastMiss);
    }
    const whole = encode([1, "ab", [2]]);
    for (let n = 0; n < whole.length; n++) assert.equal(fastDecode(whole.subarray(0, n)), fastMiss);
    assert.equal(fastDecode(Buffer.concat([whole, Buffer.from([0xc0])])), fastMiss);
  });

  test("the fast path reads what @msgpack/msgpack reads, or leaves it: 20,000 random messages, whole and damaged", () => {
    // A fixed seed: the same messages on every run and runtime.
    let seed = 0x9e3779b9;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
    const scalars = [
      () => Math.floor(random() * 300) - 150,
      () => Math.floor(random() * 70_000),
      () => Math.floor((random() - 0.5) * 2 ** 34),
      () => random() * 1e6 - 5e5,
      () => pick([null, true, false, NaN, -0, 2 ** 31, -(2 ** 31) - 1]),
      () => "abcdefghij".slice(0, Math.floor(random() * 11)).repeat(Math.floor(random() * 30)),
      () => pick(["é", "x\u0080", "\ud83d\ude00"]),
    ];
    const value = (depth: number): unknown => {
      if (depth > 0 && random() < 0.3) {
        return Array.from({ length: Math.floor(random() * 17) }, () => value(depth - 1));
      }
      return pick(scalars)();
    };
    let read = 0;
    for (let i = 0; i < 20_000; i++) {
      let bytes = encode([value(4), value(3), value(2)]);
      // Damaged: a byte changed, cut short, or one more at the end.
      const damage = random();
      if (damage < 0.2) {
        bytes = bytes.slice();
        bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      } else if (damage < 0.3) bytes = bytes.slice(0, Math.floor(random() * bytes.length));
      else if (damage < 0.35) bytes = Buffer.concat([bytes, Buffer.from([0xc0])]);
      const fast = fastDecode(bytes);
      if (fast === fastMiss) continue;
      read++;
      let full: unknown;
      assert.doesNotThrow(() => {
        checkWire(bytes, DEFAULT_WIRE_LIMITS);
        full = decode(bytes);
      }, `the fast path read bytes the full path refuses: ${Buffer.from(bytes).toString("hex")}`);
      assert.deepEqual(fast, full, Buffer.from(bytes).toString("hex"));
    }
    // Enough of them are the fast path's to read (2,773 with this seed).
    assert.ok(read > 2_500, `the fast path read only ${read} of 20,000 messages`);
  });

  test("a codec decodes a short message past its own limits with the limit named, fast path or not", () => {
    const codec = new WireCodec((record) => record);
    // Truncated, or bytes after the value: the full path's errors.
    assert.throws(() => codec.decode(Buffer.from([0x92, 0x01])), /truncated/);
    assert.throws(() => codec.decode(Buffer.from([0x91, 0x01, 0x01])), /follow/);
    const shallow = new WireCodec((record) => record, undefined, {
      ...DEFAULT_WIRE_LIMITS,
      maxDepth: 2,
    });
    assert.throws(() => shallow.decode(encode([[[1]]])), /nests deeper than 2 levels/);
    assert.deepEqual(shallow.decode(encode([[1]])), [[1]]);
    const short = new WireCodec((record) => record, undefined, {
      ...DEFAULT_WIRE_LIMITS,
      maxLength: 10,
    });
    assert.throws(() => short.decode(encode(["x".repeat(11)])), /a string of length 11/);
    assert.throws(() => short.decode(encode(new Array(11).fill(0))), /'maxLength'/);
    assert.deepEqual(short.decode(encode(["x".repeat(10)])), ["x".repeat(10)]);
  });

  test("a packed array of numbers with a wrong width or length, or past a limit, is refused before decoding", () => {
    const codec = new WireCodec((record) => record);
    const ext = (data: number[]) => Buffer.from([0xc7, data.length, 7, ...data]);
    for (const data of [[], [3, 0, 0, 0], [4, 0, 0, 0], [8, ...Array(9).fill(0)], [0]]) {
      assert.throws(() => codec.decode(ext(data)), (error: Error) => {
        assert.ok(error instanceof RangeError && !(error instanceof WireLimitError));
        assert.match(error.message, /packed array of numbers whose width byte or length is wrong/);
        return true;
      });
    }
    assert.deepEqual(codec.decode(ext([2, 1, 0, 0xff, 0xff])), [1, -1]);
    const limits = { ...DEFAULT_WIRE_LIMITS, maxLength: 1000, maxDecodedSize: 100_000 };
    const packed = (n: number) => new WireCodec((r) => r).encode(new Array(n).fill(0.5));
    checkWire(packed(1000), limits);
    assert.throws(() => checkWire(packed(1001), limits), /an array of length 1001 .*'maxLength'/);
    const roomy = { ...limits, maxLength: 100_000 };
    assert.throws(() => checkWire(packed(10_000), roomy), /'maxDecodedSize'/);
  });

  for (const [entry, lib] of entries) {
    test(`BaseManager (${entry}) refuses an empty authkey with a RangeError`, () => {
      for (const authkey of ["", new Uint8Array(0)]) {
        assert.throws(() => new lib.BaseManager({ authkey }), {
          name: "RangeError",
          message: /'authkey' is empty: pass a secret of one byte or more/,
        });
      }
      assert.throws(() => new lib.BaseManager({ idleTimeout: -1 }), RangeError);
      assert.throws(() => new lib.BaseManager({ maxDepth: 0 }), RangeError);
    });

    test(`Manager() (${entry}) refuses an empty authkey with a RangeError`, async () => {
      await assert.rejects(async () => await lib.Manager({ authkey: "" }), RangeError);
    });
  }
});

describe("Clients against hostile servers", () => {
  /** Runs the client program against `behaviour`, and returns what it printed. */
  async function clientAgainst(
    behaviour: Parameters<typeof hostileServer>[0],
    mode: string[] = [],
  ): Promise<string> {
    const server = await hostileServer(behaviour);
    try {
      const exit = await new Program("current", CLIENT, [String(server.port), KEY, ...mode])
        .ended(60_000);
      assert.equal(exit.code, 0, `the client crashed:\n${exit.stderr}`);
      return exit.stdout;
    } finally {
      await server.close();
    }
  }

  test("BaseManager.connect() fails on a zero-length frame from the server", slow, async () => {
    for (let i = 0; i < 2; i++) {
      const out = await clientAgainst((socket) => {
        socket.write(header(0));
        return new Promise(() => {});
      });
      record("client: zero-length frame before auth", /^rejected AuthenticationError/m.test(out));
      assert.match(out, /^rejected AuthenticationError/m);
    }
  });

  test(
    "A client's call fails on a zero-length or garbage frame from an authenticated server",
    slow,
    async () => {
      for (const bad of [header(0), frame(Buffer.from([0xc1]))]) {
        const out = await clientAgainst(async (socket, frames) => {
          await serverHandshake(socket, frames, KEY);
          await frames.next();
          socket.write(bad);
          await new Promise(() => {});
        }, ["call"]);
        record("client: bad frame after auth", /^connected\nrejected EOFError/m.test(out));
        assert.match(out, /^connected\nrejected EOFError/m);
      }
    },
  );

  test(
    "BaseManager.connect() fails within its timeout on a server that never answers",
    slow,
    async () => {
      const out = await clientAgainst(() => new Promise(() => {}));
      record("client: never-answering server", /^rejected AuthenticationError/m.test(out));
      assert.match(out, /^rejected AuthenticationError after \d+ ms: .*did not authenticate/m);
    },
  );
});

describe("A program's Manager() against hostile frames", () => {
  test(
    "Manager()'s server survives zero-length, garbage and bomb frames on its port",
    slow,
    async () => {
      await using manager = await mp.Manager({ authkey: KEY });
      const list = await manager.list<string>();
      const [, port] = manager.address;
      for (let round = 0; round < 3; round++) {
        for (
          const [fault, auth, bytes] of [
            ["zero-length frame before auth", false, header(0)],
            ["zero-length frame after auth", true, header(0)],
            ["garbage value after auth", true, frame(Buffer.from([0xc1]))],
            ["bomb after auth", true, frame(mapBomb(8 * 1024 * 1024))],
          ] as const
        ) {
          const peer = await RawPeer.connect(port);
          let survived = false;
          try {
            if (auth) await peer.authenticate(KEY);
            peer.sendRaw(bytes);
            assert.ok(await peer.closedWithin(30_000), `not closed after a ${fault}`);
            await list.append(`${fault} ${round}`);
            assert.equal((await list.slice()).at(-1), `${fault} ${round}`);
            await assertNewClientServed(port, fault);
            survived = true;
          } finally {
            peer.destroy();
            record(`Manager(): ${fault}`, survived);
          }
        }
      }
    },
  );

  test("faults_peer: trials and survivals", () => {
    const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
    for (const [fault, { trials, survived }] of tally) {
      console.log(`faults_peer ${runtime} | ${fault} | ${trials} | ${survived}`);
    }
  });
});
