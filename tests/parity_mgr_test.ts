// Python parity of managers (issue 11): proxies stored inside manager containers come back as
// working proxies (in this thread, pool tasks, Processes and TCP clients) and keep their
// objects alive while stored; register() constructs a class; a Namespace keeps `_` names on
// the proxy; and proxies that feel native: async iteration, ValueProxy.value, BarrierProxy's
// properties, and nested reads with getIn(). Each scenario runs against mod.ts and dummy.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import type { DictProxy, ListProxy, NamespaceProxy, QueueProxy } from "../mod.ts";
import { runWithGc } from "./_child.ts";

/** Tests that start workers or child programs (Bun's default limit is 5 s). */
const long = { timeout: 90_000 };
const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;
const REFS = new URL("./fixtures/parity_mgr_refs.ts", import.meta.url);

type Inner = ListProxy<number>;

/** A pool task or Process target: reads the list stored in `outer` and the queue in `d`. */
async function useStored(outer: ListProxy<Inner>, d: DictProxy<string, unknown>): Promise<unknown> {
  const inner = await outer.get(0);
  await inner.append(3);
  const q = (await d.getItem("q")) as QueueProxy<string>;
  await q.put("from the task");
  const nested = (await d.getItem("d")) as DictProxy<string, number>;
  await nested.set("y", 2);
  return [await inner.copy(), await d.getIn(["d", "x"])];
}

