// Manager() on both entry points: every SyncManager type through its proxy, errors that come
// back as the referent raised them, proxies in Process targets and pool tasks, the seed's
// count-down, and RLock ownership. (BaseManager over TCP: managers_tcp_test.ts.)
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DictReferent, ListReferent, NamespaceReferent } from "../lib/_referents.ts";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import { runChild } from "./_child.ts";
import type { AcquirerProxy, DictProxy, ListProxy, NamespaceProxy, QueueProxy } from "../mod.ts";

/** Tests that start workers (Bun's default limit is 5 s). */
const long = { timeout: 60_000 };
const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;

type Nest<T> = T | [{ inner: [T] }];
const shapes = [<T>(x: T): Nest<T> => x, <T>(x: T): Nest<T> => [{ inner: [x] }]] as const;

/** The error `fn` throws: what the referent raises, here on this thread. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the referent to throw");
}

/** Asserts that `promise` rejects with an error of the same class and message as `expected`. */
async function rejectsAs(promise: Promise<unknown>, expected: Error): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof Error, `not an Error: ${String(error)}`);
    assert.equal(error.constructor, expected.constructor);
    assert.equal(error.name, expected.name);
    assert.equal(error.message, expected.message);
    return true;
  });
}

interface Locker {
  withLock<T>(fn: () => Promise<T>): Promise<T>;
}

/** The seed's work(): `dict['count'] -= 1`, under `lock` if there is one. Self-contained. */
async function countDown(d: DictProxy<string, number>, lock: Locker | null): Promise<void> {
  const step = async () => {
    await d.set("count", (await d.getItem("count")) - 1);
  };
  await (lock === null ? step() : lock.withLock(step));
}

