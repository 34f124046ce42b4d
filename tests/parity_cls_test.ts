// Values keep their class (issue 11): Python pickles an instance by a reference to its class
// (module and name) plus its state, so that instances arrive as instances of the same class,
// with their methods, and an exception class raised in a worker is caught by its class. Here a
// class says so with registerClass(cls, import.meta.url); an instance of a class that does not
// is refused, rather than arriving as a plain object without its methods.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import { classById } from "../lib/_classes.ts";
import type * as Classes from "./fixtures/parity_cls_classes.ts";
import type * as RemoteModule from "./fixtures/parity_cls_remote.ts";
import {
  Counter,
  Point,
  Point3,
  Segment,
  Unmarked,
  ValidationError,
} from "./fixtures/parity_cls_classes.ts";

const classes = new URL("./fixtures/parity_cls_classes.ts", import.meta.url).href;
const remote = new URL("./fixtures/parity_cls_remote.ts", import.meta.url).href;
const double = mp.fromModule<typeof Classes.double>(classes, "double");
const describeAll = mp.fromModule<typeof Classes.describeAll>(classes, "describeAll");
const validate = mp.fromModule<typeof Classes.validate>(classes, "validate");
const makeUnmarked = mp.fromModule<typeof Classes.makeUnmarked>(classes, "makeUnmarked");
const makePoint = mp.fromModule<typeof Classes.makePoint>(classes, "makePoint");
const slow = { timeout: 60_000 };
const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;
const refusal =
  /Cannot send an instance of Unmarked .*registerClass\(Unmarked, import\.meta\.url\)/;