for (const [label, m] of entries) {
  describe(`Manager() (${label}): proxies inside containers`, () => {
    test("ListProxy.get() of a list of list proxies returns working list proxies", async () => {
      await using manager = await m.Manager();
      // Python's test_list_proxy_in_list.
      const inners = [];
      for (let i = 0; i < 3; i++) inners.push(await manager.list([0, 1, 2]));
      const a = await manager.list<Inner>(inners);
      const copies = [];
      for await (const inner of a) copies.push(await inner.copy());
      assert.deepEqual(copies, [[0, 1, 2], [0, 1, 2], [0, 1, 2]]);
      await (await a.get(0)).set(-1, 55);
      assert.deepEqual(await inners[0].copy(), [0, 1, 55]);
      assert.deepEqual(await (await a.get(1)).copy(), [0, 1, 2]);
      // A list holding itself.
      const b = await manager.list<unknown>();
      await b.append(b);
      const self = (await b.get(0)) as ListProxy<unknown>;
      assert.ok(self instanceof mp.ListProxy);
      await self.append("x");
      assert.equal(await b.length(), 2);
      assert.equal(await b.get(1), "x");
      // Proxies compare by the object they stand for.
      assert.equal(await a.index(inners[2]), 2);
      assert.equal(await a.count(inners[1]), 1);
      assert.equal(await a.includes(b as unknown as Inner), false);
    });

    test("DictProxy.getItem() of a dict of dict proxies returns working dict proxies", async () => {
      await using manager = await m.Manager();
      // Python's test_dict_proxy_nested.
      const pets = await manager.dict<string, number>({ ferrets: 2, hamsters: 4 });
      const supplies = await manager.dict<string, number>({ water: 10, feed: 3 });
      const d = await manager.dict<string, DictProxy<string, number>>({ pets, supplies });
      assert.equal(await d.getIn(["supplies", "water"]), 10);
      await (await d.getItem("supplies")).set("blankets", 5);
      assert.equal(await supplies.get("blankets"), 5);
      await (await d.getItem("supplies")).set("water", 7);
      assert.equal(await supplies.get("water"), 7);
      await d.clear();
      assert.equal(await d.length(), 0);
      assert.equal(await supplies.get("water"), 7);
      assert.equal(await pets.get("hamsters"), 4);
      const l = await manager.list<unknown>([pets, supplies]);
      await ((await l.get(0)) as DictProxy<string, number>).set("marmots", 1);
      assert.equal(await pets.get("marmots"), 1);
      assert.equal(await l.getIn([0, "marmots"]), 1);
      const outer = await manager.list<unknown>([[88, 99], l]);
      // A plain array stays a plain array; the list proxy in it is a proxy.
      assert.deepEqual(await outer.get(0), [88, 99]);
      assert.ok((await outer.get(1)) instanceof mp.ListProxy);
      assert.equal(await outer.getIn([-1, -1, "feed"]), 3);
    });

    test("DictProxy.get() of a dict holding a queue proxy returns a working queue proxy", async () => {
      await using manager = await m.Manager();
      const q = await manager.Queue<string>();
      const d = await manager.dict<string, QueueProxy<string>>({ q });
      const again = (await d.get("q"))!;
      assert.ok(again instanceof mp.QueueProxy);
      await again.put("hello");
      assert.equal(await q.get({ timeout: 10_000 }), "hello");
      // And a proxy put into a manager queue comes out as one.
      const list = await manager.list([1]);
      await q.put(list as unknown as string);
      const out = (await q.get({ timeout: 10_000 })) as unknown as Inner;
      assert.ok(out instanceof mp.ListProxy);
      await out.append(2);
      assert.deepEqual(await list.copy(), [1, 2]);
    });

    test("a pool task and a Process read proxies stored in containers", long, async () => {
      await using manager = await m.Manager();
      const outer = await manager.list<Inner>([await manager.list([1, 2])]);
      const q = await manager.Queue<string>();
      const d = await manager.dict<string, unknown>({ q, d: await manager.dict({ x: 1 }) });
      await using pool = new m.Pool(1);
      assert.deepEqual(await pool.apply(useStored, [outer, d]), [[1, 2, 3], 1]);
      assert.equal(await q.get({ timeout: 20_000 }), "from the task");
      const p = new m.Process({ target: useStored, args: [outer, d] });
      p.start();
      await p.join();
      assert.equal(p.exitcode, 0);
      assert.equal(await q.get({ timeout: 20_000 }), "from the task");
      assert.deepEqual(await (await outer.get(0)).copy(), [1, 2, 3, 3]);
      assert.deepEqual(await d.getIn(["d", "y"]), 2);
    });

    test("a proxy of another manager is refused by a container, never taken for one of its own", async () => {
      await using first = await m.Manager();
      await using second = await m.Manager();
      const theirs = await first.list(["first"]);
      const ours = await second.list<unknown>(["second"]);
      await assert.rejects(second.list([theirs]), /another manager/);
      await assert.rejects(ours.append(theirs), /another manager/);
      assert.deepEqual(await ours.copy(), ["second"]);
    });

    test(
      "a proxy stored in a container keeps its object while stored, and releases it once removed, overwritten or its container is freed",
      long,
      async () => {
        const result = await runWithGc(REFS, [label === "mod.ts" ? "mod" : "dummy"]);
        assert.equal(
          result.code,
          0,
          `the child program failed (timed out: ${result.timedOut}):\n${result.stdout}\n${result.stderr}`,
        );
        const seen = JSON.parse(result.stdout.trim().split("\n").at(-1)!);
        assert.deepEqual(seen, {
          start: 0,
          stored: 6,
          removed: 4,
          queued: 5,
          dequeued: 4,
          freed: 0,
        });
      },
    );
  });

  describe(`Manager() (${label}): Namespace`, () => {
    test("NamespaceProxy keeps attributes whose names start with _ on the proxy, as Python's", async () => {
      await using manager = await m.Manager();
      const ns = await manager.Namespace();
      ns.name = "Bob";
      ns._hidden = "hidden";
      assert.equal(ns._hidden, "hidden");
      assert.equal(await ns.name, "Bob");
      // Not in the manager: neither its copy nor another proxy of it sees the attribute.
      assert.deepEqual(await ns.copy(), { name: "Bob" });
      const holder = await manager.list<NamespaceProxy & Record<string, unknown>>([ns]);
      const other = await holder.get(0);
      assert.equal(await other.has("_hidden"), false);
      assert.equal(await other.has("name"), true);
      assert.equal(await ns.has("_hidden"), true);
      await ns.set("_other", 1);
      assert.equal(await ns.get("_other"), 1);
      assert.deepEqual(await ns.copy(), { name: "Bob" });
      delete ns._hidden;
      assert.equal(await ns.has("_hidden"), false);
      await assert.rejects(ns.get("_hidden"), RangeError);
    });
  });

  describe(`Manager() (${label}): proxies that feel native`, () => {
    test("for await iterates a list proxy's items and a dict proxy's keys", async () => {
      await using manager = await m.Manager();
      const items = Array.from({ length: 600 }, (_, i) => i);
      const list = await manager.list<number>(items);
      const seen: number[] = [];
      for await (const x of list) seen.push(x);
      assert.deepEqual(seen, items);
      const empty: unknown[] = [];
      for await (const x of await manager.list()) empty.push(x);
      assert.deepEqual(empty, []);
      const d = await manager.dict<string, number>({ a: 1, b: 2 });
      const keys: string[] = [];
      for await (const k of d) keys.push(k);
      assert.deepEqual(keys, ["a", "b"]);
    });

    test("ValueProxy.value reads with await and writes by assignment, in order", async () => {
      await using manager = await m.Manager();
      const v = await manager.Value("i", 1);
      assert.equal(await v.value, 1);
      v.value = 2;
      assert.equal(await v.value, 2);
      v.value = (await v.value) + 40;
      assert.equal(await v.get(), 42);
      // A value that cannot travel fails the assignment itself.
      assert.throws(() => (v.value = Symbol("s") as unknown as number), TypeError);
      assert.equal(await v.value, 42);
    });

    test("BarrierProxy has parties, nWaiting and broken, as Barrier has", long, async () => {
      await using manager = await m.Manager();
      const barrier = await manager.Barrier(2);
      assert.equal(await barrier.parties, 2);
      assert.equal(await barrier.nWaiting, 0);
      assert.equal(await barrier.broken, false);
      const waiting = barrier.wait(20_000);
      let n = await barrier.nWaiting;
      for (let i = 0; i < 200 && n !== 1; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        n = await barrier.nWaiting;
      }
      assert.equal(n, 1);
      await barrier.abort();
      await assert.rejects(waiting, mp.BrokenBarrierError);
      assert.equal(await barrier.broken, true);
    });

    test("DictProxy.getIn() and ListProxy.getIn() read nested values, and say which step failed", async () => {
      await using manager = await m.Manager();
      const inner = await manager.dict<string, unknown>({ plain: { list: [1, [2, 3]] } });
      const list = await manager.list<unknown>([inner, new Map([["k", "v"]])]);
      const d = await manager.dict<string, unknown>({ list });
      assert.equal(await d.getIn(["list", 0, "plain", "list", 1, -1]), 3);
      assert.equal(await d.getIn(["list", 1, "k"]), "v");
      assert.equal(await d.getIn([]), d);
      await assert.rejects(d.getIn(["missing"]), RangeError);
      await assert.rejects(d.getIn(["list", 5]), RangeError);
      await assert.rejects(d.getIn(["list", 0, "plain", "nope"]), /step 4 of the path/);
      await assert.rejects(d.getIn(["list", 0, "plain", "list", 0, "x"]), TypeError);
    });
  });
}