for (const [label, m] of entries) {
  // Processes of mod.ts start workers, some 0.1-0.3 s each; the 100 are one test below.
  const n = label === "mod.ts" ? 10 : 20;
  /** Starts `count` processes of the count-down on a dict starting at `count`; the result. */
  const countDownWith = async (
    manager: mp.SyncManager,
    count: number,
    lock: Locker | null,
  ): Promise<number> => {
    const d = await manager.dict<string, number>({ count });
    const processes = Array.from(
      { length: count },
      () => new m.Process({ target: countDown, args: [d, lock] }),
    );
    for (const p of processes) p.start();
    for (const p of processes) await p.join();
    assert.deepEqual(processes.map((p) => p.exitcode), processes.map(() => 0));
    return await d.getItem("count");
  };

  describe(`Manager() (${label})`, () => {
    test(
      "Namespace, dict, list, Value and Array proxies read and write their objects",
      long,
      async () => {
        await using manager = await m.Manager();
        const ns = await manager.Namespace({ x: 1 });
        assert.ok(ns instanceof mp.NamespaceProxy);
        await ns.set("y", 2);
        assert.deepEqual([await ns.get("x"), await ns.get("y")], [1, 2]);

        const d = await manager.dict<string, number>({ a: 1 });
        assert.ok(d instanceof mp.DictProxy);
        await d.set("b", 2);
        assert.deepEqual(await d.copy(), new Map([["a", 1], ["b", 2]]));

        const list = await manager.list<string>(["a"]);
        assert.ok(list instanceof mp.ListProxy);
        await list.append("b");
        assert.deepEqual(await list.copy(), ["a", "b"]);

        const v = await manager.Value("i", 1);
        assert.ok(v instanceof mp.ValueProxy);
        await v.set(2);
        assert.equal(await v.get(), 2);
        const text = await manager.Value<string>("u", "any value");
        assert.equal(await text.get(), "any value");

        const a = await manager.Array("i", [1, 2, 3]);
        assert.ok(a instanceof mp.ArrayProxy);
        await a.set(-1, 30.7); // an Int32Array: truncated
        assert.equal(await a.get(2), 30);
        assert.equal(await a.length(), 3);
        assert.deepEqual(await a.copy(), [1, 2, 30]);
        assert.deepEqual(await (await manager.Array("d", 2)).copy(), [0, 0]);
        await assert.rejects(a.get(3), RangeError);
      },
    );

    test(
      "Lock, RLock, Semaphore and BoundedSemaphore proxies acquire and release",
      long,
      async () => {
        await using manager = await m.Manager();
        const lock = await manager.Lock();
        assert.ok(lock instanceof mp.AcquirerProxy);
        assert.equal(await lock.acquire(), true);
        assert.equal(await lock.acquire({ block: false }), false);
        assert.equal(await lock.acquire({ timeout: 10 }), false);
        await lock.release();
        await assert.rejects(lock.release(), Error);
        assert.equal(await lock.withLock(() => 42), 42);
        assert.equal(await lock.acquire({ block: false }), true);
        await lock.release();

        const rlock = await manager.RLock();
        assert.equal(await rlock.acquire(), true);
        assert.equal(await rlock.acquire({ block: false }), true); // re-entrant
        await rlock.release();
        await rlock.release();
        await assert.rejects(rlock.release(), Error);

        const sem = await manager.Semaphore(2);
        assert.equal(await sem.acquire(), true);
        assert.equal(await sem.acquire(), true);
        assert.equal(await sem.acquire({ block: false }), false);
        assert.equal(await sem.callMethod("getValue"), 0);
        await sem.release();
        assert.equal(await sem.callMethod("getValue"), 1);

        const bsem = await manager.BoundedSemaphore(1);
        assert.equal(await bsem.acquire(), true);
        await bsem.release();
        await rejectsAs(
          bsem.release(),
          thrown(() => new m.BoundedSemaphore(1).release()),
        );
      },
    );

    test("Condition, Event and Barrier proxies wait, wake and pass", long, async () => {
      await using manager = await m.Manager();
      const cond = await manager.Condition();
      assert.ok(cond instanceof mp.ConditionProxy);
      await cond.acquire();
      assert.equal(await cond.wait(10), false);
      const notified = cond.wait(10_000); // releases the lock in the manager while it waits
      await cond.acquire();
      await cond.notify();
      await cond.release();
      assert.equal(await notified, true);
      await cond.release();
      await assert.rejects(cond.wait(10), Error); // not held

      const ev = await manager.Event();
      assert.ok(ev instanceof mp.EventProxy);
      assert.equal(await ev.isSet(), false);
      assert.equal(await ev.wait(10), false);
      const woken = ev.wait(10_000);
      await ev.set();
      assert.equal(await woken, true);
      assert.equal(await ev.isSet(), true);
      await ev.clear();
      assert.equal(await ev.isSet(), false);

      const barrier = await manager.Barrier(2);
      assert.ok(barrier instanceof mp.BarrierProxy);
      const indices = await Promise.all([barrier.wait(10_000), barrier.wait(10_000)]);
      assert.deepEqual(indices.sort(), [0, 1]);
      assert.equal(await barrier.parties, 2);
      assert.equal(await barrier.nWaiting, 0);
      assert.equal(await barrier.broken, false);
    });

    test("Queue and JoinableQueue proxies put, get and join", long, async () => {
      await using manager = await m.Manager();
      const q = await manager.Queue<string>(1);
      assert.ok(q instanceof mp.QueueProxy);
      assert.equal(await q.empty(), true);
      await q.put("a");
      assert.equal(await q.full(), true);
      assert.equal(await q.qsize(), 1);
      await assert.rejects(q.put("b", { block: false }), m.Full);
      assert.equal(await q.get(), "a");
      await q.putNowait("c");
      assert.equal(await q.getNowait(), "c");
      await assert.rejects(q.get({ timeout: 10 }), m.Empty);
      const later = q.get({ timeout: 10_000 });
      await q.put("d");
      assert.equal(await later, "d");

      const jq = await manager.JoinableQueue<number>();
      await jq.put(1);
      await jq.put(2);
      let joined = false;
      const join = jq.join().then(() => (joined = true));
      assert.equal(await jq.get(), 1);
      await jq.taskDone();
      assert.equal(await jq.get(), 2);
      assert.equal(await jq.empty(), true);
      assert.equal(joined, false);
      await jq.taskDone();
      await join;
      assert.equal(joined, true);
      await assert.rejects(jq.taskDone(), Error);
    });

    test("a Namespace proxy gets, sets, deletes and tests attributes, also as properties", async () => {
      await using manager = await m.Manager();
      const ns = await manager.Namespace({ x: "first" });
      assert.equal(await ns.get("x"), "first");
      await ns.set("y", [1, { z: 2 }]);
      assert.deepEqual(await ns.get("y"), [1, { z: 2 }]);
      assert.equal(await ns.has("y"), true);
      await ns.delete("y");
      assert.equal(await ns.has("y"), false);
      // Property syntax: each assignment is sent at once, in order.
      ns.a = 1;
      ns.a = 2;
      assert.equal(await ns.a, 2);
      assert.deepEqual(await ns.copy(), { x: "first", a: 2 });
      await rejectsAs(ns.get("missing"), thrown(() => new NamespaceReferent().getattr("missing")));
      await rejectsAs(
        ns.missing as Promise<unknown>,
        thrown(() => new NamespaceReferent().getattr("missing")),
      );
      await rejectsAs(
        ns.delete("missing"),
        thrown(() => new NamespaceReferent().delattr("missing")),
      );
      // A value that cannot travel fails the assignment itself, and nothing is sent.
      assert.throws(() => (ns.f = () => 1), TypeError);
      assert.equal(await ns.has("f"), false);
    });

    test("a dict proxy offers a dict's methods, and copy() is a plain Map", async () => {
      await using manager = await m.Manager();
      const d = await manager.dict<string, number>({ a: 1 });
      assert.equal(await d.get("a"), 1);
      assert.equal(await d.get("zz", 7), 7);
      assert.equal(await d.getItem("a"), 1);
      await rejectsAs(d.getItem("zz"), thrown(() => new DictReferent().getItem("zz")));
      await d.set("b", 2);
      assert.equal(await d.has("b"), true);
      assert.equal(await d.length(), 2);
      assert.deepEqual(await d.keys(), ["a", "b"]);
      assert.deepEqual(await d.values(), [1, 2]);
      assert.deepEqual(await d.items(), [["a", 1], ["b", 2]]);
      await d.delete("a");
      assert.equal(await d.has("a"), false);
      await rejectsAs(d.delete("a"), thrown(() => new DictReferent().delete("a")));
      assert.equal(await d.setdefault("c", 3), 3);
      assert.equal(await d.setdefault("c", 4), 3);
      await d.update({ d: 4 });
      await d.update([["e", 5]]);
      await d.update(new Map([["f", 6]]));
      assert.equal(await d.pop("d"), 4);
      assert.equal(await d.pop("d", -1), -1);
      await rejectsAs(d.pop("d"), thrown(() => new DictReferent().pop("d")));
      assert.deepEqual(await d.popitem(), ["f", 6]);

      const copy = await d.copy();
      assert.ok(copy instanceof Map);
      assert.ok(!(copy instanceof mp.BaseProxy));
      assert.deepEqual(copy, new Map([["b", 2], ["c", 3], ["e", 5]]));
      await d.set("b", 20);
      copy.set("z", 0);
      assert.equal(copy.get("b"), 2);
      assert.equal(await d.has("z"), false);

      await d.clear();
      assert.equal(await d.length(), 0);
      await rejectsAs(d.popitem(), thrown(() => new DictReferent().popitem()));

      const numbers = await manager.dict(new Map([[1, "one"], [2, "two"]]));
      assert.equal(await numbers.getItem(2), "two");
      assert.equal(await numbers.has(1), true);
      assert.equal(await numbers.has("1" as unknown as number), false);
    });

    test("a list proxy offers a list's methods, and copy() is a plain array", async () => {
      await using manager = await m.Manager();
      const l = await manager.list<number>([3, 1, 2]);
      assert.equal(await l.get(0), 3);
      assert.equal(await l.get(-1), 2);
      await l.set(-1, 20);
      assert.equal(await l.get(2), 20);
      await rejectsAs(l.get(3), thrown(() => new ListReferent([3, 1, 20]).get(3)));
      await rejectsAs(l.set(-4, 0), thrown(() => new ListReferent([3, 1, 20]).set(-4, 0)));
      await l.append(4);
      await l.extend([5, 5]);
      await l.insert(0, 0);
      await l.insert(-1, 9);
      assert.deepEqual(await l.copy(), [0, 3, 1, 20, 4, 5, 9, 5]);
      assert.equal(await l.pop(), 5);
      assert.equal(await l.pop(0), 0);
      await l.remove(20);
      assert.deepEqual(await l.copy(), [3, 1, 4, 5, 9]);
      await rejectsAs(l.remove(20), thrown(() => new ListReferent().remove(20)));
      assert.equal(await l.index(4), 2);
      await rejectsAs(l.index(42), thrown(() => new ListReferent().index(42)));
      assert.equal(await l.count(5), 1);
      assert.equal(await l.includes(9), true);
      assert.equal(await l.includes(20), false);
      await l.sort();
      assert.deepEqual(await l.copy(), [1, 3, 4, 5, 9]);
      await l.sort(true);
      assert.deepEqual(await l.copy(), [9, 5, 4, 3, 1]);
      await l.reverse();
      assert.deepEqual(await l.slice(1, 3), [3, 4]);
      assert.deepEqual(await l.slice(-2, 5), [5, 9]);
      assert.equal(await l.length(), 5);

      const copy = await l.copy();
      assert.ok(Array.isArray(copy));
      copy.push(100);
      await l.append(6);
      assert.deepEqual(copy, [1, 3, 4, 5, 9, 100]);
      assert.deepEqual(await l.copy(), [1, 3, 4, 5, 9, 6]);

      await l.clear();
      assert.equal(await l.length(), 0);
      await rejectsAs(l.pop(), thrown(() => new ListReferent().pop()));

      // Items compare by value, as Python's ==.
      const objects = await manager.list([{ a: 1 }, { a: 1 }, { a: 2 }]);
      assert.equal(await objects.count({ a: 1 }), 2);
      assert.equal(await objects.index({ a: 2 }), 2);
    });

    test("errors of the referent arrive as the same class and message", long, async () => {
      await using manager = await m.Manager();
      const d = await manager.dict<string, number>();
      await rejectsAs(d.getItem("missing"), thrown(() => new DictReferent().getItem("missing")));
      const list = await manager.list<string>(["a"]);
      await rejectsAs(list.remove("b"), thrown(() => new ListReferent(["a"]).remove("b")));

      const barrier = await manager.Barrier(2);
      const waiting = barrier.wait(10_000);
      assert.equal(await barrier.nWaiting, 1);
      await barrier.abort();
      const local = new m.Barrier(1);
      local.abort();
      const broken = await local.wait().then(() => undefined, (e: Error) => e);
      assert.ok(broken instanceof m.BrokenBarrierError);
      await rejectsAs(waiting, broken);
      assert.equal(await barrier.broken, true);
      await assert.rejects(barrier.wait(10), m.BrokenBarrierError);
      await barrier.reset();
      assert.equal(await barrier.broken, false);

      const q = await manager.Queue();
      const localQueue = new m.Queue();
      const empty = await localQueue.get({ block: false }).then(() => undefined, (e: Error) => e);
      localQueue.close();
      assert.ok(empty instanceof m.Empty);
      await rejectsAs(q.get({ block: false }), empty);
    });

    test("a method not exposed is a RemoteError; a value that cannot travel is a TypeError", async () => {
      await using manager = await m.Manager();
      const list = await manager.list<unknown>();
      await assert.rejects(list.callMethod("nope"), (error: unknown) => {
        assert.ok(error instanceof m.RemoteError);
        assert.match(
          (error as Error).message,
          /^Cannot call nope\(\) on a list as it does not expose/,
        );
        return true;
      });
      const lock = await manager.Lock();
      await assert.rejects(lock.callMethod("locked"), m.RemoteError);
      await assert.rejects(list.append(() => 1), (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(
          error.message,
          /^Cannot send function .* to a manager as only data travels there/,
        );
        return true;
      });
      await assert.rejects(list.append({ nested: [Symbol("s")] }), TypeError);
      assert.deepEqual(await list.copy(), []);
      // The connection still works.
      await list.append(new Map([[1, new Set([2n])]]));
      assert.deepEqual(await list.copy(), [new Map([[1, new Set([2n])]])]);
    });

    test(
      "pool tasks use proxies passed directly or nested in arrays and objects",
      long,
      async () => {
        await using manager = await m.Manager();
        await using pool = new m.Pool(2);
        const list = await manager.list<number>();
        const dict = await manager.dict<string, number>();
        type Args = [number, Nest<ListProxy<number>>, { dict: Nest<DictProxy<string, number>> }];
        const args = [0, 1, 2, 3].map((i): Args => [
          i,
          shapes[i % 2](list),
          { dict: shapes[i % 2](dict) },
        ]);
        const seen = await pool.starmap(
          async (
            i: number,
            l: Nest<ListProxy<number>>,
            o: { dict: Nest<DictProxy<string, number>> },
          ) => {
            const list = Array.isArray(l) ? l[0].inner[0] : l;
            const dict = Array.isArray(o.dict) ? o.dict[0].inner[0] : o.dict;
            await list.append(i);
            await dict.set(`k${i}`, i * i);
            return await list.includes(i);
          },
          args,
        );
        assert.deepEqual(seen, [true, true, true, true]);
        assert.deepEqual((await list.copy()).sort(), [0, 1, 2, 3]);
        assert.deepEqual(
          new Map([...(await dict.copy())].sort()),
          new Map([["k0", 0], ["k1", 1], ["k2", 4], ["k3", 9]]),
        );
      },
    );

    test("a Process target uses a Namespace, a Lock proxy and a Queue proxy", long, async () => {
      await using manager = await m.Manager();
      const ns = await manager.Namespace({ a: 3 });
      const lock = await manager.Lock();
      const q = await manager.Queue<string>();
      await lock.acquire();
      const p = new m.Process({
        target: async (
          shared: { ns: NamespaceProxy & Record<string, unknown> },
          [lock, q]: [AcquirerProxy, QueueProxy<string>],
        ) => {
          // The parent holds the lock: this is the same lock.
          await q.put(`free: ${await lock.acquire({ block: false })}`);
          await lock.withLock(async () => {
            const a = (await shared.ns.a) as number;
            shared.ns.a = a * a;
            shared.ns.b = "from the child";
          });
          await q.put(`a: ${await shared.ns.get("a")}`);
        },
        args: [{ ns }, [lock, q]],
      });
      p.start();
      assert.equal(await q.get({ timeout: 20_000 }), "free: false");
      assert.equal(await ns.get("a"), 3);
      await lock.release();
      assert.equal(await q.get({ timeout: 20_000 }), "a: 9");
      await p.join();
      assert.equal(p.exitcode, 0);
      assert.deepEqual(await ns.copy(), { a: 9, b: "from the child" });
      assert.equal(await lock.acquire({ block: false }), true);
    });

    test(
      "an RLock proxy belongs to the worker that acquired it: another's acquire fails and its release throws",
      long,
      async () => {
        await using manager = await m.Manager();
        const rlock = await manager.RLock();
        const out = await manager.list<string>();
        const held = new m.Event();
        const done = new m.Event();
        const owner = new m.Process({
          target: async (
            r: AcquirerProxy,
            held: mp.Event,
            done: mp.Event,
            out: ListProxy<string>,
          ) => {
            await r.acquire();
            await r.acquire();
            held.set();
            await done.wait(20_000);
            await r.release();
            await r.release();
            await out.append("owner released");
          },
          args: [rlock, held, done, out],
        });
        const other = new m.Process({
          target: async (
            r: AcquirerProxy,
            held: mp.Event,
            done: mp.Event,
            out: ListProxy<string>,
          ) => {
            await held.wait(20_000);
            await out.append(`acquire: ${await r.acquire({ block: false })}`);
            await out.append(
              await r.release().then(() => "released", (e: Error) => `${e.name}: ${e.message}`),
            );
            done.set();
          },
          args: [rlock, held, done, out],
        });
        owner.start();
        other.start();
        await owner.join();
        await other.join();
        assert.deepEqual([owner.exitcode, other.exitcode], [0, 0]);
        const [acquired, released, last] = await out.copy();
        assert.equal(acquired, "acquire: false");
        assert.match(released, /^Error: Cannot release a lock that another thread holds/);
        assert.equal(last, "owner released");
        // Released by its owner: free for this thread.
        assert.equal(await rlock.acquire({ block: false }), true);
        await rlock.release();
      },
    );

    // mod.ts: the manager Lock's count-down is the 100-process test below.
    if (label === "dummy.ts") {
      test(`the count-down of ${n} processes under a manager Lock ends at exactly 0`, async () => {
        await using manager = await m.Manager();
        assert.equal(await countDownWith(manager, n, await manager.Lock()), 0);
      });
    }

    test(
      `the count-down of ${n} processes under a Lock of ${label} ends at exactly 0`,
      long,
      async () => {
        await using manager = await m.Manager();
        assert.equal(await countDownWith(manager, n, new m.Lock()), 0);
      },
    );

    test(
      `the count-down of ${n} processes without a lock ends between 0 and ${n}`,
      long,
      async () => {
        await using manager = await m.Manager();
        // Updates may be lost (each reads, then writes), so the count may stay above 0.
        const count = await countDownWith(manager, n, null);
        assert.ok(Number.isInteger(count) && count >= 0 && count < n, `count ${count}`);
      },
    );

    test(
      "dict.get() of a missing key without a fallback is undefined",
      async () => {
        await using manager = await m.Manager();
        const d = await manager.dict<string, number>({ a: 1 });
        assert.equal(await d.get("zz"), undefined);
      },
    );

    test("list.slice(start) without an end slices to the end", async () => {
      await using manager = await m.Manager();
      const l = await manager.list<number>([1, 2, 3]);
      assert.deepEqual(await l.slice(-2), [2, 3]);
      assert.deepEqual(await l.slice(), [1, 2, 3]);
    });

    test(
      "a class instance cannot travel to a manager: TypeError",
      async () => {
        await using manager = await m.Manager();
        const list = await manager.list<unknown>();
        class Point {
          x = 1;
        }
        await assert.rejects(list.append(new Point()), TypeError);
        assert.deepEqual(await list.copy(), []);
      },
    );

    test(
      "Manager() left running does not keep a program alive once its work is done",
      long,
      async () => {
        const program = new URL("./fixtures/manager_exit_program.ts", import.meta.url);
        const entry = label === "dummy.ts" ? "dummy" : "mod";
        const { code, timedOut, stdout, stderr } = await runChild(program, [entry], 30_000);
        assert.equal(timedOut, false, `the program did not end by itself\n${stdout}${stderr}`);
        assert.equal(code, 0, stderr);
        assert.equal(stdout, 'done [1,[1,2],2,"item",false]\n');
        // Nothing fails at exit, with the manager's worker and its connections still open.
        assert.equal(stderr, "");
      },
    );

    test(
      "shutdown() and await using end the manager: a call after it fails with a clear error",
      long,
      async () => {
        const manager = await m.Manager();
        const d = await manager.dict<string, number>({ k: 1 });
        await manager.shutdown();
        await manager.shutdown(); // twice is fine
        await assert.rejects(d.get("k"), /Cannot .*shut down/);
        await assert.rejects(
          manager.dict(),
          /^Error: Cannot create "dict" as the manager was shut down/,
        );

        let list: ListProxy<number>;
        {
          await using scoped = await m.Manager();
          list = await scoped.list([1]);
          assert.deepEqual(await list.copy(), [1]);
        }
        await assert.rejects(list.copy(), /Cannot .*shut down/);
      },
    );
  });
}

describe("Manager() (mod.ts): the seed's count-down and proxies across entry points", () => {
  test(
    "the count-down of 100 processes under a manager Lock ends at exactly 0",
    { timeout: 120_000 },
    async () => {
      await using manager = await mp.Manager();
      const d = await manager.dict<string, number>({ count: 100 });
      const lock = await manager.Lock();
      const processes = Array.from(
        { length: 100 },
        () => new mp.Process({ target: countDown, args: [d, lock] }),
      );
      for (const p of processes) p.start();
      for (const p of processes) await p.join();
      assert.equal(processes.filter((p) => p.exitcode === 0).length, 100);
      assert.equal(await d.getItem("count"), 0);
    },
  );

  test("a proxy of a dummy.ts manager cannot be sent to a mod.ts worker", long, async () => {
    await using manager = await dummy.Manager();
    const list = await manager.list<number>();
    await using pool = new mp.Pool(1);
    await assert.rejects(
      pool.apply(async (l: ListProxy<number>) => await l.append(1), [list]),
      (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /^Cannot send a proxy of a dummy\.ts manager to a worker/);
        return true;
      },
    );
    assert.deepEqual(await list.copy(), []);
  });
});