for (const [label, m] of entries) {
  describe(`Values keep their class (${label})`, () => {
    test(
      "Pool.map() returns instances of a registered class, with their methods",
      slow,
      async () => {
        await using pool = new m.Pool(2);
        const out = await pool.map(double, [new Point(3, 4), new Point(1, 0)]);
        assert.ok(out[0] instanceof Point && out[1] instanceof Point);
        assert.equal(out[0].norm(), 10);
        assert.deepEqual({ ...out[1] }, { x: 2, y: 0 });
      },
    );

    test(
      "Pool.imap(), imapUnordered(), starmap() and applyAsync() keep the class",
      slow,
      async () => {
        await using pool = new m.Pool(2);
        const points = [new Point(3, 4), new Point(6, 8), new Point(0, 1)];
        const ordered: Point[] = [];
        for await (const p of pool.imap(double, points, 2)) ordered.push(p);
        assert.ok(ordered.every((p) => p instanceof Point));
        assert.deepEqual(ordered.map((p) => p.norm()), [10, 20, 2]);
        const unordered: number[] = [];
        for await (const p of pool.imapUnordered(double, points)) unordered.push(p.norm());
        assert.deepEqual(unordered.sort((a, b) => a - b), [2, 10, 20]);
        const sums = await pool.starmap(
          (a: Point, b: Point) => a.scaled(1).norm() + b.norm(),
          [[points[0], points[1]]],
        );
        assert.deepEqual(sums, [15]);
        const result = pool.applyAsync(double, [points[0]]);
        assert.ok(await result.get() instanceof Point);
      },
    );

    test("Pool initargs keep their class", slow, async () => {
      await using pool = new m.Pool({
        processes: 1,
        initializer: (p: Point) => {
          (globalThis as { origin?: Point }).origin = p;
        },
        initargs: [new Point(3, 4)],
      });
      assert.equal(
        await pool.apply(() => (globalThis as unknown as { origin: Point }).origin.norm(), []),
        5,
      );
      delete (globalThis as { origin?: Point }).origin;
    });

    test(
      "Pool.apply() sends a registered instance to a function that never imported its class",
      slow,
      async () => {
        await using pool = new m.Pool(1);
        // A function passed as it is: the worker imports the class's module to rebuild the Point.
        const norm = await pool.apply((p: Point) => p.norm(), [new Point(3, 4)]);
        assert.equal(norm, 5);
        const scaled = await pool.apply((p: Point) => p.scaled(3), [new Point(1, 2)]);
        assert.ok(scaled instanceof Point);
        assert.deepEqual({ ...scaled }, { x: 3, y: 6 });
      },
    );

    test(
      "Pool.apply() keeps nested instances: in arrays, Maps, and instances holding instances",
      slow,
      async () => {
        await using pool = new m.Pool(1);
        const value = [
          new Segment(new Point(0, 0), new Point(3, 4)),
          new Map<unknown, unknown>([[1, new Counter(5)], [new Point(6, 8), [new Point(0, 1)]]]),
        ];
        assert.equal(
          await pool.apply(describeAll, [value]),
          "Segment(5) Point(0) Point(5) number Counter(5) Point(10) Point(1)",
        );
        const back = await pool.apply((v: unknown) => v, [value]) as typeof value;
        const segment = back[0] as Segment;
        assert.ok(segment instanceof Segment && segment.from instanceof Point);
        assert.equal(segment.length(), 5);
        const map = back[1] as Map<unknown, unknown>;
        assert.ok(map.get(1) instanceof Counter);
        const [key] = [...map.keys()].filter((k) => k instanceof Point) as Point[];
        assert.equal(key.norm(), 10);
      },
    );

    test("Pool.apply() returns an instance that refers to itself as one object", slow, async () => {
      await using pool = new m.Pool(1);
      const p = new Point(1, 1) as Point & { me?: Point; twin?: Point[] };
      p.me = p;
      const shared = new Point(2, 2);
      p.twin = [shared, shared];
      const back = await pool.apply((v: unknown) => v, [p]) as typeof p;
      assert.ok(back instanceof Point);
      assert.equal(back.me, back);
      assert.ok(back.twin![0] instanceof Point);
      assert.equal(back.twin![0], back.twin![1]);
    });

    test(
      "registerClass() getState/fromState carry a class with #private fields",
      slow,
      async () => {
        await using pool = new m.Pool(1);
        const next = await pool.apply((c: Counter) => c.increment(), [new Counter(41)]);
        assert.ok(next instanceof Counter);
        assert.equal(next.count, 42);
      },
    );

    test(
      "Pool.apply() rethrows a registered Error subclass, caught by instanceof",
      slow,
      async () => {
        await using pool = new m.Pool(1);
        const error = await pool.apply(validate, [-1]).then(
          () => assert.fail("no error"),
          (e: unknown) => e,
        );
        assert.ok(error instanceof ValidationError, String(error));
        assert.ok(error instanceof Error);
        assert.equal(error.message, "-1 is negative");
        assert.equal(error.field, "value");
        assert.equal(error.name, "ValidationError");
        await assert.rejects(pool.map(validate, [1, -2, 3]), ValidationError);
      },
    );

    test("Process args keep their class, and a Queue brings instances back", slow, async () => {
      const out = new m.Queue<unknown>();
      const p = new m.Process({
        target: async (s: Segment, q: mp.Queue<unknown>) => {
          await q.put([s.length(), s.from.norm()]);
          await q.put(s.to.scaled(2));
        },
        args: [new Segment(new Point(0, 0), new Point(3, 4)), out],
      });
      p.start();
      assert.deepEqual(await out.get(), [5, 0]);
      const back = await out.get();
      assert.ok(back instanceof Point);
      assert.equal((back as Point).norm(), 10);
      await p.join();
      assert.equal(p.exitcode, 0);
    });

    test(
      "Queue, JoinableQueue and Pipe carry instances to a Process that never imported the class",
      slow,
      async () => {
        const inbox = new m.Queue<unknown>();
        const joinable = new m.JoinableQueue<unknown>();
        const [mine, theirs] = m.Pipe();
        const p = new m.Process({
          target: async (
            q: mp.Queue<unknown>,
            j: mp.JoinableQueue<unknown>,
            conn: mp.Connection<unknown>,
          ) => {
            const point = await q.get() as Point;
            const more = await j.get() as Point[];
            j.taskDone();
            const got = await conn.recv() as Map<string, Counter>;
            await conn.send([
              point.norm(),
              more.map((x) => x.norm()),
              got.get("c")!.increment(),
              point.scaled(10),
            ]);
          },
          args: [inbox, joinable, theirs],
        });
        p.start();
        await inbox.put(new Point(3, 4));
        await joinable.put([new Point(0, 1), new Point(6, 8)]);
        await mine.send(new Map([["c", new Counter(1)]]));
        const [norm, norms, counter, scaled] = await mine.recv() as [
          number,
          number[],
          Counter,
          Point,
        ];
        assert.equal(norm, 5);
        assert.deepEqual(norms, [1, 10]);
        assert.ok(counter instanceof Counter);
        assert.equal(counter.count, 2);
        assert.ok(scaled instanceof Point);
        assert.equal(scaled.norm(), 50);
        await joinable.join();
        await p.join();
        assert.equal(p.exitcode, 0);
      },
    );

    test("SimpleQueue carries instances of a registered class", async () => {
      const q = new m.SimpleQueue<unknown>();
      await q.put([new Point(3, 4), new ValidationError("bad", "f")]);
      const [p, e] = await q.get() as [Point, ValidationError];
      assert.ok(p instanceof Point);
      assert.equal(p.norm(), 5);
      assert.ok(e instanceof ValidationError);
      assert.equal(e.field, "f");
      q.close();
    });

    test("Manager proxies keep instances: list, dict and Namespace", slow, async () => {
      await using manager = await m.Manager();
      const list = await manager.list<unknown>([new Point(3, 4)]);
      await list.append(new Segment(new Point(0, 0), new Point(6, 8)));
      const first = await list.get(0) as Point;
      assert.ok(first instanceof Point);
      assert.equal(first.norm(), 5);
      const second = await list.get(1) as Segment;
      assert.ok(second instanceof Segment && second.to instanceof Point);
      assert.equal(second.length(), 10);
      const dict = await manager.dict<string, unknown>();
      await dict.set("c", new Counter(7));
      const c = await dict.get("c") as Counter;
      assert.ok(c instanceof Counter);
      assert.equal(c.count, 7);
      const ns = await manager.Namespace();
      await ns.set("p", new Point(1, 0));
      const p = await ns.get("p") as Point;
      assert.ok(p instanceof Point);
      assert.equal(p.norm(), 1);
    });

    test("Manager refuses an instance of a class not registered, naming it", slow, async () => {
      await using manager = await m.Manager();
      const list = await manager.list<unknown>();
      await assert.rejects(
        list.append(new Unmarked(1)),
        (e: Error) => e instanceof TypeError && /Unmarked.*registerClass\(Unmarked/.test(e.message),
      );
    });
  });
}

describe("Values keep their class (mod.ts)", () => {
  test(
    "Pool result of a class the caller never imported: its module is imported to rebuild it",
    slow,
    async () => {
      await using pool = new mp.Pool(1);
      // This thread has not imported the module: the class is unknown here until the result
      // arrives.
      assert.equal(classById(`${remote}#Remote`), undefined);
      const make = mp.fromModule<typeof RemoteModule.makeRemote>(remote, "makeRemote");
      const [value] = await pool.map(make, ["hi"]);
      const { Remote } = await import(remote) as typeof RemoteModule;
      assert.ok(value instanceof Remote);
      assert.equal(value.shout(), "HI!");
    },
  );

  test(
    "Pool.apply() refuses an instance of a class not registered, naming it and the fix",
    slow,
    async () => {
      await using pool = new mp.Pool(1);
      await assert.rejects(pool.apply((x: unknown) => x, [new Unmarked(1)]), refusal);
      await assert.rejects(pool.map((x: unknown) => x, [[1, { deep: new Unmarked(2) }]]), refusal);
      // A subclass of a registered class is not registered by its parent.
      await assert.rejects(
        pool.apply((x: unknown) => x, [new Point3(1, 2, 3)]),
        /Cannot send an instance of Point3 .*registerClass\(Point3/,
      );
      // The pool goes on.
      assert.equal(await pool.apply((x: number) => x + 1, [1]), 2);
    },
  );

  test(
    "Pool task returning an instance of a class not registered fails with the fix",
    slow,
    async () => {
      await using pool = new mp.Pool(1);
      await assert.rejects(pool.apply(makeUnmarked, [1]), refusal);
      await assert.rejects(pool.map(makeUnmarked, [1, 2, 3], 2), refusal);
      assert.ok((await pool.apply(makePoint, [1, 2])) instanceof Point);
    },
  );

  test("Process refuses args that hold an instance of a class not registered", () => {
    const p = new mp.Process({ target: () => {}, args: [[new Unmarked(1)]] });
    assert.throws(() => p.start(), refusal);
  });

  test(
    "Process worker reads instances from a manager dict without importing their class",
    slow,
    async () => {
      await using manager = await mp.Manager();
      const dict = await manager.dict<string, unknown>();
      await dict.set("p", new Point(3, 4));
      const out = new mp.Queue<unknown>();
      const p = new mp.Process({
        target: async (d: mp.DictProxy<string, unknown>, q: mp.Queue<unknown>) => {
          const point = await d.get("p") as Point;
          await q.put(point.norm());
          await d.set("q", point.scaled(2));
        },
        args: [dict, out],
      });
      p.start();
      assert.equal(await out.get(), 5);
      await p.join();
      const q = await dict.get("q") as Point;
      assert.ok(q instanceof Point);
      assert.equal(q.norm(), 10);
    },
  );
});

describe("Values keep their class (one thread)", () => {
  test("dummy Pool and Process pass instances as they are, registered or not", async () => {
    await using pool = new dummy.Pool(1);
    const u = new Unmarked(1);
    assert.equal(await pool.apply((x: Unmarked) => x, [u]), u);
    const p = new Point(3, 4);
    assert.equal(await pool.apply((x: Point) => x, [p]), p);
    let got: unknown;
    const child = new dummy.Process({ target: (x: Unmarked) => void (got = x), args: [u] });
    child.start();
    await child.join();
    assert.equal(got, u);
  });

  test("Queue.put() refuses an instance of a class not registered, naming it", async () => {
    const q = new mp.Queue<unknown>();
    await assert.rejects(q.put(new Unmarked(1)), refusal);
    await assert.rejects(q.put({ list: [new Unmarked(1)] }), refusal);
    const [a] = mp.Pipe();
    await assert.rejects(a.send(new Unmarked(1)), refusal);
    q.close();
  });

  test("Built-in values travel as before: Date, Map, Set, RegExp, typed arrays, errors, boxed", async () => {
    const q = new mp.Queue<unknown>();
    class Plain extends Error {}
    const items = [
      new Date(0),
      new Map([[1, 2]]),
      new Set([1]),
      /a+/g,
      new Uint8Array([1, 2]),
      new Float64Array([1.5]),
      new DataView(new ArrayBuffer(2)),
      new ArrayBuffer(3),
      new RangeError("r"),
      Object(1),
      Object("s"),
      Object.create(null),
    ];
    await q.put(items);
    const back = await q.get() as unknown[];
    assert.deepEqual(back.slice(0, 8), items.slice(0, 8));
    assert.ok(back[8] instanceof RangeError);
    // An Error subclass that is not registered travels as an error, as before.
    await q.put(new Plain("p"));
    assert.ok(await q.get() instanceof Error);
    q.close();
  });

  test("registerClass() refuses what is not a class, and a second class under one name", () => {
    assert.throws(() => mp.registerClass(42 as never, import.meta.url), TypeError);
    assert.throws(() => mp.registerClass(Point, "./relative.ts"), /absolute URL/);
    // Registering the same class again is harmless (a module imported twice).
    mp.registerClass(Point, classes);
    class Other {}
    assert.throws(() => mp.registerClass(Other, classes, { name: "Point" }), /another class/);
  });
});