describe("Manager() (mod.ts): the first call", () => {
  test("a first call larger than the handshake's frame limit is answered", async () => {
    // The call follows the handshake's last frame at once, often in the same TCP packet.
    for (let i = 0; i < 3; i++) {
      await using manager = await mp.Manager();
      const list = await manager.list(Array.from({ length: 600 }, (_, i) => i));
      assert.equal(await list.length(), 600);
    }
  });
});

describe("BaseManager over TCP: proxies inside containers", () => {
  const KEY = "parity mgr key";

  test("a TCP client reads a list proxy stored in a dict of a SyncManager server", async () => {
    const server = new mp.SyncManager({ authkey: KEY }).getServer();
    const [host, port] = await server.listen();
    try {
      await using client = new mp.SyncManager({ address: [host, port], authkey: KEY });
      await client.connect();
      const inner = await client.list([1]);
      const d = await client.dict<string, Inner>({ inner });
      const again = await d.getItem("inner");
      await again.append(2);
      assert.deepEqual(await inner.copy(), [1, 2]);
      assert.deepEqual(await d.getIn(["inner", -1]), 2);
    } finally {
      await server.close();
    }
  });

  test(
    "BaseManager.register() constructs a class with new; a function is still called",
    long,
    async () => {
      class Box {
        items: unknown[] = [];
        constructor(first?: unknown) {
          if (first !== undefined) this.items.push(first);
        }
        put(item: unknown): number {
          return this.items.push(item);
        }
        get(index: number): unknown {
          return this.items[index];
        }
      }
      class Boxes extends mp.BaseManager {}
      Boxes.register("Box", Box);
      // A function, self-contained as a start()ed manager needs: called, not constructed.
      Boxes.register("makeBox", () => ({
        items: ["made"] as unknown[],
        put(item: unknown): number {
          return this.items.push(item);
        },
        get(index: number): unknown {
          return this.items[index];
        },
      }));
      // deno-lint-ignore no-explicit-any
      type AnyProxy = any;
      // Served from this thread, and started in a worker (the class travels as its source).
      const served = new Boxes({ authkey: KEY });
      await served.getServer().listen();
      await using started = new Boxes();
      await started.start();
      try {
        for (const manager of [served, started]) {
          const box = await manager.create<AnyProxy>("Box", "first");
          assert.equal(await box.get(0), "first");
          const made = await manager.create<AnyProxy>("makeBox");
          assert.equal(await made.get(0), "made");
          // A proxy stored in a registered object comes back as a working proxy.
          assert.equal(await box.put(made), 2);
          const again: AnyProxy = await box.get(1);
          assert.equal(again instanceof mp.AutoProxy, true);
          await again.put("through the box");
          assert.equal(await made.get(1), "through the box");
        }
      } finally {
        await served.shutdown();
      }
    },
  );
});
